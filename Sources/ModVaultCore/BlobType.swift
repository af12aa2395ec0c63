/// What a blob inside a pack holds.
public enum BlobType: UInt8, Sendable, Codable, CaseIterable, CustomStringConvertible {
    /// A chunk of file content.
    case data = 0
    /// A serialized directory listing (a Merkle tree node).
    case tree = 1
    /// A compressed stream inside a file (a BA2 member, a DX10 chunk, a compressed plugin record),
    /// stored as a recipe plus the data blobs of its decompressed content, or of its own bytes.
    /// Its ID is the MAC of the stream's original bytes, not of the blob's plaintext.
    case stream = 2
    /// One level of a long file's content list (`ContentList`): content handles, or lists below it.
    case list = 3
    /// A file rebuilt from another file's content by a plan (a BA2 repacked at another zlib level):
    /// the only handle of its file's content (`ArchiveBlob`).
    case archive = 4

    /// The lowercase name used in JSON and messages.
    public var description: String {
        switch self {
        case .data: return "data"
        case .tree: return "tree"
        case .stream: return "stream"
        case .list: return "list"
        case .archive: return "archive"
        }
    }
}

/// A blob's identity: its type and content ID.
public struct BlobHandle: Hashable, Sendable, CustomStringConvertible {
    /// Content ID (a keyed MAC of the plaintext).
    public var id: ObjectID
    /// Data chunk or tree.
    public var type: BlobType

    /// Creates a handle.
    public init(id: ObjectID, type: BlobType) {
        self.id = id
        self.type = type
    }

    /// `type/shortid`, for messages.
    public var description: String { "\(type)/\(id.short)" }
}

/// The kinds of file a repository holds, each in its own folder.
public enum FileKind: String, Sendable, CaseIterable, Codable {
    /// The encrypted repository configuration (one file, `config`).
    case config
    /// Key slots (`keys/<id>`).
    case key = "keys"
    /// Pack files (`data/<2 hex>/<id>`).
    case pack = "data"
    /// Index files (`index/<id>`).
    case index
    /// Snapshot objects (`snapshots/<id>`).
    case snapshot = "snapshots"
    /// Lock files (`locks/<id>`).
    case lock = "locks"
    /// The push log of a shared remote (`pushes/<seq>`, 20 decimal digits): one entry per sync push.
    case push = "pushes"

    /// True for kinds whose objects are named by their content (packs, index files, snapshots): two
    /// objects of one such name hold the same bytes, so writing an existing one is a no-op.
    public var isContentAddressed: Bool { self == .pack || self == .index || self == .snapshot }

    /// The largest object of this kind a reader accepts from a remote: a claim above it (a length
    /// header, a listing, the bytes themselves) is refused before it is read into memory. Packs may
    /// reach the largest pack size (1 GiB) plus one blob; index files list at most 32 packs' blobs.
    public var maximumObjectLength: Int64 {
        switch self {
        case .config: return 1 << 20
        case .key, .lock, .push: return 64 << 10
        case .snapshot: return 16 << 20
        case .index: return 512 << 20
        case .pack: return 1536 << 20
        }
    }
}
