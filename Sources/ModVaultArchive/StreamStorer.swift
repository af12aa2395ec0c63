import Synchronization
import ModVaultCore
import ModVaultStore
import ModVaultChunking
import ModVaultCrypto
import ModVaultFormats

/// When a snapshot stores a new compressed stream decompressed with a recipe.
public enum NormalizePolicy: String, Sendable, CaseIterable {
    /// Never search for recipes; new streams are stored as they are (known streams are still reused).
    case none
    /// On snapshots that have a parent, and within a time budget, store a new stream decompressed when
    /// a good part of its content is already stored (a repack, a texture also kept loose); keep the rest
    /// as it is, so restores stay fast. A first snapshot keeps every stream as it is and runs at full speed.
    case auto
    /// Search for every new stream, whatever it costs.
    case all
}

/// Counts shared by the tasks of one snapshot, and the recipe-search time budget they draw from.
final class StreamLedger: Sendable {
    private let state = Mutex(StreamStatistics())
    private let verified = Mutex(Set<ObjectID>())
    private let budget: Double

    init(budget: Double) { self.budget = budget }

    func wasVerified(_ id: ObjectID) -> Bool { verified.withLock { $0.contains(id) } }

    func markVerified(_ id: ObjectID) { _ = verified.withLock { $0.insert(id) } }

    var statistics: StreamStatistics { state.withLock { $0 } }

    /// True while the time spent on recipes is below the budget.
    var withinBudget: Bool { state.withLock { $0.recipeSeconds < budget } }

    func record(_ update: (inout StreamStatistics) -> Void) { state.withLock { update(&$0) } }
}

/// What a stream task needs besides the bytes: run-wide objects, all safe to share.
struct StreamContext: Sendable {
    let writer: BlobWriter
    let mac: ContentMAC
    let ledger: StreamLedger
    /// Look the stream up by its ID first (off when the repository has no stream blobs at all).
    let lookUp: Bool
    /// New streams may be decompressed (`.all`, or `.auto` with a parent); else they are kept as they are.
    let normalizeNew: Bool
    /// Skip the "already stored as it is" test (`.all`).
    let alwaysNormalize: Bool
    /// Look for a stored stream with the same content (a repack, a loose copy), and note the streams
    /// kept as they are so later runs can find them (off for `--normalize none`).
    let link: Bool
    /// Readers of stored streams, for checking a candidate byte for byte.
    let sources: ObjectPool<StreamRebuilder>

    /// The same run, storing streams only as they are (for bytes that are not a whole stream).
    var keepingOnly: StreamContext {
        StreamContext(writer: writer, mac: mac, ledger: ledger, lookUp: false, normalizeNew: false, alwaysNormalize: false,
                      link: false, sources: sources)
    }

    /// The key of content that starts `content` and is at least `StreamKeyCache.prefixLength` long:
    /// the MAC of its first `prefixLength` bytes.
    func prefixKey(_ content: UnsafeRawBufferPointer) -> ObjectID? {
        content.count >= StreamKeyCache.prefixLength
            ? mac.id(UnsafeRawBufferPointer(rebasing: content[0..<StreamKeyCache.prefixLength])) : nil
    }

    /// The key of a zlib stream of `length` compressed bytes and `rawSize` bytes of content, from a
    /// partial inflate of `compressed`: the MAC of its first `prefixLength` bytes, or of all of them
    /// when it is shorter. Nil for a stream too small to be worth finding again.
    func prefixKey(compressed: UnsafeRawBufferPointer, length: Int, rawSize: UInt64, engine: RecipeEngine) -> ObjectID? {
        guard link, StreamStorer.worthKeying(length: length, rawSize: rawSize) else { return nil }
        let count = Int(min(rawSize, UInt64(StreamKeyCache.prefixLength)))
        guard let prefix = engine.inflatePrefix(compressed, count: count) else { return nil }
        return prefix.withUnsafeBytes { mac.id($0) }
    }

    /// Notes a stream kept as it is, so a later repack or loose copy of its content can point to it.
    func noteKept(key: ObjectID, rawSize: UInt64, storedLength: Int, blobs: [ObjectID]) {
        writer.repository.streamKeys.note(prefix: key, source: StreamKeyCache.Source(
            rawLength: rawSize, storedLength: UInt64(storedLength), blobs: blobs))
    }

