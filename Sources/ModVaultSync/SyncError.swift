public import ModVaultCore

/// Errors from push, pull, clone and mirror. Each names the remote.
public enum SyncError: ModVaultFailure {
    /// The remote holds another repository (its config does not open with our key, or has another ID).
    case differentRepository(remote: String, detail: String)
    /// The remote holds no repository (no `config`).
    case notARepository(remote: String)
    /// A downloaded object failed verification.
    case corruptDownload(remote: String, object: String, reason: String)
    /// The local folder for clone is not empty.
    case targetExists(path: String)
    /// No key slot on the remote opens with the password.
    case wrongPassword(remote: String)
    /// The remote cannot list objects (a static HTTP host without a manifest).
    case cannotList(remote: String, detail: String)

    /// The broad cause.
    public var kind: FailureKind {
        switch self {
        case .differentRepository, .targetExists: return .invalidInput
        case .notARepository: return .repositoryMissing
        case .corruptDownload: return .corrupt
        case .wrongPassword: return .wrongPassword
        case .cannotList: return .other
        }
    }

    /// One line naming the cause and the remote.
    public var description: String {
        switch self {
        case .differentRepository(let r, let d): return "\(r) holds a different repository: \(d)"
        case .notARepository(let r): return "\(r) holds no repository (no config); push to it first"
        case .corruptDownload(let r, let o, let why): return "\(r): downloaded \(o) failed verification: \(why)"
        case .targetExists(let p): return "\(p) already exists and is not empty"
        case .wrongPassword(let r): return "wrong password: no key on \(r) opens with it"
        case .cannotList(let r, let d): return "\(r) cannot list its objects: \(d)"
        }
    }
}

/// What a transfer moved.
public struct TransferReport: Sendable, Codable {
    /// Objects uploaded.
    public var objectsUploaded = 0
    /// Bytes uploaded.
    public var bytesUploaded: Int64 = 0
    /// Objects downloaded.
    public var objectsDownloaded = 0
    /// Bytes downloaded.
    public var bytesDownloaded: Int64 = 0
    /// Objects the other side already had.
    public var objectsSkipped = 0
    /// Bytes not transferred because they were found locally or in seed files (mirror).
    public var bytesReused: Int64 = 0
    /// Seconds taken.
    public var seconds = 0.0
    /// Key slots uploaded (push): passwords added here since the last push.
    public var keysAdded = 0
    /// Key slots removed from the remote (push): passwords removed or changed here, which stop working there too.
    public var keysRemoved = 0
    /// Files the remote offered that failed verification and were left there, with the reason
    /// (pull and clone): planted or damaged, they never enter the local repository.
    public var refused: [RefusedObject] = []
    /// Push: whether the remote was listed in full (no fresh local record of what it holds, or `--verify`).
    public var listedRemote = false
    /// Multipart uploads left unfinished by an earlier run (a killed push) and cancelled by this one.
    public var uploadsAborted = 0

    /// An empty report.
    public init() {}
}

/// A remote file that was not stored locally, and why.
public struct RefusedObject: Sendable, Codable, Equatable, CustomStringConvertible {
    /// Its path on the remote, e.g. `snapshots/<id>`.
    public var object: String
    /// Why it was refused.
    public var reason: String

    /// Creates a record.
    public init(object: String, reason: String) {
        self.object = object
        self.reason = reason
    }

    /// "OBJECT: REASON".
    public var description: String { "\(object): \(reason)" }
}

/// A progress sample for transfers.
public struct TransferSample: Sendable {
    /// Objects done.
    public var objects: Int
    /// Objects planned.
    public var totalObjects: Int
    /// Bytes done.
    public var bytes: Int64
    /// Bytes planned.
    public var totalBytes: Int64
    /// Seconds since the start.
    public var elapsed: Double
}

/// Receives transfer progress.
public typealias TransferProgress = @Sendable (TransferSample) -> Void
