import Foundation
public import ModVaultCore
public import ModVaultStore
import ModVaultCrypto

extension Syncer {
    /// Creates a local repository at `path` from a remote: the same ID, keys and chunker secret,
    /// then pulls every snapshot. This is how a second machine starts.
    public static func clone(from remote: any Remote, to rawPath: String, password: [UInt8],
                             progress: TransferProgress? = nil, concurrency: Int = 8) async throws -> (Repository, TransferReport) {
        let path = try prepareTarget(rawPath, remote: remote)
        let keys = try await RemoteKeys.slots(of: remote)
        // Check the password before creating anything locally. Only slots that can be tried are copied:
        // a planted slot with an unknown KDF or absurd parameters stays on the remote.
        let (_, outcome) = try RemoteKeys.unlock(keys, password: password, remote: remote.location)
        let usable = Set(outcome.usable)
        return try await materialize(remote: remote, at: path, password: password, progress: progress, concurrency: concurrency) {
            for (name, bytes) in keys where usable.contains(name) {
                try FileSystem.writeAtomically("\(path)/keys/\(name)", bytes: bytes, mode: KeySlot.fileMode)
            }
        }
    }

    /// Creates a local repository at `path` from a shared remote with a master key received by invite:
    /// a new member key is made, the master key is sealed under `password` in the joiner's own slot
    /// (also uploaded to the remote), and every snapshot is pulled. `repository` is the ID the invite
    /// names; a remote holding another refuses.
    public static func join(from remote: any Remote, to rawPath: String, master received: MasterKey, password: [UInt8], repository: String,
                            progress: TransferProgress? = nil, concurrency: Int = 8) async throws -> (Repository, TransferReport) {
        let path = try prepareTarget(rawPath, remote: remote)
        let sealedConfig = try await remote.load(.config, range: nil)
        guard let plain = try? received.cipher.open(sealedConfig, associatedData: Array("config".utf8)),
              let config = try? JSONDecoder().decode(RepositoryConfig.self, from: Data(plain)) else {
            throw SyncError.differentRepository(remote: remote.location, detail: "its config does not open with the invite's key")
        }
        guard config.id.hex == repository else {
            throw SyncError.differentRepository(remote: remote.location, detail: "repository \(config.id.short), the invite names \(repository.prefix(8))")
        }
        var master = received.sharable
        master.member = MemberPrivateKey.random()
        let slot = try KeySlot.seal(master, password: password)
        var slotName = ""
        let result = try await materialize(remote: remote, at: path, password: password, progress: progress, concurrency: concurrency) {
            slotName = try Repository.writeKeySlot(slot, repository: path)
        }
        // The member's own slot on the remote, so a later clone with their password works.
        try await remote.save(ObjectName(kind: .key, name: slotName), data: try FileSystem.readFile("\(path)/keys/\(slotName)"), ifAbsent: true)
        return result
    }

    private static func prepareTarget(_ rawPath: String, remote: any Remote) throws -> String {
        let path = FileSystem.absolute(rawPath)
        if FileSystem.exists(path), !(try FileSystem.list(path)).isEmpty { throw SyncError.targetExists(path: path) }
        return path
    }

    /// Creates the folders, lets `writeKeys` place the key slots, copies the config last (a
    /// repository exists once its config does), opens it and pulls.
    private static func materialize(remote: any Remote, at path: String, password: [UInt8], progress: TransferProgress?, concurrency: Int,
                                    writeKeys: () throws -> Void) async throws -> (Repository, TransferReport) {
        guard try await remote.stat(.config) != nil else { throw SyncError.notARepository(remote: remote.location) }
        let config = try await remote.load(.config, range: nil)
        try Repository.createFolders(at: path)
        try writeKeys()
        try FileSystem.writeAtomically(path + "/config", bytes: config)
        let repository = try Repository.open(at: path, password: password)
        var syncer = Syncer(local: repository, remote: remote)
        syncer.concurrency = concurrency
        let report = try await syncer.pull(progress: progress)
        return (repository, report)
    }
}
