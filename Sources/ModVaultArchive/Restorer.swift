import Foundation
public import ModVaultCore
public import ModVaultStore

/// Options for a restore.
public struct RestoreOptions: Sendable {
    /// Folder to write into.
    public var target: String
    /// Relative paths (files or folders) to restore; empty for everything.
    public var include: [String] = []
    /// Allow writing into a non-empty target, replacing files.
    public var overwrite = false
    /// Parallel file writers.
    public var workers = max(2, ProcessInfo.processInfo.activeProcessorCount)
    /// Receives progress samples.
    public var progress: ProgressHandler? = nil
    /// Seconds to keep retrying while prune holds the repository lock.
    public var lockWait: Double = 0

    /// Options for restoring into `target`.
    public init(target: String) { self.target = target }
}

/// What a restore did.
public struct RestoreSummary: Sendable, Codable {
    /// Files written.
    public var files = 0
    /// Directories created.
    public var directories = 0
    /// Symlinks created.
    public var symlinks = 0
    /// Bytes written.
    public var bytes: Int64 = 0
    /// Seconds taken.
    public var seconds = 0.0
}

/// Writes a snapshot's contents into a folder, verifying every chunk's MAC on the way.
///
/// All entries are validated before anything is written; nothing is ever written outside the
/// target: names are single components, links may not escape, and files are created without
/// following symlinks, through a temporary name and a rename.
public struct Restorer: Sendable {
    /// The repository read from.
    public let repository: Repository

    /// Creates a restorer.
    public init(repository: Repository) { self.repository = repository }

    private struct Plan {
        var directories: [SnapshotEntry] = []
        var files: [SnapshotEntry] = []
        var links: [SnapshotEntry] = []
    }

    /// Restores `snapshot` according to `options`.
    public func restore(_ snapshot: Snapshot, options: RestoreOptions) async throws -> RestoreSummary {
        let start = monotonicSeconds()
        let target = FileSystem.absolute(options.target)
        if FileSystem.exists(target) {
            guard FileSystem.isDirectory(target) else { throw ArchiveError.targetNotEmpty(path: target) }
            if !options.overwrite, !(try io { try FileSystem.list(target) }).isEmpty { throw ArchiveError.targetNotEmpty(path: target) }
        }
        // Shared: a prune must not delete packs while they are being read.
        let lock = try RepositoryLock.acquire(repository, exclusive: false, operation: "restore", wait: options.lockWait)
        defer { lock.release() }
        try repository.synchronizeIndex()
        let plan = try makePlan(snapshot.tree, include: options.include.map(Self.normalize))
        let materializer = Materializer(target: target, temporaryPrefix: ".modvault-restore-")
        // Every link is checked before anything is written, and again as it is created.
        try materializer.check(directories: plan.directories, files: plan.files, links: plan.links)
        try materializer.makeDirectories(plan.directories)

        var summary = RestoreSummary()
        summary.directories = plan.directories.count

        // Sizes come from the tree, which may lie: a sum that overflows saturates instead of trapping,
        // and each file's bytes are checked against its size as it is written.
        let totalBytes = plan.files.reduce(Int64(0)) { total, file in
            let (sum, overflow) = total.addingReportingOverflow(max(0, file.node.size))
            return overflow ? .max : sum
        }
        let repo = repository
        let window = max(1, options.workers)
        var written: Int64 = 0
        var filesDone = 0
        var lastReport = 0.0
        try await withThrowingTaskGroup(of: Int64.self) { group in
            var inFlight = 0
            // Largest first: a big archive started last would leave one core writing it alone at the end.
            for file in plan.files.sorted(by: { $0.node.size > $1.node.size }) {
                if inFlight >= window, let n = try await group.next() {
                    inFlight -= 1
                    written += n
                    filesDone += 1
                }
                inFlight += 1
                group.addTask { try Self.writeFile(file, with: materializer, repository: repo) }
                let now = monotonicSeconds()
                if let progress = options.progress, now - lastReport > 0.2 {
                    lastReport = now
                    progress(ProgressSample(files: filesDone, totalFiles: plan.files.count, bytes: written, totalBytes: totalBytes, elapsed: now - start))
                }
            }
            while let n = try await group.next() {
                written += n
                filesDone += 1
            }
        }
        summary.files = plan.files.count
        summary.bytes = written

        try materializer.makeLinks(plan.links, replace: options.overwrite)
        summary.symlinks = plan.links.count
        try materializer.finishDirectories(plan.directories)
        summary.seconds = monotonicSeconds() - start
        options.progress?(ProgressSample(files: plan.files.count, totalFiles: plan.files.count, bytes: written, totalBytes: totalBytes, elapsed: summary.seconds))
        return summary
    }

