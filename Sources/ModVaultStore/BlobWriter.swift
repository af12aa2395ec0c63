import Dispatch
import Synchronization
public import ModVaultCore
public import ModVaultCodecs
public import ModVaultCrypto

/// Per-worker scratch space for sealing blobs: a compressor and an output buffer, reused for every blob.
public final class BlobSealer: @unchecked Sendable {
    let compressor: Compressor
    let sealed = ScratchBuffer()

    /// Creates scratch space for `codec`.
    public init(codec: Codec, level: Int?) { compressor = Compressor(codec: codec, level: level) }
}

/// Adds blobs to a repository during one operation: deduplicates, seals, gathers them into packs,
/// and writes index files. Safe to call from many tasks at once.
///
/// Durability order: a pack is written (fsynced, renamed) before the index file that lists it,
/// and index files before any snapshot that refers to their blobs.
public final class BlobWriter: Sendable {
    private struct State {
        var claimed = Set<BlobHandle>()
        var builder: PackBuilder
        // Finished pack buffers come back here after writing; reusing them avoids page-faulting
        // fresh 16 MiB of memory for every pack.
        var spareBuffers: [[UInt8]] = []
        var writerFailure: PendingFailure?
        var unindexed: [IndexedPack] = []
        var bytesAdded: Int64 = 0
        var blobsAdded = 0
        var packsWritten = 0
    }

    /// The repository written to.
    public let repository: Repository
    private let state: Mutex<State>
    /// Index files are flushed after this many packs, so an interrupted run keeps most of its work.
    private let packsPerIndex: Int
    private let writerQueue = DispatchQueue(label: "modvault.pack-writer")
    private let writerSlots = DispatchSemaphore(value: 1)

    /// Creates a writer.
    public init(repository: Repository, packsPerIndex: Int = 32) {
        self.repository = repository
        self.packsPerIndex = packsPerIndex
        state = Mutex(State(builder: PackBuilder(capacity: repository.config.packSize + (1 << 20))))
    }

    /// A sealer configured for this repository's codec.
    public func makeSealer() -> BlobSealer { BlobSealer(codec: repository.codec, level: repository.config.compressionLevel) }

    /// A sealer for content known to compress well (decompressed streams): zstd at level 6 at least,
    /// since it is only used off the fast path, where recompressing the stream already costs more.
    public func makeDenseSealer() -> BlobSealer {
        let level = repository.codec == .zstd ? max(6, repository.config.compressionLevel ?? 0) : repository.config.compressionLevel
        return BlobSealer(codec: repository.codec, level: level)
    }

    /// Reserves `handle` for storing. False if the repository or this run already has it.
    public func claim(_ handle: BlobHandle) throws -> Bool {
        let alreadyClaimed = state.withLock { s in !s.claimed.insert(handle).inserted }
        if alreadyClaimed { return false }
        if try repository.index.location(of: handle) != nil { return false }
        return true
    }

    /// True if the repository or this run already has `handle` (without reserving it).
    public func isKnown(_ handle: BlobHandle) throws -> Bool {
        if state.withLock({ $0.claimed.contains(handle) }) { return true }
        return try repository.index.location(of: handle) != nil
    }

    /// Stores a blob if it is new. Returns the sealed bytes added (0 for a duplicate).
    @discardableResult
    public func store(_ handle: BlobHandle, plaintext: UnsafeRawBufferPointer, sealer: BlobSealer) throws -> Int {
        guard try claim(handle) else { return 0 }
        return try storeClaimed(handle, plaintext: plaintext, sealer: sealer)
    }

    /// Stores a file's content handles (as list blobs when they are many) and returns the tree's reference.
    /// A list blob is named by the MAC of its plaintext, so one found already stored names exactly these
    /// handles, which this run has stored or found indexed: reusing it is always safe.
    public func storeContent(_ handles: [BlobHandle], sealer: BlobSealer) throws -> FileContent {
        try ContentLists.make(handles) { plain in
            try plain.withUnsafeBytes { raw in
                let id = repository.contentMAC.id(raw)
                try store(BlobHandle(id: id, type: .list), plaintext: raw, sealer: sealer)
                return id
            }
        }
    }

    /// Stores a blob already claimed with `claim`.
    public func storeClaimed(_ handle: BlobHandle, plaintext: UnsafeRawBufferPointer, sealer: BlobSealer) throws -> Int {
        let codec = try sealer.compressor.compress(plaintext)
        let payload = codec == .none ? plaintext : sealer.compressor.compressed
        let ad = PackFormat.blobAssociatedData(handle)
        let out = sealer.sealed.resize(payload.count + AEAD.overhead)
        ad.withUnsafeBytes { a in _ = repository.cipher.seal(payload, associatedData: a, into: out) }
        // Only read while the lock is held and the sealer is alive; the wrapper just tells the checker so.
        let sealed = BorrowedBytes(buffer: sealer.sealed.bytes)
        let full: (bytes: [UInt8], entries: [PackEntry])? = state.withLock { s in
            s.builder.append(handle, codec: codec, rawLength: plaintext.count, sealed: sealed.buffer)
            s.bytesAdded += Int64(sealed.buffer.count)
            s.blobsAdded += 1
            return s.builder.size >= repository.config.packSize ? finish(&s) : nil
        }
        if let full { try enqueuePack(full) }
        return sealer.sealed.count
    }

