import Foundation
public import ModVaultCore
public import ModVaultStore
import ModVaultChunking
import ModVaultFormats

/// Options for one snapshot run.
public struct SnapshotOptions: Sendable {
    /// Tags recorded in the snapshot.
    public var tags: [String] = []
    /// Explicit parent; by default the latest snapshot of the same source path.
    public var parent: String? = nil
    /// Read every file even when its metadata matches the parent.
    public var forceRead = false
    /// Parallel hashing/compression/encryption tasks.
    public var workers = max(2, ProcessInfo.processInfo.activeProcessorCount)
    /// Receives progress samples.
    public var progress: ProgressHandler? = nil
    /// Cut chunks at format boundaries (BA2 members and tables, DDS mips, plugin records).
    public var formatAware = true
    /// When new compressed streams are stored decompressed with a recipe (format-aware runs only).
    public var normalize = NormalizePolicy.auto
    /// CPU seconds `.auto` may spend searching for recipes; streams after that are stored as they are.
    public var normalizeBudget = 120.0
    /// Seconds to keep retrying while prune holds the repository lock.
    public var lockWait: Double = 0
    /// Receives notes such as adopted packs from an interrupted run.
    public var notice: (@Sendable (String) -> Void)? = nil
    /// Treat a file as unchanged when its size and modification time (to the nanosecond) match the
    /// parent, whatever its inode and ctime. Sync sets it: the files it writes get the snapshot's times
    /// but new inodes, and must not be read again.
    public var sizeAndTimeSuffice = false
    /// Names left out at the top of the source folder (sync's own `.modvault` folder).
    public var excludedRootNames: Set<String> = []
    /// Names with this prefix are left out at any depth (sync's temporaries).
    public var excludedPrefix: String? = nil
    /// Return each entry's on-disk status as scanned in `SnapshotResult.statuses` (sync sets it, to
    /// tell later whether a file changed since: trees hold no inode or ctime).
    public var recordStatuses = false
    /// Called with the new root tree before the snapshot is saved; returning true skips saving it
    /// (sync asks this when the folder holds the same content as its parent).
    public var skipSaving: (@Sendable (ObjectID) throws -> Bool)? = nil

    /// Default options.
    public init() {}
}

/// The outcome of a snapshot run.
public struct SnapshotResult: Sendable {
    /// The new snapshot.
    public var record: SnapshotRecord
    /// Entries that could not be read (the snapshot holds everything else).
    public var warnings: [OperationWarning]
    /// What happened to compressed streams.
    public var streams: StreamStatistics
    /// The root tree written, which `record` names unless saving was skipped.
    public var tree: ObjectID
    /// False when `SnapshotOptions.skipSaving` declined the snapshot: `record` is then the parent's.
    public var saved = true
    /// Every entry's status as scanned, by path relative to the source, when
    /// `SnapshotOptions.recordStatuses` asked for it.
    public var statuses: [String: FileStatus] = [:]
}

/// Walks a folder and stores it as a snapshot: scan, then stream file contents through
/// chunk → MAC → compress → encrypt on a bounded task group, then write trees bottom-up.
public struct Archiver: Sendable {
    /// The repository written to.
    public let repository: Repository

    /// Creates an archiver.
    public init(repository: Repository) { self.repository = repository }

