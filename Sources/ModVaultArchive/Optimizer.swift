import Foundation
public import ModVaultCore
public import ModVaultStore
import ModVaultChunking
import ModVaultFormats

/// Options for `Optimizer.optimize`.
public struct OptimizeOptions: Sendable {
    /// CPU seconds to spend finding recipes; streams after that stay as they are for a later run.
    public var budget = Double.infinity
    /// Seconds to keep retrying while another process holds the repository lock.
    public var lockWait: Double = 0

    /// Default options: no time limit.
    public init() {}
}

/// What one `optimize` run did to one snapshot.
public struct OptimizeReport: Sendable, Codable {
    /// The snapshot optimised.
    public var snapshot: ObjectID
    /// The snapshot that replaced it, or nil when nothing changed.
    public var replacement: ObjectID?
    /// Files whose content list changed.
    public var filesRewritten = 0
    /// What happened to the streams found.
    public var streams = StreamStatistics()
    /// Streams left as they are because the time budget ran out.
    public var streamsLeft = 0
    /// Bytes added to the repository.
    public var bytesAdded: Int64 = 0
    /// Seconds taken.
    public var seconds = 0.0
}

/// Stores the compressed streams of an existing snapshot decompressed, with recipes, reading them from
/// the repository, and replaces the snapshot with one whose files refer to the stream blobs.
///
/// This is the deferred half of `--normalize`: a first snapshot keeps streams as they are so it runs
/// at full speed, and `optimize` converts them later, within a time budget. Snapshots after it find
/// the streams by their IDs, so repacks and loose copies of those textures dedupe. The replaced
/// snapshot's compressed copies become unused, for `prune` to free, unless other snapshots use them.
public struct Optimizer: Sendable {
    /// The repository changed.
    public let repository: Repository

    /// Creates an optimizer.
    public init(repository: Repository) { self.repository = repository }

    /// Optimises `record` and returns what it did.
    public func optimize(_ record: SnapshotRecord, options: OptimizeOptions = .init()) async throws -> OptimizeReport {
        let start = monotonicSeconds()
        // Exclusive: the old snapshot is deleted at the end, which must not happen under a restore.
        let lock = try RepositoryLock.acquire(repository, exclusive: true, operation: "optimize", wait: options.lockWait)
        defer { lock.release() }
        try repository.synchronizeIndex()
        var report = OptimizeReport(snapshot: record.id)
        let writer = BlobWriter(repository: repository)
        let ledger = StreamLedger(budget: options.budget)
        let context = StreamContext(writer: writer, mac: repository.contentMAC, ledger: ledger, lookUp: true,
                                    normalizeNew: true, alwaysNormalize: true, link: false,
                                    sources: ObjectPool { [repository] in StreamRebuilder(repository: repository) })
        var rewriter = Rewriter(repository: repository, context: context)
        let tree = try await rewriter.rewrite(tree: record.snapshot.tree)
        try writer.flush()
        report.filesRewritten = rewriter.filesRewritten
        report.streamsLeft = rewriter.streamsLeft
        report.streams = ledger.statistics
        report.bytesAdded = writer.bytesAdded
        if tree != record.snapshot.tree {
            var snapshot = record.snapshot
            snapshot.tree = tree
            let id = try repository.saveSnapshot(snapshot)
            // The replacement exists before the original goes: a crash in between leaves both, never neither.
            if id != record.id { try repository.removeSnapshot(record.id) }
            report.replacement = id
        }
        report.seconds = monotonicSeconds() - start
        return report
    }
}

/// Rewrites trees bottom-up, each distinct tree once; the streams of a file are converted on a
/// bounded task group, a window of them in memory at a time.
private struct Rewriter {
    let repository: Repository
    let context: StreamContext
    let sealers: ObjectPool<BlobSealer>
    let denseSealers: ObjectPool<BlobSealer>
    let engines = ObjectPool<RecipeEngine> { RecipeEngine() }
    let window = 2 * max(2, ProcessInfo.processInfo.activeProcessorCount)
    var rewritten: [ObjectID: ObjectID] = [:]
    var filesRewritten = 0
    var streamsLeft = 0

