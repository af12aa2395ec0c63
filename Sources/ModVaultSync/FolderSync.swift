import Foundation
import Glibc
public import ModVaultCore
public import ModVaultStore
public import ModVaultArchive
public import ModVaultFormats

/// A synced folder's local state, kept in `<folder>/.modvault/state.json` (never snapshotted or pushed).
public struct FolderSyncState: Codable, Sendable, Equatable {
    /// State format version.
    public var version = 1
    /// The ID of the repository the folder syncs through.
    public var repository: ObjectID
    /// The remote as the user named it (a saved name or a URL).
    public var remote: String
    /// The remote's location, for messages and to notice a name that now points elsewhere.
    public var remoteLocation: String
    /// The snapshot the folder's content last matched.
    public var head: ObjectID?
    /// The remote head when this folder last synced.
    public var remoteHead: ObjectID?
    /// The last push log entry read.
    public var seq: UInt64 = 0
    /// The tree of the folder as last scanned when it held the head's content (times and inodes
    /// included), so a sync with nothing to do recognises it by ID alone.
    public var folderTree: ObjectID?
    /// The last push log entry whose snapshot the head includes (behind `seq` while conflicts wait).
    public var mergedSeq: UInt64?
    /// When the last sync finished.
    public var lastSync: Date?
    /// Whether the remote was found to refuse a second create of one name (probed once).
    public var createIfAbsent: Bool?
    /// Conflicts waiting for `resolve`.
    public var conflicts: [SyncConflict] = []
    /// Settlements `resolve` recorded, applied by the next merge and then dropped.
    public var resolutions: [String: ConflictStrategy] = [:]
    /// Sides `resolve --record` chose for a plugin's conflicting records (path → FormID → side),
    /// applied by the next merge's record-level merge and then dropped. Optional so state files
    /// written before it existed still load.
    public var recordResolutions: [String: [String: PluginMerge.Side]]?

    /// Fresh state for a folder bound to `remote`.
    public init(repository: ObjectID, remote: String, remoteLocation: String) {
        self.repository = repository
        self.remote = remote
        self.remoteLocation = remoteLocation
    }

    /// The folder of sync's own files inside a synced folder.
    public static let folderName = ".modvault"
    /// The prefix of sync's temporaries.
    public static let temporaryPrefix = ".modvault-sync-"

    /// `<folder>/.modvault/state.json`.
    public static func path(_ folder: String) -> String { folder + "/" + folderName + "/state.json" }
    /// `<folder>/.modvault/sync-rules`.
    public static func rulesPath(_ folder: String) -> String { folder + "/" + folderName + "/sync-rules" }

    /// The state of `folder`, or nil when it was never synced.
    public static func load(_ folder: String) throws -> FolderSyncState? {
        let file = path(folder)
        guard FileSystem.exists(file) else { return nil }
        do {
            let decoder = JSONDecoder()
            decoder.dateDecodingStrategy = .iso8601
            return try decoder.decode(FolderSyncState.self, from: Data(try FileSystem.readFile(file)))
        } catch {
            throw SyncFolderError.badState(path: file, detail: "\(error)")
        }
    }

    /// Writes the state atomically.
    public func save(_ folder: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        do {
            try FileSystem.makeDirectories(folder + "/" + Self.folderName)
            try FileSystem.writeAtomically(Self.path(folder), bytes: Array(try encoder.encode(self)), mode: 0o644)
        } catch let e as SystemCallError {
            throw StoreError.system(e)
        }
    }
}

/// Options for one sync run.
public struct FolderSyncOptions: Sendable {
    /// Which directions run.
    public enum Direction: String, Sendable { case both, pullOnly, pushOnly }
    /// Strategy for every conflict of this run (otherwise the rules file and defaults).
    public var strategy: ConflictStrategy? = nil
    /// Which directions run.
    public var direction = Direction.both
    /// Work out and report everything, change neither the folder nor the remote.
    public var dryRun = false
    /// Allow a pull to delete more than half of the folder's files.
    public var allowMassDelete = false
    /// Accept a remote without create-if-absent, guarded by a lease object.
    public var singleWriter = false
    /// Objects transferred at once.
    public var transfers = 8
    /// Attempts at appending to the push log before giving up.
    public var attempts = 8
    /// Seconds to keep retrying while prune holds the repository lock.
    public var lockWait: Double = 0
    /// Receives notes for the user.
    public var notice: (@Sendable (String) -> Void)? = nil

    /// Defaults.
    public init() {}
}

