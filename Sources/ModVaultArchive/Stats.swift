public import ModVaultCore
public import ModVaultStore

/// Size, deduplication and compression of a repository, as `modvault stats` and the web UI show them.
public struct RepositoryStats: Sendable, Codable, Equatable {
    /// Snapshots.
    public var snapshots = 0
    /// Blobs in the index, and of each type.
    public var blobs = 0, dataBlobs = 0, treeBlobs = 0, streamBlobs = 0, listBlobs = 0, archiveBlobs = 0
    /// Packs holding them.
    public var packs = 0
    /// Bytes of packs, index files, snapshots and key slots on disk.
    public var repositoryBytes: Int64 = 0
    /// Bytes of the blobs as stored (compressed, sealed), and before compression.
    public var storedBlobBytes: Int64 = 0, rawBlobBytes: Int64 = 0
    /// Bytes of every snapshot's files added up (what restoring them all would write).
    public var snapshotBytesTotal: Int64 = 0

    enum CodingKeys: String, CodingKey {
        case snapshots, blobs, packs
        case dataBlobs = "data_blobs", treeBlobs = "tree_blobs", streamBlobs = "stream_blobs", listBlobs = "list_blobs", archiveBlobs = "archive_blobs"
        case repositoryBytes = "repository_bytes", storedBlobBytes = "stored_blob_bytes", rawBlobBytes = "raw_blob_bytes"
        case snapshotBytesTotal = "snapshot_bytes_total"
    }

    /// The statistics of `repository`, from its local index and files.
    public static func of(_ repository: Repository) throws -> RepositoryStats {
        var s = RepositoryStats()
        let snapshots = try repository.snapshots()
        s.snapshots = snapshots.count
        let blobs = try repository.index.allBlobs()
        s.blobs = blobs.count
        var packs = Set<ObjectID>()
        for (h, l) in blobs {
            s.storedBlobBytes += l.length
            s.rawBlobBytes += l.rawLength
            packs.insert(l.pack)
            switch h.type {
            case .data: s.dataBlobs += 1
            case .tree: s.treeBlobs += 1
            case .stream: s.streamBlobs += 1
            case .list: s.listBlobs += 1
            case .archive: s.archiveBlobs += 1
            }
        }
        s.packs = packs.count
        for kind in [FileKind.pack, .index, .snapshot, .key] {
            for id in try repository.list(kind) {
                s.repositoryBytes += (try? FileSystem.status(repository.filePath(ObjectName(kind: kind, id: id))).size) ?? 0
            }
        }
        s.snapshotBytesTotal = snapshots.reduce(Int64(0)) { $0 + ($1.snapshot.summary?.bytesTotal ?? 0) }
        return s
    }

    /// How many times the snapshots' bytes the unique data is smaller (1 when nothing repeats).
    public var deduplication: Double { rawBlobBytes > 0 ? Double(snapshotBytesTotal) / Double(rawBlobBytes) : 1 }
    /// How many times compression shrank the unique data.
    public var compression: Double { storedBlobBytes > 0 ? Double(rawBlobBytes) / Double(storedBlobBytes) : 1 }
}
