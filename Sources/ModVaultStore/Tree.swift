public import ModVaultCore

/// One entry of a directory listing.
public struct TreeNode: Sendable, Equatable {
    /// The entry's name (one path component).
    public var name: String
    /// File, directory, symlink or other.
    public var type: FileType
    /// Permission bits.
    public var mode: UInt32
    /// Modification time, nanoseconds since the epoch.
    public var mtimeNanos: Int64
    /// Status-change time as trees written before `FileStatCache` recorded it; written as 0 now.
    public var ctimeNanos: Int64
    /// Inode as trees written before `FileStatCache` recorded it; written as 0 now.
    public var inode: UInt64
    /// Device as trees written before `FileStatCache` recorded it; written as 0 now.
    public var device: UInt64
    /// Size in bytes (files; the target length for symlinks).
    public var size: Int64
    /// The file's content (files): inline handles (data blobs, and stream blobs for compressed
    /// streams) or the root of a content list.
    public var content: FileContent
    /// The subtree's ID (directories).
    public var subtree: ObjectID?
    /// The link target (symlinks), stored as given and never followed.
    public var linkTarget: String?

    /// Creates a node.
    public init(name: String, type: FileType, mode: UInt32, mtimeNanos: Int64, ctimeNanos: Int64 = 0, inode: UInt64 = 0,
                device: UInt64 = 0, size: Int64, content: FileContent = .empty, subtree: ObjectID? = nil, linkTarget: String? = nil) {
        self.name = name
        self.type = type
        self.mode = mode
        self.mtimeNanos = mtimeNanos
        self.ctimeNanos = ctimeNanos
        self.inode = inode
        self.device = device
        self.size = size
        self.content = content
        self.subtree = subtree
        self.linkTarget = linkTarget
    }
}

/// A directory listing: nodes sorted by name. Stored as a tree blob whose ID is the MAC of its encoding,
/// so identical directories share one blob and a snapshot is a Merkle tree.
///
/// Version 1 lists a file's content as data blob IDs; version 2 prefixes each with its blob type;
/// version 3 gives each file either inline typed handles or a content list's root. A tree is written
/// in the lowest version that can express it, so folders keep the IDs they always had.
public struct Tree: Sendable, Equatable {
    /// Newest encoding version.
    public static let version: UInt8 = 3
    /// Entries in byte order of their names.
    public var nodes: [TreeNode]

    /// Creates a tree, sorting nodes by name.
    public init(nodes: [TreeNode]) {
        self.nodes = nodes.sorted { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
    }

    /// The lowest encoding version that can express these nodes: 1 for inline data blobs only, 2 once a
    /// file names a stream blob, 3 once a file's content is a list or an archive blob. A tree keeps the ID it had under
    /// older versions whenever it can.
    public var encodingVersion: UInt8 {
        var version: UInt8 = 1
        for n in nodes {
            switch n.content {
            case .list: return 3
            case .inline(let handles):
                if handles.contains(where: { $0.type == .archive }) { return 3 }
                if handles.contains(where: { $0.type != .data }) { version = 2 }
            }
        }
        return version
    }

    /// Deterministic binary encoding.
    public func encoded() -> [UInt8] {
        var w = ByteWriter(capacity: 64 + nodes.count * 80)
        let version = encodingVersion
        w.u8(version)
        w.varint(UInt64(nodes.count))
        for n in nodes {
            w.string(n.name)
            w.u8(n.type.rawValue)
            w.varint(UInt64(n.mode))
            w.i64(n.mtimeNanos)
            w.i64(n.ctimeNanos)
            w.varint(n.inode)
            w.varint(n.device)
            w.varint(UInt64(max(0, n.size)))
            switch n.type {
            case .regular:
                switch n.content {
                case .inline(let handles):
                    if version == 3 { w.u8(0) }
                    w.varint(UInt64(handles.count))
                    for h in handles {
                        if version >= 2 { w.u8(h.type.rawValue) }
                        w.id(h.id)
                    }
                case .list(let root, let count):
                    w.u8(1)
                    w.id(root)
                    w.varint(count)
                }
            case .directory:
                w.id(n.subtree ?? ObjectID.zero)
            case .symlink:
                w.string(n.linkTarget ?? "")
            case .other:
                break
            }
        }
        return w.bytes
    }

    /// Parses a tree blob; malformed input throws, never traps.
    public static func decode(_ bytes: [UInt8]) throws(ByteReader.Malformed) -> Tree {
        var r = ByteReader(bytes)
        do {
            let version = try r.u8()
            guard (1...3).contains(version) else { throw ByteReader.Malformed(what: "tree version \(version)") }
            // The smallest possible node (empty name, one-byte varints, no payload) takes 22 bytes.
            let count = try r.count(limit: bytes.count / 22)
            var nodes: [TreeNode] = []
            nodes.reserveCapacity(count)
            for _ in 0..<count {
                let name = try r.string()
                guard let type = FileType(rawValue: try r.u8()) else { throw ByteReader.Malformed(what: "node type") }
                var node = TreeNode(name: name, type: type, mode: UInt32(truncatingIfNeeded: try r.varint()),
                                    mtimeNanos: try r.i64(), ctimeNanos: try r.i64(), inode: try r.varint(),
                                    device: try r.varint(), size: Int64(try r.count(limit: Int(Int64.max >> 1))))
                switch type {
                case .regular:
                    let form = version == 3 ? try r.u8() : 0
                    switch form {
                    case 0:
                        let typed = version >= 2
                        let n = try r.count(limit: r.remaining / (typed ? 33 : 32))
                        var handles: [BlobHandle] = []
                        handles.reserveCapacity(n)
                        for _ in 0..<n {
                            var type = BlobType.data
                            if typed {
                                let raw = try r.u8()
                                // An archive blob stands for the whole file (version 3 only), so it is the sole handle.
                                guard let t = BlobType(rawValue: raw), t == .data || t == .stream || (t == .archive && version == 3 && n == 1) else {
                                    throw ByteReader.Malformed(what: "content blob type \(raw)")
                                }
                                type = t
                            }
                            handles.append(BlobHandle(id: try r.id(), type: type))
                        }
                        node.content = .inline(handles)
                    case 1:
                        node.content = .list(try r.id(), count: try r.varint())
                    default:
                        throw ByteReader.Malformed(what: "content form \(form)")
                    }
                case .directory:
                    node.subtree = try r.id()
                case .symlink:
                    node.linkTarget = try r.string()
                case .other:
                    break
                }
                nodes.append(node)
            }
            guard r.isAtEnd else { throw ByteReader.Malformed(what: "trailing bytes in tree") }
            return Tree(nodes: nodes)
        } catch let e as ByteReader.Malformed {
            throw e
        } catch {
            throw ByteReader.Malformed(what: "\(error)")
        }
    }
}
