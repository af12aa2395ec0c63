import Foundation
import ModVaultCore
import ModVaultStore

/// The key slots of a remote repository, and unlocking them with a password.
enum RemoteKeys {
    /// Every object under `keys/` (key slots and key grants), by name. Names are random 64-digit hex
    /// IDs; anything else (such as "..") is skipped, so it can never be written to a local path.
    static func slots(of remote: any Remote) async throws -> [(name: String, bytes: [UInt8])] {
        var keys: [(String, [UInt8])] = []
        var after: String? = nil
        repeat {
            let page = try await remote.list(.key, after: after, limit: 1000)
            for entry in page where ObjectID(hex: entry.name.name) != nil {
                keys.append((entry.name.name, try await remote.load(entry.name, range: nil)))
            }
            after = page.count == 1000 ? page.last?.name.name : nil
        } while after != nil
        return keys
    }

    /// The master key from the first slot `password` opens, with the slots worth copying and those skipped.
    static func unlock(_ slots: [(name: String, bytes: [UInt8])], password: [UInt8], remote: String) throws -> (MasterKey, KeySlots.Outcome) {
        let outcome = KeySlots.unlock(slots, password: password)
        guard let master = outcome.master else { throw SyncError.wrongPassword(remote: remote) }
        return (master, outcome)
    }
}
