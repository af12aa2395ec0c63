import Foundation
public import ModVaultCore
public import ModVaultStore
import ModVaultCrypto
import Synchronization

/// Writes a snapshot's entries into a target folder: the one place that creates folders, files and
/// links from a tree, for restore and mirror alike.
///
/// It never writes through a link: everything is created relative to an open folder
/// (`DirectoryHandle`) reached from the target one name at a time without following links, so a
/// folder swapped for a link mid-run stops the run instead of redirecting it. Files are assembled
/// as temporaries beside their final names and renamed over them, and a link is created only when
/// its target, resolved step by step against the folder and the tree's other links, stays inside
/// the target. Modes and times are applied the same way by both callers, and a failure to apply
/// one is an error naming the path.
public struct Materializer: Sendable {
    /// The absolute target folder.
    public let target: String
    /// The prefix of temporary names (`.modvault-restore-`, `.modvault-mirror-`).
    public let temporaryPrefix: String
    private let folders: FolderCache

    /// Creates a materialiser writing into `target`.
    public init(target: String, temporaryPrefix: String) {
        self.target = target
        self.temporaryPrefix = temporaryPrefix
        folders = FolderCache(target: target)
    }

    /// The absolute path of a relative entry path.
    public func path(_ relative: String) -> String { relative.isEmpty ? target : target + "/" + relative }

    /// Creates the folders (parents first, as a tree walk lists them); one that exists must be a folder,
    /// never a link or a file, or writes below it could land outside the target.
    public func makeDirectories(_ directories: [SnapshotEntry]) throws {
        try io { try FileSystem.makeDirectories(target) }
        for dir in directories {
            let (parent, name) = try place(dir.path)
            if let st = try io({ try parent.status(name) }) {
                guard st.type == .directory else { throw ArchiveError.unsafeEntry(path: dir.path, reason: "exists in \(target) and is not a folder") }
            } else {
                try io { try parent.makeFolder(name, mode: 0o700) }
            }
        }
    }

    /// The temporary a file is assembled in before `commit` renames it: the prefix and 16 hex digits
    /// of the SHA-256 of the final name. Its length never depends on the name (a 250-byte name still
    /// has a temporary that fits), and the same file always gets the same one, so an interrupted
    /// mirror finds its temporaries again.
    public func temporary(for relative: String) -> String {
        let final = path(relative)
        return FileSystem.parentPath(final) + "/" + temporaryName(of: FileSystem.lastComponent(final))
    }

    /// The name of the temporary for a file named `name`.
    public func temporaryName(of name: String) -> String {
        temporaryPrefix + Hex.encode(Array(SHA256Digest.hash(Array(name.utf8)).bytes.prefix(8)))
    }

    /// Checks a whole plan before anything is written: every link's target (`checkLink`), every
    /// file's temporary name (`checkTemporaries`) and names that only differ in case (`checkCase`).
    public func check(directories: [SnapshotEntry], files: [SnapshotEntry], links: [SnapshotEntry]) throws {
        let linkPaths = Set(links.map(\.path))
        for link in links { try checkLink(link.node.linkTarget ?? "", at: link.path, links: linkPaths) }
        try checkTemporaries(files: files, all: Set((directories + files + links).map(\.path)))
        try checkCase(directories + files + links)
    }

    /// Throws if a file's temporary would be another entry of the tree (only a crafted tree does
    /// that): assembling one would overwrite the other.
    public func checkTemporaries(files: [SnapshotEntry], all paths: Set<String>) throws {
        for file in files {
            let parent = file.path.split(separator: "/").dropLast().joined(separator: "/")
            let temp = temporaryName(of: String(file.path.split(separator: "/").last ?? ""))
            let relative = parent.isEmpty ? temp : parent + "/" + temp
            if paths.contains(relative) {
                throw ArchiveError.unsafeEntry(path: relative, reason: "is the name of the temporary for '\(file.path)'")
            }
        }
    }

