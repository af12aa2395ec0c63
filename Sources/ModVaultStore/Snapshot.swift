import Foundation
public import ModVaultCore

/// A snapshot: one saved state of one source folder. Stored encrypted as `snapshots/<sha256>`.
public struct Snapshot: Codable, Sendable, Equatable {
    /// Format version.
    public var version: Int
    /// When the snapshot started.
    public var time: Date
    /// Host name of the machine that made it.
    public var host: String
    /// User that made it.
    public var username: String
    /// Stable random ID of the machine (see `DeviceID`).
    public var device: String
    /// Absolute source paths; one today, a list so later merges can hold more.
    public var paths: [String]
    /// User tags.
    public var tags: [String]
    /// Parent snapshots: none for the first, one normally, two for a merge.
    public var parents: [ObjectID]
    /// The root tree: the contents of the source folder.
    public var tree: ObjectID
    /// Counters describing how the snapshot was made.
    public var summary: SnapshotSummary?

    /// Creates a snapshot record.
    public init(time: Date, host: String, username: String, device: String, paths: [String], tags: [String],
                parents: [ObjectID], tree: ObjectID, summary: SnapshotSummary?) {
        version = 1
        self.time = time
        self.host = host
        self.username = username
        self.device = device
        self.paths = paths
        self.tags = tags
        self.parents = parents
        self.tree = tree
        self.summary = summary
    }
}

/// What a snapshot run did.
public struct SnapshotSummary: Codable, Sendable, Equatable {
    /// Files not in the parent.
    public var filesNew: Int
    /// Files whose content or metadata changed.
    public var filesChanged: Int
    /// Files identical to the parent.
    public var filesUnchanged: Int
    /// Directories in the snapshot.
    public var directories: Int
    /// Bytes read from the source.
    public var bytesRead: Int64
    /// Total size of the files in the snapshot.
    public var bytesTotal: Int64
    /// Bytes added to the repository (sealed blobs plus pack headers).
    public var bytesAdded: Int64
    /// Blobs added.
    public var blobsAdded: Int
    /// Entries skipped because they could not be read.
    public var errors: Int
    /// Seconds the run took.
    public var seconds: Double
    /// What happened to the compressed streams read (absent when there were none).
    public var streams: StreamStatistics?

    /// Creates a summary.
    public init(filesNew: Int = 0, filesChanged: Int = 0, filesUnchanged: Int = 0, directories: Int = 0, bytesRead: Int64 = 0,
                bytesTotal: Int64 = 0, bytesAdded: Int64 = 0, blobsAdded: Int = 0, errors: Int = 0, seconds: Double = 0) {
        self.filesNew = filesNew
        self.filesChanged = filesChanged
        self.filesUnchanged = filesUnchanged
        self.directories = directories
        self.bytesRead = bytesRead
        self.bytesTotal = bytesTotal
        self.bytesAdded = bytesAdded
        self.blobsAdded = blobsAdded
        self.errors = errors
        self.seconds = seconds
    }
}

/// What a snapshot did with the compressed streams inside the files it read.
public struct StreamStatistics: Codable, Sendable, Equatable {
    /// Streams already in the repository (a stream blob, or the same bytes stored as they are).
    public var reused = 0
    /// New streams stored decompressed with a recipe.
    public var normalized = 0
    /// New streams no recipe reproduced, stored as they are with a stream blob saying so.
    public var verbatim = 0
    /// New streams stored as they are, compressed: not worth decompressing, or not tried (a first
    /// snapshot, `--normalize none`, or over the time budget).
    public var kept = 0
    /// Compressed bytes of the kept streams.
    public var keptBytes: Int64 = 0
    /// CPU seconds spent searching for recipes.
    public var recipeSeconds = 0.0
    /// New streams, and runs of a loose texture, whose content repeats a stream already stored as it
    /// is: stored as a reference to that stream (to inflate, and to recompress for a repack).
    public var linked = 0
    /// Archives stored as a repack of their previous version (one archive blob each, §8b).
    public var repacked = 0

    /// Empty statistics.
    public init() {}

    /// Reads statistics written before `linked` and `repacked` existed as well as current ones.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        reused = try c.decode(Int.self, forKey: .reused)
        normalized = try c.decode(Int.self, forKey: .normalized)
        verbatim = try c.decode(Int.self, forKey: .verbatim)
        kept = try c.decode(Int.self, forKey: .kept)
        keptBytes = try c.decode(Int64.self, forKey: .keptBytes)
        recipeSeconds = try c.decode(Double.self, forKey: .recipeSeconds)
        linked = try c.decodeIfPresent(Int.self, forKey: .linked) ?? 0
        repacked = try c.decodeIfPresent(Int.self, forKey: .repacked) ?? 0
    }

    /// Streams seen.
    public var total: Int { reused + normalized + verbatim + kept + linked }
}

/// A snapshot together with its ID.
public struct SnapshotRecord: Sendable {
    /// The snapshot's ID (name of its file).
    public var id: ObjectID
    /// The snapshot.
    public var snapshot: Snapshot

    /// Pairs an ID and snapshot.
    public init(id: ObjectID, snapshot: Snapshot) {
        self.id = id
        self.snapshot = snapshot
    }
}