    init(repository: Repository, context: StreamContext) {
        self.repository = repository
        self.context = context
        let writer = context.writer
        sealers = ObjectPool { writer.makeSealer() }
        denseSealers = ObjectPool { writer.makeDenseSealer() }
    }

    mutating func rewrite(tree id: ObjectID) async throws -> ObjectID {
        if let done = rewritten[id] { return done }
        var tree = try repository.loadTree(id)
        var changed = false
        for i in tree.nodes.indices {
            switch tree.nodes[i].type {
            case .directory:
                guard let sub = tree.nodes[i].subtree else { continue }
                let new = try await rewrite(tree: sub)
                if new != sub {
                    tree.nodes[i].subtree = new
                    changed = true
                }
            case .regular:
                if let content = try await rewrite(file: tree.nodes[i]) {
                    tree.nodes[i].content = content
                    filesRewritten += 1
                    changed = true
                }
            default:
                break
            }
        }
        var result = id
        if changed {
            let bytes = tree.encoded()
            result = repository.contentMAC.id(bytes)
            let sealer = sealers.take()
            defer { sealers.give(sealer) }
            try bytes.withUnsafeBytes { _ = try context.writer.store(BlobHandle(id: result, type: .tree), plaintext: $0, sealer: sealer) }
        }
        rewritten[id] = result
        return result
    }

    /// The file's new content list, or nil when none of its streams changed form.
    mutating func rewrite(file node: TreeNode) async throws -> FileContent? {
        let original = try repository.contentHandles(node, path: node.name)
        guard original.contains(where: { $0.type == .data }) else { return nil }
        let reader = try SnapshotFileReader(repository: repository, node: node)
        let format = FormatSegmenter.detect(reader)
        guard format == .ba2General || format == .ba2Textures || format == .plugin else { return nil }
        let plan = FormatCuts.plan(for: reader, path: node.name, chunker: repository.chunker)
        guard !plan.streams.isEmpty else { return nil }

        // Where each piece of the content starts (and the end), so a stream maps onto whole pieces.
        let starts = (reader.pieceOffsets + [reader.size]).map { Int64($0) }
        var candidates: [(range: Range<Int>, span: StreamSpan)] = []
        for span in plan.streams {
            // Only a stream stored as whole data pieces (cut as snapshots cut streams) can be replaced.
            guard let first = starts.firstIndex(of: span.offset), let last = starts.firstIndex(of: span.offset + Int64(span.length)),
                  first < last, original[first..<last].allSatisfy({ $0.type == .data }) else { continue }
            candidates.append((first..<last, span))
        }
        var replacements: [(range: Range<Int>, handles: [BlobHandle])] = []
        let context = self.context, sealers = self.sealers, denseSealers = self.denseSealers, engines = self.engines
        let chunker = plan.chunker
        var left = 0
        try await withThrowingTaskGroup(of: (Range<Int>, [BlobHandle]).self) { group in
            var inFlight = 0
            for candidate in candidates {
                guard context.ledger.withinBudget else {
                    left += 1
                    continue
                }
                let bytes = try reader.read(offset: UInt64(candidate.span.offset), count: candidate.span.length)
                if inFlight >= window, let done = try await group.next() {
                    replacements.append((done.0, done.1))
                    inFlight -= 1
                }
                inFlight += 1
                group.addTask {
                    let sealer = sealers.take(), denseSealer = denseSealers.take(), engine = engines.take()
                    defer {
                        sealers.give(sealer)
                        denseSealers.give(denseSealer)
                        engines.give(engine)
                    }
                    let handles = try bytes.withUnsafeBytes {
                        try StreamStorer.store($0, span: candidate.span, chunker: chunker, context: context, sealer: sealer,
                                               denseSealer: denseSealer, engine: engine)
                    }
                    return (candidate.range, handles)
                }
            }
            for try await done in group { replacements.append((done.0, done.1)) }
        }
        streamsLeft += left
        replacements.sort { $0.range.lowerBound < $1.range.lowerBound }
        guard !replacements.isEmpty else { return nil }
        var content = original
        for r in replacements.reversed() { content.replaceSubrange(r.range, with: r.handles) }
        guard content != original else { return nil }
        let sealer = sealers.take()
        defer { sealers.give(sealer) }
        return try context.writer.storeContent(content, sealer: sealer)
    }
}
