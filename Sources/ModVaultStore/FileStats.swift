import Synchronization
public import ModVaultCore
import ModVaultCrypto

/// What this machine saw of each file it last snapshotted: the file's identity and times as `lstat`
/// gave them, and a digest of the content the snapshot recorded for it.
///
/// Trees hold only what every machine agrees on (name, mode, mtime, size, content), so copying a
/// folder with its times kept, or snapshotting the same folder on two machines, gives the same trees.
/// Inode, device and ctime, which only this machine can compare, live here instead, as git keeps them
/// in its index and borg in its files cache. A file counts as unchanged only when its status matches
/// its entry *and* the parent snapshot's content for that path has the entry's digest, so an entry
/// left by another snapshot, a pruned one or another folder's is never trusted. Like the blob index,
/// it lives under `cache/`, is never copied, and losing it only costs reading the files again.
public final class FileStatCache: Sendable {
    /// One file as last snapshotted on this machine.
    public struct Entry: Sendable, Equatable {
        /// Device number.
        public var device: UInt64
        /// Inode number.
        public var inode: UInt64
        /// Status-change time, nanoseconds since the epoch.
        public var ctimeNanos: Int64
        /// Modification time, nanoseconds since the epoch.
        public var mtimeNanos: Int64
        /// Size in bytes.
        public var size: Int64
        /// `FileContent.digest` of the content the snapshot recorded.
        public var content: ObjectID

        /// Creates an entry.
        public init(device: UInt64, inode: UInt64, ctimeNanos: Int64, mtimeNanos: Int64, size: Int64, content: ObjectID) {
            self.device = device
            self.inode = inode
            self.ctimeNanos = ctimeNanos
            self.mtimeNanos = mtimeNanos
            self.size = size
            self.content = content
        }

        /// The entry for a file with this status and content digest.
        public init(status: FileStatus, content: ObjectID) {
            self.init(device: status.device, inode: status.inode, ctimeNanos: status.ctimeNanos,
                      mtimeNanos: status.mtimeNanos, size: status.size, content: content)
        }

        /// Whether `status` shows the file untouched since this entry was recorded.
        public func matches(_ status: FileStatus) -> Bool {
            status.inode == inode && status.device == device && status.ctimeNanos == ctimeNanos
                && status.mtimeNanos == mtimeNanos && status.size == size
        }
    }

    private struct State {
        let db: SQLiteDatabase
        let select: SQLiteStatement
        let upsert: SQLiteStatement
        let delete: SQLiteStatement
    }

    private let state: Mutex<State>
    /// Path of the database file.
    public let path: String

    private static let schemaVersion = 1

    init(path: String) throws(StoreError) {
        self.path = path
        let db = try SQLiteDatabase.openCache(path, version: Self.schemaVersion, schema: """
            CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY NOT NULL, device INTEGER NOT NULL, inode INTEGER NOT NULL,
                ctime INTEGER NOT NULL, mtime INTEGER NOT NULL, size INTEGER NOT NULL, content BLOB NOT NULL) WITHOUT ROWID;
            """, probe: "SELECT count(*) FROM files")
        state = Mutex(State(
            db: db,
            select: try db.prepare("SELECT path, device, inode, ctime, mtime, size, content FROM files WHERE path >= ?1 AND path < ?2"),
            upsert: try db.prepare("INSERT OR REPLACE INTO files (path, device, inode, ctime, mtime, size, content) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"),
            delete: try db.prepare("DELETE FROM files WHERE path = ?1")))
    }

    /// The byte range of paths strictly inside `folder` (an absolute path): from "folder/" up to, not
    /// including, "folder0" ('0' follows '/').
    private static func bounds(_ folder: String) -> (String, String) {
        let base = folder.hasSuffix("/") ? String(folder.dropLast()) : folder
        return (base + "/", base + "0")
    }

    /// Every entry for a file below `folder`, by absolute path. A cache that cannot be read gives none.
    public func entries(under folder: String) -> [String: Entry] {
        let (low, high) = Self.bounds(folder)
        return (try? state.withLock { (s) throws(StoreError) -> [String: Entry] in
            defer { s.select.reset() }
            s.select.bind(1, low)
            s.select.bind(2, high)
            var found: [String: Entry] = [:]
            while try s.select.step() {
                guard let content = s.select.id(6) else { continue }
                found[s.select.text(0)] = Entry(
                    device: UInt64(bitPattern: s.select.int64(1)), inode: UInt64(bitPattern: s.select.int64(2)),
                    ctimeNanos: s.select.int64(3), mtimeNanos: s.select.int64(4), size: s.select.int64(5), content: content)
            }
            return found
        }) ?? [:]
    }

    /// Brings the entries below `folder` in line with `current` in one transaction: writes the ones
    /// that differ from `previous` (what `entries(under:)` returned) and deletes the ones no longer
    /// there. A failure only costs reading files again later, so it is not reported.
    public func replace(under folder: String, previous: [String: Entry], current: [String: Entry]) {
        let (low, high) = Self.bounds(folder)
        let changed = current.filter { previous[$0.key] != $0.value }
        let gone = previous.keys.filter { current[$0] == nil && $0 >= low && $0 < high }
        guard !changed.isEmpty || !gone.isEmpty else { return }
        try? state.withLock { (s) throws(StoreError) in
            try s.db.execute("BEGIN IMMEDIATE")
            do throws(StoreError) {
                for (path, e) in changed {
                    defer { s.upsert.reset() }
                    s.upsert.bind(1, path)
                    s.upsert.bind(2, Int64(bitPattern: e.device))
                    s.upsert.bind(3, Int64(bitPattern: e.inode))
                    s.upsert.bind(4, e.ctimeNanos)
                    s.upsert.bind(5, e.mtimeNanos)
                    s.upsert.bind(6, e.size)
                    s.upsert.bind(7, e.content)
                    _ = try s.upsert.step()
                }
                for path in gone {
                    defer { s.delete.reset() }
                    s.delete.bind(1, path)
                    _ = try s.delete.step()
                }
                try s.db.execute("COMMIT")
            } catch {
                try? s.db.execute("ROLLBACK")
                throw error
            }
        }
    }
}

extension FileContent {
    /// SHA-256 of the content reference (not of the file's bytes): equal digests name the same
    /// blobs in the same order, so a file whose status is unchanged can take the parent's content.
    public var digest: ObjectID {
        var w = ByteWriter(capacity: 48)
        encode(into: &w)
        return SHA256Digest.hash(w.bytes)
    }
}