/// What a sync run did.
public struct FolderSyncReport: Sendable, Codable {
    /// The snapshot the folder now matches.
    public var head: ObjectID?
    /// The remote's head after the run.
    public var remoteHead: ObjectID?
    /// The last push log entry now known.
    public var seq: UInt64 = 0
    /// Whether this run appended to the push log.
    public var pushed = false
    /// Whether the remote's changes were brought into the folder.
    public var pulled = false
    /// Whether a merge snapshot (two parents) was made.
    public var merged = false
    /// A snapshot of local changes was made.
    public var snapshotted = false
    /// Files (and links) written into the folder.
    public var filesWritten = 0
    /// Files removed from the folder.
    public var filesRemoved = 0
    /// Bytes uploaded to the remote.
    public var bytesUploaded: Int64 = 0
    /// Bytes downloaded from the remote.
    public var bytesDownloaded: Int64 = 0
    /// Conflicts met (settled, or waiting for `resolve` when `resolution` is `manual`).
    public var conflicts: [SyncConflict] = []
    /// Paths that changed in the folder while sync ran: left alone, the next sync takes them.
    public var skipped: [String] = []
    /// Files the snapshot could not read, and remote objects refused as planted or damaged.
    public var warnings: [String] = []
    /// For `--dry-run`: the paths that would be written and removed.
    public var planned: [String] = []
    /// Seconds taken.
    public var seconds = 0.0

    /// True when conflicts wait for `resolve`.
    public var unresolved: Bool { conflicts.contains { $0.resolution == "manual" } }
}

/// Keeps one folder in step with a shared remote: snapshot the folder, read the remote's push log,
/// merge, push the result under the next log number, and write the merged result into the folder.
///
/// Nothing is lost: local changes are snapshotted before anything is touched, files are written
/// through temporaries and renamed, a file that changes while sync runs is left for the next run, and
/// every version ever synced stays in the snapshot history. See Docs/SYNC.md.
public struct FolderSync: Sendable {
    /// The local repository.
    public let repository: Repository
    /// The shared remote.
    public let remote: any Remote
    /// The synced folder (absolute).
    public let folder: String
    /// How messages name the remote when its location alone does not say which server it is on
    /// (an S3 bucket behind a custom endpoint); defaults to the location.
    public var remoteLabel: String?

    /// Creates a sync of `folder` through `repository` and `remote`.
    public init(repository: Repository, remote: any Remote, folder: String) {
        self.repository = repository
        self.remote = remote
        self.folder = FileSystem.absolute(folder)
    }

    /// Runs one sync. `state` is the folder's state (fresh on the first sync); it is saved as the run goes.
    public func run(state initial: FolderSyncState, options: FolderSyncOptions = .init()) async throws -> FolderSyncReport {
        let start = monotonicSeconds()
        var state = initial
        var report = FolderSyncReport()
        guard FileSystem.isDirectory(folder) else { throw ArchiveError.sourceMissing(path: folder) }
        let guardFile = try FolderGuard.acquire(folder)
        defer { guardFile.release() }
        var rules = SyncRules(override: options.strategy)
        let rulesFile = FolderSyncState.rulesPath(folder)
        if FileSystem.exists(rulesFile) {
            let text = String(decoding: try storeIO { try FileSystem.readFile(rulesFile) }, as: UTF8.self)
            rules.rules = try SyncRules.parse(text, path: rulesFile)
        }

        // 1. Writers must be able to claim log entries atomically, or agree to be the only writer.
        if state.createIfAbsent == nil { state.createIfAbsent = await remote.supportsCreateIfAbsent }
        if state.createIfAbsent != true, !options.singleWriter { throw SyncFolderError.noCreateIfAbsent(remote: remoteLabel ?? remote.location) }

        // The head can be missing here (forgotten and pruned locally); the remote still has it.
        if let head = state.head, (try? repository.loadSnapshot(head)) == nil {
            _ = try await syncer(options).pull()
        }

        // 2. What is in the folder now: snapshotted before anything is touched.
        var graph = SnapshotGraph(repository: repository)
        let headTree = state.head.flatMap { graph.snapshot($0)?.tree }
        let knownFolderTree = state.folderTree
        var snap = SnapshotOptions()
        snap.tags = ["sync"]
        snap.parent = state.head?.hex
        snap.sizeAndTimeSuffice = true
        snap.recordStatuses = true
        snap.excludedRootNames = [FolderSyncState.folderName]
        snap.excludedPrefix = FolderSyncState.temporaryPrefix
        snap.lockWait = options.lockWait
        let repo = repository
        let dryRun = options.dryRun
        snap.skipSaving = { tree in
            if dryRun { return true }
            guard let headTree else { return false }
            return try tree == headTree || tree == knownFolderTree || FlatTree.sameContent(tree, headTree, repository: repo)
        }
        let scanned = try await Archiver(repository: repository).snapshot(source: folder, options: snap)
        report.warnings += scanned.warnings.map { "\($0.path): \($0.message)" }
        var local = scanned.record
        let folderTree = scanned.tree
        if !dryRun { state.folderTree = folderTree }
        if scanned.saved {
            report.snapshotted = true
            state.head = local.id
            if !dryRun { try state.save(folder) }
        } else if dryRun, try headTree == nil || (folderTree != headTree! && !FlatTree.sameContent(folderTree, headTree!, repository: repository)) {
            // A dry run with local changes: an unsaved snapshot of them, on top of the head.
            local = SnapshotRecord(id: ObjectID.zero, snapshot: Snapshot(time: Date(), host: Host.name, username: Host.user, device: DeviceID.current(),
                                                                           paths: [folder], tags: [], parents: state.head.map { [$0] } ?? [],
                                                                           tree: folderTree, summary: nil))
            graph.add(local)
        }

        let lease = options.singleWriter && state.createIfAbsent != true ? try await WriterLease.take(remote) : nil
        do {
            let done = try await exchange(state: &state, report: &report, local: local, folderTree: folderTree,
                                          statuses: scanned.statuses, graph: &graph, rules: rules, options: options, start: start)
            await lease?.release(remote)
            return done
        } catch {
            await lease?.release(remote)
            throw error
        }
    }