    /// Snapshots the folder at `source`.
    public func snapshot(source rawSource: String, options: SnapshotOptions = .init()) async throws -> SnapshotResult {
        let start = monotonicSeconds()
        let startDate = Date()
        let startNanos = Int64((startDate.timeIntervalSince1970 * 1e9).rounded(.down))
        let source = FileSystem.absolute(rawSource)
        guard FileSystem.isDirectory(source) else { throw ArchiveError.sourceMissing(path: source) }
        // Shared: concurrent snapshots are fine; only prune (exclusive) must not run meanwhile.
        let lock = try RepositoryLock.acquire(repository, exclusive: false, operation: "snapshot", wait: options.lockWait)
        defer { lock.release() }
        // The index cache was read when the repository was opened, possibly while a prune was still
        // deleting; deduplicating against that view could reference deleted data. Under the lock the
        // index files cannot change underneath, so bring the cache in line with them now.
        try repository.synchronizeIndex()
        // Packs written by an interrupted run are indexed now, so their chunks are not stored again.
        let adopted = try repository.adoptUnindexedPacks { pack, error in
            options.notice?("skipping unreadable pack \(pack.short): \(error)")
        }
        if adopted > 0 { options.notice?("adopted \(adopted) packs left by an interrupted run") }

        let parent: SnapshotRecord?
        if let explicit = options.parent, explicit.utf8.count == 64, let id = ObjectID(hex: explicit) {
            // A full ID (sync names its head this way) needs no listing of every snapshot.
            parent = SnapshotRecord(id: id, snapshot: try repository.loadSnapshot(id))
        } else if let explicit = options.parent {
            parent = try repository.resolveSnapshot(explicit)
        } else {
            parent = try repository.snapshots().last { $0.snapshot.paths == [source] }
        }

        var scan = Scan(repository: repository, forceRead: options.forceRead)
        scan.sizeAndTimeSuffice = options.sizeAndTimeSuffice
        scan.excludedRootNames = options.excludedRootNames
        scan.excludedPrefix = options.excludedPrefix
        let root = try scan.scanRoot(source, parentTree: parent?.snapshot.tree)
        let writer = BlobWriter(repository: repository)
        let ledger = StreamLedger(budget: options.normalize == .auto ? options.normalizeBudget : .infinity)
        let streamContext = StreamContext(
            writer: writer, mac: repository.contentMAC, ledger: ledger,
            lookUp: try repository.index.hasBlobs(ofType: .stream),
            normalizeNew: options.normalize == .all || (options.normalize == .auto && parent != nil),
            alwaysNormalize: options.normalize == .all,
            link: options.normalize != .none,
            sources: ObjectPool { [repository] in StreamRebuilder(repository: repository) })
        // Streams noted by this run become candidates only once their packs are written and indexed.
        var committed = false
        defer { if !committed { repository.streamKeys.discardPending() } }
        let contentStats = try await storeContents(scan: &scan, writer: writer, streams: streamContext, options: options, start: start)
        let treeID = try writeTrees(root, writer: writer)
        try writer.flush()

        var summary = scan.summary
        summary.bytesRead = contentStats.bytesRead
        summary.bytesAdded = writer.bytesAdded
        summary.blobsAdded = writer.blobsAdded
        summary.errors = scan.warnings.count
        summary.seconds = monotonicSeconds() - start
        let streamStatistics = ledger.statistics
        if streamStatistics.total > 0 || streamStatistics.repacked > 0 { summary.streams = streamStatistics }
        let snapshot = Snapshot(time: startDate, host: Host.name, username: Host.user, device: DeviceID.current(),
                                paths: [source], tags: options.tags, parents: parent.map { [$0.id] } ?? [],
                                tree: treeID, summary: summary)
        let observed = scan.observedEntries(root, scanStartNanos: startNanos)
        let statuses = options.recordStatuses ? Scan.statuses(root) : [:]
        if let parent, let skip = options.skipSaving, try skip(treeID) {
            repository.fileStats.replace(under: source, previous: scan.known, current: observed)
            return SnapshotResult(record: parent, warnings: scan.warnings, streams: streamStatistics, tree: treeID, saved: false,
                                  statuses: statuses)
        }
        // The snapshot makes its packs reachable; if the lock was lost, a prune may have removed some.
        try lock.ensureHeld()
        let id = try repository.saveSnapshot(snapshot)
        repository.streamKeys.commit()
        repository.fileStats.replace(under: source, previous: scan.known, current: observed)
        committed = true
        return SnapshotResult(record: SnapshotRecord(id: id, snapshot: snapshot), warnings: scan.warnings, streams: streamStatistics, tree: treeID,
                              statuses: statuses)
    }

    // MARK: Contents

    private struct ContentStats { var bytesRead: Int64 = 0 }

    private struct ChunkResult: Sendable {
        var file: Int
        var chunk: Int
        var handles: [BlobHandle]
        /// The content key of the stream this chunk starts, when chunked in line.
        var key: ObjectID? = nil
        /// Bytes the task may hold at its peak, counted against `wholeSpanBudget` (whole spans only).
        var held = 0
    }

