import Foundation
public import ModVaultCore
import ModVaultCrypto

extension Repository {
    /// Reads the header of a pack file and returns its entries.
    public func readPackHeader(_ pack: ObjectID) throws -> [PackEntry] {
        let path = filePath(ObjectName(kind: .pack, id: pack))
        let file = try storeIO(missing: path) { try OpenFile.openForReading(path) }
        let size = try storeIO { try file.status().size }
        return try PackFormat.readHeader(packSize: size, cipher: cipher, path: path) { offset, count in
            try storeIO { try file.read(count: count, at: offset) }
        }
    }

    /// Pack files present on disk but listed by no index file: left by an interrupted run, or
    /// still being indexed by a concurrent writer.
    public func unindexedPacks() throws -> [ObjectID] {
        let known = try index.knownPacks()
        return try list(.pack).filter { !known.contains($0) }
    }

    /// Indexes packs that no index file lists, so their blobs are reused instead of uploaded again.
    /// Returns the number of packs adopted. Damaged packs are skipped and reported through `skipped`.
    @discardableResult
    public func adoptUnindexedPacks(skipped: ((ObjectID, Error) -> Void)? = nil) throws -> Int {
        var adopted: [IndexedPack] = []
        for pack in try unindexedPacks() {
            do { adopted.append(IndexedPack(id: pack, entries: try readPackHeader(pack))) } catch { skipped?(pack, error) }
        }
        if !adopted.isEmpty { try writeIndex(IndexFile(packs: adopted)) }
        return adopted.count
    }

    /// Rebuilds every index file from the pack headers: writes one new index that supersedes all
    /// existing ones, then removes them. Returns (packs indexed, packs unreadable).
    public func rebuildIndexFromPacks(report: ((String) -> Void)? = nil) throws -> (indexed: Int, damaged: [ObjectID]) {
        let old = try list(.index)
        var packs: [IndexedPack] = []
        var damaged: [ObjectID] = []
        for pack in try list(.pack) {
            do { packs.append(IndexedPack(id: pack, entries: try readPackHeader(pack))) } catch {
                damaged.append(pack)
                report?("\(error)")
            }
        }
        try writeIndex(IndexFile(packs: packs, supersedes: old))
        for id in old { try storeIO { try FileSystem.remove(filePath(ObjectName(kind: .index, id: id))) } }
        try rebuildIndex()
        return (packs.count, damaged)
    }

    /// Removes temporary files left by killed processes (`.tmp-*`) older than `age` seconds.
    @discardableResult
    public func removeStaleTemporaryFiles(olderThan age: TimeInterval) throws -> Int {
        var removed = 0
        let now = Date().timeIntervalSince1970
        // Not locks/: processes write lock files at any time, and a lock's temporary lives milliseconds.
        var folders = ["", "/keys", "/index", "/snapshots", "/data"].map { path + $0 }
        for sub in (try? FileSystem.list(path + "/data")) ?? [] where sub.count == 2 { folders.append(path + "/data/" + sub) }
        for folder in folders {
            for name in (try? FileSystem.list(folder)) ?? [] where name.hasPrefix(".tmp-") {
                let file = folder + "/" + name
                guard let st = try? FileSystem.status(file), now - Double(st.mtimeNanos) / 1e9 >= age else { continue }
                try? FileSystem.remove(file)
                removed += 1
            }
        }
        return removed
    }

    /// Removes a snapshot file.
    public func removeSnapshot(_ id: ObjectID) throws {
        try storeIO { try FileSystem.remove(filePath(ObjectName(kind: .snapshot, id: id))) }
    }

    // MARK: Keys

    /// Every key slot with its ID.
    public func keySlots() throws -> [(id: String, slot: KeySlot)] {
        var out: [(String, KeySlot)] = []
        for name in try storeIO({ try FileSystem.list(path + "/keys") }) where !name.hasPrefix(".") {
            guard let bytes = try? FileSystem.readFile(path + "/keys/" + name), let slot = try? KeySlot.decode(bytes) else { continue }
            out.append((name, slot))
        }
        return out
    }

    /// Adds a key slot for `password`; returns its ID.
    public func addKey(password: [UInt8], parameters: ScryptParameters) throws -> String {
        try Self.writeKeySlot(try KeySlot.seal(masterKey, password: password, parameters: parameters), repository: path)
    }

    /// Removes key slot `id`. Refuses the last slot and the slot this session opened with.
    public func removeKey(_ id: String) throws {
        let slots = try keySlots()
        guard slots.contains(where: { $0.id == id }) else { throw StoreError.invalidArgument("no key \(id) in \(path)/keys") }
        guard slots.count > 1 else { throw StoreError.invalidArgument("refusing to remove the last key: the repository would become unreadable") }
        guard id != keyID else { throw StoreError.invalidArgument("refusing to remove the key in use; open the repository with another password first") }
        try recordRemovedKey(id)
        try storeIO { try FileSystem.remove(path + "/keys/" + id) }
        try storeIO { try FileSystem.syncDirectory(path + "/keys") }
    }

    /// Replaces the current key slot by one sealing `master` under the same `password` (after a key
    /// rotation, or to add a member key): the new slot is written before the old one is removed, and
    /// the old one is recorded so the next push removes it from remotes too. Returns the new slot's
    /// name; reopen the repository to use the new key.
    public func replaceMasterKey(with master: MasterKey, password: [UInt8]) throws -> String {
        let current = try KeySlot.decode(try storeIO { try FileSystem.readFile(path + "/keys/" + keyID) })
        guard try current.open(password: password) != nil else { throw StoreError.wrongPassword(path: path) }
        let newID = try Self.writeKeySlot(try KeySlot.seal(master, password: password, parameters: current.scrypt), repository: path)
        try recordRemovedKey(keyID)
        try storeIO { try FileSystem.remove(path + "/keys/" + keyID) }
        try storeIO { try FileSystem.syncDirectory(path + "/keys") }
        return newID
    }

    /// Replaces the current key slot by one for `newPassword`: the new slot is written before the old one is removed.
    public func changePassword(to newPassword: [UInt8], parameters: ScryptParameters) throws -> String {
        let newID = try addKey(password: newPassword, parameters: parameters)
        try recordRemovedKey(keyID)
        try storeIO { try FileSystem.remove(path + "/keys/" + keyID) }
        try storeIO { try FileSystem.syncDirectory(path + "/keys") }
        return newID
    }

    /// Where removed key slots are remembered (`keys/.removed`, one name per line, local only): every
    /// push removes them from its remote too, so a revoked password stops working everywhere, while
    /// slots the remote has and this repository never had (a teammate's) are left alone.
    var removedKeysPath: String { path + "/keys/.removed" }

    /// The key slots removed here, by name.
    public func removedKeys() throws -> Set<String> {
        guard FileSystem.exists(removedKeysPath) else { return [] }
        let text = String(decoding: try storeIO { try FileSystem.readFile(removedKeysPath) }, as: UTF8.self)
        return Set(text.split(separator: "\n").map(String.init).filter { ObjectID(hex: $0) != nil })
    }

    /// Remembers that slot `id` was removed, before its file goes, so a crash never forgets it.
    func recordRemovedKey(_ id: String) throws {
        var names = try removedKeys()
        names.insert(id)
        let text = names.sorted().joined(separator: "\n") + "\n"
        try storeIO { try FileSystem.writeAtomically(removedKeysPath, bytes: Array(text.utf8), mode: 0o600) }
    }
}
