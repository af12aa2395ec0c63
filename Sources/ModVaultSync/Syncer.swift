import Foundation
import Synchronization
public import ModVaultCore
public import ModVaultStore
import ModVaultCrypto

/// Copies repository files between a local repository and a remote, in the order that keeps the
/// destination valid at every moment: packs, then index files, then snapshots (config and keys on the
/// first push, config last). Every file is content-addressed and written whole, so an interrupted
/// transfer resumes by listing what arrived, and two machines pushing at once lose nothing.
public struct Syncer: Sendable {
    /// The local repository.
    public let local: Repository
    /// The remote.
    public let remote: any Remote
    /// Objects transferred at once.
    public var concurrency = 8
    /// Seconds to keep retrying while another process holds a conflicting local lock.
    public var lockWait: Double = 0
    /// Push lists the remote in full even when the local record of what it holds (`RemoteHoldings`) is fresh.
    public var verifyRemote = false

    /// Creates a syncer.
    public init(local: Repository, remote: any Remote) {
        self.local = local
        self.remote = remote
    }

    // MARK: Identity

    /// Checks that the remote holds this repository; returns false when it holds none yet.
    public func remoteMatches() async throws -> Bool {
        guard try await remote.stat(.config) != nil else { return false }
        let sealed = try await remote.load(.config, range: nil)
        guard let plain = try? local.cipher.open(sealed, associatedData: Array("config".utf8)) else {
            throw SyncError.differentRepository(remote: remote.location, detail: "its config does not open with this repository's key")
        }
        guard let config = try? JSONDecoder().decode(RepositoryConfig.self, from: Data(plain)) else {
            throw SyncError.corruptDownload(remote: remote.location, object: "config", reason: "unreadable")
        }
        guard config.id == local.config.id else {
            throw SyncError.differentRepository(remote: remote.location, detail: "repository \(config.id.short), local is \(local.config.id.short)")
        }
        return true
    }

    var reads: RemoteReads { RemoteReads(remote: remote, cipher: local.cipher) }

    // MARK: Push

