import Foundation
public import ModVaultCore
public import ModVaultStore
import ModVaultArchive
public import ModVaultFormats

/// One conflict a merge met, and how it was settled.
public struct SyncConflict: Codable, Sendable, Equatable {
    /// The path, relative to the synced folder.
    public var path: String
    /// What both sides did.
    public var kind: ConflictKind
    /// How it was settled: `ours`, `theirs`, `kept-modification`, `keep-both`, `lines-merged` or `manual` (waiting for `resolve`).
    public var resolution: String
    /// Where keep-both put the other version.
    public var copy: String?
    /// The remote snapshot the other version comes from.
    public var theirs: ObjectID?
    /// For a plugin that did not merge record by record: the records in conflict.
    public var records: [PluginMerge.Conflict]?

    /// Creates a record.
    public init(path: String, kind: ConflictKind, resolution: String, copy: String? = nil, theirs: ObjectID? = nil,
                records: [PluginMerge.Conflict]? = nil) {
        self.path = path
        self.kind = kind
        self.resolution = resolution
        self.copy = copy
        self.theirs = theirs
        self.records = records
    }
}

/// Every entry of a tree by path: files, links and others in `files`, folders in `folders`.
struct FlatTree {
    var files: [String: TreeNode] = [:]
    var folders: [String: TreeNode] = [:]

    /// Flattens `tree` (nil: empty), validating names as restore does.
    static func load(_ tree: ObjectID?, repository: Repository) throws -> FlatTree {
        var flat = FlatTree()
        guard let tree else { return flat }
        try TreeWalker(repository: repository).walk(tree) { entry in
            if entry.node.type == .directory { flat.folders[entry.path] = entry.node } else { flat.files[entry.path] = entry.node }
            return true
        }
        return flat
    }
}

/// Whether two entries hold the same thing for sync: the same type, content and executable bit, or the
/// same link target. Times, inodes and other modes differ from machine to machine and never conflict.
func sameEntry(_ a: TreeNode?, _ b: TreeNode?) -> Bool {
    switch (a, b) {
    case (nil, nil): return true
    case (let x?, let y?):
        guard x.type == y.type else { return false }
        switch x.type {
        case .regular: return x.size == y.size && x.content == y.content && (x.mode & 0o111 != 0) == (y.mode & 0o111 != 0)
        case .symlink: return x.linkTarget == y.linkTarget
        case .directory, .other: return true
        }
    default: return false
    }
}

/// One side of a merge: its snapshot, for `newest` and for naming keep-both copies.
public struct MergeSide: Sendable {
    /// The snapshot.
    public var id: ObjectID
    /// Its time.
    public var time: Date
    /// Its device.
    public var device: String

    /// Creates a side.
    public init(id: ObjectID, time: Date, device: String) {
        self.id = id
        self.time = time
        self.device = device
    }

    init(_ record: SnapshotRecord) { self.init(id: record.id, time: record.snapshot.time, device: record.snapshot.device) }
}

/// The outcome of a three-way tree merge.
public struct MergeOutcome: Sendable {
    /// The merged root tree (stored).
    public var tree: ObjectID
    /// Conflicts met, settled or not.
    public var conflicts: [SyncConflict]
    /// Paths where a modification followed the other side's rename (old path, new path).
    public var renames: [(from: String, to: String)]
    /// True when some conflict waits for `resolve`.
    public var unresolved: Bool { conflicts.contains { $0.resolution == "manual" } }
}

/// Three-way merge of snapshot trees, path by path, as git's tree merge does: a change on one side is
/// taken, the same change on both is taken once, and different changes to one path are conflicts that
/// `SyncRules` settle. Renames are found by content (a file deleted on one side whose exact content
/// appears under a new path there takes the other side's modification along).
struct TreeMerger {
    let repository: Repository
    let writer: BlobWriter
    let rules: SyncRules
    /// Paths settled by `resolve` (ours or theirs), applied before the rules.
    var resolutions: [String: ConflictStrategy] = [:]
    /// Plugin records settled by `resolve --record`, by path and FormID, given to the record-level merge.
    var recordResolutions: [String: [String: PluginMerge.Side]] = [:]
    /// A merge of merge bases (a virtual base) settles every conflict for `ours` and reports none.
    var virtual = false

