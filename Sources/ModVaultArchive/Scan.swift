import Foundation
import ModVaultCore
import ModVaultStore

/// One entry found while scanning the source folder.
final class ScanNode {
    let name: String
    let path: String
    var status: FileStatus
    var children: [ScanNode] = []
    var content: FileContent = .empty
    var linkTarget: String?
    var failed = false
    /// Whether the summary counted this file as new (true) or changed (false), so a failure can be uncounted.
    var countedAsNew: Bool?
    /// The parent snapshot's file at this path, when this one changed since (a repack is stored against it).
    var previous: TreeNode?

    init(name: String, path: String, status: FileStatus) {
        self.name = name
        self.path = path
        self.status = status
    }

    /// Calls `body` with every entry below this one that the snapshot holds (failed ones and what is
    /// under them left out), with its path relative to this entry.
    func forEachDescendant(_ body: (ScanNode, String) -> Void) {
        var stack: [(ScanNode, String)] = [(self, "")]
        while let (dir, prefix) = stack.popLast() {
            for child in dir.children where !child.failed {
                let relative = prefix + child.name
                body(child, relative)
                if child.status.type == .directory { stack.append((child, relative + "/")) }
            }
        }
    }

    /// The node for this entry's tree. Inode, device and ctime stay out (zero): they belong to this
    /// machine's `FileStatCache`, so a copy of the folder with its times kept has the same trees.
    var treeNode: TreeNode {
        TreeNode(name: name, type: status.type, mode: status.mode, mtimeNanos: status.mtimeNanos,
                 size: status.type == .regular ? status.size : 0, content: content, linkTarget: linkTarget)
    }
}

/// Phase one of a snapshot: walks the source, records metadata, and decides which files must be read
/// by comparing each with the same path in the parent snapshot and with what `FileStatCache` saw of it.
struct Scan {
    let repository: Repository
    let forceRead: Bool
    /// Whether size and modification time alone show a file unchanged (see `SnapshotOptions.sizeAndTimeSuffice`).
    var sizeAndTimeSuffice = false
    /// Names left out at the top of the source (see `SnapshotOptions.excludedRootNames`).
    var excludedRootNames: Set<String> = []
    /// A prefix of names left out anywhere (see `SnapshotOptions.excludedPrefix`).
    var excludedPrefix: String? = nil
    /// The parent snapshot's root, for finding moved files by inode.
    private var parentRoot: ObjectID?
    /// The source folder's absolute path.
    private var rootPath = ""
    /// What this machine saw of the source's files when it last snapshotted them, by absolute path.
    private(set) var known: [String: FileStatCache.Entry] = [:]
    /// `known`'s paths by (device, inode), built on the first file not found unchanged at its path.
    private var knownByInode: [InodeKey: String]?
    private(set) var filesToRead: [ScanNode] = []
    private(set) var warnings: [OperationWarning] = []
    var summary = SnapshotSummary()

    init(repository: Repository, forceRead: Bool) {
        self.repository = repository
        self.forceRead = forceRead
    }

    mutating func warn(_ node: ScanNode, _ message: String) {
        warnings.append(OperationWarning(path: node.path, message: message))
    }

    /// Marks a file unreadable: it is left out of the snapshot and counted as an error, not as new or changed.
    mutating func fail(_ node: ScanNode, message: String) {
        switch node.countedAsNew {
        case true?: summary.filesNew -= 1
        case false?: summary.filesChanged -= 1
        case nil: break
        }
        node.countedAsNew = nil
        node.failed = true
        warnings.append(OperationWarning(path: node.path, message: message))
    }

    mutating func scanRoot(_ path: String, parentTree: ObjectID?) throws -> ScanNode {
        let status: FileStatus
        do { status = try FileSystem.status(path) } catch let e as SystemCallError {
            if e.code == ENOENT { throw ArchiveError.sourceMissing(path: path) }
            throw StoreError.system(e)
        }
        let root = ScanNode(name: "", path: path, status: status)
        parentRoot = parentTree
        rootPath = path
        known = repository.fileStats.entries(under: path)
        try scanDirectory(root, parentTree: parentTree)
        return root
    }

