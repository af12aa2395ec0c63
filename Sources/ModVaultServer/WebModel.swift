import Foundation
public import ModVaultCore
public import ModVaultStore
public import ModVaultArchive

/// What the web UI and its JSON API say about a repository: the same library calls the CLI makes,
/// shaped as Codable values (snake_case keys, as every `--json` output).
public struct WebModel: Sendable {
    /// The open repository.
    public let repository: Repository
    /// Parsed files for the inside listings.
    public let cache: InsideCache

    /// A model of `repository`.
    public init(repository: Repository, cache: InsideCache = InsideCache()) {
        self.repository = repository
        self.cache = cache
    }

    /// One snapshot in the history.
    public struct SnapshotItem: Codable, Sendable, Equatable {
        public var id: String
        public var shortID: String
        public var time: Date
        public var host: String
        public var device: String
        public var paths: [String]
        public var tags: [String]
        public var parents: [String]
        public var bytesAdded: Int64?
        public var files: Int?

        enum CodingKeys: String, CodingKey {
            case id, time, host, device, paths, tags, parents, files
            case shortID = "short_id", bytesAdded = "bytes_added"
        }
    }

    /// One entry of a folder inside a snapshot.
    public struct EntryItem: Codable, Sendable, Equatable {
        public var name: String
        public var path: String
        public var type: String
        public var size: Int64
        public var mtime: Date
    }

    /// One changed path between two snapshots, with what changed inside it.
    public struct ChangeItem: Codable, Sendable, Equatable {
        public var kind: String
        public var path: String
        public var sizeBefore: Int64
        public var sizeAfter: Int64
        public var inside: [String]

        enum CodingKeys: String, CodingKey { case kind, path, inside, sizeBefore = "size_before", sizeAfter = "size_after" }
    }

    /// Every snapshot, newest first.
    public func snapshots() throws -> [SnapshotItem] {
        try repository.snapshots().reversed().map { r in
            SnapshotItem(id: r.id.hex, shortID: r.id.short, time: r.snapshot.time, host: r.snapshot.host, device: r.snapshot.device,
                         paths: r.snapshot.paths, tags: r.snapshot.tags, parents: r.snapshot.parents.map(\.hex),
                         bytesAdded: r.snapshot.summary?.bytesAdded, files: r.snapshot.summary.map { $0.filesNew + $0.filesChanged + $0.filesUnchanged })
        }
    }

    /// The snapshot `reference` names (ID, prefix or `latest`).
    public func snapshot(_ reference: String) throws -> SnapshotRecord {
        do { return try repository.resolveSnapshot(reference) } catch { throw WebError.notFound("no snapshot \(reference)") }
    }

    /// The entries of folder `path` ("" for the top) in snapshot `reference`: one tree read per level
    /// on the way down, so a folder opens in the time its own listing takes, whatever its size.
    public func entries(_ reference: String, path: String) throws -> [EntryItem] {
        let components = try WebPath.components(path)
        guard let tree = try folder(components[...], in: try snapshot(reference).snapshot.tree) else {
            throw WebError.notFound("no folder \(path) in snapshot \(reference)")
        }
        let prefix = components.isEmpty ? "" : path + "/"
        return tree.nodes.map { node in
            EntryItem(name: node.name, path: prefix + node.name, type: Self.typeName(node.type), size: node.size,
                      mtime: Date(timeIntervalSince1970: Double(node.mtimeNanos) / 1e9))
        }
    }

    /// The node of file `path` in snapshot `reference`.
    public func file(_ reference: String, path: String) throws -> TreeNode {
        let components = try WebPath.components(path)
        guard !components.isEmpty else { throw WebError.badRequest("no file named") }
        guard let node = try file(components, in: try snapshot(reference).snapshot.tree) else {
            throw WebError.notFound("no file \(path) in snapshot \(reference)")
        }
        return node
    }

    /// The tree of the folder `components` names below tree `root`, or nil when one is missing or no folder.
    private func folder(_ components: ArraySlice<String>, in root: ObjectID) throws -> Tree? {
        if components.isEmpty { return try repository.loadTree(root) }
        guard let node = try? TreeWalker(repository: repository).find(components.joined(separator: "/"), in: root),
              node.type == .directory, let subtree = node.subtree else { return nil }
        return try repository.loadTree(subtree)
    }

    /// The regular file `components` names below tree `root`, or nil.
    private func file(_ components: [String], in root: ObjectID) throws -> TreeNode? {
        guard !components.isEmpty, let node = try? TreeWalker(repository: repository).find(components.joined(separator: "/"), in: root),
              node.type == .regular else { return nil }
        return node
    }

    /// One version of a file: the snapshots holding it (newest first) and its size and time.
    public struct VersionItem: Codable, Sendable, Equatable {
        public var snapshot: String
        public var shortID: String
        public var time: Date
        public var size: Int64
        public var mtime: Date
        /// Later snapshots that hold the same content.
        public var sameIn: Int

        enum CodingKeys: String, CodingKey { case snapshot, time, size, mtime, shortID = "short_id", sameIn = "same_in" }
    }

