import Synchronization
public import ModVaultCore
public import ModVaultCodecs

/// The local SQLite index: blob → (pack, offset, length), mirroring exactly the repository's index files.
///
/// It is a cache, never the source of truth: when it is missing, unreadable or lists index
/// files that no longer exist, it is rebuilt from the `index/` folder.
public final class LocalIndex: Sendable {
    private struct State {
        let db: SQLiteDatabase
        let lookup: SQLiteStatement
        let insert: SQLiteStatement
    }

    private let state: Mutex<State>
    /// Path of the database file.
    public let path: String

    private static let schemaVersion = 2

    init(path: String) throws(StoreError) {
        self.path = path
        // A damaged cache is rebuilt rather than reported: it holds nothing that index files do not.
        let db = try SQLiteDatabase.openCache(path, version: Self.schemaVersion, schema: """
            CREATE TABLE IF NOT EXISTS blobs (id BLOB NOT NULL, type INTEGER NOT NULL, pack BLOB NOT NULL,
                offset INTEGER NOT NULL, length INTEGER NOT NULL, raw_length INTEGER NOT NULL, codec INTEGER NOT NULL,
                PRIMARY KEY (id, type)) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS index_files (name TEXT PRIMARY KEY) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS packs (id BLOB PRIMARY KEY) WITHOUT ROWID;
            """, probe: "SELECT count(*) FROM index_files")
        state = Mutex(State(
            db: db,
            lookup: try db.prepare("SELECT pack, offset, length, raw_length, codec FROM blobs WHERE id = ?1 AND type = ?2"),
            insert: try db.prepare("INSERT OR REPLACE INTO blobs (id, type, pack, offset, length, raw_length, codec) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")
        ))
    }

    /// Looks up a blob.
    public func location(of handle: BlobHandle) throws(StoreError) -> BlobLocation? {
        try state.withLock { (s) throws(StoreError) -> BlobLocation? in
            defer { s.lookup.reset() }
            s.lookup.bind(1, handle.id)
            s.lookup.bind(2, Int64(handle.type.rawValue))
            guard try s.lookup.step(), let pack = s.lookup.id(0) else { return nil }
            return BlobLocation(pack: pack, offset: s.lookup.int64(1), length: s.lookup.int64(2),
                                rawLength: s.lookup.int64(3), codec: Codec(rawValue: UInt8(truncatingIfNeeded: s.lookup.int64(4))) ?? .none)
        }
    }

    /// The names of the index files already loaded.
    public func loadedIndexFiles() throws(StoreError) -> Set<String> {
        try state.withLock { (s) throws(StoreError) -> Set<String> in
            let q = try s.db.prepare("SELECT name FROM index_files")
            var names = Set<String>()
            while try q.step() { names.insert(q.text(0)) }
            return names
        }
    }

    /// Adds one index file's blobs in a single transaction.
    public func add(_ file: IndexFile, name: String) throws(StoreError) {
        try state.withLock { (s) throws(StoreError) in
            try s.db.execute("BEGIN IMMEDIATE")
            do {
                for pack in file.packs {
                    for e in pack.entries {
                        s.insert.bind(1, e.handle.id)
                        s.insert.bind(2, Int64(e.handle.type.rawValue))
                        s.insert.bind(3, pack.id)
                        s.insert.bind(4, e.offset)
                        s.insert.bind(5, e.length)
                        s.insert.bind(6, e.rawLength)
                        s.insert.bind(7, Int64(e.codec.rawValue))
                        _ = try s.insert.step()
                        s.insert.reset()
                    }
                }
                let addPack = try s.db.prepare("INSERT OR IGNORE INTO packs (id) VALUES (?1)")
                for pack in file.packs {
                    addPack.bind(1, pack.id)
                    _ = try addPack.step()
                    addPack.reset()
                }
                let mark = try s.db.prepare("INSERT OR IGNORE INTO index_files (name) VALUES (?1)")
                mark.bind(1, name)
                _ = try mark.step()
                try s.db.execute("COMMIT")
            } catch let error as StoreError {
                s.insert.reset()
                try? s.db.execute("ROLLBACK")
                throw error
            } catch {
                s.insert.reset()
                try? s.db.execute("ROLLBACK")
                throw .database(path: path, reason: "\(error)")
            }
        }
    }

    /// Drops everything, for a rebuild.
    public func clear() throws(StoreError) {
        try state.withLock { (s) throws(StoreError) in
            try s.db.execute("DELETE FROM blobs; DELETE FROM index_files; DELETE FROM packs;")
        }
    }

    /// Every indexed blob with its location, for check and stats.
    public func allBlobs() throws(StoreError) -> [(BlobHandle, BlobLocation)] {
        try state.withLock { (s) throws(StoreError) -> [(BlobHandle, BlobLocation)] in
            let q = try s.db.prepare("SELECT id, type, pack, offset, length, raw_length, codec FROM blobs")
            var out: [(BlobHandle, BlobLocation)] = []
            while try q.step() {
                guard let id = q.id(0), let pack = q.id(2), let type = BlobType(rawValue: UInt8(truncatingIfNeeded: q.int64(1))) else { continue }
                out.append((BlobHandle(id: id, type: type),
                            BlobLocation(pack: pack, offset: q.int64(3), length: q.int64(4), rawLength: q.int64(5),
                                         codec: Codec(rawValue: UInt8(truncatingIfNeeded: q.int64(6))) ?? .none)))
            }
            return out
        }
    }

    /// The packs that the loaded index files list.
    public func knownPacks() throws(StoreError) -> Set<ObjectID> {
        try state.withLock { (s) throws(StoreError) -> Set<ObjectID> in
            let q = try s.db.prepare("SELECT id FROM packs")
            var out = Set<ObjectID>()
            while try q.step() { if let id = q.id(0) { out.insert(id) } }
            return out
        }
    }

    /// True when at least one blob of `type` is indexed.
    public func hasBlobs(ofType type: BlobType) throws(StoreError) -> Bool {
        try state.withLock { (s) throws(StoreError) -> Bool in
            let q = try s.db.prepare("SELECT 1 FROM blobs WHERE type = ?1 LIMIT 1")
            q.bind(1, Int64(type.rawValue))
            return try q.step()
        }
    }

    /// Number of indexed blobs.
    public func blobCount() throws(StoreError) -> Int {
        try state.withLock { (s) throws(StoreError) -> Int in
            let q = try s.db.prepare("SELECT count(*) FROM blobs")
            _ = try q.step()
            return Int(q.int64(0))
        }
    }
}