    /// A stored stream, kept as it is, whose content is exactly `content`: the first of `candidates`
    /// (what the cache holds under the content's key) that is still complete in the repository and
    /// inflates to the same bytes.
    func storedStream(with content: UnsafeRawBufferPointer, among candidates: [StreamKeyCache.Source],
                      engine: RecipeEngine) -> StreamKeyCache.Source? {
        let repository = writer.repository
        for source in candidates where source.rawLength == UInt64(content.count) {
            // A source from a run that was killed, or pruned since, is just a stale hint.
            guard (try? source.blobs.allSatisfy({ try repository.index.location(of: BlobHandle(id: $0, type: .data)) != nil })) == true else { continue }
            let reader = sources.take()
            defer { sources.give(reader) }
            guard let stored = try? reader.concatenation(of: source.blobs, length: source.storedLength),
                  stored.withUnsafeBytes({ engine.inflates($0, to: content) }) else { continue }
            return source
        }
        return nil
    }
}

/// Stores one compressed stream and returns the handles that stand for it in the file's content.
///
/// In order: a stream blob with the stream's ID is reused; a stream whose own chunks are all
/// stored already (kept as it is by an earlier snapshot) is referenced through them; a new stream the
/// policy selects is decompressed and recompressed to find a recipe, then stored as content plus
/// recipe or, when nothing reproduces it, as it is with a verbatim stream blob so the search never
/// repeats; any other stream is stored as it is.
enum StreamStorer {
    static func store(_ bytes: UnsafeRawBufferPointer, span: StreamSpan, chunker: FastCDC, context c: StreamContext,
                      sealer: BlobSealer, denseSealer: BlobSealer, engine: RecipeEngine) throws -> [BlobHandle] {
        // The stream's own chunks, computed once whichever path needs them.
        var own: [Chunk]?
        // Its content key, once computed.
        var key: ObjectID??
        func prefixKey() -> ObjectID? {
            if let key { return key }
            let k = c.prefixKey(compressed: bytes, length: bytes.count, rawSize: span.rawSize, engine: engine)
            key = .some(k)
            return k
        }
        func keep() throws -> [BlobHandle] {
            c.ledger.record {
                $0.kept += 1
                $0.keptBytes += Int64(bytes.count)
            }
            let handles = try storeChunks(own ?? chunks(of: bytes, cuts: [], chunker: chunker, mac: c.mac), of: bytes, context: c, sealer: sealer)
            if let k = prefixKey() { c.noteKept(key: k, rawSize: span.rawSize, storedLength: bytes.count, blobs: handles.map(\.id)) }
            return handles
        }
        if !c.lookUp && !c.normalizeNew { return try keep() }
        let handle = BlobHandle(id: c.mac.id(bytes), type: .stream)
        if try c.writer.isKnown(handle) {
            guard try isComplete(handle, context: c) else { return try keep() }
            c.ledger.record { $0.reused += 1 }
            return [handle]
        }
        if !c.alwaysNormalize {
            let mine = chunks(of: bytes, cuts: [], chunker: chunker, mac: c.mac)
            own = mine
            if try mine.allSatisfy({ try c.writer.isKnown(BlobHandle(id: $0.id, type: .data)) }) {
                c.ledger.record { $0.reused += 1 }
                return mine.map { BlobHandle(id: $0.id, type: .data) }
            }
        }
        if c.link, c.alwaysNormalize || c.ledger.withinBudget, let linked = try link(bytes, span: span, key: prefixKey(),
                                                                                     handle: handle, context: c, sealer: sealer, engine: engine) {
            return linked
        }
        guard c.normalizeNew, c.alwaysNormalize || c.ledger.withinBudget else { return try keep() }
        let started = monotonicSeconds()
        let contentCuts = FormatCuts.contentCuts(span, minSize: chunker.parameters.minSize)
        // The decompressed content and its chunks, when the probe below already produced them.
        var probed: (content: [UInt8], chunks: [Chunk])?
        if !c.alwaysNormalize {
            // Restoring a decompressed stream costs a recompression, so `.auto` stores one decompressed only
            // when that pays now: when a good part of its content is already stored (a repack, a texture
            // also kept loose). Inflating to find out costs a tenth of the recompression it may save.
            var share = 0.0
            if let content = try? engine.inflate(bytes, rawSize: span.rawSize) {
                let pieces = content.withUnsafeBytes { chunks(of: $0, cuts: contentCuts, chunker: chunker, mac: c.mac) }
                let stored = pieces.reduce(0) { sum, p in
                    sum + ((try? c.writer.isKnown(BlobHandle(id: p.id, type: .data))) == true ? p.range.count : 0)
                }
                share = content.isEmpty ? 0 : Double(stored) / Double(content.count)
                probed = (content, pieces)
            }
            let probe = monotonicSeconds() - started
            c.ledger.record { $0.recipeSeconds += probe }
            if share < Self.worthwhileShare { return try keep() }
        }
        let outcome = probed.map { engine.search(compressed: bytes, decompressed: $0.content) }
            ?? engine.find(compressed: bytes, rawSize: span.rawSize)
        let spent = monotonicSeconds() - started
        let stream: StreamBlob
        switch outcome {
        case .reproducible(let recipe, let decompressed):
            let content = try decompressed.withUnsafeBytes { raw in
                try storeChunks(probed?.chunks ?? chunks(of: raw, cuts: contentCuts, chunker: chunker, mac: c.mac), of: raw,
                                context: c, sealer: denseSealer)
            }
            stream = StreamBlob(form: .recipe(recipe.encoded()), originalLength: UInt64(bytes.count),
                                contentLength: UInt64(decompressed.count), content: content.map(\.id))
            c.ledger.record {
                $0.normalized += 1
                $0.recipeSeconds += spent
            }
        case .notReproducible:
            let content = try storeChunks(own ?? chunks(of: bytes, cuts: [], chunker: chunker, mac: c.mac), of: bytes, context: c, sealer: sealer)
            if let k = prefixKey() { c.noteKept(key: k, rawSize: span.rawSize, storedLength: bytes.count, blobs: content.map(\.id)) }
            stream = StreamBlob(form: .verbatim, originalLength: UInt64(bytes.count), contentLength: UInt64(bytes.count),
                                content: content.map(\.id))
            c.ledger.record {
                $0.verbatim += 1
                $0.recipeSeconds += spent
            }
        }
        try stream.encoded().withUnsafeBytes { try c.writer.store(handle, plaintext: $0, sealer: sealer) }
        return [handle]
    }

