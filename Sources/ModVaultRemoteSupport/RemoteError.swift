public import ModVaultCore

/// The one error type of the remote layer: what went wrong, on which remote, for which object, and why.
///
/// Every remote in ModVault throws only this type, so callers can recognise conditions such as
/// `alreadyExists` or `notFound` without knowing the back end.
public struct RemoteError: ModVaultFailure, Equatable {
    /// What went wrong, in terms every back end shares.
    public enum Reason: String, Sendable, Equatable, CaseIterable {
        /// A create-if-absent write found the name taken.
        case alreadyExists
        /// The object does not exist.
        case notFound
        /// The credentials were refused or do not allow the operation.
        case accessDenied
        /// The bucket, collection or folder itself does not exist.
        case containerMissing
        /// No connection could be made (refused, unknown host, TLS failure).
        case unreachable
        /// The remote did not answer in time.
        case timedOut
        /// The connection broke during the request.
        case connectionLost
        /// The remote asked to slow down (HTTP 429, S3 SlowDown).
        case throttled
        /// The remote failed internally (HTTP 5xx).
        case serverError
        /// Another conditional write on the same name was in progress.
        case conflict
        /// The answer was not what the protocol promises.
        case unexpectedResponse
        /// The requested byte range lies outside the object.
        case invalidRange
        /// The object name cannot be stored (empty, or characters outside `[A-Za-z0-9._-]`).
        case invalidName
        /// The remote is read-only (a static HTTP host).
        case readOnly
        /// The remote cannot do this at all.
        case unsupported
        /// The remote URL, credentials or options are invalid or missing.
        case invalidConfiguration
        /// A local file operation failed.
        case io
        /// Data failed an integrity check.
        case corrupt

        /// Whether an operation that failed this way may succeed when simply tried again.
        public var isTransient: Bool {
            switch self {
            case .unreachable, .timedOut, .connectionLost, .throttled, .serverError, .conflict: return true
            default: return false
            }
        }

        /// A short phrase for messages.
        public var phrase: String {
            switch self {
            case .alreadyExists: return "already exists"
            case .notFound: return "not found"
            case .accessDenied: return "access denied"
            case .containerMissing: return "does not exist"
            case .unreachable: return "cannot connect"
            case .timedOut: return "timed out"
            case .connectionLost: return "connection lost"
            case .throttled: return "throttled by the server"
            case .serverError: return "server error"
            case .conflict: return "conflicting concurrent write"
            case .unexpectedResponse: return "unexpected response"
            case .invalidRange: return "byte range outside the object"
            case .invalidName: return "invalid object name"
            case .readOnly: return "read-only remote, cannot write"
            case .unsupported: return "not supported"
            case .invalidConfiguration: return "invalid remote configuration"
            case .io: return "I/O error"
            case .corrupt: return "integrity check failed"
            }
        }
    }

    /// What went wrong.
    public var reason: Reason
    /// The remote, as shown to users: `s3://bucket/prefix`, `/mnt/nas/repo`, `pocketbase+http://host:8090/objects`.
    public var location: String
    /// The object's path inside the remote (`data/3f/3f2a…`), when one object was concerned.
    public var object: String?
    /// The remote's own words: HTTP status and error code, errno text, server message.
    public var detail: String?
    /// The HTTP status, when there was one.
    public var status: Int?
    /// How many attempts were made (more than one when `RetryingRemote` retried).
    public var attempts: Int
    /// Whether trying again may help; defaults to `reason.isTransient`.
    public var isRetryable: Bool

    /// Creates an error.
    public init(
        _ reason: Reason, location: String, object: String? = nil, detail: String? = nil, status: Int? = nil,
        attempts: Int = 1, retryable: Bool? = nil
    ) {
        self.reason = reason
        self.location = location
        self.object = object
        self.detail = detail
        self.status = status
        self.attempts = attempts
        self.isRetryable = retryable ?? reason.isTransient
    }

    /// Creates an error about one object.
    public init(_ reason: Reason, location: String, name: ObjectName, detail: String? = nil, status: Int? = nil) {
        self.init(reason, location: location, object: name.relativePath, detail: detail, status: status)
    }

    /// True when a create-if-absent write found the name taken.
    public var isAlreadyExists: Bool { reason == .alreadyExists }

    /// True when the object does not exist.
    public var isNotFound: Bool { reason == .notFound }

    /// The broad cause, for exit codes.
    public var kind: FailureKind {
        switch reason {
        case .notFound: return .notFound
        case .containerMissing: return .repositoryMissing
        case .corrupt: return .corrupt
        case .invalidRange, .invalidName, .readOnly, .unsupported, .invalidConfiguration: return .invalidInput
        case .unreachable, .timedOut, .connectionLost, .throttled, .serverError, .conflict, .unexpectedResponse, .io:
            return .io
        case .alreadyExists, .accessDenied: return .other
        }
    }

    /// The remote and object concerned, e.g. `s3://bucket/prefix/data/3f/3f2a…`.
    public var subject: String {
        guard let object else { return location }
        return location.hasSuffix("/") ? location + object : location + "/" + object
    }

    /// One line naming the remote, e.g. `s3://bucket/prefix: access denied (403 InvalidAccessKeyId)`.
    public var description: String {
        var text = "\(subject): \(reason.phrase)"
        if let detail, !detail.isEmpty { text += " (\(detail))" }
        if attempts > 1 { text += " after \(attempts) attempts" }
        return text
    }
}

extension Error {
    /// True when this is a `RemoteError` saying a create-if-absent write found the name taken.
    public var isRemoteAlreadyExists: Bool { (self as? RemoteError)?.reason == .alreadyExists }

    /// True when this is a `RemoteError` saying the object does not exist.
    public var isRemoteNotFound: Bool { (self as? RemoteError)?.reason == .notFound }
}
