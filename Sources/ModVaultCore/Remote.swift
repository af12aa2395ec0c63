/// The name of one file in a repository: its kind (folder) and its name inside that folder.
public struct ObjectName: Hashable, Sendable, CustomStringConvertible {
    /// Which folder the object lives in.
    public var kind: FileKind
    /// The file name: a 64-digit hex ID, or `config`.
    public var name: String

    /// Creates a name.
    public init(kind: FileKind, name: String) {
        self.kind = kind
        self.name = name
    }

    /// Names an object by its ID.
    public init(kind: FileKind, id: ObjectID) {
        self.init(kind: kind, name: id.hex)
    }

    /// The configuration object.
    public static let config = ObjectName(kind: .config, name: "config")

    /// The path relative to the repository root, e.g. `data/3f/3f2a…` or `snapshots/91c0…`.
    ///
    /// Kind `.config` names files in the root folder: `config` itself, and the remote listing
    /// manifest (`manifest.json`, Docs/REMOTES.md) that static HTTP hosts need.
    public var relativePath: String {
        switch kind {
        case .config: return name
        case .pack: return "data/\(name.prefix(2))/\(name)"
        default: return "\(kind.rawValue)/\(name)"
        }
    }

    /// The relative path.
    public var description: String { relativePath }
}

/// One entry of a remote listing.
public struct RemoteEntry: Hashable, Sendable {
    /// The object's name.
    public var name: ObjectName
    /// Its size in bytes.
    public var size: Int64

    /// Creates an entry.
    public init(name: ObjectName, size: Int64) {
        self.name = name
        self.size = size
    }
}

/// A place that stores repository files: a folder on disk, an S3 bucket, a PocketBase collection.
///
/// Every repository file is written once under a name that never collides and never rewritten,
/// so a remote needs no read-modify-write operations.
public protocol Remote: Sendable {
    /// A human-readable location for messages, such as `s3://bucket/prefix`.
    var location: String { get }

    /// Whether `save(_:data:ifAbsent: true)` is enforced atomically by the remote.
    var supportsCreateIfAbsent: Bool { get async }

    /// Stores `data` under `name`. The object becomes visible whole or not at all.
    /// With `ifAbsent`, fails with `.alreadyExists` when the name is taken.
    func save(_ name: ObjectName, data: [UInt8], ifAbsent: Bool) async throws

    /// Reads `range` of the object, or all of it.
    func load(_ name: ObjectName, range: Range<Int64>?) async throws -> [UInt8]

    /// The object's size, or nil if it does not exist.
    func stat(_ name: ObjectName) async throws -> Int64?

    /// Lists up to `limit` objects of one kind, in name order, starting after `after`.
    func list(_ kind: FileKind, after: String?, limit: Int) async throws -> [RemoteEntry]

    /// Deletes the object; deleting a missing object is not an error.
    func remove(_ name: ObjectName) async throws

    /// Stores the local file at `path` under `name`, as `save(_:data:ifAbsent:)` does. Remotes that
    /// can send a large file in parts (S3 multipart upload) do so without holding it in memory.
    func save(_ name: ObjectName, file path: String, ifAbsent: Bool) async throws

    /// Cancels uploads begun more than `age` seconds ago and never finished (a process killed during
    /// a multipart upload leaves its parts stored and billed); returns how many were cancelled.
    func abortIncompleteUploads(olderThan age: Double) async throws -> Int
}

extension Remote {
    /// Reads the file whole and saves its bytes.
    public func save(_ name: ObjectName, file path: String, ifAbsent: Bool) async throws {
        try await save(name, data: try FileSystem.readFile(path), ifAbsent: ifAbsent)
    }

    /// None: every save is a single request that lands whole or not at all.
    public func abortIncompleteUploads(olderThan age: Double) async throws -> Int { 0 }
}
