public import ModVaultCore
public import ModVaultStore

/// An entry of a snapshot with its path relative to the snapshot root.
public struct SnapshotEntry: Sendable {
    /// Relative path with `/` separators, e.g. `mods/MyMod/MyMod.esp`.
    public var path: String
    /// The node.
    public var node: TreeNode

    /// Pairs a path and its node.
    public init(path: String, node: TreeNode) {
        self.path = path
        self.node = node
    }
}

/// Path rules for names coming out of a repository, which may have been crafted.
public enum EntryName {
    /// Throws unless `name` is a single safe path component.
    public static func validate(_ name: String, at path: String) throws {
        if name.isEmpty { throw ArchiveError.unsafeEntry(path: path + "/", reason: "empty name") }
        if name == "." || name == ".." { throw ArchiveError.unsafeEntry(path: path, reason: "'\(name)' is not allowed as a name") }
        if name.contains("/") { throw ArchiveError.unsafeEntry(path: path, reason: "name contains '/'") }
        if name.utf8.contains(0) { throw ArchiveError.unsafeEntry(path: path, reason: "name contains a NUL byte") }
    }

    /// Throws if a symlink at `path` (relative to the root) with `target` would point outside the root.
    public static func validateLink(_ target: String, at path: String) throws {
        if target.hasPrefix("/") { throw ArchiveError.unsafeEntry(path: path, reason: "absolute link target '\(target)' escapes the target folder") }
        var depth = path.split(separator: "/").count - 1
        for part in target.split(separator: "/", omittingEmptySubsequences: true) {
            if part == "." { continue }
            if part == ".." {
                depth -= 1
                if depth < 0 { throw ArchiveError.unsafeEntry(path: path, reason: "link target '\(target)' escapes the target folder") }
            } else {
                depth += 1
            }
        }
    }
}

/// How often each subtree has been entered in one walk, to stop a tree that reuses one subtree so
/// often that its paths multiply without bound.
public struct SubtreeUses: Sendable {
    /// Times one subtree may appear in one snapshot, by default.
    public static let limit = 100_000
    private let limit: Int
    private var counts: [ObjectID: Int] = [:]

    /// An empty count allowing `limit` uses of each subtree.
    public init(limit: Int = SubtreeUses.limit) { self.limit = limit }

    /// Counts one more use of `subtree` at `path`; throws when it passes the limit.
    public mutating func count(_ subtree: ObjectID, at path: String) throws {
        let n = counts[subtree, default: 0] + 1
        counts[subtree] = n
        if n > limit {
            throw ArchiveError.unsafeEntry(path: path, reason: "subtree \(subtree.short) appears more than \(limit) times: the tree multiplies without bound")
        }
    }
}

/// Decoded small trees kept during one walk: identical folders (empty ones, repeated layouts) share a
/// subtree, and each further use then costs no decryption. Bounded in count and in tree size.
struct SmallTrees {
    private var trees: [ObjectID: Tree] = [:]
    private static let maximumTrees = 4096
    private static let maximumNodes = 256

    /// The tree `id`, from the cache or the repository.
    mutating func tree(_ id: ObjectID, from repository: Repository) throws -> Tree {
        if let tree = trees[id] { return tree }
        let tree = try repository.loadTree(id)
        if tree.nodes.count <= Self.maximumNodes {
            if trees.count >= Self.maximumTrees { trees.removeAll(keepingCapacity: true) }
            trees[id] = tree
        }
        return tree
    }
}

/// Depth-first walks over snapshot trees.
public struct TreeWalker: Sendable {
    /// The repository read from.
    public let repository: Repository

    /// Times one subtree may appear in a walk (see `SubtreeUses`).
    public var subtreeLimit = SubtreeUses.limit

    /// Creates a walker.
    public init(repository: Repository) { self.repository = repository }

    /// Visits every entry below `tree` in path order; `visit` returns false to skip a directory's contents.
    ///
    /// Identical folders share one subtree, so a tree is a graph: a crafted one can name the same
    /// subtree twice at each of 40 levels and expand to 2^40 paths. Each subtree may therefore appear
    /// at most `SubtreeUses.limit` times in one walk, far more than any real folder repeats.
    public func walk(_ tree: ObjectID, prefix: String = "", validate: Bool = true,
                     visit: (SnapshotEntry) throws -> Bool) throws {
        var uses = SubtreeUses(limit: subtreeLimit)
        var cache = SmallTrees()
        try walk(tree, prefix: prefix, validate: validate, uses: &uses, cache: &cache, visit: visit)
    }

    private func walk(_ tree: ObjectID, prefix: String, validate: Bool, uses: inout SubtreeUses, cache: inout SmallTrees,
                      visit: (SnapshotEntry) throws -> Bool) throws {
        let loaded = try cache.tree(tree, from: repository)
        var seen = Set<String>()
        for node in loaded.nodes {
            let path = prefix.isEmpty ? node.name : prefix + "/" + node.name
            if validate {
                try EntryName.validate(node.name, at: path)
                guard seen.insert(node.name).inserted else { throw ArchiveError.unsafeEntry(path: path, reason: "duplicate name") }
            }
            let descend = try visit(SnapshotEntry(path: path, node: node))
            if descend, node.type == .directory, let sub = node.subtree {
                try uses.count(sub, at: path)
                try walk(sub, prefix: path, validate: validate, uses: &uses, cache: &cache, visit: visit)
            }
        }
    }

    /// Finds the node at a relative path (nil for the root itself).
    public func find(_ relative: String, in root: ObjectID) throws -> TreeNode? {
        var tree = root
        var node: TreeNode? = nil
        let parts = relative.split(separator: "/").map(String.init)
        for (i, part) in parts.enumerated() {
            guard let next = try repository.loadTree(tree).nodes.first(where: { $0.name == part }) else {
                throw ArchiveError.pathNotFound(relative)
            }
            node = next
            if i < parts.count - 1 {
                guard next.type == .directory, let sub = next.subtree else { throw ArchiveError.pathNotFound(relative) }
                tree = sub
            }
        }
        return node
    }
}
