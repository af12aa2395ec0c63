import Foundation
public import ModVaultCore
public import ModVaultStore
import ModVaultCrypto
import ModVaultChunking
import ModVaultFormats
import ModVaultArchive

/// Options for `mirror`.
public struct MirrorOptions: Sendable {
    /// Folder to materialise the snapshot in; files already there serve as seeds.
    public var target: String
    /// A local repository to take chunks from first (used only if it is the same repository).
    public var localRepository: Repository?
    /// Remove files in the target that the snapshot does not have.
    public var deleteExtraneous = false
    /// Largest gap between two needed blobs of one pack that is still fetched in the same request.
    public var coalesceGap: Int64 = 256 << 10
    /// Batches of ranged requests in flight at once, ahead of the writer.
    public var concurrency = 8
    /// Sealed bytes per batch: memory held by downloads is about `concurrency` × this, twice over
    /// (sealed and opened), whatever the folder's size.
    public var batchBytes: Int64 = 4 << 20
    /// Receives progress.
    public var progress: TransferProgress?

    /// Options for mirroring into `target`.
    public init(target: String) { self.target = target }
}

/// The keys and layout facts needed to read a remote repository without a local copy.
public struct RemoteRepositoryAccess: Sendable {
    /// The remote.
    public let remote: any Remote
    /// Its configuration.
    public let config: RepositoryConfig
    /// Opens its blobs.
    public let opener: BlobOpener
    /// Its chunker (same secret), for cutting seed files the same way.
    public let chunker: FastCDC

    /// Opens the remote with the master key of a local copy of the same repository.
    public init(remote: any Remote, local: Repository) async throws {
        guard try await Syncer(local: local, remote: remote).remoteMatches() else { throw SyncError.notARepository(remote: remote.location) }
        self.init(remote: remote, config: local.config, master: local.masterKey, chunker: local.chunker)
    }

    /// Opens the remote with a password, trying each of its key slots.
    public init(remote: any Remote, password: [UInt8]) async throws {
        guard try await remote.stat(.config) != nil else { throw SyncError.notARepository(remote: remote.location) }
        let (master, _) = try RemoteKeys.unlock(try await RemoteKeys.slots(of: remote), password: password, remote: remote.location)
        let sealed = try await remote.load(.config, range: nil)
        guard let plain = try? master.cipher.open(sealed, associatedData: Array("config".utf8)),
              let config = try? JSONDecoder().decode(RepositoryConfig.self, from: Data(plain)) else {
            throw SyncError.corruptDownload(remote: remote.location, object: "config", reason: "does not open with the key")
        }
        let chunker = try FastCDC(parameters: config.chunker, gear: GearTable.derive(secret: config.chunkerSecret))
        self.init(remote: remote, config: config, master: master, chunker: chunker)
    }

    private init(remote: any Remote, config: RepositoryConfig, master: MasterKey, chunker: FastCDC) {
        self.remote = remote
        self.config = config
        opener = BlobOpener(cipher: master.cipher, contentMAC: ContentMAC(key: master.mac))
        self.chunker = chunker
    }
}

/// Materialises a snapshot from a remote into a folder, downloading only the chunks that are not
/// in a local repository or in the files already in the folder (seeds, as casync and desync use them).
///
/// New files are assembled as `.modvault-mirror-*` temporaries beside their final names and renamed
/// over the old files only when every file is complete and verified, so an interrupted mirror leaves
/// the old files intact; its temporaries are reused as seeds by the next run.
public struct Mirror: Sendable {
    /// Access to the remote repository.
    public let access: RemoteRepositoryAccess

    /// Creates a mirror.
    public init(access: RemoteRepositoryAccess) { self.access = access }

    private struct Seed {
        var path: String
        var offset: Int64
        var length: Int
    }

    private struct PlannedFile {
        var path: String
        var node: TreeNode
        /// The content handles, its list expanded: for a file stored as an archive blob, its base's.
        var handles: [BlobHandle] = []
        /// The archive blob the file is rebuilt from, when it is stored as one (a repack, §8b).
        var archive: ArchiveBlob?

        var entry: SnapshotEntry { SnapshotEntry(path: path, node: node) }
    }