    /// Uploads what the remote lacks. With `snapshots`, only those snapshots and the data they need.
    public func push(snapshots selected: [ObjectID]? = nil, progress: TransferProgress? = nil) async throws -> TransferReport {
        let start = monotonicSeconds()
        var report = TransferReport()
        // Shared: a local prune must not delete packs between listing them and uploading them.
        let lock = try RepositoryLock.acquire(local, exclusive: false, operation: "push", wait: lockWait)
        defer { lock.release() }
        try local.synchronizeIndex()
        let exists = try await remoteMatches()
        // Key slots first (config comes last on a first push, so a half-initialised remote has no
        // config and is ignored): slots added here are uploaded, then slots removed here are removed
        // from the remote, in that order so the remote always keeps a slot that works.
        let remoteKeys = try await reads.names(.key)
        for name in try FileSystem.list(local.path + "/keys") where ObjectID(hex: name) != nil && !remoteKeys.contains(name) {
            let bytes = try FileSystem.readFile(local.path + "/keys/" + name)
            try await remote.save(ObjectName(kind: .key, name: name), data: bytes, ifAbsent: false)
            report.objectsUploaded += 1
            report.bytesUploaded += Int64(bytes.count)
            report.keysAdded += 1
        }
        for name in try local.removedKeys().intersection(remoteKeys).sorted() {
            try await remote.remove(ObjectName(kind: .key, name: name))
            report.keysRemoved += 1
        }
        // What the remote holds: the local record when it is fresh (and the remote still has its config,
        // so it was not wiped), otherwise a full listing, which replaces the record.
        var holdings: RemoteHoldings
        if exists, !verifyRemote, var record = RemoteHoldings.load(local, location: remote.location), record.isFresh {
            record.pushesSinceListing += 1
            holdings = record
        } else {
            holdings = RemoteHoldings(location: remote.location, packs: try await reads.names(.pack),
                                      index: try await reads.names(.index), snapshots: try await reads.names(.snapshot))
            report.listedRemote = true
            // With the listing, tidy up after pushes killed mid-upload. A day is far longer than any
            // upload takes, so another machine's upload in progress is never cancelled.
            report.uploadsAborted = (try? await remote.abortIncompleteUploads(olderThan: 24 * 3600)) ?? 0
        }
        let remotePacks = holdings.packs
        let remoteIndex = holdings.index
        let remoteSnapshots = holdings.snapshots

        var packs: [ObjectID]
        var indexFiles: [ObjectID]
        var extraIndex: IndexFile? = nil
        var snapshotIDs: [ObjectID]
        if let selected {
            snapshotIDs = selected
            let needed = try neededPacks(for: selected.map { try local.loadSnapshot($0) })
            packs = needed.keys.sorted().filter { !remotePacks.contains($0.hex) }
            indexFiles = []
            // A fresh index covering exactly the needed packs, so the remote never indexes a pack it lacks.
            extraIndex = IndexFile(packs: needed.sorted { $0.key < $1.key }.map { IndexedPack(id: $0.key, entries: $0.value) })
        } else {
            snapshotIDs = try local.list(.snapshot)
            packs = try local.list(.pack).filter { !remotePacks.contains($0.hex) }
            indexFiles = try local.list(.index).filter { !remoteIndex.contains($0.hex) }
        }
        snapshotIDs = snapshotIDs.filter { !remoteSnapshots.contains($0.hex) }

        let packBytes = packs.reduce(Int64(0)) { $0 + ((try? FileSystem.status(local.filePath(ObjectName(kind: .pack, id: $1))).size) ?? 0) }
        let counter = Counter(totalObjects: packs.count + indexFiles.count + snapshotIDs.count, totalBytes: packBytes, start: start, progress: progress)
        try await upload(packs.map { ObjectName(kind: .pack, id: $0) }, counter: counter)
        if let extraIndex {
            let sealed = local.cipher.seal(extraIndex.encoded(), associatedData: Array(FileKind.index.rawValue.utf8))
            let id = SHA256Digest.hash(sealed)
            if !remoteIndex.contains(id.hex) {
                try await remote.save(ObjectName(kind: .index, id: id), data: sealed, ifAbsent: false)
                counter.add(objects: 1, bytes: Int64(sealed.count))
            }
            holdings.index.insert(id.hex)
        }
        try await upload(indexFiles.map { ObjectName(kind: .index, id: $0) }, counter: counter)
        try await upload(snapshotIDs.map { ObjectName(kind: .snapshot, id: $0) }, counter: counter)
        if !exists {
            let config = try FileSystem.readFile(local.path + "/config")
            try await remote.save(.config, data: config, ifAbsent: false)
            counter.add(objects: 1, bytes: Int64(config.count))
        }
        holdings.packs.formUnion(packs.map(\.hex))
        holdings.index.formUnion(indexFiles.map(\.hex))
        holdings.snapshots.formUnion(snapshotIDs.map(\.hex))
        // Only a shortcut for the next push: failing to write it costs that push a listing, nothing more.
        try? holdings.save(local)
        let totals = counter.totals
        report.objectsUploaded += totals.objects
        report.bytesUploaded += totals.bytes
        report.objectsSkipped = (selected == nil ? remotePacks.count : 0)
        report.seconds = monotonicSeconds() - start
        return report
    }

    private func upload(_ names: [ObjectName], counter: Counter) async throws {
        let local = self.local, remote = self.remote
        try await forEachBounded(names, limit: concurrency) { name in
            // Sent from the file: a remote that uploads in parts never holds a large pack whole.
            let path = local.filePath(name)
            let size = try FileSystem.status(path).size
            try await remote.save(name, file: path, ifAbsent: false)
            counter.add(objects: 1, bytes: size)
        }
    }

    /// Packs holding the blobs that `snapshots` reference, with the entries to index for each.
    func neededPacks(for snapshots: [Snapshot]) throws -> [ObjectID: [PackEntry]] {
        try packEntries(for: try Reachability.reach(snapshots.map(\.tree), in: local)) { try local.index.location(of: $0) }
    }

    // MARK: Pull

