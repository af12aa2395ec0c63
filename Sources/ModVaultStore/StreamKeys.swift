import Synchronization
public import ModVaultCore

/// Where to find, among streams stored as they are, one whose content a new stream or a loose file
/// repeats: a local cache from a stream's content key to the data blobs holding its compressed bytes.
///
/// The key is the content MAC of the first `prefixLength` bytes the stream inflates to (all of them
/// for a shorter stream), with its inflated length beside it, so finding a candidate costs a partial
/// inflate, not a whole one. A
/// candidate is only a hint: the caller inflates it and compares every byte before relying on it.
/// Like the blob index it lives under `cache/`, is never copied, and losing it only costs dedup.
public final class StreamKeyCache: Sendable {
    /// One stream stored as it is: its inflated length, compressed length and data blobs in order.
    public struct Source: Sendable, Hashable {
        /// Length of the inflated content.
        public var rawLength: UInt64
        /// Length of the compressed stream (the data blobs' bytes together).
        public var storedLength: UInt64
        /// The data blobs that concatenate to the compressed stream.
        public var blobs: [ObjectID]

        /// Creates a source.
        public init(rawLength: UInt64, storedLength: UInt64, blobs: [ObjectID]) {
            self.rawLength = rawLength
            self.storedLength = storedLength
            self.blobs = blobs
        }
    }

    /// Bytes of inflated content the key covers; a shorter stream is keyed by all of its content.
    public static let prefixLength = 4096
    /// Candidates returned per key at most (equal prefixes beyond this are not worth verifying).
    public static let candidateLimit = 4

    private struct State {
        let db: SQLiteDatabase
        let lookup: SQLiteStatement
        let insert: SQLiteStatement
    }

    private let state: Mutex<State>
    private let pending = Mutex<[(ObjectID, Source)]>([])
    /// Path of the database file.
    public let path: String

    private static let schemaVersion = 1

    init(path: String) throws(StoreError) {
        self.path = path
        // Nothing here is needed for correctness, so a damaged cache starts again empty.
        let db = try SQLiteDatabase.openCache(path, version: Self.schemaVersion, schema: """
            CREATE TABLE IF NOT EXISTS stream_keys (prefix BLOB NOT NULL, raw_length INTEGER NOT NULL,
                stored_length INTEGER NOT NULL, blobs BLOB NOT NULL, PRIMARY KEY (prefix, raw_length, blobs)) WITHOUT ROWID;
            """, probe: "SELECT count(*) FROM stream_keys")
        state = Mutex(State(
            db: db,
            lookup: try db.prepare("SELECT raw_length, stored_length, blobs FROM stream_keys WHERE prefix = ?1 LIMIT \(Self.candidateLimit)"),
            insert: try db.prepare("INSERT OR IGNORE INTO stream_keys (prefix, raw_length, stored_length, blobs) VALUES (?1, ?2, ?3, ?4)")))
    }

    /// Streams recorded under `prefix`: at most `candidateLimit`, any of them possibly stale.
    public func candidates(prefix: ObjectID) -> [Source] {
        (try? state.withLock { (s) throws(StoreError) -> [Source] in
            defer { s.lookup.reset() }
            s.lookup.bind(1, prefix)
            var found: [Source] = []
            while try s.lookup.step() {
                let raw = s.lookup.bytes(2)
                guard raw.count % 32 == 0, !raw.isEmpty else { continue }
                let blobs = raw.withUnsafeBytes { r in stride(from: 0, to: r.count, by: 32).map { ObjectID(pointer: UnsafeRawBufferPointer(rebasing: r[$0..<($0 + 32)])) } }
                found.append(Source(rawLength: UInt64(s.lookup.int64(0)), storedLength: UInt64(s.lookup.int64(1)), blobs: blobs))
            }
            return found
        }) ?? []
    }

    /// Notes a stream stored as it is; it becomes a candidate once `commit()` runs, which the caller
    /// does only after the stream's data blobs are safely in the repository.
    public func note(prefix: ObjectID, source: Source) {
        pending.withLock { $0.append((prefix, source)) }
    }

    /// Writes the noted streams in one transaction. A failure only costs dedup later, so it is not reported.
    public func commit() {
        let entries = pending.withLock { p in
            defer { p.removeAll() }
            return p
        }
        guard !entries.isEmpty else { return }
        try? state.withLock { (s) throws(StoreError) in
            try s.db.execute("BEGIN IMMEDIATE")
            do throws(StoreError) {
                for (prefix, source) in entries {
                    defer { s.insert.reset() }
                    s.insert.bind(1, prefix)
                    s.insert.bind(2, Int64(source.rawLength))
                    s.insert.bind(3, Int64(source.storedLength))
                    s.insert.bind(4, bytes: source.blobs.flatMap(\.bytes))
                    _ = try s.insert.step()
                }
                try s.db.execute("COMMIT")
            } catch {
                try? s.db.execute("ROLLBACK")
                throw error
            }
        }
    }

    /// Drops the noted streams of a run that failed.
    public func discardPending() { pending.withLock { $0.removeAll() } }
}