    /// Mirrors the snapshot named by `reference` (ID, prefix or `latest`) into `options.target`.
    public func mirror(_ reference: String, options: MirrorOptions) async throws -> TransferReport {
        let start0 = monotonicSeconds()
        var report = TransferReport()
        let remote = access.remote
        let target = FileSystem.absolute(options.target)
        try FileSystem.makeDirectories(target)

        // 1. Index and snapshot from the remote (index files are small; packs are read by range).
        let reads = RemoteReads(remote: remote, cipher: access.opener.cipher)
        let index = try await reads.index()
        let snapshots = try await reads.names(.snapshot)
        var records: [(String, Snapshot)] = []
        for name in snapshots where reference == "latest" || name.hasPrefix(reference.lowercased()) {
            let (snapshot, downloaded) = try await reads.snapshot(name)
            report.bytesDownloaded += Int64(downloaded)
            records.append((name, snapshot))
        }
        let chosen: (String, Snapshot)
        if reference == "latest" {
            guard let last = records.max(by: { ($0.1.time, $0.0) < ($1.1.time, $1.0) }) else { throw StoreError.snapshotNotFound(reference) }
            chosen = last
        } else {
            guard records.count == 1, let only = records.first else {
                throw records.isEmpty ? StoreError.snapshotNotFound(reference) : StoreError.ambiguousSnapshot(reference, candidates: records.map { String($0.0.prefix(8)) })
            }
            chosen = only
        }

        // 2. Walk the trees (local copies first, then ranged reads).
        let localRepo = options.localRepository.flatMap { $0.config.id == access.config.id ? $0 : nil }
        var dirs: [SnapshotEntry] = []
        var files: [PlannedFile] = []
        var links: [SnapshotEntry] = []
        var uses = SubtreeUses()
        // Level by level, so each level's trees come in one coalesced round of ranged reads rather than
        // one request per folder; parents still come before their children.
        var level: [(tree: ObjectID, prefix: String)] = [(chosen.1.tree, "")]
        while !level.isEmpty {
            let trees = try await blobs(Set(level.map { BlobHandle(id: $0.tree, type: .tree) }), index: index, local: localRepo,
                                        options: options, report: &report)
            var next: [(tree: ObjectID, prefix: String)] = []
            for (tree, prefix) in level {
                let loaded: Tree
                do { loaded = try Tree.decode(trees[tree] ?? []) } catch {
                    throw StoreError.corruptObject(path: "\(remote.location) tree \(tree.short)", reason: "\(error)")
                }
                var seen = Set<String>()
                for node in loaded.nodes {
                    let path = prefix.isEmpty ? node.name : prefix + "/" + node.name
                    try validate(node, path: path)
                    guard seen.insert(node.name).inserted else { throw StoreError.corruptObject(path: path, reason: "duplicate name in tree") }
                    switch node.type {
                    case .directory:
                        dirs.append(SnapshotEntry(path: path, node: node))
                        if let sub = node.subtree {
                            try uses.count(sub, at: path)
                            next.append((sub, path))
                        }
                    case .regular: files.append(PlannedFile(path: path, node: node))
                    case .symlink: links.append(SnapshotEntry(path: path, node: node))
                    case .other: break
                    }
                }
            }
            level = next
        }
        // Files stored as archive blobs are assembled from their base's content, then rebuilt by the plan.
        let archiveHandles = Set(files.compactMap(\.node.content.archive))
        if !archiveHandles.isEmpty {
            let archives = try await blobs(archiveHandles, index: index, local: localRepo, options: options, report: &report)
            for i in files.indices {
                guard let handle = files[i].node.content.archive else { continue }
                do { files[i].archive = try ArchiveBlob.decode(archives[handle.id] ?? []) } catch {
                    throw StoreError.corruptObject(path: "\(remote.location) archive \(handle.id.short)", reason: "\(error)")
                }
            }
        }

        // Content lists, a level of one file at a time: the local repository first, then one coalesced
        // round of ranged reads per level, so a file of 100,000 chunks costs six rounds, not 12,000 requests.
        for i in files.indices {
            let node = files[i].node, path = target + "/" + files[i].path
            do {
                var walk = try ContentListWalk(files[i].archive?.base ?? node.content,
                                               size: files[i].archive.map { Int64(clamping: $0.baseSize) } ?? node.size)
                while !walk.pending.isEmpty {
                    var loaded: [ObjectID: ContentList] = [:]
                    var fetch: [BlobHandle] = []
                    for id in Set(walk.pending) {
                        let h = BlobHandle(id: id, type: .list)
                        if let localRepo, (try? localRepo.index.location(of: h)) != nil { loaded[id] = try localRepo.loadList(id) } else { fetch.append(h) }
                    }
                    let fetched = try await fetchCoalesced(fetch, index: index, gap: options.coalesceGap, concurrency: options.concurrency)
                    report.bytesDownloaded += fetched.bytes
                    for (h, bytes) in fetched.blobs {
                        do { loaded[h.id] = try ContentList.decode(bytes) } catch { throw ContentListError(reason: "list \(h.id.short): \(error)") }
                    }
                    try walk.advance(loaded)
                }
                files[i].handles = walk.handles
            } catch let e as ContentListError {
                throw StoreError.corruptObject(path: path, reason: "content list: \(e.reason)")
            }
        }

        // 3. Seeds: cut every file already in the target with the repository's chunker. Temporaries left by
        //    an interrupted run are set aside under another name first, so assembling a file anew cannot
        //    truncate a seed it is still reading from; they are removed once the mirror is complete.
        let setAside = try setAsideTemporaries(target)
        // Stream blobs are small: read them all up front, so their data blobs join the search for seeds.
        var streams: [ObjectID: StreamBlob] = [:]
        let streamBytes = try await blobs(Set(files.flatMap { $0.handles.filter { $0.type == .stream } }), index: index, local: localRepo,
                                          options: options, report: &report)
        for (id, bytes) in streamBytes {
            do { streams[id] = try StreamBlob.decode(bytes) } catch {
                throw StoreError.corruptObject(path: "\(remote.location) stream \(id.short)", reason: "\(error)")
            }
        }
        // Data blobs and streams alike are named by the MAC of their bytes, so one search finds both.
        var needed = Set<ObjectID>()
        for f in files {
            for h in f.handles {
                needed.insert(h.id)
                if h.type == .stream, let stream = streams[h.id] { needed.formUnion(stream.content) }
            }
        }
        var seeds: [ObjectID: Seed] = [:]
        try scanSeeds(target, needed: needed, into: &seeds)

        // 4. Assemble every file as a temporary, with the remote's blobs downloaded in batches ahead of the
        //    writer (bounded: `concurrency` batches of `batchBytes`), seeds and the local repository first.
        let materializer = Materializer(target: target, temporaryPrefix: ".modvault-mirror-")
        // Every link is checked before anything is written, and again as it is created.
        try materializer.check(directories: dirs, files: files.map(\.entry), links: links)
        try materializer.makeDirectories(dirs)
        var finished: [SnapshotEntry] = []
        // Temporaries whose final name holds a file: only these are synced before the renames. A new
        // file replaces nothing, so a crash can tear none of the user's data through it, and the next
        // mirror rewrites it.
        var replacing: [SnapshotEntry] = []
        let plain = ScratchBuffer(), scratch = BlobReadScratch()
        var fetchedIDs = Set<ObjectID>()
        let engine = RecipeEngine()
        var rebuilt: [UInt8] = []

        // A seed may have changed or vanished since it was scanned: its bytes count only if they still match.
        func verifiedSeed(_ id: ObjectID) -> [UInt8]? {
            guard let seed = seeds[id], let bytes = try? OpenFile.openForReading(seed.path).read(count: seed.length, at: seed.offset),
                  access.opener.contentMAC.id(bytes) == id else { return nil }
            return bytes
        }
        func inLocal(_ id: ObjectID) -> Bool {
            guard let localRepo else { return false }
            return (try? localRepo.index.location(of: BlobHandle(id: id, type: .data))) != nil
        }

        // Every data blob the files will need from the remote, once each, in the order they are written:
        // batches of it are downloaded (and opened) ahead of the writer, `concurrency` batches at a time,
        // and dropped once written. A blob needed again later comes from the temporary it was written to.
        var order: [BlobHandle] = []
        var planned = Set<ObjectID>()
        func plan(_ id: ObjectID) {
            guard seeds[id] == nil, !inLocal(id), planned.insert(id).inserted else { return }
            order.append(BlobHandle(id: id, type: .data))
        }
        for f in files {
            for h in f.handles {
                if h.type == .stream, let stream = streams[h.id] {
                    if seeds[h.id] == nil { stream.content.forEach(plan) }
                } else {
                    plan(h.id)
                }
            }
        }
        let batches = try batch(order, index: index, bytes: options.batchBytes)
        var batchOf: [ObjectID: Int] = [:]
        for (i, members) in batches.enumerated() { for h in members { batchOf[h.id] = i } }
        let window = max(1, options.concurrency)
        let totalBytes = files.reduce(Int64(0)) { total, f in
            let (sum, overflow) = total.addingReportingOverflow(max(0, f.node.size))
            return overflow ? .max : sum
        }
        var writtenBytes: Int64 = 0

        try await withThrowingTaskGroup(of: (Int, [(BlobHandle, [UInt8])], Int64, Int).self) { group in
            var arrived: [Int: [ObjectID: [UInt8]]] = [:]
            var started = 0, current = 0

            // The blob from its prefetched batch, waiting for the batch if it is still on its way.
            func prefetched(_ id: ObjectID) async throws -> [UInt8]? {
                guard let k = batchOf[id], k >= current else { return nil }
                while current < k {
                    arrived[current] = nil
                    current += 1
                }
                while started < batches.count, started < k + window {
                    let i = started, members = batches[i]
                    started += 1
                    group.addTask {
                        let got = try await fetchCoalesced(members, index: index, gap: options.coalesceGap, concurrency: 2)
                        return (i, got.blobs, got.bytes, got.requests)
                    }
                }
                while arrived[k] == nil, let (i, blobs, bytes, requests) = try await group.next() {
                    var byID: [ObjectID: [UInt8]] = [:]
                    for (h, b) in blobs { byID[h.id] = b }
                    arrived[i] = byID
                    report.bytesDownloaded += bytes
                    report.objectsDownloaded += requests
                }
                return arrived[k]?[id]
            }

            // Writes data blobs in order: the prefetched batch, then seeds (this run's temporaries among
            // them) and the local repository, and a late request only for a seed that changed under us.
            func emitData(_ ids: [ObjectID], _ sink: (ObjectID, [UInt8]) throws -> Void) async throws {
                for id in ids {
                    if let bytes = try await prefetched(id) {
                        try sink(id, bytes)
                        fetchedIDs.insert(id)
                        continue
                    }
                    if let bytes = verifiedSeed(id) {
                        try sink(id, bytes)
                        report.bytesReused += Int64(bytes.count)
                        continue
                    }
                    let h = BlobHandle(id: id, type: .data)
                    if let localRepo, let l = try localRepo.index.location(of: h) {
                        try localRepo.loadBlob(h, at: l, into: plain, scratch: scratch)
                        try sink(id, plain.array)
                        report.bytesReused += Int64(plain.count)
                        continue
                    }
                    let late = try await fetchCoalesced([h], index: index, gap: 0, concurrency: 1)
                    guard let bytes = late.blobs.first?.1 else { throw StoreError.blobNotIndexed(h) }
                    report.bytesDownloaded += late.bytes
                    report.objectsDownloaded += late.requests
                    try sink(id, bytes)
                }
            }

            // Writes `handles` in order into `out`; bytes written become seeds at `seedPath` when it is given.
            func assemble(_ handles: [BlobHandle], into out: OpenFile, seedPath: String?) async throws {
                var offset: Int64 = 0
                func write(_ id: ObjectID?, _ bytes: [UInt8]) throws {
                    try out.write(bytes)
                    if let id, let seedPath, seeds[id] == nil { seeds[id] = Seed(path: seedPath, offset: offset, length: bytes.count) }
                    offset += Int64(bytes.count)
                }
                var pending: [ObjectID] = []
                for h in handles {
                    guard h.type == .stream, let stream = streams[h.id] else {
                        pending.append(h.id)
                        continue
                    }
                    try await emitData(pending) { try write($0, $1) }
                    pending.removeAll()
                    if let bytes = verifiedSeed(h.id) {
                        try write(nil, bytes)
                        report.bytesReused += Int64(bytes.count)
                        continue
                    }
                    // A stream blob from the remote may lie about its size: check the claim first, then every piece.
                    let label = "\(remote.location) stream \(h.id.short)"
                    try StreamRebuilder.checkClaims(stream, label: label)
                    var content: [UInt8] = []
                    content.reserveCapacity(Int(stream.contentLength))
                    try await emitData(stream.content) { _, piece in
                        try piece.withUnsafeBytes { try StreamRebuilder.append($0, to: &content, declared: stream.contentLength, label: label) }
                    }
                    try StreamRebuilder.rebuild(stream, id: h.id, content: content, into: &rebuilt, engine: engine, mac: access.opener.contentMAC)
                    try write(h.id, rebuilt)
                }
                try await emitData(pending) { try write($0, $1) }
            }

            for f in files {
                let entry = f.entry
                let temporary = materializer.temporary(for: entry.path)
                // Temporaries stay after a failure: the next run reads them as seeds.
                let out = try materializer.create(entry)
                if let archive = f.archive {
                    // The base is assembled beside the file under a temporary's name of its own (so an
                    // interrupted run sets it aside as a seed), rebuilt from, and removed.
                    let baseEntry = SnapshotEntry(path: entry.path + ".modvault-base", node: entry.node)
                    let basePath = materializer.temporary(for: baseEntry.path)
                    let baseFile = try materializer.create(baseEntry)
                    try await assemble(f.handles, into: baseFile, seedPath: nil)
                    let base = try FileRangeReader(file: try OpenFile.openForReading(basePath, noFollow: true))
                    let readBack = try OpenFile.openForReading(temporary, noFollow: true)
                    _ = try ArchiveFiles.write(archive, base: base, into: out, readBack: readBack, engine: engine, label: target + "/" + entry.path)
                    try? FileSystem.remove(basePath)
                } else {
                    try await assemble(f.handles, into: out, seedPath: temporary)
                }
                let replaces = try materializer.status(entry.path) != nil
                try materializer.finish(out, entry: entry, written: try out.status().size, startWriteback: replaces)
                finished.append(entry)
                if replaces { replacing.append(entry) }
                writtenBytes += max(0, entry.node.size)
                // Progress counts the folder's bytes written, so rate and ETA describe the whole job.
                options.progress?(TransferSample(objects: finished.count, totalObjects: files.count, bytes: writtenBytes,
                                                 totalBytes: totalBytes, elapsed: monotonicSeconds() - start0))
            }
        }
        // Every temporary that replaces a file reaches the disk before any is renamed over one.
        try materializer.makeDurable(replacing)
        for entry in finished { try materializer.commit(entry) }
        try materializer.makeLinks(links, replace: true)
        for path in setAside { try? FileSystem.remove(path) }
        if options.deleteExtraneous {
            let keep = Set(files.map(\.path) + dirs.map(\.path) + links.map(\.path))
            try removeExtraneous(target, relative: "", keep: keep)
        }
        try materializer.finishDirectories(dirs)
        report.objectsSkipped = needed.count - fetchedIDs.count
        report.seconds = monotonicSeconds() - start0
        options.progress?(TransferSample(objects: files.count, totalObjects: files.count, bytes: report.bytesDownloaded,
                                         totalBytes: report.bytesDownloaded, elapsed: report.seconds))
        return report
    }