    /// Steps 3 to 7: read the log, pull, merge, push, write the folder; repeated when another device
    /// takes the next log number first.
    private func exchange(state: inout FolderSyncState, report: inout FolderSyncReport, local: SnapshotRecord, folderTree: ObjectID,
                          statuses: [String: FileStatus], graph: inout SnapshotGraph, rules: SyncRules, options: FolderSyncOptions, start: Double) async throws -> FolderSyncReport {
        let dryRun = options.dryRun
        let log = PushLog(remote: remote, repository: repository)
        let syncer = syncer(options)
        // Each tree flattened once per run: the target is read both to plan the folder and to summarise the push.
        var flat: [ObjectID: FlatTree] = [:]
        func flatTree(_ id: ObjectID?) throws -> FlatTree {
            guard let id else { return FlatTree() }
            if let known = flat[id] { return known }
            let loaded = try FlatTree.load(id, repository: repository)
            flat[id] = loaded
            return loaded
        }
        var ours = local
        var attempt = 0
        while true {
            attempt += 1
            // 3. What the remote has.
            let reading = try await log.read(after: state.seq)
            report.warnings += reading.refused.map { "\(remote.location)/\($0.object): refused: \($0.reason)" }
            var remoteHead = state.remoteHead
            if let last = reading.entries.last { remoteHead = last.snapshot }
            if remoteHead != nil, remoteHead != state.remoteHead || graph.snapshot(remoteHead!) == nil {
                if options.direction == .pushOnly, !reading.entries.isEmpty, !graph.isAncestor(remoteHead!, of: ours.id) {
                    throw SyncFolderError.remoteMovedOn(remote: remote.location, seq: reading.lastSeq)
                }
                let pulled = try await syncer.pull()
                report.bytesDownloaded += pulled.bytesDownloaded
                report.warnings += pulled.refused.map { "\(remote.location)/\($0.object): refused: \($0.reason)" }
            }
            // An entry whose snapshot the remote does not hold (damaged, or written by a broken client) is
            // reported and passed over: the head is the newest entry whose snapshot arrived.
            if let id = remoteHead, graph.snapshot(id) == nil {
                var usable: ObjectID? = nil
                for entry in reading.entries.reversed() {
                    if graph.snapshot(entry.snapshot) != nil { usable = entry.snapshot; break }
                    report.warnings.append("\(remote.location)/\(PushLog.name(entry.seq).relativePath): names snapshot \(entry.snapshot.short), which the remote does not hold; skipped")
                }
                if usable == nil, let earlier = state.remoteHead, graph.snapshot(earlier) != nil { usable = earlier }
                remoteHead = usable
            }
            let theirs = remoteHead.flatMap { id in graph.snapshot(id).map { SnapshotRecord(id: id, snapshot: $0) } }

            // 4. The result: ours, theirs, or a merge of both.
            var target = ours
            var outcome: MergeOutcome? = nil
            if let theirs, theirs.id != ours.id {
                if graph.isAncestor(theirs.id, of: ours.id) {
                    target = ours
                } else if graph.isAncestor(ours.id, of: theirs.id), state.resolutions.isEmpty, state.recordResolutions?.isEmpty ?? true {
                    target = theirs
                } else {
                    let writer = BlobWriter(repository: repository)
                    var merger = TreeMerger(repository: repository, writer: writer, rules: rules)
                    merger.resolutions = state.resolutions
                    merger.recordResolutions = state.recordResolutions ?? [:]
                    let base = try baseTree(ours.id, theirs.id, graph: &graph, writer: writer)
                    let merged = try merger.merge(base: base, ours: MergeSide(ours), oursTree: ours.snapshot.tree,
                                                  theirs: MergeSide(theirs), theirsTree: theirs.snapshot.tree)
                    try writer.flush()
                    outcome = merged
                    report.conflicts = merged.conflicts
                    if merged.conflicts.isEmpty, try FlatTree.sameContent(merged.tree, theirs.snapshot.tree, repository: repository) {
                        // Nothing of ours is missing from theirs (the same edits, or an empty folder joining): no merge needed.
                        target = theirs
                    } else if merged.unresolved || dryRun {
                        target = SnapshotRecord(id: .zero, snapshot: Snapshot(time: Date(), host: Host.name, username: Host.user, device: DeviceID.current(),
                                                                              paths: [folder], tags: ["sync", "merge"], parents: [ours.id, theirs.id],
                                                                              tree: merged.tree, summary: nil))
                    } else {
                        let snapshot = Snapshot(time: Date(), host: Host.name, username: Host.user, device: DeviceID.current(), paths: [folder],
                                                tags: ["sync", "merge"], parents: [ours.id, theirs.id], tree: merged.tree, summary: nil)
                        target = SnapshotRecord(id: try repository.saveSnapshot(snapshot), snapshot: snapshot)
                        report.merged = true
                    }
                }
            }

            // 5. Check what writing the result would delete before anything leaves this machine.
            let changes = folderTree == target.snapshot.tree
                ? FolderChanges()
                : FolderChanges.plan(have: try flatTree(folderTree), statuses: statuses, want: try flatTree(target.snapshot.tree))
            if !options.allowMassDelete, changes.deletions > 0, changes.deletions * 2 > changes.localFiles {
                throw SyncFolderError.massDelete(folder: folder, removing: changes.deletions, of: changes.localFiles)
            }
            if dryRun {
                report.planned = changes.writes.map(\.path) + changes.removals.map { "-" + $0.path }
                report.head = state.head
                report.remoteHead = remoteHead
                report.seq = reading.lastSeq
                report.pushed = target.id != remoteHead && options.direction != .pullOnly
                report.pulled = !changes.isEmpty
                report.seconds = monotonicSeconds() - start
                return report
            }

            // 6. Push the result unless the remote already has it, it waits for resolve, or this run only pulls.
            let unresolved = outcome?.unresolved ?? false
            var pushedNow = false
            if !unresolved, target.id != remoteHead, options.direction != .pullOnly {
                let uploaded = try await syncer.push()
                report.bytesUploaded += uploaded.bytesUploaded
                let entry = PushEntry(seq: reading.lastSeq + 1, snapshot: target.id, parents: target.snapshot.parents,
                                      author: "\(Host.user)@\(Host.name)", device: DeviceID.current(), time: Date(),
                                      summary: PushSummary.between(try flatTree(remoteHead.flatMap { graph.snapshot($0)?.tree }),
                                                                   try flatTree(target.snapshot.tree)))
                if try await !log.append(entry) {
                    // Another device took the number first: read its push, merge again from our result.
                    state.seq = reading.lastSeq
                    state.remoteHead = remoteHead
                    guard attempt < options.attempts else { throw SyncFolderError.raceLost(remote: remote.location, attempts: attempt) }
                    ours = target
                    try await Task.sleep(nanoseconds: UInt64.random(in: 20_000_000...(100_000_000 * UInt64(min(attempt, 5)))))
                    continue
                }
                pushedNow = true
                report.pushed = true
                state.seq = entry.seq
                state.remoteHead = target.id
            } else {
                state.seq = reading.lastSeq
                state.remoteHead = remoteHead
            }

            // 7. Write the result into the folder.
            let applied = try FolderChanges.apply(changes, folder: folder, repository: repository)
            report.filesWritten = applied.written
            report.filesRemoved = applied.removed
            report.skipped = applied.skipped
            report.pulled = applied.written + applied.removed > 0
            if !changes.isEmpty { state.folderTree = nil }
            if unresolved {
                // The folder keeps our version of each conflicting path; the merge waits for resolve.
                state.conflicts = outcome?.conflicts.filter { $0.resolution == "manual" } ?? []
            } else {
                if target.id != .zero { state.head = target.id }
                state.mergedSeq = state.seq
                state.conflicts = []
                if pushedNow || options.direction == .pullOnly {
                    state.resolutions = [:]
                    state.recordResolutions = nil
                }
            }
            state.lastSync = Date()
            try state.save(folder)
            report.head = state.head
            report.remoteHead = state.remoteHead
            report.seq = state.seq
            report.seconds = monotonicSeconds() - start
            return report
        }
    }

