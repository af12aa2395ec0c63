import Foundation
public import ModVaultCore
public import ModVaultStore
import ModVaultCrypto

/// What this repository last knew a remote to hold (packs, index files, snapshots), kept in
/// `cache/remotes/` so a push need not list the whole remote each time. It is only a shortcut:
/// remote objects are never deleted by ModVault, so the record can only lack objects (costing a
/// needless upload), unless someone removed files by hand; a full listing every `maximumPushes`
/// pushes or `maximumAge` seconds, and `push --verify`, replace it with the truth.
public struct RemoteHoldings: Codable, Sendable, Equatable {
    /// The remote's location, as `Remote.location` gives it.
    public var location: String
    /// When the remote was last listed in full.
    public var listed: Date
    /// Pushes that relied on this record since that listing.
    public var pushesSinceListing: Int
    /// Pack, index and snapshot names (hex) known to be on the remote.
    public var packs: Set<String>
    /// Index file names.
    public var index: Set<String>
    /// Snapshot names.
    public var snapshots: Set<String>

    /// Pushes between full listings.
    public static let maximumPushes = 16
    /// Seconds between full listings (a week).
    public static let maximumAge: TimeInterval = 7 * 24 * 3600

    /// A record made from a full listing now.
    public init(location: String, packs: Set<String>, index: Set<String>, snapshots: Set<String>) {
        self.location = location
        listed = Date()
        pushesSinceListing = 0
        self.packs = packs
        self.index = index
        self.snapshots = snapshots
    }

    /// Whether a push may rely on the record instead of listing.
    public var isFresh: Bool {
        pushesSinceListing < Self.maximumPushes && Date().timeIntervalSince(listed) < Self.maximumAge
    }

    /// The record's file in `repository` for the remote at `location`.
    public static func path(in repository: Repository, location: String) -> String {
        let digest = SHA256Digest.hash(Array(location.utf8)).hex.prefix(16)
        return repository.path + "/cache/remotes/\(digest).json"
    }

    /// The record for `location`, or nil when there is none or it is unreadable (a damaged cache
    /// file only costs a listing).
    public static func load(_ repository: Repository, location: String) -> RemoteHoldings? {
        guard let bytes = try? FileSystem.readFile(path(in: repository, location: location)),
              let record = try? JSONDecoder().decode(RemoteHoldings.self, from: Data(bytes)),
              record.location == location else { return nil }
        return record
    }

    /// Writes the record atomically.
    public func save(_ repository: Repository) throws {
        let file = Self.path(in: repository, location: location)
        try FileSystem.makeDirectories(FileSystem.parentPath(file), mode: 0o700)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try FileSystem.writeAtomically(file, bytes: Array(try encoder.encode(self)), mode: 0o600)
    }
}
