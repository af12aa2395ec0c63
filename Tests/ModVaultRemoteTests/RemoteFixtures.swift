import Foundation
import Synchronization
import Testing
import ModVaultCore
import ModVaultRemoteSupport
import ModVaultRemoteDisk
import ModVaultRemoteS3
import ModVaultRemotePocketBase
import ModVaultRemoteHTTP

/// The back ends the conformance suite runs against.
enum RemoteKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case disk
    case s3Rclone
    case s3Moto
    case pocketBase
    case http

    var testDescription: String { rawValue }

    /// Whether writes go through the remote under test (the HTTP remote is read-only; its tests write the served folder).
    var writesThroughRemote: Bool { self != .http }

    /// What `supportsCreateIfAbsent` must answer: rclone serve s3 ignores `If-None-Match`, moto honours it.
    var expectedCreateIfAbsent: Bool {
        switch self {
        case .disk, .s3Moto, .pocketBase: return true
        case .s3Rclone, .http: return false
        }
    }

    /// A fresh, empty remote of this kind: its own folder, key prefix or collection.
    /// `pageSize` is the listing page size where the back end pages (S3, PocketBase).
    func makeRemote(pageSize: Int = 4) async throws -> any Remote {
        let servers = try TestServers.required()
        let unique = Fixture.uniqueName()
        switch self {
        case .disk:
            let remote = DiskRemote(path: "\(servers.root)/disk/\(unique)")
            try remote.createFolder()
            return remote
        case .s3Rclone:
            return try servers.s3Remote(endpoint: servers.rcloneEndpoint, prefix: "t/\(unique)", options: S3Options(listPageSize: pageSize))
        case .s3Moto:
            return try servers.s3Remote(endpoint: servers.motoEndpoint, prefix: "t/\(unique)", options: S3Options(listPageSize: pageSize))
        case .pocketBase:
            let remote = PocketBaseRemote(
                address: PocketBaseAddress(baseURL: servers.pocketBaseURL, collection: "t\(unique)"),
                credentials: .password(email: TestServers.userEmail, password: TestServers.userPassword),
                options: PocketBaseOptions(listPageSize: pageSize))
            try await remote.createProject(superuserEmail: TestServers.superuserEmail, password: TestServers.superuserPassword)
            return remote
        case .http:
            let folder = DiskRemote(path: "\(servers.servedRoot)/\(unique)")
            try folder.createFolder()
            return ServedFolderRemote(folder: folder, http: HTTPRemote(baseURL: "\(servers.staticURL)/\(unique)"))
        }
    }
}

/// The HTTP remote under test: reads go through `HTTPRemote` to the static server; writes go to the
/// folder it serves (as `push` to the folder behind a web host would), followed by a fresh manifest.
final class ServedFolderRemote: Remote, Sendable {
    let folder: DiskRemote
    let http: HTTPRemote
    private let manifestStale = Mutex(true)

    init(folder: DiskRemote, http: HTTPRemote) {
        self.folder = folder
        self.http = http
    }

    var location: String { http.location }
    var supportsCreateIfAbsent: Bool { get async { await http.supportsCreateIfAbsent } }

    func save(_ name: ObjectName, data: [UInt8], ifAbsent: Bool) async throws {
        try await folder.save(name, data: data, ifAbsent: ifAbsent)
        manifestStale.withLock { $0 = true }
    }

    func remove(_ name: ObjectName) async throws {
        try await folder.remove(name)
        manifestStale.withLock { $0 = true }
    }

    func load(_ name: ObjectName, range: Range<Int64>?) async throws -> [UInt8] { try await http.load(name, range: range) }
    func stat(_ name: ObjectName) async throws -> Int64? { try await http.stat(name) }

    func list(_ kind: FileKind, after: String?, limit: Int) async throws -> [RemoteEntry] {
        if manifestStale.withLock({ stale in defer { stale = false }; return stale }) {
            // Every kind, locks included, so the suite can list all of them through HTTP.
            try await RemoteManifest.write(to: folder, kinds: FileKind.allCases)
        }
        return try await http.list(kind, after: after, limit: limit)
    }
}

/// Test data and names.
enum Fixture {
    /// A short random name for folders, prefixes and collections.
    static func uniqueName() -> String {
        Hex.encode((0..<6).map { _ in UInt8.random(in: 0...255) })
    }

    /// A random 64-hex object name of `kind`.
    static func name(_ kind: FileKind) -> ObjectName {
        kind == .config ? .config : ObjectName(kind: kind, name: Hex.encode((0..<32).map { _ in UInt8.random(in: 0...255) }))
    }

    /// `count` reproducible pseudo-random bytes.
    static func bytes(_ count: Int, seed: UInt64) -> [UInt8] {
        var generator = SplitMix64(seed: seed)
        var out = [UInt8](repeating: 0, count: count)
        out.withUnsafeMutableBytes { raw in
            var i = 0
            while i + 8 <= count {
                raw.storeBytes(of: generator.next(), toByteOffset: i, as: UInt64.self)
                i += 8
            }
            while i < count {
                raw[i] = UInt8(truncatingIfNeeded: generator.next())
                i += 1
            }
        }
        return out
    }

    /// Every entry of `kind`, walking the listing `limit` at a time.
    static func listAll(_ remote: any Remote, _ kind: FileKind, limit: Int) async throws -> [RemoteEntry] {
        var all: [RemoteEntry] = []
        var after: String?
        while true {
            let page = try await remote.list(kind, after: after, limit: limit)
            #expect(page.count <= limit)
            guard let last = page.last else { return all }
            all += page
            after = last.name.name
        }
    }

    /// The error `body` throws, as a `RemoteError` (nil if it threw nothing or something else).
    static func remoteError(_ body: () async throws -> Void) async -> RemoteError? {
        do {
            try await body()
            return nil
        } catch let error as RemoteError {
            return error
        } catch {
            Issue.record("expected a RemoteError, got \(type(of: error)): \(error)")
            return nil
        }
    }
}
