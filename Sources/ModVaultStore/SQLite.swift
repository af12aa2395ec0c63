internal import CSQLite
import ModVaultCore

/// A SQLite connection. Not thread-safe: `LocalIndex` serialises access.
final class SQLiteDatabase {
    let path: String
    private var handle: OpaquePointer?

    init(path: String) throws(StoreError) {
        self.path = path
        var db: OpaquePointer?
        let rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "open failed (\(rc))"
            sqlite3_close(db)
            throw .database(path: path, reason: message)
        }
        handle = db
        sqlite3_busy_timeout(db, 10_000)
    }

    deinit { sqlite3_close_v2(handle) }

    func execute(_ sql: String) throws(StoreError) {
        var err: UnsafeMutablePointer<CChar>?
        if sqlite3_exec(handle, sql, nil, nil, &err) != SQLITE_OK {
            let message = err.map { String(cString: $0) } ?? "error"
            sqlite3_free(err)
            throw .database(path: path, reason: message)
        }
    }

    func prepare(_ sql: String) throws(StoreError) -> SQLiteStatement {
        var stmt: OpaquePointer?
        guard sqlite3_prepare_v2(handle, sql, -1, &stmt, nil) == SQLITE_OK, let stmt else {
            throw .database(path: path, reason: lastError)
        }
        return SQLiteStatement(stmt, database: self)
    }

    var lastError: String { String(cString: sqlite3_errmsg(handle)) }

    /// Opens a cache database under `cache/`: WAL mode, `schema` created at `version` when the file is
    /// new, then `probe` run as a read check. A cache holds nothing the repository does not, so a file
    /// that fails any of this (damaged, another version) is deleted and created again.
    static func openCache(_ path: String, version: Int, schema: String, probe: String) throws(StoreError) -> SQLiteDatabase {
        do {
            return try openChecked(path, version: version, schema: schema, probe: probe)
        } catch {
            for suffix in ["", "-wal", "-shm"] { try? FileSystem.remove(path + suffix) }
            return try openChecked(path, version: version, schema: schema, probe: probe)
        }
    }

    private static func openChecked(_ path: String, version: Int, schema: String, probe: String) throws(StoreError) -> SQLiteDatabase {
        let db = try SQLiteDatabase(path: path)
        try db.execute("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")
        // Read the version in a statement that is finished before anything is written: a read
        // transaction left open would make the write below fail with "database is locked" as soon
        // as another process has written in between.
        let found: Int64
        do {
            let check = try db.prepare("PRAGMA user_version")
            defer { check.reset() }
            _ = try check.step()
            found = check.int64(0)
        }
        if found != 0 && found != Int64(version) {
            throw .database(path: path, reason: "schema version \(found)")
        }
        if found == 0 {
            try db.execute("BEGIN IMMEDIATE;\n\(schema)\nPRAGMA user_version = \(version);\nCOMMIT;")
        }
        do {
            let check = try db.prepare(probe)
            defer { check.reset() }
            _ = try check.step()
        }
        return db
    }
}

/// A prepared statement, reset after each use so it can be re-run without re-parsing.
final class SQLiteStatement {
    private let stmt: OpaquePointer
    private unowned let database: SQLiteDatabase

    init(_ stmt: OpaquePointer, database: SQLiteDatabase) {
        self.stmt = stmt
        self.database = database
    }

    deinit { sqlite3_finalize(stmt) }

    func bind(_ index: Int32, _ id: ObjectID) {
        id.withBytes { raw in _ = sqlite3_bind_blob(stmt, index, raw.baseAddress, 32, unsafeBitCast(-1, to: sqlite3_destructor_type.self)) }
    }

    func bind(_ index: Int32, _ value: Int64) { sqlite3_bind_int64(stmt, index, value) }

    func bind(_ index: Int32, bytes: [UInt8]) {
        bytes.withUnsafeBytes { raw in
            _ = sqlite3_bind_blob(stmt, index, raw.baseAddress, Int32(raw.count), unsafeBitCast(-1, to: sqlite3_destructor_type.self))
        }
    }

    func bind(_ index: Int32, _ text: String) {
        sqlite3_bind_text(stmt, index, text, -1, unsafeBitCast(-1, to: sqlite3_destructor_type.self))
    }

    /// Steps once; true when a row is available.
    func step() throws(StoreError) -> Bool {
        let rc = sqlite3_step(stmt)
        if rc == SQLITE_ROW { return true }
        if rc == SQLITE_DONE { return false }
        throw .database(path: database.path, reason: database.lastError)
    }

    func reset() {
        sqlite3_reset(stmt)
        sqlite3_clear_bindings(stmt)
    }

    func int64(_ column: Int32) -> Int64 { sqlite3_column_int64(stmt, column) }

    func text(_ column: Int32) -> String { String(cString: sqlite3_column_text(stmt, column)) }

    func bytes(_ column: Int32) -> [UInt8] {
        let count = Int(sqlite3_column_bytes(stmt, column))
        guard count > 0, let p = sqlite3_column_blob(stmt, column) else { return [] }
        return Array(UnsafeRawBufferPointer(start: p, count: count))
    }

    func id(_ column: Int32) -> ObjectID? {
        guard sqlite3_column_bytes(stmt, column) == 32, let p = sqlite3_column_blob(stmt, column) else { return nil }
        return ObjectID(pointer: UnsafeRawBufferPointer(start: p, count: 32))
    }
}
