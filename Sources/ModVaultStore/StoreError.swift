public import ModVaultCore

/// Errors from the repository storage layer. Each carries the path or object it concerns.
public enum StoreError: ModVaultFailure {
    /// No repository (no `config`) at the path.
    case repositoryMissing(path: String)
    /// `init` found a repository already there.
    case repositoryExists(path: String)
    /// The folder exists and is not empty, so `init` will not use it.
    case directoryNotEmpty(path: String)
    /// No key slot opened with the password.
    case wrongPassword(path: String)
    /// A stored object failed authentication, its hash, or parsing.
    case corruptObject(path: String, reason: String)
    /// An object referenced by another is absent.
    case missingObject(path: String)
    /// A blob is not in the index.
    case blobNotIndexed(BlobHandle)
    /// A snapshot reference matched nothing.
    case snapshotNotFound(String)
    /// A snapshot prefix matched several snapshots.
    case ambiguousSnapshot(String, candidates: [String])
    /// The repository uses a newer format than this build understands.
    case unsupportedVersion(path: String, version: Int)
    /// An operating-system failure.
    case system(SystemCallError)
    /// The SQLite index failed.
    case database(path: String, reason: String)
    /// A value the user supplied is invalid.
    case invalidArgument(String)
    /// Another process holds a conflicting lock.
    case locked(path: String, holder: LockInfo)
    /// A lock this process held can no longer be relied on (its file is gone, or it could not be
    /// refreshed in time), so another process may have treated it as stale.
    case lockLost(path: String, reason: String)

    /// The broad cause, for exit codes.
    public var kind: FailureKind {
        switch self {
        case .repositoryMissing: return .repositoryMissing
        case .repositoryExists, .directoryNotEmpty: return .repositoryExists
        case .wrongPassword: return .wrongPassword
        case .corruptObject, .missingObject, .blobNotIndexed, .unsupportedVersion: return .corrupt
        case .snapshotNotFound, .ambiguousSnapshot: return .notFound
        case .system(let e): return e.kind
        case .database: return .io
        case .invalidArgument: return .invalidInput
        case .locked, .lockLost: return .locked
        }
    }

    /// A one-line message naming cause and path.
    public var description: String {
        switch self {
        case .repositoryMissing(let p): return "no repository at \(p) (run 'modvault init' first, or set MODVAULT_REPO)"
        case .repositoryExists(let p): return "a repository already exists at \(p)"
        case .directoryNotEmpty(let p): return "\(p) is not empty and holds no repository; refusing to initialise there"
        case .wrongPassword(let p): return "wrong password: no key in \(p)/keys opens with it"
        case .corruptObject(let p, let r): return "corrupt object \(p): \(r)"
        case .missingObject(let p): return "missing object \(p)"
        case .blobNotIndexed(let h): return "blob \(h) is not in the index (run 'modvault check')"
        case .snapshotNotFound(let r): return "no snapshot matches '\(r)'"
        case .ambiguousSnapshot(let r, let c): return "snapshot prefix '\(r)' is ambiguous: matches \(c.joined(separator: ", "))"
        case .unsupportedVersion(let p, let v): return "\(p) uses format version \(v), which this modvault does not support"
        case .system(let e): return e.description
        case .database(let p, let r): return "index database \(p): \(r)"
        case .invalidArgument(let r): return r
        case .locked(let p, let h):
            let kind = h.exclusive ? "exclusive" : "shared"
            return "repository is locked by \(h.operation) (\(kind) lock, PID \(h.pid) on \(h.host) by \(h.username), since \(Timestamp.format(h.time))): \(p); if that process is gone, run 'modvault unlock'"
        case .lockLost(let p, let r):
            return "lost the repository lock \(p) (\(r)); stopped before changing anything that depends on it"
        }
    }
}