    /// A push/pull of this sync's repository and remote with the run's transfer settings.
    private func syncer(_ options: FolderSyncOptions) -> Syncer {
        var s = Syncer(local: repository, remote: remote)
        s.concurrency = options.transfers
        s.lockWait = options.lockWait
        return s
    }

    /// The base tree for merging `a` and `b`: their merge base, or with several (a criss-cross history)
    /// a virtual base merged from them, as git's ort does.
    private func baseTree(_ a: ObjectID, _ b: ObjectID, graph: inout SnapshotGraph, writer: BlobWriter, depth: Int = 0) throws -> ObjectID? {
        let bases = graph.mergeBases(a, b)
        guard let first = bases.first, let firstSnapshot = graph.snapshot(first) else { return nil }
        var tree = firstSnapshot.tree
        guard depth < 8 else { return tree }
        var merger = TreeMerger(repository: repository, writer: writer, rules: SyncRules(override: .ours))
        merger.virtual = true
        for next in bases.dropFirst() {
            guard let s = graph.snapshot(next) else { continue }
            let inner = try baseTree(first, next, graph: &graph, writer: writer, depth: depth + 1)
            tree = try merger.merge(base: inner, ours: MergeSide(id: first, time: firstSnapshot.time, device: firstSnapshot.device), oursTree: tree,
                                    theirs: MergeSide(id: next, time: s.time, device: s.device), theirsTree: s.tree).tree
        }
        return tree
    }
}