    /// Whole streams and texture surfaces in flight at once hold at most this many bytes (compressed plus
    /// decompressed), one span always allowed: a count of tasks alone would let peak memory follow the
    /// largest members of the folder, not a bound.
    static let wholeSpanBudget = 48 << 20
    /// A read buffer grown past this (four average chunks) is released after use, not pooled, so the
    /// pool never keeps the largest chunk's or span's size per buffer.
    static let pooledBufferLimit = 4 << 20

    /// A stream chunked in line: its chunks' indices in the file, for noting it once they are stored.
    private struct InlineStream {
        var span: StreamSpan
        var first: Int
        var last: Int?
    }

    /// What a task reads whole before storing it.
    private enum WholeSpan {
        case stream(StreamSpan)
        /// The surfaces of a loose texture, from `start` to the end of the file.
        case surfaces(start: Int64, boundaries: [Int])
    }

    private func storeContents(scan: inout Scan, writer: BlobWriter, streams: StreamContext, options: SnapshotOptions,
                               start: Double) async throws -> ContentStats {
        let files = scan.filesToRead
        let totalBytes = files.reduce(Int64(0)) { $0 + $1.status.size }
        let chunker = repository.chunker
        let mac = repository.contentMAC
        let buffers = ObjectPool<ByteBuffer> { ByteBuffer() }
        let sealers = ObjectPool<BlobSealer> { writer.makeSealer() }
        let engines = ObjectPool<RecipeEngine> { RecipeEngine() }
        let denseSealers = ObjectPool<BlobSealer> { writer.makeDenseSealer() }
        let window = max(2, options.workers * 2)
        var stats = ContentStats()
        var lastReport = 0.0
        var filesDone = 0
        var chunkCounts = [Int](repeating: -1, count: files.count)
        var received = [Int](repeating: 0, count: files.count)
        var contents = [[[BlobHandle]]](repeating: [], count: files.count)
        var inlineStreams = [[InlineStream]](repeating: [], count: files.count)
        var inlineKeys: [Int: [Int: ObjectID]] = [:]

        // Archives repacked since the parent are stored first, each as one archive blob; the rest
        // (and any archive that turns out not to be a repack) are read and chunked below.
        let repacks = streams.link && streams.normalizeNew
            ? try await storeRepacks(files, writer: writer, streams: streams, engines: engines, sealers: sealers, workers: options.workers)
            : [:]
        for (i, size) in repacks {
            contents[i] = [[BlobHandle(id: size.blob, type: .archive)]]
            chunkCounts[i] = 1
            received[i] = 1
            filesDone += 1
            stats.bytesRead += size.bytes
            files[i].status.size = size.bytes
        }

        // Reading and chunking happen here; MAC, compression and encryption run in child tasks.
        let reader = ChunkReader(chunker: chunker)
        // When no stream can be looked up or decompressed (a first snapshot), streams are only bytes:
        // they are chunked in line like the rest (their cut points are the same either way), which
        // keeps memory at one chunk per task instead of one whole stream.
        let streamsInline = !streams.lookUp && !streams.normalizeNew

        try await withThrowingTaskGroup(of: ChunkResult.self) { group in
            var inFlight = 0
            var heldInFlight = 0
            func collect(_ r: ChunkResult) {
                inFlight -= 1
                heldInFlight -= r.held
                contents[r.file][r.chunk] = r.handles
                if let key = r.key { inlineKeys[r.file, default: [:]][r.chunk] = key }
                received[r.file] += 1
                if received[r.file] == chunkCounts[r.file] { filesDone += 1 }
            }

            for (fileIndex, file) in files.enumerated() where repacks[fileIndex] == nil {
                var chunkIndex = 0
                var fileBytes: Int64 = 0
                do {
                    let handle = try OpenFile.openForReading(file.path, noFollow: true)
                    let before = try handle.status()
                    let plan = options.formatAware ? FormatCuts.plan(for: handle, path: file.path, chunker: chunker) : FormatPlan(chunker: chunker)
                    reader.reset(handle, boundaries: plan.cuts, chunker: plan.chunker)
                    if streamsInline && !plan.streams.isEmpty {
                        let count = plan.streams.count, bytes = plan.streams.reduce(Int64(0)) { $0 + Int64($1.length) }
                        streams.ledger.record {
                            $0.kept += count
                            $0.keptBytes += bytes
                        }
                    }
                    var nextStream = 0
                    // A loose texture's surfaces are read whole when a stored stream may hold their content.
                    var surfaces: WholeSpan?
                    if !streamsInline, streams.link, plan.format == .dds, let first = plan.surfaces.first,
                       before.size - first <= Int64(StreamStorer.maximumSurfaceBytes), before.size - first >= Int64(StreamKeyCache.prefixLength) {
                        surfaces = .surfaces(start: first, boundaries: plan.surfaces.map { Int($0 - first) })
                    }
                    while true {
                        while nextStream < plan.streams.count && plan.streams[nextStream].offset < reader.position { nextStream += 1 }
                        let startsStream = nextStream < plan.streams.count && plan.streams[nextStream].offset == reader.position
                        // A compressed stream, or a texture's surfaces, is read whole and stored by a task of its own.
                        var whole: WholeSpan?
                        if startsStream && !streamsInline {
                            whole = .stream(plan.streams[nextStream])
                            nextStream += 1
                        } else if case .surfaces(let start, _) = surfaces, start == reader.position {
                            whole = surfaces
                            surfaces = nil
                        }
                        if let whole {
                            let length: Int, held: Int
                            switch whole {
                            case .stream(let span):
                                // The stream and its content (a stored stream it is compared with decodes
                                // through a small window).
                                length = span.length
                                held = span.length + Int(clamping: span.rawSize)
                            case .surfaces(let start, _):
                                length = Int(before.size - start)
                                held = length
                            }
                            while heldInFlight > 0, heldInFlight + held > Self.wholeSpanBudget, let r = try await group.next() { collect(r) }
                            let job = buffers.take()
                            let complete = try reader.read(exactly: length, into: &job.bytes)
                            stats.bytesRead += Int64(job.bytes.count)
                            fileBytes += Int64(job.bytes.count)
                            let index = chunkIndex
                            chunkIndex += 1
                            contents[fileIndex].append([])
                            while inFlight >= window, let r = try await group.next() { collect(r) }
                            inFlight += 1
                            heldInFlight += held
                            let fileChunker = plan.chunker
                            let cuts = plan.cuts
                            group.addTask {
                                let sealer = sealers.take()
                                let denseSealer = denseSealers.take()
                                let engine = engines.take()
                                defer {
                                    sealers.give(sealer)
                                    denseSealers.give(denseSealer)
                                    engines.give(engine)
                                    job.release(above: Self.pooledBufferLimit)
                                    buffers.give(job)
                                }
                                // Bytes cut short by a shrinking file are just bytes; the scan reports the change.
                                let context = complete ? streams : streams.keepingOnly
                                let handles = try job.bytes.withUnsafeBytes { raw -> [BlobHandle] in
                                    switch whole {
                                    case .stream(let span):
                                        return try StreamStorer.store(raw, span: span, chunker: fileChunker, context: context, sealer: sealer,
                                                                      denseSealer: denseSealer, engine: engine)
                                    case .surfaces(let start, let boundaries):
                                        let relativeCuts = cuts.map { $0 - start }
                                        return try StreamStorer.storeSurfaces(raw, boundaries: complete ? boundaries : [], cuts: relativeCuts,
                                                                              chunker: fileChunker, context: context, sealer: sealer, engine: engine)
                                    }
                                }
                                return ChunkResult(file: fileIndex, chunk: index, handles: handles, held: held)
                            }
                            reportProgress()
                            continue
                        }
                        // In line, a stream's chunks are stored like any others; its first chunk gives its content key.
                        let keySpan = startsStream && streams.link
                            && StreamStorer.worthKeying(length: plan.streams[nextStream].length, rawSize: plan.streams[nextStream].rawSize)
                            ? plan.streams[nextStream] : nil
                        if let keySpan { inlineStreams[fileIndex].append(InlineStream(span: keySpan, first: chunkIndex, last: nil)) }
                        guard let chunk = try reader.next() else { break }
                        if let open = inlineStreams[fileIndex].indices.last, inlineStreams[fileIndex][open].last == nil,
                           reader.position >= inlineStreams[fileIndex][open].span.offset + Int64(inlineStreams[fileIndex][open].span.length) {
                            inlineStreams[fileIndex][open].last = chunkIndex
                        }
                        let job = buffers.take()
                        job.bytes.removeAll(keepingCapacity: true)
                        job.bytes.append(contentsOf: chunk)
                        stats.bytesRead += Int64(chunk.count)
                        fileBytes += Int64(chunk.count)
                        let index = chunkIndex
                        chunkIndex += 1
                        contents[fileIndex].append([])
                        while inFlight >= window, let r = try await group.next() { collect(r) }
                        inFlight += 1
                        group.addTask {
                            let sealer = sealers.take()
                            defer {
                                sealers.give(sealer)
                                job.release(above: Self.pooledBufferLimit)
                                buffers.give(job)
                            }
                            return try job.bytes.withUnsafeBytes { raw in
                                let id = mac.id(raw)
                                try writer.store(BlobHandle(id: id, type: .data), plaintext: raw, sealer: sealer)
                                var key: ObjectID?
                                if let keySpan {
                                    let engine = engines.take()
                                    key = streams.prefixKey(compressed: raw, length: keySpan.length, rawSize: keySpan.rawSize, engine: engine)
                                    engines.give(engine)
                                }
                                return ChunkResult(file: fileIndex, chunk: index, handles: [BlobHandle(id: id, type: .data)], key: key)
                            }
                        }
                        reportProgress()
                    }
                    let after = try handle.status()
                    if after.size != before.size || after.mtimeNanos != before.mtimeNanos {
                        scan.warn(file, "changed while being read; stored as read")
                    }
                    // The stored size is what was read, so size and content always agree.
                    file.status.size = fileBytes
                } catch let error as SystemCallError {
                    // Chunks already submitted still finish; the file is left out of the snapshot.
                    scan.fail(file, message: error.description)
                }
                chunkCounts[fileIndex] = chunkIndex
                if received[fileIndex] == chunkIndex { filesDone += 1 }
                reportProgress()
            }
            while let r = try await group.next() { collect(r) }
        }
        let listSealer = writer.makeSealer()
        for (i, file) in files.enumerated() where !file.failed {
            file.content = try writer.storeContent(contents[i].flatMap { $0 }, sealer: listSealer)
            for stream in inlineStreams[i] {
                guard let last = stream.last, let key = inlineKeys[i]?[stream.first], last < contents[i].count else { continue }
                streams.noteKept(key: key, rawSize: stream.span.rawSize, storedLength: stream.span.length,
                                 blobs: contents[i][stream.first...last].flatMap { $0 }.map(\.id))
            }
        }
        options.progress?(ProgressSample(files: files.count, totalFiles: files.count, bytes: stats.bytesRead,
                                         totalBytes: totalBytes, elapsed: monotonicSeconds() - start))
        return stats

        func reportProgress() {
            let now = monotonicSeconds()
            if let progress = options.progress, now - lastReport > 0.2 {
                lastReport = now
                progress(ProgressSample(files: filesDone, totalFiles: files.count, bytes: stats.bytesRead,
                                        totalBytes: totalBytes, elapsed: now - start))
            }
        }
    }

