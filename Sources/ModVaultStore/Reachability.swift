public import ModVaultCore

/// A tree, list, stream or archive blob opened and parsed, as a reachability walk needs it.
public enum OpenedBlob: Sendable {
    /// A directory listing.
    case tree(Tree)
    /// One level of a content list.
    case list(ContentList)
    /// A stream description.
    case stream(StreamBlob)
    /// A file rebuilt from another file's content.
    case archive(ArchiveBlob)
}

/// The one walk from snapshot roots to every blob they reach: trees, content lists, the content
/// blobs they name, and the data blobs of stream blobs. Prune, push, pull, clone and mirror all use it.
///
/// The walk does no I/O itself: `next()` names the blob whose plaintext it needs, and the caller opens
/// it (from the local repository, or a remote's packs) and hands it to `add(_:for:)`. Every blob is
/// visited once however many names reach it, so a subtree reused under many names costs one visit.
public struct Reachability: Sendable {
    /// Every blob reached so far.
    public private(set) var reached = Set<BlobHandle>()
    private var queue: [BlobHandle] = []
    private var listLevels: [ObjectID: UInt8] = [:]

    /// Starts a walk at the root trees of some snapshots.
    public init(roots: [ObjectID]) {
        for root in roots { enqueue(BlobHandle(id: root, type: .tree)) }
    }

    private mutating func enqueue(_ handle: BlobHandle) {
        guard reached.insert(handle).inserted, handle.type != .data else { return }
        queue.append(handle)
    }

    /// The next blob to open, or nil when the walk is complete.
    public mutating func next() -> BlobHandle? { queue.popLast() }

    /// Records what `handle` (returned by `next()`) names.
    public mutating func add(_ blob: OpenedBlob, for handle: BlobHandle) throws {
        switch blob {
        case .tree(let tree):
            for node in tree.nodes {
                if node.type == .directory, let sub = node.subtree { enqueue(BlobHandle(id: sub, type: .tree)) }
                guard node.type == .regular else { continue }
                switch node.content {
                case .inline(let handles): for h in handles { enqueue(h) }
                case .list(let root, _): enqueue(BlobHandle(id: root, type: .list))
                }
            }
        case .list(let list):
            // Levels fall by one at each step, so no chain of lists can be longer than the deepest level.
            if let expected = listLevels[handle.id], list.level != expected {
                throw StoreError.corruptObject(path: "list \(handle.id.short)", reason: "at level \(list.level), expected \(expected)")
            }
            for entry in list.entries {
                switch entry {
                case .content(let h): enqueue(h)
                case .child(let child, _):
                    guard list.level > 0 else { throw StoreError.corruptObject(path: "list \(handle.id.short)", reason: "level 0 names another list") }
                    if listLevels[child] == nil { listLevels[child] = list.level - 1 }
                    enqueue(BlobHandle(id: child, type: .list))
                }
            }
        case .stream(let stream):
            for id in stream.content { enqueue(BlobHandle(id: id, type: .data)) }
        case .archive(let archive):
            // The base names data and stream blobs only (the decoder refuses anything else), so no
            // chain of archive blobs can form.
            switch archive.base {
            case .inline(let handles): for h in handles { enqueue(h) }
            case .list(let root, _): enqueue(BlobHandle(id: root, type: .list))
            }
        }
    }

    /// Every blob reachable from `roots` in the local repository.
    public static func reach(_ roots: [ObjectID], in repository: Repository) throws -> Set<BlobHandle> {
        var walk = Reachability(roots: roots)
        while let h = walk.next() { try walk.add(repository.open(h), for: h) }
        return walk.reached
    }

    /// Every blob reachable from `roots`, opening blobs with `open` (a remote's packs).
    public static func reach(_ roots: [ObjectID], open: (BlobHandle) async throws -> OpenedBlob) async throws -> Set<BlobHandle> {
        var walk = Reachability(roots: roots)
        while let h = walk.next() { try walk.add(await open(h), for: h) }
        return walk.reached
    }
}

extension OpenedBlob {
    /// Parses the plaintext of a tree, list or stream blob; `path` names it in errors.
    public static func decode(_ handle: BlobHandle, plaintext: [UInt8], path: String) throws -> OpenedBlob {
        do {
            switch handle.type {
            case .tree: return .tree(try Tree.decode(plaintext))
            case .list: return .list(try ContentList.decode(plaintext))
            case .stream: return .stream(try StreamBlob.decode(plaintext))
            case .archive: return .archive(try ArchiveBlob.decode(plaintext))
            case .data: throw ByteReader.Malformed(what: "a data blob has no structure to walk")
            }
        } catch {
            throw StoreError.corruptObject(path: "\(path) \(handle)", reason: "\(error)")
        }
    }
}

extension Repository {
    /// Opens and parses a tree, list or stream blob through the index.
    public func open(_ handle: BlobHandle) throws -> OpenedBlob {
        var out: [UInt8] = []
        try loadBlob(handle, into: &out)
        return try OpenedBlob.decode(handle, plaintext: out, path: path)
    }
}
