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
    /// Status-change time, for change detection only.
    public var ctimeNanos: Int64
    /// Inode, for change detection only.
    public var inode: UInt64
    /// Device, for change detection only.
    public var device: UInt64
    /// Size in bytes (files; the target length for symlinks).
    public var size: Int64
    /// The file's content, in order: data blobs, and stream blobs for compressed streams (files).
    public var content: [BlobHandle]
    /// The subtree's ID (directories).
    public var subtree: ObjectID?
    /// The link target (symlinks), stored as given and never followed.
    public var linkTarget: String?

    /// Creates a node.
    public init(name: String, type: FileType, mode: UInt32, mtimeNanos: Int64, ctimeNanos: Int64 = 0, inode: UInt64 = 0,
                device: UInt64 = 0, size: Int64, content: [BlobHandle] = [], subtree: ObjectID? = nil, linkTarget: String? = nil) {
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
/// Version 1 lists a file's content as data blob IDs; version 2 prefixes each with its blob type.
/// A tree is written as version 1 whenever none of its files refers to a stream blob, so folders
/// without streams keep the IDs they always had.
public struct Tree: Sendable, Equatable {
    /// Newest encoding version.
    public static let version: UInt8 = 2
    /// Entries in byte order of their names.
    public var nodes: [TreeNode]

    /// Creates a tree, sorting nodes by name.
    public init(nodes: [TreeNode]) {
        self.nodes = nodes.sorted { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
    }

    /// Deterministic binary encoding.
    public func encoded() -> [UInt8] {
        var w = ByteWriter(capacity: 64 + nodes.count * 80)
        let typed = nodes.contains { $0.content.contains { $0.type != .data } }
        w.u8(typed ? 2 : 1)
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
                w.varint(UInt64(n.content.count))
                for h in n.content {
                    if typed { w.u8(h.type.rawValue) }
                    w.id(h.id)
                }
            case .directory:
                w.id(n.subtree ?? ObjectID(bytes: [UInt8](repeating: 0, count: 32))!)
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
            guard version == 1 || version == 2 else { throw ByteReader.Malformed(what: "tree version \(version)") }
            let typed = version == 2
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
                    let n = try r.count(limit: r.remaining / (typed ? 33 : 32))
                    node.content.reserveCapacity(n)
                    for _ in 0..<n {
                        var type = BlobType.data
                        if typed {
                            let raw = try r.u8()
                            guard let t = BlobType(rawValue: raw), t != .tree else { throw ByteReader.Malformed(what: "content blob type \(raw)") }
                            type = t
                        }
                        node.content.append(BlobHandle(id: try r.id(), type: type))
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
