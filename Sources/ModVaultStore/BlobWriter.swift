import Glibc
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
        /// Builders no caller holds, the most recently returned last; every builder made, for flushing.
        var idle: [LentBuilder] = []
        var builders: [LentBuilder] = []
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
        state = Mutex(State())
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
        // Writing and hashing the sealed bytes happen outside the lock, in a builder lent to this caller
        // alone: the lock only hands builders out and back. The last one returned is lent first, so work
        // done one blob at a time fills one pack, and only callers storing at the same moment open more.
        let lent = state.withLock { s in
            if let idle = s.idle.popLast() { return idle }
            let made = LentBuilder(PackFileBuilder(folder: repository.path + "/data"))
            s.builders.append(made)
            return made
        }
        let full: PackFileBuilder.Finished?
        do {
            full = try storeIO { () throws -> PackFileBuilder.Finished? in
                try lent.builder.append(handle, codec: codec, rawLength: plaintext.count, sealed: sealer.sealed.bytes)
                return lent.builder.size >= repository.config.packSize ? try lent.builder.finish(cipher: repository.cipher) : nil
            }
        } catch {
            state.withLock { $0.idle.append(lent) }
            throw error
        }
        state.withLock { s in
            s.idle.append(lent)
            s.bytesAdded += Int64(sealer.sealed.count)
            s.blobsAdded += 1
        }
        if let full { try enqueuePack(full) }
        return sealer.sealed.count
    }

    /// Hands a finished pack to the writer thread. Syncing, renaming and indexing block for tens of
    /// milliseconds, which must not stall the cooperative thread pool that seals chunks; at most one
    /// pack waits, so a slow disk slows the producers down.
    private func enqueuePack(_ pack: PackFileBuilder.Finished) throws {
        try rethrowWriterFailure()
        writerSlots.wait()
        let pending = PendingPack(pack)
        writerQueue.async {
            defer { self.writerSlots.signal() }
            do { try self.writePack(pending.pack) } catch {
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

    /// Makes a finished pack durable under its name: sync, read-only, rename into `data/xx/`, sync the
    /// folder; then records it for the next index file.
    private func writePack(_ pack: PackFileBuilder.Finished) throws {
        let file = repository.filePath(ObjectName(kind: .pack, id: pack.id))
        try storeIO {
            do {
                try pack.file.sync()
                guard fchmod(pack.file.descriptor, mode_t(0o444 & ~FileSystem.creationMask)) == 0 else {
                    throw SystemCallError(code: errno, operation: "chmod", path: pack.file.path)
                }
                try FileSystem.makeDirectories(FileSystem.parentPath(file))
                guard rename(pack.file.path, file) == 0 else { throw SystemCallError(code: errno, operation: "rename", path: file) }
            } catch {
                unlink(pack.file.path)
                throw error
            }
            try FileSystem.syncDirectory(FileSystem.parentPath(file))
        }
        let entries = pack.entries
        let flush: [IndexedPack]? = state.withLock { s in
            s.unindexed.append(IndexedPack(id: pack.id, entries: entries))
            s.packsWritten += 1
            s.bytesAdded += pack.size - entries.reduce(0) { $0 + $1.length }
            guard s.unindexed.count >= packsPerIndex else { return nil }
            defer { s.unindexed.removeAll() }
            return s.unindexed
        }
        if let flush { try repository.writeIndex(IndexFile(packs: flush)) }
    }

    /// The packs being built, finished, where they hold any blob. The blobs of smaller partial packs are
    /// moved into the largest (finishing it whenever it fills), so a run that stored from several tasks
    /// at once still ends with one partial pack, not one per task. Called when no store is under way,
    /// so every builder is idle.
    private func finishLast() throws -> [PackFileBuilder.Finished] {
        try storeIO {
            try state.withLock { (s) throws -> [PackFileBuilder.Finished] in
                let open = s.builders.map(\.builder).filter { !$0.isEmpty }.sorted { $0.size > $1.size }
                guard let target = open.first else { return [] }
                var finished: [PackFileBuilder.Finished] = []
                for other in open.dropFirst() {
                    try target.absorb(other, packSize: repository.config.packSize, cipher: repository.cipher, finished: &finished)
                }
                if !target.isEmpty { finished.append(try target.finish(cipher: repository.cipher)) }
                return finished
            }
        }
    }

    /// Writes the last partial packs and an index file for everything not yet indexed.
    public func flush() throws {
        for last in try finishLast() { try enqueuePack(last) }
        try drainWriter()
        let rest = state.withLock { s in
            defer { s.unindexed.removeAll() }
            return s.unindexed
        }
        if !rest.isEmpty { try repository.writeIndex(IndexFile(packs: rest)) }
    }

    /// Writes the last partial packs and returns every pack not yet indexed, without writing an index file
    /// (for callers that write one combined index themselves, such as prune).
    public func finishPacks() throws -> [IndexedPack] {
        for last in try finishLast() { try enqueuePack(last) }
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

/// A pack builder, lent by `BlobWriter` to one caller at a time.
///
/// `@unchecked Sendable`: the builder is mutable and unsynchronised; it is safe because the writer's
/// lock hands each one to a single caller, which returns it before anyone else can take it, and
/// finishes the last packs only when no store is under way.
final class LentBuilder: @unchecked Sendable {
    let builder: PackFileBuilder

    init(_ builder: PackFileBuilder) { self.builder = builder }
}

/// A finished pack travelling to the writer thread, which alone uses its open file from then on.
private final class PendingPack: @unchecked Sendable {
    let pack: PackFileBuilder.Finished

    init(_ pack: PackFileBuilder.Finished) { self.pack = pack }
}

/// The first error the writer thread met, kept until a caller can throw it.
struct PendingFailure: @unchecked Sendable {
    let error: Error
}
