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

    init(name: String, path: String, status: FileStatus) {
        self.name = name
        self.path = path
        self.status = status
    }

    var treeNode: TreeNode {
        TreeNode(name: name, type: status.type, mode: status.mode, mtimeNanos: status.mtimeNanos, ctimeNanos: status.ctimeNanos,
                 inode: status.inode, device: status.device, size: status.type == .regular ? status.size : 0,
                 content: content, linkTarget: linkTarget)
    }
}

/// Phase one of a snapshot: walks the source, records metadata, and decides which files must be read
/// by comparing each with the same path in the parent snapshot.
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
    /// The parent's files by (device, inode), built on the first file not found unchanged at its path.
    private var parentByInode: [InodeKey: TreeNode]?
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
                   sizeAndTimeSuffice || (old.ctimeNanos == status.ctimeNanos && old.inode == status.inode) {
                    node.content = old.content
                    summary.filesUnchanged += 1
                } else if !forceRead, old?.inode != status.inode, let moved = movedFile(status) {
                    // Renamed or moved since the parent: same inode, size and mtime. A rename sets the
                    // ctime, so it cannot be compared here; an inode still at its old path was edited
                    // in place and is read again.
                    node.content = moved.content
                    summary.filesUnchanged += 1
                } else {
                    let isNew = old?.type != .regular
                    if isNew { summary.filesNew += 1 } else { summary.filesChanged += 1 }
                    node.countedAsNew = isNew
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

    /// The parent's file with this file's device, inode, size and mtime, if there is one.
    private mutating func movedFile(_ status: FileStatus) -> TreeNode? {
        guard let parentRoot, status.inode != 0 else { return nil }
        if parentByInode == nil {
            var map: [InodeKey: TreeNode] = [:]
            // Only an optimisation: a parent tree that cannot be read just finds fewer moved files.
            try? TreeWalker(repository: repository).walk(parentRoot, validate: false) { entry in
                let node = entry.node
                if node.type == .regular, node.inode != 0 { map[InodeKey(device: node.device, inode: node.inode)] = node }
                return true
            }
            parentByInode = map
        }
        guard let old = parentByInode?[InodeKey(device: status.device, inode: status.inode)],
              old.size == status.size, old.mtimeNanos == status.mtimeNanos else { return nil }
        return old
    }
}

/// A file's identity on this machine.
private struct InodeKey: Hashable {
    var device: UInt64
    var inode: UInt64
}