    /// The stream stored as a reference to a stored stream with the same content, recompressed by a
    /// recipe (a repack), or nil when no stored stream has its content or no recipe reproduces it.
    private static func link(_ bytes: UnsafeRawBufferPointer, span: StreamSpan, key: ObjectID?, handle: BlobHandle,
                             context c: StreamContext, sealer: BlobSealer, engine: RecipeEngine) throws -> [BlobHandle]? {
        guard let key else { return nil }
        let candidates = c.writer.repository.streamKeys.candidates(prefix: key)
        guard candidates.contains(where: { $0.rawLength == span.rawSize }) else { return nil }
        let started = monotonicSeconds()
        defer {
            let spent = monotonicSeconds() - started
            c.ledger.record { $0.recipeSeconds += spent }
        }
        guard let content = try? engine.inflate(bytes, rawSize: span.rawSize),
              let source = content.withUnsafeBytes({ c.storedStream(with: $0, among: candidates, engine: engine) }),
              case .reproducible(let recipe, _) = engine.search(compressed: bytes, decompressed: content) else { return nil }
        let stream = StreamBlob(form: .inflateThenRecipe(recipe.encoded()), originalLength: UInt64(bytes.count),
                                contentLength: source.storedLength, content: source.blobs)
        try stream.encoded().withUnsafeBytes { try c.writer.store(handle, plaintext: $0, sealer: sealer) }
        c.ledger.record { $0.linked += 1 }
        return [handle]
    }

    /// True when every data blob of an indexed stream blob is stored too (or the blob is this run's own).
    ///
    /// A run that was killed can leave a stream blob in an adopted pack while one of its data blobs,
    /// which another task of that run had claimed but not yet packed, was lost. Such a blob is never
    /// referenced: the stream's bytes are stored as they are, and prune later drops the blob.
    private static func isComplete(_ handle: BlobHandle, context c: StreamContext) throws -> Bool {
        let repository = c.writer.repository
        guard try repository.index.location(of: handle) != nil else { return true }
        if c.ledger.wasVerified(handle.id) { return true }
        guard let stream = try? repository.loadStream(handle.id),
              try stream.content.allSatisfy({ try c.writer.isKnown(BlobHandle(id: $0, type: .data)) }) else { return false }
        c.ledger.markVerified(handle.id)
        return true
    }