    func merge(base: ObjectID?, ours: MergeSide, oursTree: ObjectID, theirs: MergeSide, theirsTree: ObjectID) throws -> MergeOutcome {
        let b = try FlatTree.load(base, repository: repository)
        let o = try FlatTree.load(oursTree, repository: repository)
        let t = try FlatTree.load(theirsTree, repository: repository)
        var files: [String: TreeNode] = [:]
        var conflicts: [SyncConflict] = []
        var renames: [(String, String)] = []
        let theirsNewer = theirs.time != ours.time ? theirs.time > ours.time : theirs.device > ours.device

        for path in Set(b.files.keys).union(o.files.keys).union(t.files.keys).sorted() {
            let bn = b.files[path], on = o.files[path], tn = t.files[path]
            // Equal on both sides: theirs, whose metadata the remote's trees already hold, so unchanged
            // folders keep the remote's tree IDs and cost no upload.
            if sameEntry(on, tn) { files[path] = tn ?? on; continue }
            if sameEntry(bn, on) { files[path] = tn; continue }
            if sameEntry(bn, tn) { files[path] = on; continue }
            // Different representations of the same bytes (a stream stored another way) are no conflict.
            if let on, let tn, try sameBytes(on, tn) { files[path] = on; continue }
            let kind: ConflictKind = bn == nil ? .bothAdded : (on == nil ? .deletedModified : (tn == nil ? .modifiedDeleted : .bothModified))
            // A deletion that is really a rename on that side: the modification follows the file.
            if kind == .deletedModified, let bn, let to = renamed(bn, in: o, base: b, other: t) {
                renames.append((path, to))
                continue
            }
            if kind == .modifiedDeleted, let bn, let to = renamed(bn, in: t, base: b, other: o) {
                renames.append((path, to))
                continue
            }
            if virtual { files[path] = on; continue }
            // Load-order files merge by lines.
            if let on, let tn, on.type == .regular, tn.type == .regular,
               SyncRules.loadOrderNames.contains((path.split(separator: "/").last.map(String.init) ?? path).lowercased()),
               let merged = try mergeLines(base: bn, ours: on, theirs: tn) {
                files[path] = merged
                conflicts.append(SyncConflict(path: path, kind: kind, resolution: "lines-merged", theirs: theirs.id))
                continue
            }
            // Plugins changed on both sides merge record by record; only true record conflicts remain.
            var recordConflicts: [PluginMerge.Conflict]? = nil
            if kind == .bothModified, let bn, let on, let tn, SyncRules.isPlugin(path) {
                switch try mergePlugin(base: bn, ours: on, theirs: tn, path: path) {
                case .merged(let node):
                    files[path] = node
                    conflicts.append(SyncConflict(path: path, kind: kind, resolution: "records-merged", theirs: theirs.id))
                    continue
                case .conflicts(let list):
                    recordConflicts = list
                case .notMergeable:
                    break
                }
            }
            var (strategy, explicit) = rules.strategy(for: path)
            if let resolved = resolutions[path] { (strategy, explicit) = (resolved, true) }
            if (kind == .deletedModified || kind == .modifiedDeleted) && !explicit {
                files[path] = on ?? tn
                conflicts.append(SyncConflict(path: path, kind: kind, resolution: "kept-modification", theirs: theirs.id))
                continue
            }
            switch strategy {
            case .ours:
                files[path] = on
                conflicts.append(SyncConflict(path: path, kind: kind, resolution: "ours", theirs: theirs.id, records: recordConflicts))
            case .theirs:
                files[path] = tn
                conflicts.append(SyncConflict(path: path, kind: kind, resolution: "theirs", theirs: theirs.id, records: recordConflicts))
            case .newest:
                files[path] = theirsNewer ? tn : on
                conflicts.append(SyncConflict(path: path, kind: kind, resolution: theirsNewer ? "theirs" : "ours", theirs: theirs.id, records: recordConflicts))
            case .keepBoth:
                let (winner, loser, loserSide) = theirsNewer ? (tn, on, ours) : (on, tn, theirs)
                files[path] = winner
                var copy: String? = nil
                if let loser {
                    let name = SyncRules.conflictCopyPath(path, device: loserSide.device, snapshot: loserSide.id)
                    files[name] = loser
                    copy = name
                }
                conflicts.append(SyncConflict(path: path, kind: kind, resolution: "keep-both", copy: copy, theirs: theirs.id, records: recordConflicts))
            case .manual:
                files[path] = on
                conflicts.append(SyncConflict(path: path, kind: kind, resolution: "manual", theirs: theirs.id, records: recordConflicts))
            }
        }
        for (from, to) in renames {
            // The side that kept `from` modified it; the other moved it to `to`.
            files[to] = o.files[from] != nil ? o.files[from] : t.files[from]
            files[from] = nil
        }

        // Folders: kept unless one side removed one the other left alone; any folder a file needs is kept.
        var folders: [String: TreeNode] = [:]
        for path in Set(o.folders.keys).union(t.folders.keys) {
            let inBase = b.folders[path] != nil, inOurs = o.folders[path] != nil, inTheirs = t.folders[path] != nil
            if (inOurs && inTheirs) || (inOurs && !inBase) || (inTheirs && !inBase) {
                folders[path] = t.folders[path] ?? o.folders[path]
            }
        }
        for path in files.keys {
            var parent = FileSystem.parentPath("/" + path).dropFirst().description
            while !parent.isEmpty, folders[parent] == nil {
                folders[parent] = o.folders[parent] ?? t.folders[parent] ?? b.folders[parent]
                    ?? TreeNode(name: "", type: .directory, mode: 0o755, mtimeNanos: 0, size: 0)
                parent = FileSystem.parentPath("/" + parent).dropFirst().description
            }
        }
        // A file where the other side made a folder moves aside, like a keep-both copy.
        for path in files.keys.sorted() where folders[path] != nil {
            let side = o.files[path] != nil ? ours : theirs
            let copy = SyncRules.conflictCopyPath(path, device: side.device, snapshot: side.id)
            files[copy] = files[path]
            files[path] = nil
            if !virtual { conflicts.append(SyncConflict(path: path, kind: .fileFolder, resolution: "keep-both", copy: copy, theirs: theirs.id)) }
        }
        let tree = try write(files: files, folders: folders)
        return MergeOutcome(tree: tree, conflicts: conflicts, renames: renames)
    }