    /// Downloads what the local repository lacks. With `snapshots`, only those and the data they need.
    public func pull(snapshots selected: [String]? = nil, progress: TransferProgress? = nil) async throws -> TransferReport {
        let start = monotonicSeconds()
        var report = TransferReport()
        guard try await remoteMatches() else { throw SyncError.notARepository(remote: remote.location) }
        // Pulled packs arrive before the snapshots that use them; a prune in between must not take them.
        let lock = try RepositoryLock.acquire(local, exclusive: false, operation: "pull", wait: lockWait)
        defer { lock.release() }
        let localPacks = Set(try local.list(.pack).map(\.hex))
        let localIndex = Set(try local.list(.index).map(\.hex))
        let localSnapshots = Set(try local.list(.snapshot).map(\.hex))
        let remoteSnapshots = try await reads.names(.snapshot)

        var snapshotNames: [String]
        var packNames: [String]
        var indexNames: [String]
        var extraIndex: IndexFile? = nil
        if let selected {
            // Resolve prefixes against the remote's snapshots; read the remote index into memory only.
            snapshotNames = try selected.map { ref in
                let hits = remoteSnapshots.filter { $0.hasPrefix(ref.lowercased()) }
                guard hits.count == 1, let hit = hits.first else {
                    throw hits.isEmpty ? StoreError.snapshotNotFound(ref) : StoreError.ambiguousSnapshot(ref, candidates: hits.sorted().map { String($0.prefix(8)) })
                }
                return hit
            }
            let remoteIndex = try await reads.index()
            let reader = RemoteBlobReader(remote: remote, repository: local, index: remoteIndex)
            var roots: [ObjectID] = []
            for name in snapshotNames { roots.append(try await reads.snapshot(name).snapshot.tree) }
            let packsNeeded = try await reader.neededPacks(roots: roots)
            packNames = packsNeeded.keys.map(\.hex).filter { !localPacks.contains($0) }.sorted()
            indexNames = []
            extraIndex = IndexFile(packs: packsNeeded.sorted { $0.key < $1.key }.map { IndexedPack(id: $0.key, entries: $0.value) })
        } else {
            snapshotNames = Array(remoteSnapshots)
            packNames = try await reads.names(.pack).filter { !localPacks.contains($0) }.sorted()
            indexNames = try await reads.names(.index).filter { !localIndex.contains($0) }.sorted()
        }
        snapshotNames = snapshotNames.filter { !localSnapshots.contains($0) }.sorted()

        let counter = Counter(totalObjects: packNames.count + indexNames.count + snapshotNames.count, totalBytes: 0, start: start, progress: progress)
        report.refused += try await download(packNames.map { ObjectName(kind: .pack, name: $0) }, counter: counter)
        if let extraIndex { try local.writeIndex(extraIndex) }
        report.refused += try await download(indexNames.map { ObjectName(kind: .index, name: $0) }, counter: counter)
        report.refused += try await download(snapshotNames.map { ObjectName(kind: .snapshot, name: $0) }, counter: counter)
        try local.synchronizeIndex()
        let totals = counter.totals
        report.objectsDownloaded = totals.objects
        report.bytesDownloaded = totals.bytes
        report.seconds = monotonicSeconds() - start
        return report
    }

    /// Downloads `names`, storing each only once it opens with the key; the others are returned.
    /// Each is staged (written, writeback started) as it arrives, and all of them are synced and get
    /// their names at the end: objects are durable before the index files and snapshots that name
    /// them are fetched, without an `fsync` per pack holding up the download. When the download
    /// fails part way, what arrived whole (and verified) is still made durable and named, so the
    /// next pull resumes instead of starting over; packs without an index are adopted as usual.
    private func download(_ names: [ObjectName], counter: Counter) async throws -> [RefusedObject] {
        let local = self.local, remote = self.remote
        let refused = Mutex<[RefusedObject]>([])
        let staged = Mutex<[(temporary: String, path: String)]>([])
        let publishStaged = { try storeIO { try FileSystem.publish(staged.withLock { $0 }) } }
        do {
            try await forEachBounded(names, limit: concurrency) { name in
                let bytes = try await remote.load(name, range: nil)
                do { try local.verifyFetched(name, bytes: bytes) } catch let e as StoreError {
                    // Planted by someone without the key, or damaged: left on the remote, never stored.
                    let reason: String
                    if case .corruptObject(_, let why) = e { reason = why } else { reason = e.description }
                    refused.withLock { $0.append(RefusedObject(object: name.relativePath, reason: reason)) }
                    return
                }
                let path = local.filePath(name)
                let temporary = try storeIO {
                    try FileSystem.makeDirectories(FileSystem.parentPath(path))
                    return try FileSystem.stage(path, bytes: bytes)
                }
                staged.withLock { $0.append((temporary, path)) }
                counter.add(objects: 1, bytes: Int64(bytes.count))
            }
        } catch {
            try? publishStaged()
            throw error
        }
        try publishStaged()
        return refused.withLock { $0 }.sorted { $0.object < $1.object }
    }
}