    private func finish(_ s: inout State) -> (bytes: [UInt8], entries: [PackEntry]) {
        var spare = s.spareBuffers.popLast() ?? []
        if spare.capacity == 0 { spare.reserveCapacity(repository.config.packSize + (1 << 20)) }
        return s.builder.finish(cipher: repository.cipher, replacement: spare)
    }

    /// Hands a finished pack to the writer thread. Hashing, writing and fsync block for tens of
    /// milliseconds, which must not stall the cooperative thread pool that seals chunks; at most one
    /// pack waits, so memory stays bounded and a slow disk slows the producers down.
    private func enqueuePack(_ pack: consuming (bytes: [UInt8], entries: [PackEntry])) throws {
        try rethrowWriterFailure()
        writerSlots.wait()
        let pending = PendingPack(bytes: pack.bytes, entries: pack.entries)
        writerQueue.async {
            defer { self.writerSlots.signal() }
            var bytes = pending.take()
            do { try self.writePack(&bytes, entries: pending.entries) } catch {
                self.state.withLock { s in if s.writerFailure == nil { s.writerFailure = PendingFailure(error: error) } }
            }
        }
    }

    private func rethrowWriterFailure() throws {
        if let failure = state.withLock({ $0.writerFailure }) { throw failure.error }
    }

    /// Waits until every queued pack is written, then reports the first write failure, if any.
    private func drainWriter() throws {
        writerQueue.sync {}
        try rethrowWriterFailure()
    }

    private func writePack(_ bytes: inout [UInt8], entries: [PackEntry]) throws {
        defer {
            // Uniquely owned here, so emptying keeps the capacity for the next pack.
            bytes.removeAll(keepingCapacity: true)
            let recycled = bytes
            bytes = []
            state.withLock { if $0.spareBuffers.count < 2 { $0.spareBuffers.append(recycled) } }
        }
        let id = SHA256Digest.hash(bytes)
        let file = repository.filePath(ObjectName(kind: .pack, id: id))
        try storeIO {
            try FileSystem.makeDirectories(FileSystem.parentPath(file))
            try FileSystem.writeAtomically(file, bytes: bytes)
        }
        let packSize = Int64(bytes.count)
        let flush: [IndexedPack]? = state.withLock { s in
            s.unindexed.append(IndexedPack(id: id, entries: entries))
            s.packsWritten += 1
            s.bytesAdded += packSize - entries.reduce(0) { $0 + $1.length }
            guard s.unindexed.count >= packsPerIndex else { return nil }
            defer { s.unindexed.removeAll() }
            return s.unindexed
        }
        if let flush { try repository.writeIndex(IndexFile(packs: flush)) }
    }

    /// Writes the last partial pack and an index file for everything not yet indexed.
    public func flush() throws {
        let last = state.withLock { s in s.builder.isEmpty ? nil : finish(&s) }
        if let last { try enqueuePack(last) }
        try drainWriter()
        let rest = state.withLock { s in
            defer { s.unindexed.removeAll() }
            return s.unindexed
        }
        if !rest.isEmpty { try repository.writeIndex(IndexFile(packs: rest)) }
    }

    /// Writes the last partial pack and returns every pack not yet indexed, without writing an index file
    /// (for callers that write one combined index themselves, such as prune).
    public func finishPacks() throws -> [IndexedPack] {
        let last = state.withLock { s in s.builder.isEmpty ? nil : finish(&s) }
        if let last { try enqueuePack(last) }
        try drainWriter()
        return state.withLock { s in
            defer { s.unindexed.removeAll() }
            return s.unindexed
        }
    }

    /// Sealed bytes (blobs plus pack headers) added so far.
    public var bytesAdded: Int64 { state.withLock { $0.bytesAdded } }
    /// Blobs added so far.
    public var blobsAdded: Int { state.withLock { $0.blobsAdded } }
}

/// A byte buffer lent across a lock boundary for the duration of one synchronous call.
struct BorrowedBytes: @unchecked Sendable {
    let buffer: UnsafeRawBufferPointer
}

/// A finished pack travelling to the writer thread; `take` hands over the only reference to its
/// buffer so the buffer can be recycled without a copy.
private final class PendingPack: @unchecked Sendable {
    private var bytes: [UInt8]
    let entries: [PackEntry]

    init(bytes: [UInt8], entries: [PackEntry]) {
        self.bytes = bytes
        self.entries = entries
    }

    func take() -> [UInt8] {
        defer { bytes = [] }
        return bytes
    }
}

/// The first error the writer thread met, kept until a caller can throw it.
struct PendingFailure: @unchecked Sendable {
    let error: Error
}