extension FlatTree {
    /// Whether two trees hold the same paths with the same content (times and inodes aside).
    static func sameContent(_ a: ObjectID, _ b: ObjectID, repository: Repository) throws -> Bool {
        let x = try load(a, repository: repository), y = try load(b, repository: repository)
        guard Set(x.folders.keys) == Set(y.folders.keys), x.files.count == y.files.count else { return false }
        return x.files.allSatisfy { sameEntry($0.value, y.files[$0.key]) }
    }
}

extension PushSummary {
    /// Files added, changed and removed from `a` to `b`.
    static func between(_ a: FlatTree, _ b: FlatTree) -> PushSummary {
        var s = PushSummary()
        for (path, node) in b.files {
            if let before = a.files[path] { if !sameEntry(before, node) { s.changed += 1 } } else { s.added += 1 }
        }
        s.removed = a.files.keys.filter { b.files[$0] == nil }.count
        return s
    }
}

/// What writing one tree over the folder's current tree changes.
struct FolderChanges {
    var writes: [SnapshotEntry] = []
    var links: [SnapshotEntry] = []
    var removals: [SnapshotEntry] = []
    var newFolders: [SnapshotEntry] = []
    var goneFolders: [SnapshotEntry] = []
    /// The folder's entries as scanned, to tell whether one changed since.
    var current: [String: TreeNode] = [:]
    /// Their on-disk status at the scan (inode and ctime, which trees do not hold).
    var statuses: [String: FileStatus] = [:]
    var localFiles = 0
    /// Removals whose content does not live on elsewhere in the target (moves are not deletions).
    var deletions = 0

    var isEmpty: Bool { writes.isEmpty && links.isEmpty && removals.isEmpty && newFolders.isEmpty && goneFolders.isEmpty }

    /// The changes that turn the folder, scanned as `folderTree` with `statuses`, into `target`.
    static func plan(from folderTree: ObjectID, statuses: [String: FileStatus], to target: ObjectID, repository: Repository) throws -> FolderChanges {
        guard folderTree != target else { return FolderChanges() }
        return plan(have: try FlatTree.load(folderTree, repository: repository), statuses: statuses, want: try FlatTree.load(target, repository: repository))
    }