/// Reads blobs straight from a remote's packs with ranged requests, verifying each.
struct RemoteBlobReader: Sendable {
    let remote: any Remote
    let repository: Repository
    let index: [BlobHandle: BlobLocation]

    func blob(_ handle: BlobHandle) async throws -> [UInt8] {
        guard let l = index[handle] else { throw StoreError.blobNotIndexed(handle) }
        let sealed = try await remote.load(ObjectName(kind: .pack, id: l.pack), range: l.offset..<(l.offset + l.length))
        let plain = ScratchBuffer()
        try sealed.withUnsafeBytes { s in
            try repository.openBlob(handle, sealed: s, location: l, packPath: "\(remote.location)/\(ObjectName(kind: .pack, id: l.pack).relativePath)",
                                    into: plain, scratch: BlobReadScratch())
        }
        return plain.array
    }

    /// The packs holding every blob the trees `roots` reach (subtrees, content lists and their data),
    /// with the entries to index for each.
    func neededPacks(roots: [ObjectID]) async throws -> [ObjectID: [PackEntry]] {
        let reached = try await Reachability.reach(roots) { handle in
            try OpenedBlob.decode(handle, plaintext: try await blob(handle), path: remote.location)
        }
        return try packEntries(for: reached) { index[$0] }
    }
}

/// The blobs `handles` grouped by the pack that holds each, located through `locate`.
func packEntries(for handles: Set<BlobHandle>, locate: (BlobHandle) throws -> BlobLocation?) throws -> [ObjectID: [PackEntry]] {
    var packs: [ObjectID: [PackEntry]] = [:]
    for handle in handles {
        guard let l = try locate(handle) else { throw StoreError.blobNotIndexed(handle) }
        packs[l.pack, default: []].append(PackEntry(handle: handle, codec: l.codec, length: l.length, rawLength: l.rawLength, offset: l.offset))
    }
    return packs
}

/// Thread-safe transfer totals that also drive progress.
final class Counter: Sendable {
    private struct State { var objects = 0; var bytes: Int64 = 0; var lastReport = 0.0 }
    private let state = Mutex(State())
    let totalObjects: Int
    let totalBytes: Int64
    let start: Double
    let progress: TransferProgress?

    init(totalObjects: Int, totalBytes: Int64, start: Double, progress: TransferProgress?) {
        self.totalObjects = totalObjects
        self.totalBytes = totalBytes
        self.start = start
        self.progress = progress
    }

    func add(objects: Int, bytes: Int64) {
        let sample: TransferSample? = state.withLock { s in
            s.objects += objects
            s.bytes += bytes
            let now = monotonicSeconds()
            guard progress != nil, now - s.lastReport > 0.2 || s.objects == totalObjects else { return nil }
            s.lastReport = now
            return TransferSample(objects: s.objects, totalObjects: totalObjects, bytes: s.bytes, totalBytes: totalBytes, elapsed: now - start)
        }
        if let sample { progress?(sample) }
    }

    var totals: (objects: Int, bytes: Int64) { state.withLock { ($0.objects, $0.bytes) } }
}

/// Runs `body` for each item with at most `limit` running at once.
func forEachBounded<T: Sendable>(_ items: [T], limit: Int, _ body: @escaping @Sendable (T) async throws -> Void) async throws {
    try await withThrowingTaskGroup(of: Void.self) { group in
        var running = 0
        for item in items {
            if running >= limit {
                try await group.next()
                running -= 1
            }
            group.addTask { try await body(item) }
            running += 1
        }
        try await group.waitForAll()
    }
}