    /// Every version of file `path` across the history, newest first; a run of snapshots holding the
    /// same content is one version (the oldest snapshot of the run, which introduced it).
    public func fileHistory(_ path: String) throws -> [VersionItem] {
        let components = try WebPath.components(path)
        var versions: [(item: VersionItem, content: FileContent)] = []
        // Each snapshot's tree directly: resolving every ID again would list all snapshots each time.
        for record in try repository.snapshots().reversed() {
            guard let node = try file(components, in: record.snapshot.tree) else { continue }
            let item = VersionItem(snapshot: record.id.hex, shortID: record.id.short, time: record.snapshot.time, size: node.size,
                                   mtime: Date(timeIntervalSince1970: Double(node.mtimeNanos) / 1e9), sameIn: 0)
            if let last = versions.last, last.content == node.content {
                versions[versions.count - 1].item.sameIn += 1
                versions[versions.count - 1].item.snapshot = item.snapshot
                versions[versions.count - 1].item.shortID = item.shortID
                versions[versions.count - 1].item.time = item.time
            } else {
                versions.append((item, node.content))
            }
        }
        guard !versions.isEmpty else { throw WebError.notFound("no snapshot holds \(path)") }
        return versions.map(\.item)
    }

    /// The size of each mod in the snapshot whose root tree is `root`: each folder under `mods/` for a
    /// Mod Organizer 2 folder, else each top-level folder; files at that level count under "(files)".
    /// One walk, by the walker that bounds repeated subtrees, so a crafted tree cannot make it run forever.
    func modSizes(tree root: ObjectID) throws -> [(name: String, bytes: Int64, files: Int)] {
        var base = root
        if let mods = try repository.loadTree(root).nodes.first(where: { $0.name == "mods" && $0.type == .directory }), let id = mods.subtree {
            base = id
        }
        var totals: [String: (bytes: Int64, files: Int)] = [:]
        try TreeWalker(repository: repository).walk(base, validate: false) { entry in
            if entry.node.type == .regular {
                let slash = entry.path.firstIndex(of: "/")
                let mod = slash.map { String(entry.path[..<$0]) } ?? "(files)"
                totals[mod, default: (0, 0)].bytes += entry.node.size
                totals[mod, default: (0, 0)].files += 1
            } else if entry.node.type == .directory, !entry.path.contains("/"), totals[entry.path] == nil {
                totals[entry.path] = (0, 0)  // an empty mod is still a mod
            }
            return true
        }
        return totals.map { (name: $0.key, bytes: $0.value.bytes, files: $0.value.files) }.sorted { $0.bytes > $1.bytes }
    }

    /// What changed from snapshot `from` to `to`; with `inside`, also what changed inside each
    /// modified archive, plugin and texture (which reads those files: `insideChange` does it for one).
    public func diff(from: String, to: String, inside: Bool = false) throws -> [ChangeItem] {
        let a = try snapshot(from), b = try snapshot(to)
        return try Differ(repository: repository).diff(a.snapshot.tree, b.snapshot.tree).map { c in
            var lines: [String] = []
            if inside, c.kind == .modified, let old = c.old, let new = c.new,
               let change = try FormatDiffer.diff(path: c.path, old: old, new: new, repository: repository) {
                lines = change.lines
            }
            return ChangeItem(kind: c.kind.rawValue, path: c.path, sizeBefore: c.sizeBefore, sizeAfter: c.sizeAfter, inside: lines)
        }
    }

    /// What changed inside file `path` from snapshot `from` to `to` (BA2 members, plugin records, DDS).
    public func insideChange(from: String, to: String, path: String) throws -> [String] {
        let old = try file(from, path: path), new = try file(to, path: path)
        return try FormatDiffer.diff(path: path, old: old, new: new, repository: repository)?.lines ?? []
    }

    /// Whether a file's name says it is a format whose inside ModVault reads.
    static func isReadable(_ path: String) -> Bool {
        let lower = path.lowercased()
        return [".ba2", ".esp", ".esm", ".esl", ".dds"].contains { lower.hasSuffix($0) }
    }

    static func typeName(_ type: FileType) -> String {
        switch type {
        case .regular: return "file"
        case .directory: return "folder"
        case .symlink: return "symlink"
        case .other: return "other"
        }
    }
}

/// Paths that come in with requests: checked here, before anything looks them up.
public enum WebPath {
    /// The components of a relative path; refuses `..`, `.`, empty components, NUL, backslashes and
    /// absolute paths, so a request can only name something inside a snapshot.
    public static func components(_ path: String) throws -> [String] {
        if path.isEmpty { return [] }
        guard !path.hasPrefix("/"), !path.contains("\0"), !path.contains("\\") else { throw WebError.badRequest("invalid path \(path.debugDescription)") }
        let parts = path.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        for part in parts where part.isEmpty || part == "." || part == ".." {
            throw WebError.badRequest("invalid path \(path.debugDescription): empty, '.' or '..' component")
        }
        return parts
    }

    /// An absolute folder to write into, normalised; refuses relative paths and `..`.
    public static func target(_ path: String) throws -> String {
        guard path.hasPrefix("/"), !path.contains("\0") else { throw WebError.badRequest("the target must be an absolute folder path") }
        let parts = path.split(separator: "/").map(String.init)
        guard !parts.contains(".."), !parts.contains(".") else { throw WebError.badRequest("the target may not contain '.' or '..'") }
        return "/" + parts.joined(separator: "/")
    }
}

/// A request the server refuses, with the HTTP status it maps to.
public enum WebError: Error, Sendable, Equatable, CustomStringConvertible {
    /// 400.
    case badRequest(String)
    /// 401: no session.
    case unauthorized(String)
    /// 403: a check (Host, Origin, CSRF) failed.
    case forbidden(String)
    /// 404.
    case notFound(String)
    /// 409: the operation cannot run now.
    case conflict(String)

    /// The HTTP status code.
    public var status: Int {
        switch self {
        case .badRequest: return 400
        case .unauthorized: return 401
        case .forbidden: return 403
        case .notFound: return 404
        case .conflict: return 409
        }
    }

    /// The message.
    public var description: String {
        switch self {
        case .badRequest(let m), .unauthorized(let m), .forbidden(let m), .notFound(let m), .conflict(let m): return m
        }
    }
}