    /// The changes that turn the folder `have` describes (scanned with `statuses`) into `want`.
    static func plan(have: FlatTree, statuses: [String: FileStatus], want: FlatTree) -> FolderChanges {
        var c = FolderChanges()
        c.current = have.files
        c.statuses = statuses
        c.localFiles = have.files.count
        for path in want.folders.keys.sorted() where have.folders[path] == nil {
            c.newFolders.append(SnapshotEntry(path: path, node: want.folders[path]!))
        }
        for path in want.files.keys.sorted() {
            let node = want.files[path]!
            guard !sameEntry(have.files[path], node) else { continue }
            switch node.type {
            case .regular: c.writes.append(SnapshotEntry(path: path, node: node))
            case .symlink: c.links.append(SnapshotEntry(path: path, node: node))
            case .directory, .other: break
            }
        }
        var kept = Set<FileContent>()
        for node in want.files.values where node.type == .regular { kept.insert(node.content) }
        for path in have.files.keys.sorted() where want.files[path] == nil {
            let node = have.files[path]!
            c.removals.append(SnapshotEntry(path: path, node: node))
            if node.type != .regular || !kept.contains(node.content) { c.deletions += 1 }
        }
        for path in have.folders.keys.sorted() where want.folders[path] == nil {
            c.goneFolders.append(SnapshotEntry(path: path, node: have.folders[path]!))
        }
        return c
    }

    struct Applied { var written = 0, removed = 0, skipped: [String] = [] }

    /// Writes the planned changes. A path whose on-disk status no longer matches the scan is left
    /// alone and reported; the next sync snapshots it.
    static func apply(_ c: FolderChanges, folder: String, repository: Repository) throws -> Applied {
        var applied = Applied()
        guard !c.isEmpty else { return applied }
        let materializer = Materializer(target: folder, temporaryPrefix: FolderSyncState.temporaryPrefix)
        try materializer.check(directories: c.newFolders, files: c.writes, links: c.links)
        // A path that was a folder and becomes a file needs the folder gone first, and the reverse.
        func unchanged(_ path: String) throws -> Bool {
            let now = try materializer.status(path)
            guard let was = c.current[path] else { return now == nil }
            guard let now else { return false }
            guard let seen = c.statuses[path] else { return false }
            return now.type == was.type && (was.type != .regular || now.size == was.size) && now.mtimeNanos == was.mtimeNanos
                && now.inode == seen.inode && now.ctimeNanos == seen.ctimeNanos
        }
        for removal in c.removals {
            if try unchanged(removal.path) {
                try materializer.remove(removal.path)
                applied.removed += 1
            } else {
                applied.skipped.append(removal.path)
            }
        }
        for gone in c.goneFolders.reversed() { try materializer.removeFolderIfEmpty(gone.path) }
        try materializer.makeDirectories(c.newFolders)
        var assembled: [SnapshotEntry] = []
        for file in c.writes {
            _ = try Restorer.assemble(file, with: materializer, repository: repository, startWriteback: true)
            assembled.append(file)
        }
        // Temporaries are durable before any replaces a file, so a crash never leaves a torn one in place.
        try materializer.makeDurable(assembled)
        for file in assembled {
            if try unchanged(file.path) {
                try materializer.commit(file)
                applied.written += 1
            } else {
                materializer.discard(file)
                applied.skipped.append(file.path)
            }
        }
        var links: [SnapshotEntry] = []
        for link in c.links {
            if try unchanged(link.path) {
                try materializer.remove(link.path)
                links.append(link)
            } else {
                applied.skipped.append(link.path)
            }
        }
        try materializer.makeLinks(links, replace: true)
        applied.written += links.count
        try materializer.finishDirectories(c.newFolders)
        return applied
    }
}

/// The lease a single writer holds on a remote that cannot create objects only if absent: a plain
/// object naming the device and an expiry, written and then read back. It narrows the window in
/// which two writers could interleave; it cannot close it, which is why shared sync needs create-if-absent.
struct WriterLease: Sendable {
    static let name = ObjectName(kind: .config, name: "sync-lease")
    let device: String

    private struct Body: Codable { var device: String; var until: Date }

