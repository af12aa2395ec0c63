import Foundation
public import ModVaultCore
public import ModVaultStore

extension Syncer {
    /// Creates a local repository at `path` from a remote: the same ID, keys and chunker secret,
    /// then pulls every snapshot. This is how a second machine starts.
    public static func clone(from remote: any Remote, to rawPath: String, password: [UInt8],
                             progress: TransferProgress? = nil) async throws -> (Repository, TransferReport) {
        let path = FileSystem.absolute(rawPath)
        if FileSystem.exists(path), !(try FileSystem.list(path)).isEmpty { throw SyncError.targetExists(path: path) }
        guard try await remote.stat(.config) != nil else { throw SyncError.notARepository(remote: remote.location) }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        var keys: [(String, [UInt8])] = []
        var after: String? = nil
        repeat {
            let page = try await remote.list(.key, after: after, limit: 1000)
            // Key slot names are random 64-digit hex IDs; anything else (such as "..") is never written locally.
            for entry in page where ObjectID(hex: entry.name.name) != nil {
                keys.append((entry.name.name, try await remote.load(entry.name, range: nil)))
            }
            after = page.count == 1000 ? page.last?.name.name : nil
        } while after != nil
        // Check the password before creating anything locally.
        var opened = false
        for (_, bytes) in keys {
            if let slot = try? decoder.decode(KeySlot.self, from: Data(bytes)), (try? slot.open(password: password)) != nil {
                opened = true
                break
            }
        }
        guard opened else { throw SyncError.wrongPassword(remote: remote.location) }
        let config = try await remote.load(.config, range: nil)
        try FileSystem.makeDirectories(path)
        for folder in ["keys", "data", "index", "snapshots", "locks"] { try FileSystem.makeDirectories("\(path)/\(folder)") }
        for i in 0..<256 { try FileSystem.makeDirectories("\(path)/data/\(Hex.encode([UInt8(i)]))") }
        for (name, bytes) in keys { try FileSystem.writeAtomically("\(path)/keys/\(name)", bytes: bytes) }
        try FileSystem.writeAtomically(path + "/config", bytes: config)
        let repository = try Repository.open(at: path, password: password)
        let report = try await Syncer(local: repository, remote: remote).pull(progress: progress)
        return (repository, report)
    }
}