    /// Stores each changed BA2 that is a repack of its version in the parent (same members, streams
    /// recompressed) as one archive blob naming that version's content, in parallel. Returns, by index
    /// in `files`, the blob and the bytes read; files not listed are stored the usual way.
    private func storeRepacks(_ files: [ScanNode], writer: BlobWriter, streams: StreamContext, engines: ObjectPool<RecipeEngine>,
                              sealers: ObjectPool<BlobSealer>, workers: Int) async throws -> [Int: (blob: ObjectID, bytes: Int64)] {
        // A file read again with its size and time unchanged (`--force`, a lost file cache) is no repack,
        // but may be the very archive its previous version stored as one.
        let candidates = files.indices.compactMap { i -> (Int, TreeNode, touched: Bool)? in
            guard let previous = files[i].previous, previous.size > 0, files[i].status.size >= 24,
                  files[i].name.lowercased().hasSuffix(".ba2") else { return nil }
            let touched = previous.size != files[i].status.size || previous.mtimeNanos != files[i].status.mtimeNanos
            return touched || previous.content.archive != nil ? (i, previous, touched) : nil
        }
        guard !candidates.isEmpty else { return [:] }
        let repository = self.repository
        var stored: [Int: (blob: ObjectID, bytes: Int64)] = [:]
        try await withThrowingTaskGroup(of: (Int, ObjectID, Int64)?.self) { group in
            var inFlight = 0
            for (i, previous, touched) in candidates {
                let path = files[i].path
                if inFlight >= max(1, workers), let r = try await group.next() {
                    inFlight -= 1
                    if let (index, blob, bytes) = r { stored[index] = (blob, bytes) }
                }
                inFlight += 1
                group.addTask {
                    guard streams.ledger.withinBudget, let file = try? OpenFile.openForReading(path, noFollow: true),
                          let before = try? file.status(), let reader = try? FileRangeReader(file: file) else { return nil }
                    // The file's SHA-256, read once whichever check needs it first.
                    var digest: ObjectID?
                    func fileDigest() -> ObjectID? {
                        if digest == nil { digest = try? ArchiveFiles.digest(of: file, size: reader.size) }
                        return digest
                    }
                    // A version that was itself a repack is read through its own base, so no chain forms.
                    var base = previous.content, baseSize = UInt64(previous.size)
                    if let archive = base.archive {
                        guard let blob = try? repository.loadArchive(archive.id) else { return nil }
                        if blob.size == reader.size, fileDigest() == blob.digest { return (i, archive.id, Int64(reader.size)) }
                        base = blob.base
                        baseSize = blob.baseSize
                    }
                    guard touched else { return nil }
                    let engine = engines.take()
                    defer { engines.give(engine) }
                    let started = monotonicSeconds()
                    // Anything unreadable or unlike a repack just means the archive is stored the usual way.
                    let plan = try? BA2Repack.derive(base: SnapshotFileReader(repository: repository, content: base, size: baseSize, path: path),
                                                     new: reader, engine: engine, path: path, withinBudget: { streams.ledger.withinBudget })
                    let spent = monotonicSeconds() - started
                    streams.ledger.record { $0.recipeSeconds += spent }
                    guard let plan, let after = try? file.status(), after.size == before.size, after.mtimeNanos == before.mtimeNanos,
                          let digest = fileDigest() else { return nil }
                    let blob = ArchiveBlob(kind: .ba2Repack, base: base, baseSize: baseSize, size: reader.size, digest: digest,
                                           plan: plan.encoded())
                    let plaintext = blob.encoded()
                    let sealer = sealers.take()
                    defer { sealers.give(sealer) }
                    let id = try plaintext.withUnsafeBytes { raw in
                        let id = repository.contentMAC.id(raw)
                        try writer.store(BlobHandle(id: id, type: .archive), plaintext: raw, sealer: sealer)
                        return id
                    }
                    streams.ledger.record { $0.repacked += 1 }
                    return (i, id, Int64(reader.size))
                }
            }
            while let r = try await group.next() {
                if let (index, blob, bytes) = r { stored[index] = (blob, bytes) }
            }
        }
        return stored
    }

    // MARK: Trees

    private func writeTrees(_ dir: ScanNode, writer: BlobWriter) throws -> ObjectID {
        let sealer = writer.makeSealer()
        func write(_ node: ScanNode) throws -> ObjectID {
            var nodes: [TreeNode] = []
            nodes.reserveCapacity(node.children.count)
            for child in node.children where !child.failed {
                var tn = child.treeNode
                if child.status.type == .directory { tn.subtree = try write(child) }
                nodes.append(tn)
            }
            let bytes = Tree(nodes: nodes).encoded()
            return try bytes.withUnsafeBytes { raw in
                let id = repository.contentMAC.id(raw)
                try writer.store(BlobHandle(id: id, type: .tree), plaintext: raw, sealer: sealer)
                return id
            }
        }
        return try write(dir)
    }
}
