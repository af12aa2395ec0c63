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

    /// The same run, storing streams only as they are (for bytes that are not a whole stream).
    var keepingOnly: StreamContext {
        StreamContext(writer: writer, mac: mac, ledger: ledger, lookUp: false, normalizeNew: false, alwaysNormalize: false)
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
        func keep() throws -> [BlobHandle] {
            c.ledger.record {
                $0.kept += 1
                $0.keptBytes += Int64(bytes.count)
            }
            return try storeChunks(own ?? chunks(of: bytes, cuts: [], chunker: chunker, mac: c.mac), of: bytes, context: c, sealer: sealer)
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