    /// The same rules restore applies to names and links from a possibly hostile tree.
    private func validate(_ node: TreeNode, path: String) throws {
        try EntryName.validate(node.name, at: path)
        if node.type == .symlink { try EntryName.validateLink(node.linkTarget ?? "", at: path) }
    }

    private func scanSeeds(_ dir: String, needed: Set<ObjectID>, into seeds: inout [ObjectID: Seed]) throws {
        for name in (try? FileSystem.list(dir)) ?? [] {
            let path = dir + "/" + name
            guard let st = try? FileSystem.status(path) else { continue }
            if st.type == .directory {
                try scanSeeds(path, needed: needed, into: &seeds)
            } else if st.type == .regular, st.size > 0 {
                guard let file = try? OpenFile.openForReading(path, noFollow: true) else { continue }
                // Cut seeds exactly as a snapshot cuts files, format boundaries included, or their chunks would not match.
                let plan = FormatCuts.plan(for: file, path: path, chunker: access.chunker)
                var cuts = ForcedCuts(plan.cuts)
                let chunker = plan.chunker
                // A compressed stream the snapshot stores as a stream blob is found by the MAC of its bytes.
                for span in plan.streams {
                    guard let bytes = try? file.read(count: span.length, at: span.offset), bytes.count == span.length else { continue }
                    let id = access.opener.contentMAC.id(bytes)
                    if needed.contains(id), seeds[id] == nil { seeds[id] = Seed(path: path, offset: span.offset, length: span.length) }
                }
                var offset: Int64 = 0
                var buffer = [UInt8](repeating: 0, count: max(8 << 20, 2 * access.chunker.parameters.maxSize))
                var filled = 0
                var eof = false
                while true {
                    while !eof && filled < buffer.count {
                        let n = try buffer.withUnsafeMutableBytes { try file.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[filled...])) }
                        if n == 0 { eof = true } else { filled += n }
                    }
                    var consumed = 0
                    buffer.withUnsafeBytes { raw in
                        while consumed < filled && (eof || filled - consumed >= chunker.parameters.maxSize) {
                            let n = chunker.cut(UnsafeRawBufferPointer(rebasing: raw[consumed..<filled]), at: offset, within: &cuts)
                            let id = access.opener.contentMAC.id(UnsafeRawBufferPointer(rebasing: raw[consumed..<(consumed + n)]))
                            if needed.contains(id), seeds[id] == nil { seeds[id] = Seed(path: path, offset: offset, length: n) }
                            consumed += n
                            offset += Int64(n)
                        }
                    }
                    if eof && consumed >= filled { break }
                    buffer.replaceSubrange(0..<consumed, with: [])
                    buffer.append(contentsOf: repeatElement(0, count: consumed))
                    filled -= consumed
                }
            }
        }
    }

    /// Renames every `.modvault-mirror-*` left in `dir` by an interrupted run to `.modvault-seed-*`.
    /// Exactly a temporary's shape (the prefix and 16 lowercase hex digits), so a user's own file
    /// that merely starts with the prefix is never taken for one and deleted.
    static func isTemporary(_ name: String, prefix: String) -> Bool {
        guard name.hasPrefix(prefix) else { return false }
        let rest = name.utf8.dropFirst(prefix.utf8.count)
        return rest.count == 16 && rest.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }
    }

    private func setAsideTemporaries(_ dir: String) throws -> [String] {
        var moved: [String] = []
        for name in (try? FileSystem.list(dir)) ?? [] {
            let path = dir + "/" + name
            guard let st = try? FileSystem.status(path) else { continue }
            if st.type == .directory {
                moved += try setAsideTemporaries(path)
            } else if Self.isTemporary(name, prefix: ".modvault-mirror-") {
                let seed = dir + "/.modvault-seed-" + name.dropFirst(".modvault-mirror-".count)
                if rename(path, seed) == 0 { moved.append(seed) }
            } else if Self.isTemporary(name, prefix: ".modvault-seed-") {
                moved.append(path)
            }
        }
        return moved
    }

    private func removeExtraneous(_ dir: String, relative: String, keep: Set<String>) throws {
        for name in try FileSystem.list(dir) {
            let rel = relative.isEmpty ? name : relative + "/" + name
            let path = dir + "/" + name
            if keep.contains(rel) {
                if FileSystem.isDirectory(path), (try? FileSystem.status(path).type) == .directory {
                    try removeExtraneous(path, relative: rel, keep: keep)
                }
                continue
            }
            _ = try? FileManager.default.removeItem(atPath: path)
        }
    }

    // MARK: Remote reads

    /// The plaintext of `handles`: from the local repository when it has them, the rest in batches
    /// of coalesced ranged reads, `options.concurrency` batches at a time.
    private func blobs(_ handles: Set<BlobHandle>, index: [BlobHandle: BlobLocation], local: Repository?, options: MirrorOptions,
                       report: inout TransferReport) async throws -> [ObjectID: [UInt8]] {
        var out: [ObjectID: [UInt8]] = [:]
        var fetch: [BlobHandle] = []
        for handle in handles {
            if let local, let l = try local.index.location(of: handle) {
                var bytes: [UInt8] = []
                try local.loadBlob(handle, at: l, into: &bytes)
                out[handle.id] = bytes
            } else {
                fetch.append(handle)
            }
        }
        let batches = try batch(fetch.sorted { ($0.id, $0.type.rawValue) < ($1.id, $1.type.rawValue) }, index: index, bytes: options.batchBytes)
        try await withThrowingTaskGroup(of: (blobs: [(BlobHandle, [UInt8])], bytes: Int64, requests: Int).self) { group in
            var started = 0
            func start() {
                guard started < batches.count else { return }
                let handles = batches[started]
                started += 1
                // Trees and stream blobs are small and lie between data blobs: any gap would download the
                // data around them, which an incremental mirror mostly has already. Only adjacent ones merge.
                group.addTask { try await fetchCoalesced(handles, index: index, gap: 0, concurrency: 2) }
            }
            for _ in 0..<max(1, options.concurrency) { start() }
            while let done = try await group.next() {
                for (h, bytes) in done.blobs { out[h.id] = bytes }
                report.bytesDownloaded += done.bytes
                report.objectsDownloaded += done.requests
                start()
            }
        }
        return out
    }

    /// Splits `handles` (in the order given) into batches of about `bytes` sealed bytes each.
    private func batch(_ handles: [BlobHandle], index: [BlobHandle: BlobLocation], bytes: Int64) throws -> [[BlobHandle]] {
        var batches: [[BlobHandle]] = []
        var current: [BlobHandle] = []
        var size: Int64 = 0
        for handle in handles {
            guard let location = index[handle] else { throw StoreError.blobNotIndexed(handle) }
            if !current.isEmpty, size + location.length > bytes || current.count >= 4096 {
                batches.append(current)
                current = []
                size = 0
            }
            current.append(handle)
            size += location.length
        }
        if !current.isEmpty { batches.append(current) }
        return batches
    }

    /// Fetches blobs with one ranged request per run of neighbours in a pack (gaps up to `gap` are read and discarded).
    private func fetchCoalesced(_ handles: [BlobHandle], index: [BlobHandle: BlobLocation], gap: Int64, concurrency: Int)
        async throws -> (blobs: [(BlobHandle, [UInt8])], bytes: Int64, requests: Int) {
        var byPack: [ObjectID: [(BlobHandle, BlobLocation)]] = [:]
        for h in handles {
            guard let l = index[h] else { throw StoreError.blobNotIndexed(h) }
            byPack[l.pack, default: []].append((h, l))
        }
        var ranges: [(ObjectID, Range<Int64>, [(BlobHandle, BlobLocation)])] = []
        for (pack, items) in byPack {
            let sorted = items.sorted { $0.1.offset < $1.1.offset }
            var current: [(BlobHandle, BlobLocation)] = []
            var lower: Int64 = 0, upper: Int64 = 0
            for item in sorted {
                if !current.isEmpty && item.1.offset - upper <= gap {
                    current.append(item)
                    upper = max(upper, item.1.offset + item.1.length)
                } else {
                    if !current.isEmpty { ranges.append((pack, lower..<upper, current)) }
                    current = [item]
                    lower = item.1.offset
                    upper = item.1.offset + item.1.length
                }
            }
            if !current.isEmpty { ranges.append((pack, lower..<upper, current)) }
        }
        let remote = access.remote, opener = access.opener
        let results = ResultsBox()
        try await forEachBounded(ranges.map { RangeJob(pack: $0.0, range: $0.1, items: $0.2) }, limit: max(1, concurrency)) { job in
            let bytes = try await remote.load(ObjectName(kind: .pack, id: job.pack), range: job.range)
            guard Int64(bytes.count) == job.range.count else {
                throw SyncError.corruptDownload(remote: remote.location, object: ObjectName(kind: .pack, id: job.pack).relativePath, reason: "short range read")
            }
            let plain = ScratchBuffer(), scratch = BlobReadScratch()
            var out: [(BlobHandle, [UInt8])] = []
            try bytes.withUnsafeBytes { raw in
                for (h, l) in job.items {
                    let start = Int(l.offset - job.range.lowerBound)
                    try opener.open(h, sealed: UnsafeRawBufferPointer(rebasing: raw[start..<(start + Int(l.length))]), location: l,
                                    packPath: "\(remote.location)/\(ObjectName(kind: .pack, id: job.pack).relativePath)", into: plain, scratch: scratch)
                    out.append((h, plain.array))
                }
            }
            results.add(out, bytes: Int64(bytes.count))
        }
        let (blobs, bytes) = results.take()
        return (blobs, bytes, ranges.count)
    }
}

private struct RangeJob: @unchecked Sendable {
    let pack: ObjectID
    let range: Range<Int64>
    let items: [(BlobHandle, BlobLocation)]
}

private final class ResultsBox: @unchecked Sendable {
    private let lock = NSLock()
    private var blobs: [(BlobHandle, [UInt8])] = []
    private var bytes: Int64 = 0

    func add(_ items: [(BlobHandle, [UInt8])], bytes n: Int64) {
        lock.lock()
        blobs += items
        bytes += n
        lock.unlock()
    }

    func take() -> ([(BlobHandle, [UInt8])], Int64) {
        lock.lock()
        defer { lock.unlock() }
        return (blobs, bytes)
    }
}
