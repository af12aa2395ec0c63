import Foundation
public import ModVaultCore
public import ModVaultStore
import ModVaultCrypto

/// Writes a snapshot's entries into a target folder: the one place that creates folders, files and
/// links from a tree, for restore and mirror alike.
///
/// It never writes through a link: folders that exist must be real folders, files are assembled
/// as temporaries beside their final names and renamed over them, and a link is created only when
/// its target, resolved step by step against the folder and the tree's other links, stays inside
/// the target. Modes and times are applied the same way by both callers, and a failure to apply
/// one is an error naming the path.
public struct Materializer: Sendable {
    /// The absolute target folder.
    public let target: String
    /// The prefix of temporary names (`.modvault-restore-`, `.modvault-mirror-`).
    public let temporaryPrefix: String

    /// Creates a materialiser writing into `target`.
    public init(target: String, temporaryPrefix: String) {
        self.target = target
        self.temporaryPrefix = temporaryPrefix
    }

    /// The absolute path of a relative entry path.
    public func path(_ relative: String) -> String { relative.isEmpty ? target : target + "/" + relative }

    /// Creates the folders (parents first, as a tree walk lists them); one that exists must be a folder,
    /// never a link or a file, or writes below it could land outside the target.
    public func makeDirectories(_ directories: [SnapshotEntry]) throws {
        try io { try FileSystem.makeDirectories(target) }
        for dir in directories {
            let full = path(dir.path)
            if let st = try? FileSystem.status(full) {
                guard st.type == .directory else { throw ArchiveError.unsafeEntry(path: dir.path, reason: "exists in \(target) and is not a folder") }
            } else {
                guard mkdir(full, 0o700) == 0 else { throw ArchiveError.restoreFailed(path: full, cause: String(cString: strerror(errno))) }
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

    /// Checks a whole plan before anything is written: every link's target (`checkLink`) and every
    /// file's temporary name (`checkTemporaries`).
    public func check(directories: [SnapshotEntry], files: [SnapshotEntry], links: [SnapshotEntry]) throws {
        let linkPaths = Set(links.map(\.path))
        for link in links { try checkLink(link.node.linkTarget ?? "", at: link.path, links: linkPaths) }
        try checkTemporaries(files: files, all: Set((directories + files + links).map(\.path)))
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

    /// Creates the temporary for `entry`, replacing one left by an earlier run.
    public func create(_ entry: SnapshotEntry) throws -> OpenFile {
        let temp = temporary(for: entry.path)
        try? FileSystem.remove(temp)
        return try io { try OpenFile.create(temp, mode: 0o600) }
    }

    /// Checks that `written` bytes are what the snapshot records, then applies the entry's mode and
    /// time to the open temporary and, when `durable`, syncs it.
    public func finish(_ file: OpenFile, entry: SnapshotEntry, written: Int64, durable: Bool) throws {
        guard written == entry.node.size else {
            throw StoreError.corruptObject(path: path(entry.path), reason: "its content holds \(written) bytes, the snapshot records \(entry.node.size)")
        }
        try io {
            guard fchmod(file.descriptor, mode_t(Self.safeMode(entry.node.mode))) == 0 else {
                throw SystemCallError(code: errno, operation: "chmod", path: file.path)
            }
            try FileSystem.setModificationTime(entry.node.mtimeNanos, of: file)
            if durable { try file.sync() }
        }
    }

    /// Renames a finished temporary over the file's final name.
    public func commit(_ entry: SnapshotEntry) throws {
        let final = path(entry.path)
        if FileSystem.isDirectory(final) { throw ArchiveError.unsafeEntry(path: entry.path, reason: "is a folder in \(target) but a file in the snapshot") }
        guard rename(temporary(for: entry.path), final) == 0 else {
            throw ArchiveError.restoreFailed(path: final, cause: String(cString: strerror(errno)))
        }
    }

    /// Removes the temporary of a file that failed.
    public func discard(_ entry: SnapshotEntry) { try? FileSystem.remove(temporary(for: entry.path)) }

    /// Creates the links, replacing whatever is at their paths when `replace` is set. Each target is
    /// checked first against `links` (all the tree's links) and the folder as it is on disk.
    public func makeLinks(_ links: [SnapshotEntry], replace: Bool) throws {
        let linkPaths = Set(links.map(\.path))
        for link in links {
            let linkTarget = link.node.linkTarget ?? ""
            try checkLink(linkTarget, at: link.path, links: linkPaths)
            let full = path(link.path)
            if replace { try? FileSystem.remove(full) }
            guard symlink(linkTarget, full) == 0 else {
                throw ArchiveError.restoreFailed(path: full, cause: String(cString: strerror(errno)))
            }
            FileSystem.setModificationTime(link.node.mtimeNanos, path: full)
        }
    }

    /// Applies the folders' modes and times, deepest first so work inside a folder does not undo its time.
    public func finishDirectories(_ directories: [SnapshotEntry]) throws {
        for dir in directories.reversed() {
            let full = path(dir.path)
            guard chmod(full, mode_t(Self.safeMode(dir.node.mode))) == 0 else {
                throw ArchiveError.restoreFailed(path: full, cause: "chmod: " + String(cString: strerror(errno)))
            }
            FileSystem.setModificationTime(dir.node.mtimeNanos, path: full)
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

    private func io<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as SystemCallError { throw ArchiveError.restoreFailed(path: e.path, cause: e.reason) }
    }
}
