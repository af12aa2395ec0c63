public import ModVaultCore

/// Errors from snapshot, restore, check and diff.
public enum ArchiveError: ModVaultFailure {
    /// The folder to snapshot does not exist or is not a directory.
    case sourceMissing(path: String)
    /// Restore target is not empty and `--overwrite` was not given.
    case targetNotEmpty(path: String)
    /// A tree entry would write outside the target (`..`, `/`, absolute or escaping link).
    case unsafeEntry(path: String, reason: String)
    /// `--include` matched nothing in the snapshot.
    case includeNotFound(String)
    /// A path inside a snapshot does not exist.
    case pathNotFound(String)
    /// Restoring a file failed.
    case restoreFailed(path: String, cause: String)

    /// The broad cause.
    public var kind: FailureKind {
        switch self {
        case .sourceMissing, .includeNotFound, .pathNotFound: return .notFound
        case .targetNotEmpty: return .invalidInput
        case .unsafeEntry: return .unsafePath
        case .restoreFailed: return .io
        }
    }

    /// One line naming cause and path.
    public var description: String {
        switch self {
        case .sourceMissing(let p): return "source folder \(p) does not exist or is not a directory"
        case .targetNotEmpty(let p): return "restore target \(p) is not empty (use --overwrite to write into it)"
        case .unsafeEntry(let p, let r): return "refusing unsafe entry '\(p)': \(r)"
        case .includeNotFound(let p): return "--include '\(p)' matches nothing in the snapshot"
        case .pathNotFound(let p): return "no such path in the snapshot: \(p)"
        case .restoreFailed(let p, let c): return "writing \(p) failed: \(c)"
        }
    }
}

/// A non-fatal problem met during an operation, such as an unreadable source file.
public struct OperationWarning: Sendable, CustomStringConvertible {
    /// The path concerned.
    public var path: String
    /// What went wrong.
    public var message: String

    /// Creates a warning.
    public init(path: String, message: String) {
        self.path = path
        self.message = message
    }

    /// "path: message".
    public var description: String { "\(path): \(message)" }
}

/// A progress sample for long operations, delivered a few times a second.
public struct ProgressSample: Sendable {
    /// Files finished.
    public var files: Int
    /// Files expected in total (0 while unknown).
    public var totalFiles: Int
    /// Bytes processed.
    public var bytes: Int64
    /// Bytes expected in total (0 while unknown).
    public var totalBytes: Int64
    /// Seconds since the start.
    public var elapsed: Double

    /// Creates a sample.
    public init(files: Int, totalFiles: Int, bytes: Int64, totalBytes: Int64, elapsed: Double) {
        self.files = files
        self.totalFiles = totalFiles
        self.bytes = bytes
        self.totalBytes = totalBytes
        self.elapsed = elapsed
    }
}

/// Receives progress samples.
public typealias ProgressHandler = @Sendable (ProgressSample) -> Void


#if canImport(Glibc)
import Glibc
#endif
