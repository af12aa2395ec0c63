import Foundation
public import ModVaultCore
public import ModVaultStore

/// What prune did (or, with a dry run, would do).
public struct PruneReport: Sendable, Codable {
    /// Packs deleted because nothing in them is used.
    public var packsDeleted = 0
    /// Packs rewritten because too much of them was unused.
    public var packsRepacked = 0
    /// Packs written by repacking.
    public var packsWritten = 0
    /// Blobs no snapshot references.
    public var unusedBlobs = 0
    /// Bytes of pack files removed.
    public var bytesDeleted: Int64 = 0
    /// Bytes added by repacking.
    public var bytesRepacked: Int64 = 0
    /// Net bytes freed.
    public var bytesFreed: Int64 { bytesDeleted - bytesRepacked }
    /// Index files replaced by one compacted index.
    public var indexFilesReplaced = 0
    /// Stale temporary files removed.
    public var temporaryFilesRemoved = 0
}

/// Removes data no snapshot references.
///
/// Design (see Docs/FORMAT.md §13): prune holds an exclusive lock, so no writer runs meanwhile.
/// It writes the replacement packs and a complete new index before deleting anything, then
/// deletes old index files, then packs. A crash at any point leaves a valid repository.
public struct Pruner: Sendable {
    /// The repository pruned.
    public let repository: Repository

    /// Creates a pruner.
    public init(repository: Repository) { self.repository = repository }

    /// Prunes. Packs whose unused share exceeds `maxUnused` (0…1) are repacked; fully unused packs are deleted.
    public func prune(maxUnused: Double = 0.10, dryRun: Bool = false) throws -> PruneReport {
        var report = PruneReport()
        if !dryRun {
            // Writers holding locks cannot run now, but lock files and key slots are written without one;
            // a temporary file an hour old belongs to no live write.
            report.temporaryFilesRemoved = try repository.removeStaleTemporaryFiles(olderThan: 3600)
            try repository.adoptUnindexedPacks()
        }
        try repository.synchronizeIndex()

        // 1. Everything any snapshot references.
        let used = try Reachability.reach(try repository.snapshots().map(\.snapshot.tree), in: repository)

        // 2. Per pack: which blobs to keep. A blob stored twice is kept only once.
        let oldIndexFiles = try repository.list(.index)
        var packs: [ObjectID: [PackEntry]] = [:]
        for id in oldIndexFiles {
            let file = try IndexFile.decode(try repository.loadFile(.index, id: id), path: repository.filePath(ObjectName(kind: .index, id: id)))
            for pack in file.packs where packs[pack.id] == nil { packs[pack.id] = pack.entries }
        }
        var kept = Set<BlobHandle>()
        var keepPacks: [IndexedPack] = []
        var repack: [(ObjectID, [PackEntry])] = []
        var delete: [ObjectID] = []
        for (pack, entries) in packs.sorted(by: { $0.key < $1.key }) {
            let size = (try? FileSystem.status(repository.filePath(ObjectName(kind: .pack, id: pack))).size) ?? 0
            guard size > 0 else { continue }
            var live: [PackEntry] = []
            var unusedBytes: Int64 = 0
            for e in entries {
                if used.contains(e.handle) && !kept.contains(e.handle) {
                    live.append(e)
                    kept.insert(e.handle)
                } else {
                    unusedBytes += e.length
                    report.unusedBlobs += 1
                }
            }
            if live.isEmpty {
                delete.append(pack)
                report.packsDeleted += 1
                report.bytesDeleted += size
            } else if Double(unusedBytes) / Double(size) > maxUnused {
                repack.append((pack, live))
                report.packsRepacked += 1
                report.bytesDeleted += size
            } else {
                keepPacks.append(IndexedPack(id: pack, entries: entries))
            }
        }
        let missing = used.subtracting(kept)
        if !missing.isEmpty {
            throw StoreError.corruptObject(path: repository.path, reason: "\(missing.count) blobs referenced by snapshots are in no pack; run 'modvault check' and 'modvault repair'")
        }
        report.indexFilesReplaced = oldIndexFiles.count
        if dryRun {
            // Repacked blobs keep their sealed size; new pack headers are estimated (44 bytes a blob plus the seal).
            let live = repack.flatMap(\.1)
            report.bytesRepacked = live.reduce(Int64(0)) { $0 + $1.length + 44 } + Int64(max(1, live.count / 1000)) * 32
            if live.isEmpty { report.bytesRepacked = 0 }
            return report
        }

        // 3. Repack live blobs into new packs (they keep their IDs), then one complete index.
        let writer = BlobWriter(repository: repository, packsPerIndex: Int.max)
        let sealer = writer.makeSealer()
        let plain = ScratchBuffer(), scratch = BlobReadScratch()
        for (pack, live) in repack {
            let file = try storeIO { try OpenFile.openForReading(repository.filePath(ObjectName(kind: .pack, id: pack))) }
            for e in live {
                let location = BlobLocation(pack: pack, offset: e.offset, length: e.length, rawLength: e.rawLength, codec: e.codec)
                try repository.loadBlob(e.handle, at: location, into: plain, scratch: scratch, file: file)
                _ = try writer.storeClaimed(e.handle, plaintext: plain.bytes, sealer: sealer)
            }
        }
        let newPacks = try writer.finishPacks()
        report.packsWritten = newPacks.count
        report.bytesRepacked = writer.bytesAdded
        try repository.writeIndex(IndexFile(packs: keepPacks + newPacks, supersedes: oldIndexFiles))

        // 4. Only now delete: old index files first, then packs, so nothing indexed ever points at a missing pack.
        for id in oldIndexFiles { try storeIO { try FileSystem.remove(repository.filePath(ObjectName(kind: .index, id: id))) } }
        for pack in delete + repack.map(\.0) {
            try storeIO { try FileSystem.remove(repository.filePath(ObjectName(kind: .pack, id: pack))) }
        }
        try repository.rebuildIndex()
        return report
    }
}
