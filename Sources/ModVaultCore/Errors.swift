/// Broad causes of failure, shared by every layer so the CLI can map them to exit codes.
public enum FailureKind: Sendable, Equatable {
    /// The password opens no key slot.
    case wrongPassword
    /// No repository at the given location.
    case repositoryMissing
    /// A repository already exists where one was to be created.
    case repositoryExists
    /// Stored data failed authentication or parsing.
    case corrupt
    /// The user named something that does not exist or is ambiguous.
    case notFound
    /// Invalid arguments or input.
    case invalidInput
    /// The operating system refused an operation (permissions, disk full, I/O).
    case io
    /// A restore or write would leave the target folder.
    case unsafePath
    /// Another process holds a lock.
    case locked
    /// Anything else.
    case other
}

/// An error that knows its broad cause, so the CLI can choose an exit code and message.
public protocol ModVaultFailure: Error, CustomStringConvertible {
    /// The broad cause.
    var kind: FailureKind { get }
}

/// An error from the operating system, carrying the errno, the operation and the path.
public struct SystemCallError: ModVaultFailure, Equatable {
    /// The `errno` value.
    public var code: Int32
    /// The operation that failed, such as "open" or "write".
    public var operation: String
    /// The path involved.
    public var path: String

    /// Creates the error.
    public init(code: Int32, operation: String, path: String) {
        self.code = code
        self.operation = operation
        self.path = path
    }

    /// Always `.io`.
    public var kind: FailureKind { .io }

    /// The cause in words, e.g. "No space left on device".
    public var reason: String { String(cString: strerror(code)) }

    /// "open /path: No such file or directory".
    public var description: String { "\(operation) \(path): \(reason)" }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