    private mutating func scanDirectory(_ dir: ScanNode, parentTree: ObjectID?) throws {
        summary.directories += 1
        let names: [String]
        do { names = try FileSystem.list(dir.path) } catch {
            fail(dir, message: "\(error)")
            return
        }
        var previous: [String: TreeNode] = [:]
        if let parentTree, let tree = try? repository.loadTree(parentTree) {
            for node in tree.nodes { previous[node.name] = node }
        }
        let isRoot = dir.name.isEmpty
        for name in names {
            if isRoot, excludedRootNames.contains(name) { continue }
            if let excludedPrefix, name.hasPrefix(excludedPrefix) { continue }
            let path = dir.path == "/" ? "/" + name : dir.path + "/" + name
            let status: FileStatus
            do { status = try FileSystem.status(path) } catch {
                warnings.append(OperationWarning(path: path, message: "\(error)"))
                continue
            }
            let node = ScanNode(name: name, path: path, status: status)
            let old = previous[name]
            switch status.type {
            case .directory:
                try scanDirectory(node, parentTree: old?.type == .directory ? old?.subtree : nil)
                if node.failed { continue }
            case .regular:
                summary.bytesTotal += status.size
                if let old, !forceRead, old.type == .regular, old.size == status.size, old.mtimeNanos == status.mtimeNanos,
                   sizeAndTimeSuffice || isUntouched(old, path: path, status: status) {
                    node.content = old.content
                    summary.filesUnchanged += 1
                } else if !forceRead, known[path]?.inode != status.inode, let moved = movedFile(status) {
                    // Renamed or moved since the parent: same inode, size and mtime. A rename sets the
                    // ctime, so it cannot be compared here; an inode still at its old path was edited
                    // in place and is read again.
                    node.content = moved.content
                    summary.filesUnchanged += 1
                } else {
                    let isNew = old?.type != .regular
                    if isNew { summary.filesNew += 1 } else { summary.filesChanged += 1 }
                    node.countedAsNew = isNew
                    if let old, old.type == .regular { node.previous = old }
                    filesToRead.append(node)
                }
            case .symlink:
                var buf = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
                let n = readlink(path, &buf, buf.count - 1)
                guard n >= 0 else {
                    warnings.append(OperationWarning(path: path, message: "readlink: \(String(cString: strerror(errno)))"))
                    continue
                }
                node.linkTarget = String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            case .other:
                break
            }
            dir.children.append(node)
        }
    }

    /// Whether the file at `path`, whose size and mtime match the parent's node `old`, is the one the
    /// parent recorded: this machine saw it with the same status when it snapshotted content with the
    /// digest of `old`'s. Trees written before the cache took over carry inode and ctime themselves.
    private func isUntouched(_ old: TreeNode, path: String, status: FileStatus) -> Bool {
        if let entry = known[path] { return entry.matches(status) && entry.content == old.content.digest }
        return old.inode != 0 && old.inode == status.inode && old.ctimeNanos == status.ctimeNanos
    }

    /// The parent's file that this machine last saw with this file's device and inode, at another path
    /// and with the same size and mtime, if there is one.
    private mutating func movedFile(_ status: FileStatus) -> TreeNode? {
        guard let parentRoot, status.inode != 0 else { return nil }
        if knownByInode == nil {
            var map: [InodeKey: String] = [:]
            for (path, entry) in known { map[InodeKey(device: entry.device, inode: entry.inode)] = path }
            knownByInode = map
        }
        guard let oldPath = knownByInode?[InodeKey(device: status.device, inode: status.inode)], let entry = known[oldPath],
              entry.size == status.size, entry.mtimeNanos == status.mtimeNanos,
              oldPath.hasPrefix(rootPath), oldPath.count > rootPath.count else { return nil }
        let relative = String(oldPath.dropFirst(rootPath.count)).drop { $0 == "/" }
        // Only an optimisation: a parent tree that cannot be read just finds fewer moved files.
        guard let old = try? TreeWalker(repository: repository).find(String(relative), in: parentRoot),
              old.type == .regular, old.size == status.size, old.mtimeNanos == status.mtimeNanos,
              old.content.digest == entry.content else { return nil }
        return old
    }

    /// The cache entries for this scan's files, for `FileStatCache.replace` once the snapshot is
    /// saved. A file changed in the same clock tick as the scan saw it is left out: a later change in
    /// that tick would leave its status as it is, so it must be read again next time.
    func observedEntries(_ root: ScanNode, scanStartNanos: Int64) -> [String: FileStatCache.Entry] {
        var entries: [String: FileStatCache.Entry] = [:]
        root.forEachDescendant { node, _ in
            let status = node.status
            if status.type == .regular, status.ctimeNanos < scanStartNanos - Scan.clockTickNanos,
               status.mtimeNanos < scanStartNanos - Scan.clockTickNanos {
                entries[node.path] = FileStatCache.Entry(status: status, content: node.content.digest)
            }
        }
        return entries
    }

    /// Every entry below `root` that the snapshot holds, by path relative to it.
    static func statuses(_ root: ScanNode) -> [String: FileStatus] {
        var found: [String: FileStatus] = [:]
        root.forEachDescendant { node, relative in found[relative] = node.status }
        return found
    }

    /// The kernel's file timestamp granularity: its coarse clock's tick (1–10 ms), plus a margin.
    static let clockTickNanos: Int64 = {
        var res = timespec()
        guard clock_getres(CLOCK_REALTIME_COARSE, &res) == 0 else { return 20_000_000 }
        return min(20_000_000, Int64(res.tv_sec) * 1_000_000_000 + Int64(res.tv_nsec) + 1_000_000)
    }()
}

/// A file's identity on this machine.
private struct InodeKey: Hashable {
    var device: UInt64
    var inode: UInt64
}