    /// Stores the surfaces of a loose texture (`bytes`, starting at a surface): each run that an archived
    /// stream kept as it is decompresses to becomes a stream blob pointing at that stream, to inflate
    /// at restore; the rest is chunked as a snapshot always chunks it.
    ///
    /// `boundaries` are the surface starts and ends relative to `bytes` (ascending); a run may only
    /// start and end on one, as an archive's texture chunks do. `cuts` are the file's forced cuts,
    /// relative to `bytes` too.
    static func storeSurfaces(_ bytes: UnsafeRawBufferPointer, boundaries: [Int], cuts: [Int64], chunker: FastCDC,
                              context c: StreamContext, sealer: BlobSealer, engine: RecipeEngine) throws -> [BlobHandle] {
        // Surfaces already stored as chunks (this file in an earlier snapshot) keep those chunks, so
        // reading a file again never changes how it is stored.
        let whole = chunks(of: bytes, cuts: cuts.filter { $0 > 0 && $0 < Int64(bytes.count) }, chunker: chunker, mac: c.mac)
        if try whole.allSatisfy({ try c.writer.isKnown(BlobHandle(id: $0.id, type: .data)) }) {
            return whole.map { BlobHandle(id: $0.id, type: .data) }
        }
        var handles: [BlobHandle] = []
        var plainStart = 0
        // Stores bytes[plainStart..<end] as chunks and moves plainStart to `end`.
        func storePlain(upTo end: Int) throws {
            guard end > plainStart else { return }
            defer { plainStart = end }
            if plainStart == 0 && end == bytes.count {
                handles = try storeChunks(whole, of: bytes, context: c, sealer: sealer)
                return
            }
            let run = UnsafeRawBufferPointer(rebasing: bytes[plainStart..<end])
            let runCuts = cuts.compactMap { cut -> Int64? in
                let r = cut - Int64(plainStart)
                return r > 0 && r < Int64(run.count) ? r : nil
            }
            handles += try storeChunks(chunks(of: run, cuts: runCuts, chunker: chunker, mac: c.mac), of: run, context: c, sealer: sealer)
        }
        let ends = Set(boundaries + [bytes.count])
        let keys = c.writer.repository.streamKeys
        var spent = 0.0
        defer { if spent > 0 { c.ledger.record { $0.recipeSeconds += spent } } }
        for start in boundaries where start >= plainStart && c.ledger.withinBudget {
            let rest = UnsafeRawBufferPointer(rebasing: bytes[start...])
            guard let key = c.prefixKey(rest) else { break }
            let fitting = keys.candidates(prefix: key).filter { $0.rawLength <= UInt64(rest.count) && ends.contains(start + Int($0.rawLength)) }
            guard !fitting.isEmpty else { continue }
            let started = monotonicSeconds()
            defer { spent += monotonicSeconds() - started }
            for length in Set(fitting.map { Int($0.rawLength) }).sorted(by: >) {
                let run = UnsafeRawBufferPointer(rebasing: rest[0..<length])
                guard let source = c.storedStream(with: run, among: fitting, engine: engine) else { continue }
                try storePlain(upTo: start)
                let handle = BlobHandle(id: c.mac.id(run), type: .stream)
                if try c.writer.isKnown(handle) {
                    guard try isComplete(handle, context: c) else { continue }
                } else {
                    let stream = StreamBlob(form: .inflate, originalLength: UInt64(length), contentLength: source.storedLength,
                                            content: source.blobs)
                    try stream.encoded().withUnsafeBytes { try c.writer.store(handle, plaintext: $0, sealer: sealer) }
                }
                handles.append(handle)
                c.ledger.record { $0.linked += 1 }
                plainStart = start + length
                break
            }
        }
        try storePlain(upTo: bytes.count)
        return handles
    }

    /// Whether a stream is keyed: a repacked stream stored as a reference costs about 0.4 KiB, and
    /// keying costs a partial inflate (some 20 µs) for every stream stored, so streams under 2 KiB
    /// compressed with under 4 KiB of content (the 100,000 small members of a game's archives) are not.
    static func worthKeying(length: Int, rawSize: UInt64) -> Bool {
        length >= 2048 || rawSize >= UInt64(StreamKeyCache.prefixLength)
    }

    /// Textures whose surfaces are larger than this are chunked in line, never linked: each task in
    /// flight may hold one, and the snapshot's memory must stay bounded (an 8K BC7 texture is 85 MiB).
    static let maximumSurfaceBytes = 64 << 20

    /// The share of a stream's content already stored above which `.auto` stores it decompressed.
    static let worthwhileShare = 0.25

    /// One chunk of a buffer: where it lies and its content ID.
    typealias Chunk = (range: Range<Int>, id: ObjectID)

    private static func chunks(of bytes: UnsafeRawBufferPointer, cuts: [Int64], chunker: FastCDC, mac: ContentMAC) -> [Chunk] {
        chunker.chunkRanges(bytes, cuts: cuts).map { r in (r, mac.id(UnsafeRawBufferPointer(rebasing: bytes[r]))) }
    }

    private static func storeChunks(_ chunks: [Chunk], of bytes: UnsafeRawBufferPointer, context c: StreamContext,
                                    sealer: BlobSealer) throws -> [BlobHandle] {
        try chunks.map { chunk in
            let handle = BlobHandle(id: chunk.id, type: .data)
            try c.writer.store(handle, plaintext: UnsafeRawBufferPointer(rebasing: bytes[chunk.range]), sealer: sealer)
            return handle
        }
    }
}