    /// Throws if two entries of one folder differ only in case and the target cannot tell them apart
    /// (NTFS, FAT, a case-folding ext4 folder): the second would silently replace the first. The target
    /// is probed only when the tree holds such names, so ordinary restores create nothing extra.
    public func checkCase(_ entries: [SnapshotEntry]) throws {
        var seen: [String: String] = [:]
        var clash: (String, String)?
        for entry in entries {
            let key = entry.path.lowercased()
            if let other = seen[key], other != entry.path {
                clash = (other, entry.path)
                break
            }
            seen[key] = entry.path
        }
        guard let (first, second) = clash else { return }
        var probeAt = target
        while !FileSystem.isDirectory(probeAt), probeAt != "/" { probeAt = FileSystem.parentPath(probeAt) }
        let folder = try io { try DirectoryHandle.open(probeAt) }
        let probe = temporaryPrefix + "case-" + Hex.encode((0..<8).map { _ in UInt8.random(in: 0...255) })
        try io {
            _ = try folder.createFile(probe, mode: 0o600)
            defer { try? folder.remove(probe) }
            if try folder.status(probe.uppercased()) != nil {
                throw ArchiveError.unsafeEntry(
                    path: second, reason: "differs from '\(first)' only in case, and \(probeAt) does not tell such names apart")
            }
        }
    }

    /// Creates the temporary for `entry`, replacing one left by an earlier run.
    public func create(_ entry: SnapshotEntry) throws -> OpenFile {
        let (parent, name) = try place(entry.path)
        let temp = temporaryName(of: name)
        return try io {
            try parent.remove(temp)
            return try parent.createFile(temp, mode: 0o600)
        }
    }

    /// Checks that `written` bytes are what the snapshot records, then applies the entry's mode and
    /// time to the open temporary and, with `startWriteback`, starts writing it to the disk.
    ///
    /// Start the writeback only of a temporary that `makeDurable` will sync: the caller's thread does
    /// that work (block allocation, submitting the writes), and for a file left to the page cache the
    /// kernel does it later on its own. Restore (like `cp`, tar or restic) leaves its files there.
    public func finish(_ file: OpenFile, entry: SnapshotEntry, written: Int64, startWriteback: Bool) throws {
        guard written == entry.node.size else {
            throw StoreError.corruptObject(path: path(entry.path), reason: "its content holds \(written) bytes, the snapshot records \(entry.node.size)")
        }
        try io {
            guard fchmod(file.descriptor, mode_t(Self.safeMode(entry.node.mode))) == 0 else {
                throw SystemCallError(code: errno, operation: "chmod", path: file.path)
            }
            try FileSystem.setModificationTime(entry.node.mtimeNanos, of: file)
            if startWriteback { file.startWriteback() }
        }
    }

    /// Makes the temporaries of `entries` durable (an `fsync` each; `finish` should have started their
    /// writeback) before `commit` renames them, so a crash never leaves a torn file in place of a good
    /// one. Unlike `syncfs`, this never waits for other programs' writes to the same disk.
    public func makeDurable(_ entries: [SnapshotEntry]) throws {
        for entry in entries {
            let temporary = temporary(for: entry.path)
            try io { try OpenFile.openForReading(temporary, noFollow: true).sync() }
        }
    }

    /// Renames a finished temporary over the file's final name.
    public func commit(_ entry: SnapshotEntry) throws {
        let (parent, name) = try place(entry.path)
        if try io({ try parent.status(name) })?.type == .directory {
            throw ArchiveError.unsafeEntry(path: entry.path, reason: "is a folder in \(target) but a file in the snapshot")
        }
        try io { try parent.rename(temporaryName(of: name), to: name) }
    }

    /// The status of the entry at `relative` without following links, or nil when nothing is there.
    public func status(_ relative: String) throws -> FileStatus? {
        let (parent, name) = try place(relative)
        return try io { try parent.status(name) }
    }

    /// Removes the file or link at `relative` (sync applying a deletion); a missing one is not an error.
    public func remove(_ relative: String) throws {
        let (parent, name) = try place(relative)
        try io { try parent.remove(name) }
    }

    /// Removes the folder at `relative` if it is empty; returns whether it did.
    @discardableResult
    public func removeFolderIfEmpty(_ relative: String) throws -> Bool {
        let (parent, name) = try place(relative)
        return try io { try parent.removeFolder(name) }
    }

    /// Removes the temporary of a file that failed.
    public func discard(_ entry: SnapshotEntry) {
        guard let (parent, name) = try? place(entry.path) else { return }
        try? parent.remove(temporaryName(of: name))
    }

    /// Creates the links, replacing whatever is at their paths when `replace` is set. Each target is
    /// checked first against `links` (all the tree's links) and the folder as it is on disk.
    public func makeLinks(_ links: [SnapshotEntry], replace: Bool) throws {
        let linkPaths = Set(links.map(\.path))
        for link in links {
            let linkTarget = link.node.linkTarget ?? ""
            try checkLink(linkTarget, at: link.path, links: linkPaths)
            let (parent, name) = try place(link.path)
            try io {
                if replace, let st = try parent.status(name), st.type != .directory { try parent.remove(name) }
                try parent.makeLink(name, target: linkTarget)
                try? parent.setModificationTime(link.node.mtimeNanos, of: name)
            }
        }
    }