    static func take(_ remote: any Remote) async throws -> WriterLease {
        let device = DeviceID.current()
        let decoder = JSONDecoder(), encoder = JSONEncoder()
        decoder.dateDecodingStrategy = .iso8601
        encoder.dateEncodingStrategy = .iso8601
        if try await remote.stat(name) != nil, let held = try? decoder.decode(Body.self, from: Data(try await remote.load(name, range: nil))),
           held.device != device, held.until > Date() {
            throw SyncFolderError.leaseHeld(remote: remote.location, device: String(held.device.prefix(8)), until: Timestamp.format(held.until))
        }
        try await remote.save(name, data: Array(try encoder.encode(Body(device: device, until: Date().addingTimeInterval(600)))), ifAbsent: false)
        if let held = try? decoder.decode(Body.self, from: Data(try await remote.load(name, range: nil))), held.device != device {
            throw SyncFolderError.leaseHeld(remote: remote.location, device: String(held.device.prefix(8)), until: Timestamp.format(held.until))
        }
        return WriterLease(device: device)
    }

    func release(_ remote: any Remote) async { try? await remote.remove(Self.name) }
}

extension FolderSync {
    /// How `resolve` settles a conflict.
    public enum Take: String, Sendable, CaseIterable {
        /// Keep the folder's version; the next sync pushes it over the remote's.
        case ours
        /// Put the remote's version in the folder.
        case theirs
        /// Keep ours in place and the remote's beside it under a name nothing loads.
        case both
    }

    /// The three versions of a pending conflict's path, to look at side by side: the merge base's,
    /// ours (the folder's head) and theirs (the remote snapshot the conflict came from). A version is
    /// nil where that snapshot has no entry at the path.
    public struct ConflictVersions: Sendable {
        /// The path's entry in the merge base (the first, when there are several).
        public var base: TreeNode?
        /// The path's entry in the folder's head.
        public var ours: TreeNode?
        /// The path's entry in the remote's snapshot.
        public var theirs: TreeNode?
        /// The merge base.
        public var baseSnapshot: ObjectID?
        /// The folder's head.
        public var oursSnapshot: ObjectID?
        /// The remote snapshot.
        public var theirsSnapshot: ObjectID?
    }

    /// `path` without empty or `.` components, and the index of its pending conflict in `state`.
    private func pendingConflict(_ path: String, in state: FolderSyncState) throws -> (path: String, index: Int) {
        let clean = path.split(separator: "/").filter { $0 != "." && !$0.isEmpty }.joined(separator: "/")
        guard let index = state.conflicts.firstIndex(where: { $0.path == clean }) else { throw SyncFolderError.noConflict(folder: folder, path: clean) }
        return (clean, index)
    }

    /// The versions of the pending conflict at `path`.
    public func versions(of path: String, state: FolderSyncState) throws -> ConflictVersions {
        let (clean, index) = try pendingConflict(path, in: state)
        let conflict = state.conflicts[index]
        var graph = SnapshotGraph(repository: repository)
        var v = ConflictVersions(oursSnapshot: state.head, theirsSnapshot: conflict.theirs)
        if let ours = state.head, let theirs = conflict.theirs { v.baseSnapshot = graph.mergeBases(ours, theirs).first }
        func node(_ id: ObjectID?) -> TreeNode? {
            guard let id, let tree = try? repository.loadSnapshot(id).tree else { return nil }
            return (try? TreeWalker(repository: repository).find(clean, in: tree)) ?? nil
        }
        v.base = node(v.baseSnapshot)
        v.ours = node(v.oursSnapshot)
        v.theirs = node(v.theirsSnapshot)
        return v
    }

    /// Settles records of the pending plugin conflict at `path` (`resolve --record`): each conflicting
    /// record, or cell, named by the FormID the conflict reported takes the chosen side. The next sync
    /// merges the plugin again with these choices and writes the result; the folder keeps ours until
    /// then. Once every record of the conflict has a side, the path no longer waits. Returns the new
    /// state (already saved).
    public func resolve(_ path: String, records: [String: PluginMerge.Side], state initial: FolderSyncState) throws -> FolderSyncState {
        var state = initial
        let guardFile = try FolderGuard.acquire(folder)
        defer { guardFile.release() }
        let (clean, index) = try pendingConflict(path, in: state)
        let pending = state.conflicts[index].records ?? []
        let settleable = pending.filter { $0.formID != "-" }
        for formID in records.keys where !settleable.contains(where: { $0.formID == formID }) {
            throw SyncFolderError.noRecordConflict(folder: folder, path: clean, formID: formID,
                                                   pending: settleable.map(\.formID))
        }
        var chosen = state.recordResolutions ?? [:]
        chosen[clean, default: [:]].merge(records) { $1 }
        state.recordResolutions = chosen
        let left = pending.filter { chosen[clean]?[$0.formID] == nil }
        if left.isEmpty {
            state.conflicts.remove(at: index)
        } else {
            state.conflicts[index].records = left
        }
        try state.save(folder)
        return state
    }