    static func normalize(_ path: String) -> String {
        path.split(separator: "/").filter { $0 != "." }.joined(separator: "/")
    }

    /// Validates every entry and selects what `include` asks for.
    private func makePlan(_ root: ObjectID, include: [String]) throws -> Plan {
        var plan = Plan()
        var matched = Set<String>()
        try TreeWalker(repository: repository).walk(root) { entry in
            let selected: Bool
            var descend = true
            if include.isEmpty {
                selected = true
            } else if let hit = include.first(where: { entry.path == $0 || entry.path.hasPrefix($0 + "/") }) {
                matched.insert(hit)
                selected = true
            } else {
                // Ancestors of an included path are created; everything else is skipped unread.
                let isAncestor = include.contains { $0.hasPrefix(entry.path + "/") }
                selected = isAncestor && entry.node.type == .directory
                descend = isAncestor
            }
            guard selected else { return false }
            switch entry.node.type {
            case .directory: plan.directories.append(entry)
            case .regular: plan.files.append(entry)
            case .symlink:
                try EntryName.validateLink(entry.node.linkTarget ?? "", at: entry.path)
                plan.links.append(entry)
            case .other: break
            }
            return descend
        }
        if let missing = include.first(where: { !matched.contains($0) }) { throw ArchiveError.includeNotFound(missing) }
        return plan
    }

    private static func writeFile(_ entry: SnapshotEntry, with materializer: Materializer, repository: Repository) throws -> Int64 {
        let written = try assemble(entry, with: materializer, repository: repository, startWriteback: false)
        do { try materializer.commit(entry) } catch {
            materializer.discard(entry)
            throw error
        }
        return written
    }

    /// Writes `entry`'s content from the repository into its temporary and finishes it (size, mode,
    /// time), leaving `materializer.commit` to put it in place; returns the bytes written. On failure
    /// the temporary is removed. Restore and sync both write files this way; `startWriteback` is for
    /// a caller that will make the temporary durable (`Materializer.finish`).
    public static func assemble(_ entry: SnapshotEntry, with materializer: Materializer, repository: Repository,
                                startWriteback: Bool) throws -> Int64 {
        let final = materializer.path(entry.path)
        let plaintext = ScratchBuffer()
        let scratch = BlobReadScratch()
        var rebuilder: StreamRebuilder?
        var written: Int64 = 0
        do {
            let out = try materializer.create(entry)
            var pack: (id: ObjectID, file: OpenFile)? = nil
            // Decoders accept an archive blob only as a file's sole handle, so the handles below are
            // data and stream blobs.
            var handles: [BlobHandle] = []
            if let archive = entry.node.content.archive {
                let readBack = try OpenFile.openForReading(materializer.temporary(for: entry.path), noFollow: true)
                written = try ArchiveFiles.write(archive, repository: repository, into: out, readBack: readBack, label: final)
            } else {
                handles = try repository.contentHandles(entry.node, path: final)
            }
            for handle in handles {
                if handle.type == .stream {
                    let r = rebuilder ?? StreamRebuilder(repository: repository)
                    rebuilder = r
                    written += Int64(try r.withRebuilt(handle.id) { bytes in
                        try out.write(bytes)
                        return bytes.count
                    })
                    continue
                }
                guard let location = try repository.index.location(of: handle) else { throw StoreError.blobNotIndexed(handle) }
                if pack?.id != location.pack {
                    let packPath = repository.filePath(ObjectName(kind: .pack, id: location.pack))
                    do { pack = (location.pack, try OpenFile.openForReading(packPath)) } catch let e as SystemCallError {
                        throw e.code == ENOENT ? StoreError.missingObject(path: packPath) : StoreError.system(e)
                    }
                }
                try repository.loadBlob(handle, at: location, into: plaintext, scratch: scratch, file: pack?.file)
                try out.write(plaintext.bytes)
                written += Int64(plaintext.count)
            }
            try materializer.finish(out, entry: entry, written: written, startWriteback: startWriteback)
        } catch {
            materializer.discard(entry)
            if let e = error as? SystemCallError { throw ArchiveError.restoreFailed(path: e.path, cause: e.reason) }
            throw error
        }
        return written
    }

    private func io<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as SystemCallError { throw ArchiveError.restoreFailed(path: e.path, cause: e.reason) }
    }
}