    /// Where `side` moved the base file `node` to: a path new on that side holding exactly its content, which the other side does not hold.
    private func renamed(_ node: TreeNode, in side: FlatTree, base: FlatTree, other: FlatTree) -> String? {
        guard node.type == .regular, node.size > 0 else { return nil }
        return side.files.keys.sorted().first { path in
            base.files[path] == nil && other.files[path] == nil && sameEntry(side.files[path], node)
        }
    }

    /// Whether two files of equal size hold the same bytes (compared piece by piece, 4 MiB at a time).
    private func sameBytes(_ a: TreeNode, _ b: TreeNode) throws -> Bool {
        guard a.type == .regular, b.type == .regular, a.size == b.size, (a.mode & 0o111 != 0) == (b.mode & 0o111 != 0) else { return false }
        let ra = try SnapshotFileReader(repository: repository, node: a), rb = try SnapshotFileReader(repository: repository, node: b)
        guard ra.size == rb.size else { return false }
        var offset: UInt64 = 0
        while offset < ra.size {
            let n = Int(min(UInt64(4 << 20), ra.size - offset))
            guard try ra.read(offset: offset, count: n) == rb.read(offset: offset, count: n) else { return false }
            offset += UInt64(n)
        }
        return true
    }

    enum PluginMergeResult { case merged(TreeNode), conflicts([PluginMerge.Conflict]), notMergeable }

    /// The record-level merge of a plugin changed on both sides, stored when it merged.
    private func mergePlugin(base: TreeNode, ours: TreeNode, theirs: TreeNode, path: String) throws -> PluginMergeResult {
        let limit: Int64 = 512 << 20
        guard [base, ours, theirs].allSatisfy({ $0.type == .regular && $0.size <= limit }) else { return .notMergeable }
        let outcome: PluginMerge.Outcome
        do {
            outcome = try PluginMerge.merge(base: try bytes(base), ours: try bytes(ours), theirs: try bytes(theirs), path: path,
                                            resolutions: recordResolutions[path] ?? [:])
        } catch is FormatError {
            // A plugin that does not parse is left to the strategy, like any binary.
            return .notMergeable
        }
        guard let merged = outcome.output, outcome.merged else { return .conflicts(outcome.conflicts) }
        return .merged(try mergedNode(merged, ours: ours, theirs: theirs))
    }

    /// Ours' entry holding `bytes` (stored), with the later of the two sides' times.
    private func mergedNode(_ bytes: [UInt8], ours: TreeNode, theirs: TreeNode) throws -> TreeNode {
        var node = ours
        node.content = try store(bytes)
        node.size = Int64(bytes.count)
        node.mtimeNanos = max(ours.mtimeNanos, theirs.mtimeNanos)
        return node
    }

    /// A stored file's bytes.
    private func bytes(_ node: TreeNode?) throws -> [UInt8] {
        guard let node, node.type == .regular else { return [] }
        let reader = try SnapshotFileReader(repository: repository, node: node)
        return try reader.read(offset: 0, count: Int(reader.size))
    }

