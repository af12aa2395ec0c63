import Foundation
public import ModVaultCore
public import ModVaultStore

extension Syncer {
    /// Creates a local repository at `path` from a remote: the same ID, keys and chunker secret,
    /// then pulls every snapshot. This is how a second machine starts.
    public static func clone(from remote: any Remote, to rawPath: String, password: [UInt8],
                             progress: TransferProgress? = nil, concurrency: Int = 8) async throws -> (Repository, TransferReport) {
        let path = FileSystem.absolute(rawPath)
        if FileSystem.exists(path), !(try FileSystem.list(path)).isEmpty { throw SyncError.targetExists(path: path) }
        guard try await remote.stat(.config) != nil else { throw SyncError.notARepository(remote: remote.location) }
        let keys = try await RemoteKeys.slots(of: remote)
        // Check the password before creating anything locally. Only slots that can be tried are copied:
        // a planted slot with an unknown KDF or absurd parameters stays on the remote.
        let (_, outcome) = try RemoteKeys.unlock(keys, password: password, remote: remote.location)
        let usable = Set(outcome.usable)
        let config = try await remote.load(.config, range: nil)
        try Repository.createFolders(at: path)
        for (name, bytes) in keys where usable.contains(name) {
            try FileSystem.writeAtomically("\(path)/keys/\(name)", bytes: bytes, mode: KeySlot.fileMode)
        }
        try FileSystem.writeAtomically(path + "/config", bytes: config)
        let repository = try Repository.open(at: path, password: password)
        var syncer = Syncer(local: repository, remote: remote)
        syncer.concurrency = concurrency
        let report = try await syncer.pull(progress: progress)
        return (repository, report)
    }
}