    /// Settles the pending conflict at `path`: writes the chosen version into the folder and records the
    /// choice for the next sync, which completes the merge. Returns the new state (already saved).
    public func resolve(_ path: String, take: Take, state initial: FolderSyncState) throws -> FolderSyncState {
        var state = initial
        let guardFile = try FolderGuard.acquire(folder)
        defer { guardFile.release() }
        let (clean, index) = try pendingConflict(path, in: state)
        let conflict = state.conflicts[index]
        var theirsNode: TreeNode? = nil
        if let theirs = conflict.theirs {
            let tree = try repository.loadSnapshot(theirs).tree
            theirsNode = try? TreeWalker(repository: repository).find(clean, in: tree)
        }
        let materializer = Materializer(target: folder, temporaryPrefix: FolderSyncState.temporaryPrefix)
        func write(_ node: TreeNode, at relative: String) throws {
            let entry = SnapshotEntry(path: relative, node: node)
            let parent = relative.split(separator: "/").dropLast().joined(separator: "/")
            if !parent.isEmpty { try FileSystem.makeDirectories(folder + "/" + parent) }
            switch node.type {
            case .regular:
                _ = try Restorer.assemble(entry, with: materializer, repository: repository, startWriteback: true)
                try materializer.makeDurable([entry])
                try materializer.commit(entry)
            case .symlink:
                try materializer.makeLinks([entry], replace: true)
            case .directory, .other:
                break
            }
        }
        state.recordResolutions?[clean] = nil
        switch take {
        case .ours:
            state.resolutions[clean] = .ours
        case .theirs:
            if let theirsNode { try write(theirsNode, at: clean) } else { try materializer.remove(clean) }
            state.resolutions[clean] = .theirs
        case .both:
            if let theirsNode, let theirs = conflict.theirs {
                let device = (try? repository.loadSnapshot(theirs).device) ?? "remote"
                try write(theirsNode, at: SyncRules.conflictCopyPath(clean, device: device, snapshot: theirs))
            }
            state.resolutions[clean] = .ours
        }
        state.conflicts.remove(at: index)
        try state.save(folder)
        return state
    }
}

extension FolderSync {
    /// Paths whose type, size or modification time differ from the head snapshot, or that are new or
    /// gone: found from file status alone, without reading content (`status`).
    public func localChanges(state: FolderSyncState) throws -> [String] {
        let head = try state.head.map { try repository.loadSnapshot($0).tree }
        let known = try FlatTree.load(head, repository: repository)
        let present = try files()
        var changed: [String] = []
        for (path, st) in present {
            guard let node = known.files[path] else { changed.append(path); continue }
            if node.type != st.type || (st.type == .regular && (node.size != st.size || node.mtimeNanos != st.mtimeNanos)) { changed.append(path) }
        }
        changed += known.files.keys.filter { present[$0] == nil }
        return changed.sorted()
    }

    /// Every file and link in the folder (not folders), by relative path, with its status; sync's own
    /// `.modvault` folder and temporaries left out, as the snapshot leaves them out.
    public func files() throws -> [String: FileStatus] {
        var found: [String: FileStatus] = [:]
        func walk(_ relative: String) throws {
            for name in try FileSystem.list(relative.isEmpty ? folder : folder + "/" + relative) {
                if relative.isEmpty, name == FolderSyncState.folderName { continue }
                if name.hasPrefix(FolderSyncState.temporaryPrefix) { continue }
                let child = relative.isEmpty ? name : relative + "/" + name
                guard let st = try? FileSystem.status(folder + "/" + child) else { continue }
                if st.type == .directory { try walk(child) } else { found[child] = st }
            }
        }
        do { try walk("") } catch let e as SystemCallError { throw StoreError.system(e) }
        return found
    }

    /// Snapshots in the head's history that the remote head's does not hold (not yet pushed).
    public func ahead(state: FolderSyncState) -> Int {
        guard let head = state.head else { return 0 }
        var graph = SnapshotGraph(repository: repository)
        let mine = graph.ancestors(head)
        guard let remoteHead = state.remoteHead else { return mine.count }
        return mine.subtracting(graph.ancestors(remoteHead)).count
    }
}
