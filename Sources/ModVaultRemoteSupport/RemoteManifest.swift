public import Foundation
public import ModVaultCore

/// The listing of a remote written to its root as `manifest.json`, so hosts that cannot list
/// (static HTTP servers, CDNs) can still serve `pull` and `mirror`. Format: Docs/REMOTES.md.
///
/// Unlike repository files it is rewritten in place: `push` writes a fresh one after its objects,
/// so a manifest never names an object that is not yet complete on the remote.
public struct RemoteManifest: Codable, Sendable, Equatable {
    /// One listed object.
    public struct Entry: Codable, Sendable, Equatable {
        /// The object's name inside its folder.
        public var name: String
        /// Its size in bytes.
        public var size: Int64

        /// Creates an entry.
        public init(name: String, size: Int64) {
            self.name = name
            self.size = size
        }
    }

    /// The manifest's own object name: `manifest.json` at the remote root.
    public static let objectName = ObjectName(kind: .config, name: "manifest.json")

    /// The kinds a manifest lists by default: everything but locks, which are meaningless to readers.
    public static let defaultKinds: [FileKind] = [.config, .key, .index, .snapshot, .pack]

    /// Format version, 1.
    public var version: Int
    /// When it was written, RFC 3339 UTC.
    public var written: String
    /// Entries per folder name (`config` for root files, `keys`, `data`, `index`, `snapshots`), each sorted by name.
    public var objects: [String: [Entry]]

    /// Creates a manifest from listings.
    public init(listings: [FileKind: [RemoteEntry]], written: Date = Date()) {
        version = 1
        self.written = ISO8601DateFormatter().string(from: written)
        var objects: [String: [Entry]] = [:]
        for (kind, entries) in listings {
            objects[kind.rawValue] = entries
                .filter { $0.name.kind == kind && $0.name != Self.objectName }
                .map { Entry(name: $0.name.name, size: $0.size) }
                .sorted { RemoteLayout.precedes($0.name, $1.name) }
        }
        self.objects = objects
    }

    /// Whether the manifest lists `kind` at all (a kind it omits cannot be listed from it).
    public func covers(_ kind: FileKind) -> Bool { objects[kind.rawValue] != nil }

    /// The entries of `kind` after `after`, at most `limit`, in name order.
    public func entries(_ kind: FileKind, after: String?, limit: Int) -> [RemoteEntry] {
        let all = objects[kind.rawValue] ?? []
        return all.lazy
            .filter { after == nil || RemoteLayout.precedes(after!, $0.name) }
            .prefix(max(0, limit))
            .map { RemoteEntry(name: ObjectName(kind: kind, name: $0.name), size: $0.size) }
    }

    /// The manifest as JSON bytes (sorted keys, so equal listings give equal bytes).
    public func encoded() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return [UInt8](try encoder.encode(self))
    }

    /// Parses manifest bytes; throws `.corrupt` naming `location` on malformed JSON or an unknown version.
    public static func decode(_ bytes: [UInt8], location: String) throws -> RemoteManifest {
        let manifest: RemoteManifest
        do {
            manifest = try JSONDecoder().decode(RemoteManifest.self, from: Data(bytes))
        } catch {
            throw RemoteError(.corrupt, location: location, object: objectName.relativePath, detail: "not a manifest: \(error)")
        }
        guard manifest.version == 1 else {
            throw RemoteError(.unsupported, location: location, object: objectName.relativePath,
                              detail: "manifest version \(manifest.version); this modvault reads version 1")
        }
        return manifest
    }

    /// Lists every object of `kinds` on `remote`, page by page.
    public static func build(from remote: any Remote, kinds: [FileKind] = defaultKinds, pageSize: Int = 1000) async throws -> RemoteManifest {
        var listings: [FileKind: [RemoteEntry]] = [:]
        for kind in kinds {
            var all: [RemoteEntry] = []
            var after: String?
            while true {
                let page = try await remote.list(kind, after: after, limit: pageSize)
                all += page
                // A short page is not taken as the end: the protocol only promises "up to limit".
                guard let last = page.last else { break }
                after = last.name.name
            }
            listings[kind] = all
        }
        return RemoteManifest(listings: listings)
    }

    /// Lists `remote` and stores the result as its `manifest.json`, replacing any older one.
    @discardableResult
    public static func write(to remote: any Remote, kinds: [FileKind] = defaultKinds) async throws -> RemoteManifest {
        let manifest = try await build(from: remote, kinds: kinds)
        try await remote.save(objectName, data: try manifest.encoded(), ifAbsent: false)
        return manifest
    }

    /// Reads `manifest.json` from `remote`, or nil when there is none.
    public static func read(from remote: any Remote) async throws -> RemoteManifest? {
        let bytes: [UInt8]
        do {
            bytes = try await remote.load(objectName, range: nil)
        } catch let error as RemoteError where error.reason == .notFound {
            return nil
        }
        return try decode(bytes, location: remote.location)
    }
}
