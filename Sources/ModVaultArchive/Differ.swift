public import ModVaultCore
public import ModVaultStore

/// How an entry differs between two snapshots.
public enum ChangeKind: String, Sendable, Codable {
    /// Only in the second snapshot.
    case added
    /// Only in the first snapshot.
    case removed
    /// In both, with different content or type.
    case modified
    /// In both with the same content; only mode or times changed.
    case metadata
}

/// One difference between two snapshots.
public struct Change: Sendable, Codable {
    /// What changed.
    public var kind: ChangeKind
    /// Relative path.
    public var path: String
    /// Entry type in the newer snapshot (or the older, for removals).
    public var type: String
    /// Size before (0 if added).
    public var sizeBefore: Int64
    /// Size after (0 if removed).
    public var sizeAfter: Int64
    /// The nodes compared (modified files only), so callers can look inside them.
    public var old: TreeNode? = nil
    /// The newer node (modified files only).
    public var new: TreeNode? = nil

    private enum CodingKeys: String, CodingKey { case kind, path, type, sizeBefore, sizeAfter }
}

/// Compares two snapshot trees, skipping identical subtrees by their IDs (the Merkle property).
public struct Differ: Sendable {
    /// The repository read from.
    public let repository: Repository

    /// Creates a differ.
    public init(repository: Repository) { self.repository = repository }

    /// Lists file-level changes from `old` to `new`, in path order.
    public func diff(_ old: ObjectID, _ new: ObjectID) throws -> [Change] {
        var changes: [Change] = []
        try compare(old, new, prefix: "", into: &changes)
        return changes
    }

    private func compare(_ a: ObjectID?, _ b: ObjectID?, prefix: String, into changes: inout [Change]) throws {
        if a == b { return }
        let left = try a.map { try repository.loadTree($0).nodes } ?? []
        let right = try b.map { try repository.loadTree($0).nodes } ?? []
        var i = 0, j = 0
        while i < left.count || j < right.count {
            let l = i < left.count ? left[i] : nil
            let r = j < right.count ? right[j] : nil
            let order: Int
            if let l, let r {
                order = l.name == r.name ? 0 : (l.name.utf8.lexicographicallyPrecedes(r.name.utf8) ? -1 : 1)
            } else {
                order = l == nil ? 1 : -1
            }
            if order < 0, let l {
                try report(.removed, l, prefix: prefix, into: &changes)
                i += 1
            } else if order > 0, let r {
                try report(.added, r, prefix: prefix, into: &changes)
                j += 1
            } else if let l, let r {
                let path = prefix + l.name
                if l.type == .directory && r.type == .directory {
                    try compare(l.subtree, r.subtree, prefix: path + "/", into: &changes)
                } else if l.type != r.type || l.content != r.content || l.linkTarget != r.linkTarget {
                    if l.type == .directory { try report(.removed, l, prefix: prefix, into: &changes) }
                    if r.type == .directory { try report(.added, r, prefix: prefix, into: &changes) }
                    if l.type != .directory && r.type != .directory {
                        changes.append(Change(kind: .modified, path: path, type: "\(r.type)", sizeBefore: l.size, sizeAfter: r.size, old: l, new: r))
                    }
                } else if l.mode != r.mode || l.mtimeNanos != r.mtimeNanos {
                    changes.append(Change(kind: .metadata, path: path, type: "\(r.type)", sizeBefore: l.size, sizeAfter: r.size))
                }
                i += 1
                j += 1
            }
        }
    }

    // Added or removed directories are listed file by file, so totals add up.
    private func report(_ kind: ChangeKind, _ node: TreeNode, prefix: String, into changes: inout [Change]) throws {
        let path = prefix + node.name
        if node.type == .directory {
            if kind == .added { try compare(nil, node.subtree, prefix: path + "/", into: &changes) }
            else { try compare(node.subtree, nil, prefix: path + "/", into: &changes) }
            return
        }
        changes.append(Change(kind: kind, path: path, type: "\(node.type)",
                              sizeBefore: kind == .added ? 0 : node.size, sizeAfter: kind == .removed ? 0 : node.size))
    }
}

extension FileType: CustomStringConvertible {
    /// "file", "dir", "symlink" or "other".
    public var description: String {
        switch self {
        case .regular: return "file"
        case .directory: return "dir"
        case .symlink: return "symlink"
        case .other: return "other"
        }
    }
}