    /// Applies the folders' modes and times, deepest first so work inside a folder does not undo its time.
    public func finishDirectories(_ directories: [SnapshotEntry]) throws {
        for dir in directories.reversed() {
            let folder = try folders.folder(dir.path)
            try io {
                try folder.setMode(Self.safeMode(dir.node.mode))
                try? folder.setModificationTime(dir.node.mtimeNanos)
            }
        }
    }

    /// The mode a recorded one is written as: permission bits only (a tree from elsewhere must not make
    /// setuid, setgid or sticky files), narrowed by the umask as any newly created file is, so a mode
    /// the user's umask forbids (world-writable, usually) is not applied either.
    public static func safeMode(_ recorded: UInt32) -> UInt32 { recorded & 0o777 & ~FileSystem.creationMask }

    /// Throws unless a link at `relative` to `linkTarget` resolves inside the target.
    ///
    /// The target is resolved one name at a time from the link's folder. `..` may not climb above the
    /// root, and no name before the last may be a link, neither one of the tree's `links` nor one
    /// already on disk: a link's own target is checked on its own, so a chain of links that each stay
    /// inside never leaves, while `self -> .` followed by `self/self/../..` would count the wrong depth.
    public func checkLink(_ linkTarget: String, at relative: String, links: Set<String>) throws {
        try EntryName.validateLink(linkTarget, at: relative)
        var parts = relative.split(separator: "/").map(String.init)
        parts.removeLast()
        let steps = linkTarget.split(separator: "/", omittingEmptySubsequences: true).filter { $0 != "." }
        for (i, step) in steps.enumerated() {
            if step == ".." {
                guard !parts.isEmpty else { throw ArchiveError.unsafeEntry(path: relative, reason: "link target '\(linkTarget)' escapes the target folder") }
                parts.removeLast()
                continue
            }
            parts.append(String(step))
            guard i < steps.count - 1 else { break }
            let through = parts.joined(separator: "/")
            let onDisk = (try? FileSystem.status(path(through)))?.type == .symlink
            if links.contains(through) || onDisk {
                throw ArchiveError.unsafeEntry(path: relative, reason: "link target '\(linkTarget)' passes through the link '\(through)'")
            }
        }
    }

    /// The open parent folder of an entry and the entry's own name.
    private func place(_ relative: String) throws -> (DirectoryHandle, String) {
        let parts = relative.split(separator: "/")
        guard let name = parts.last else { throw ArchiveError.unsafeEntry(path: relative, reason: "has an empty name") }
        return (try folders.folder(parts.dropLast().joined(separator: "/")), String(name))
    }

    private func io<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as SystemCallError { throw ArchiveError.restoreFailed(path: e.path, cause: e.reason) }
    }
}

/// The target's folders, opened one name at a time from the target without following links and
/// kept open, so each file costs one lookup rather than a walk down its path.
final class FolderCache: Sendable {
    private let target: String
    private let open = Mutex<[String: DirectoryHandle]>([:])
    // Descriptors stay well under the usual limit of 1024; handles in use survive a flush.
    private static let limit = 256

    init(target: String) { self.target = target }

    /// The folder at `relative` ("" is the target itself).
    func folder(_ relative: String) throws -> DirectoryHandle {
        if let cached = open.withLock({ $0[relative] }) { return cached }
        let handle: DirectoryHandle
        do {
            if relative.isEmpty {
                handle = try DirectoryHandle.open(target)
            } else {
                let parent = try folder(FileSystem.parentPath("/" + relative).dropFirst().description)
                handle = try parent.folder(FileSystem.lastComponent(relative))
            }
        } catch let e as SystemCallError where e.code == ELOOP || e.code == ENOTDIR {
            throw ArchiveError.unsafeEntry(path: relative, reason: "is no longer a folder in \(target) (a link or a file took its place)")
        } catch let e as SystemCallError {
            throw ArchiveError.restoreFailed(path: e.path, cause: e.reason)
        }
        open.withLock { cache in
            if cache.count >= Self.limit { cache.removeAll() }
            cache[relative] = handle
        }
        return handle
    }
}
