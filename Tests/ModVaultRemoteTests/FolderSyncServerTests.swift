import Foundation
import Testing
import ModVaultCore
import ModVaultCrypto
import ModVaultChunking
import ModVaultStore
import ModVaultArchive
import ModVaultSync
import ModVaultRemoteSupport

extension LiveRemoteTests {
    /// Folder sync between two devices through each real server.
    @Suite("Folder sync on live servers")
    struct FolderSyncOnServers {
        final class Device: @unchecked Sendable {
            // Test-only: each device is driven by one task at a time.
            let repository: Repository
            let folder: String
            let remote: any Remote

            init(repository: Repository, folder: String, remote: any Remote) throws {
                self.repository = repository
                self.folder = folder
                self.remote = remote
                try FileSystem.makeDirectories(folder)
            }

            @discardableResult
            func sync(singleWriter: Bool = false) async throws -> FolderSyncReport {
                let state = try FolderSyncState.load(folder)
                    ?? FolderSyncState(repository: repository.config.id, remote: "shared", remoteLocation: remote.location)
                var options = FolderSyncOptions()
                options.singleWriter = singleWriter
                return try await FolderSync(repository: repository, remote: remote, folder: folder).run(state: state, options: options)
            }

            func write(_ relative: String, _ text: String) throws {
                try FileSystem.makeDirectories(FileSystem.parentPath(folder + "/" + relative))
                try Data(text.utf8).write(to: URL(fileURLWithPath: folder + "/" + relative))
            }

            func contents() throws -> [String: Data] {
                var out: [String: Data] = [:]
                for rel in try FileManager.default.subpathsOfDirectory(atPath: folder) where !rel.hasPrefix(".modvault") {
                    if !FileSystem.isDirectory(folder + "/" + rel) { out[rel] = try Data(contentsOf: URL(fileURLWithPath: folder + "/" + rel)) }
                }
                return out
            }
        }

        static func options() -> RepositoryOptions {
            var o = RepositoryOptions()
            o.scrypt = ScryptParameters(n: 1024, r: 8, p: 1)
            o.packSize = 1 << 20
            o.chunker = ChunkerParameters(minSize: 16 << 10, averageSize: 64 << 10, maxSize: 256 << 10)
            return o
        }

        static func pair(on remote: any Remote) async throws -> (Device, Device) {
            let root = try TestServers.required().root + "/sync-" + Fixture.uniqueName()
            let password = Array("team secret".utf8)
            let repoA = try Repository.initialize(at: root + "/repo-a", password: password, options: options())
            let a = try Device(repository: repoA, folder: root + "/a", remote: remote)
            try a.write("Data/Foo.esp", "plugin")
            try a.write("Data/Textures/t.dds", String(repeating: "texture ", count: 5000))
            try await a.sync()
            let (repoB, _) = try await Syncer.clone(from: remote, to: root + "/repo-b", password: password)
            let b = try Device(repository: repoB, folder: root + "/b", remote: remote)
            try await b.sync()
            return (a, b)
        }

        /// Both devices push at the same moment: one entry per number, one merge with two parents,
        /// identical folders after a second round, and both repositories verify.
        @Test(arguments: [RemoteKind.disk, .s3Moto, .pocketBase])
        func simultaneousSyncsMerge(kind: RemoteKind) async throws {
            let remote = try await kind.makeRemote()
            let (a, b) = try await Self.pair(on: remote)
            try a.write("Data/A.txt", "edited on A")
            try b.write("Data/B.txt", "edited on B")
            async let x = a.sync()
            async let y = b.sync()
            let (ra, rb) = try await (x, y)
            #expect(ra.pushed && rb.pushed && ra.merged != rb.merged)
            try await a.sync()
            try await b.sync()
            #expect(try a.contents() == b.contents())
            #expect(try a.contents().count == 4)
            let log = try await PushLog(remote: remote, repository: a.repository).read(after: 0)
            #expect(log.entries.map(\.seq) == Array(1...UInt64(log.entries.count)))
            #expect(log.entries.filter { $0.parents.count == 2 }.count == 1)
            #expect(log.refused.isEmpty)
            for device in [a, b] { #expect(try Checker(repository: device.repository).check(readData: true).isHealthy) }
        }

        /// rclone serve s3 ignores If-None-Match: shared sync is refused, naming the remote and the missing
        /// feature; --single-writer accepts it under a lease.
        @Test func aRemoteWithoutCreateIfAbsentIsRefused() async throws {
            let servers = try TestServers.required()
            let remote = try servers.s3Remote(endpoint: servers.rcloneEndpoint, prefix: "t/" + Fixture.uniqueName())
            let root = servers.root + "/sync-" + Fixture.uniqueName()
            let repo = try Repository.initialize(at: root + "/repo", password: Array("pw".utf8), options: Self.options())
            let device = try Device(repository: repo, folder: root + "/a", remote: remote)
            try device.write("a.txt", "a")
            do {
                try await device.sync()
                Issue.record("sync to rclone serve s3 was not refused")
            } catch let error as SyncFolderError {
                guard case .noCreateIfAbsent(let location) = error else { Issue.record("wrong error: \(error)"); return }
                #expect(location == remote.location)
                #expect(error.description.contains("If-None-Match"))
            }
            let report = try await device.sync(singleWriter: true)
            #expect(report.pushed && report.seq == 1)
            #expect(try await remote.stat(ObjectName(kind: .config, name: "sync-lease")) == nil)
        }
    }
}