    /// The line merge of a load-order file, stored, or nil on a conflict.
    private func mergeLines(base: TreeNode?, ours: TreeNode, theirs: TreeNode) throws -> TreeNode? {
        let limit: Int64 = 4 << 20
        guard ours.size <= limit, theirs.size <= limit, (base?.size ?? 0) <= limit else { return nil }
        guard let merged = LineMerge.merge(base: try bytes(base), ours: try bytes(ours), theirs: try bytes(theirs)) else { return nil }
        return try mergedNode(merged, ours: ours, theirs: theirs)
    }

    /// Stores bytes as a file's content, cut by the repository's chunker.
    private func store(_ bytes: [UInt8]) throws -> FileContent {
        let sealer = writer.makeSealer()
        var handles: [BlobHandle] = []
        try bytes.withUnsafeBytes { raw in
            var offset = 0
            for length in repository.chunker.split(raw) {
                let piece = UnsafeRawBufferPointer(rebasing: raw[offset..<(offset + length)])
                let handle = BlobHandle(id: repository.contentMAC.id(piece), type: .data)
                try writer.store(handle, plaintext: piece, sealer: sealer)
                handles.append(handle)
                offset += length
            }
        }
        return try writer.storeContent(handles, sealer: sealer)
    }

    /// Writes the trees for a set of paths, deepest folders first; returns the root's ID.
    private func write(files: [String: TreeNode], folders: [String: TreeNode]) throws -> ObjectID {
        var children: [String: [TreeNode]] = [:]
        func add(_ path: String, _ node: TreeNode) {
            var named = node
            named.name = FileSystem.lastComponent(path)
            children[FileSystem.parentPath("/" + path).dropFirst().description, default: []].append(named)
        }
        for (path, node) in files { add(path, node) }
        let sealer = writer.makeSealer()
        for path in folders.keys.sorted(by: { $0.split(separator: "/").count > $1.split(separator: "/").count }) {
            var node = folders[path]!
            node.subtree = try storeTree(children[path] ?? [], sealer: sealer)
            add(path, node)
        }
        return try storeTree(children[""] ?? [], sealer: sealer)
    }

    private func storeTree(_ nodes: [TreeNode], sealer: BlobSealer) throws -> ObjectID {
        let bytes = Tree(nodes: nodes).encoded()
        return try bytes.withUnsafeBytes { raw in
            let id = repository.contentMAC.id(raw)
            try writer.store(BlobHandle(id: id, type: .tree), plaintext: raw, sealer: sealer)
            return id
        }
    }
}

/// The snapshot graph as far as the local repository holds it: parents, and merge bases.
struct SnapshotGraph {
    let repository: Repository
    private var cache: [ObjectID: Snapshot] = [:]

    init(repository: Repository) { self.repository = repository }

    /// The snapshot, or nil when this repository does not hold it (forgotten, or never pulled).
    mutating func snapshot(_ id: ObjectID) -> Snapshot? {
        if let s = cache[id] { return s }
        guard let s = try? repository.loadSnapshot(id) else { return nil }
        cache[id] = s
        return s
    }

    /// Makes an unsaved snapshot (a dry run's view of the folder) part of the graph.
    mutating func add(_ record: SnapshotRecord) { cache[record.id] = record.snapshot }

    /// `id` and every ancestor held locally.
    mutating func ancestors(_ id: ObjectID) -> Set<ObjectID> {
        var seen: Set<ObjectID> = [id]
        var queue = [id]
        while let next = queue.popLast() {
            for p in snapshot(next)?.parents ?? [] where seen.insert(p).inserted { queue.append(p) }
        }
        return seen
    }

    /// Whether `a` is `b` or one of its ancestors.
    mutating func isAncestor(_ a: ObjectID, of b: ObjectID) -> Bool { ancestors(b).contains(a) }

    /// The lowest common ancestors of `a` and `b` (several in a criss-cross history), in ID order.
    mutating func mergeBases(_ a: ObjectID, _ b: ObjectID) -> [ObjectID] {
        let common = ancestors(a).intersection(ancestors(b))
        // Whatever is a strict ancestor of a common ancestor is not lowest.
        var below = Set<ObjectID>()
        var queue: [ObjectID] = []
        for c in common { for p in snapshot(c)?.parents ?? [] where below.insert(p).inserted { queue.append(p) } }
        while let next = queue.popLast() {
            for p in snapshot(next)?.parents ?? [] where below.insert(p).inserted { queue.append(p) }
        }
        return common.subtracting(below).sorted()
    }
}
