import Foundation
import Testing
import ModVaultCore
import ModVaultCrypto
import ModVaultChunking
import ModVaultStore
import ModVaultArchive
import ModVaultSync
import ModVaultRemoteSupport
import ModVaultRemoteDisk

extension LiveRemoteTests {
    /// Whole repositories over every real back end: push, clone, push an update, mirror with seeds.
    @Suite("Repository transfers")
    struct RepositoryTransfers {
        static let password = Array("transfer secret".utf8)

        static func options() -> RepositoryOptions {
            var o = RepositoryOptions()
            o.scrypt = ScryptParameters(n: 1024, r: 8, p: 1)
            o.packSize = 1 << 20
            o.chunker = ChunkerParameters(minSize: 16 << 10, averageSize: 64 << 10, maxSize: 256 << 10)
            return o
        }

        static func scratch() throws -> String {
            let root = FileManager.default.temporaryDirectory.appendingPathComponent("modvault-transfer-\(UUID().uuidString)").path
            try FileSystem.makeDirectories(root)
            return root
        }

        static func writeFiles(_ dir: String, names: [String], size: Int, seed: UInt64) throws {
            try FileSystem.makeDirectories(dir)
            for (i, name) in names.enumerated() { try Data(Fixture.bytes(size, seed: seed &+ UInt64(i))).write(to: URL(fileURLWithPath: dir + "/" + name)) }
        }

        static func contents(_ dir: String) throws -> [String: Data] {
            var out: [String: Data] = [:]
            for rel in try FileManager.default.subpathsOfDirectory(atPath: dir) where !rel.contains(".modvault-") {
                if !FileSystem.isDirectory(dir + "/" + rel) { out[rel] = try Data(contentsOf: URL(fileURLWithPath: dir + "/" + rel)) }
            }
            return out
        }

        @Test("push, clone, update and mirror", arguments: [RemoteKind.disk, .s3Rclone, .s3Moto, .pocketBase])
        func pushCloneMirror(_ kind: RemoteKind) async throws {
            let root = try Self.scratch()
            defer { try? FileManager.default.removeItem(atPath: root) }
            let remote = RetryingRemote(try await kind.makeRemote(pageSize: 50))
            let a = try Repository.initialize(at: root + "/a", password: Self.password, options: Self.options())
            try Self.writeFiles(root + "/src", names: (0..<6).map { "m\($0).ba2" }, size: 200_000, seed: 10)
            let v1 = try await Archiver(repository: a).snapshot(source: root + "/src")
            _ = try await Syncer(local: a, remote: remote).push()

            let (b, _) = try await Syncer.clone(from: remote, to: root + "/b", password: Self.password)
            #expect(try Checker(repository: b).check(readData: true).isHealthy)
            #expect(try b.snapshots().map(\.id) == [v1.record.id])

            // Mirror v1 into a folder, then let v2 change one file and add one: only those chunks travel.
            let access = try await RemoteRepositoryAccess(remote: remote, password: Self.password)
            _ = try await Mirror(access: access).mirror("latest", options: MirrorOptions(target: root + "/mirror"))
            #expect(try Self.contents(root + "/mirror") == Self.contents(root + "/src"))
            try Self.writeFiles(root + "/src", names: ["m0.ba2", "new.esp"], size: 200_000, seed: 99)
            _ = try await Archiver(repository: a).snapshot(source: root + "/src")
            let push = try await Syncer(local: a, remote: remote).push()
            #expect(push.bytesUploaded < 600_000)
            let update = try await Mirror(access: access).mirror("latest", options: MirrorOptions(target: root + "/mirror"))
            #expect(try Self.contents(root + "/mirror") == Self.contents(root + "/src"))
            #expect(update.bytesReused >= 1_000_000)
            #expect(update.bytesDownloaded < 600_000)
            let pull = try await Syncer(local: b, remote: remote).pull()
            #expect(pull.bytesDownloaded < 600_000)
            #expect(try Checker(repository: b).check(readData: true).isHealthy)
        }

        @Test("boto3 round trip of a whole repository", arguments: [RemoteKind.s3Rclone, .s3Moto])
        func boto3RoundTrip(_ kind: RemoteKind) async throws {
            let servers = try TestServers.required()
            let endpoint = kind == .s3Rclone ? servers.rcloneEndpoint : servers.motoEndpoint
            let root = try Self.scratch()
            defer { try? FileManager.default.removeItem(atPath: root) }
            let a = try Repository.initialize(at: root + "/a", password: Self.password, options: Self.options())
            try Self.writeFiles(root + "/src", names: ["a.esp", "b.dds", "c.ba2"], size: 150_000, seed: 5)
            _ = try await Archiver(repository: a).snapshot(source: root + "/src")

            // ModVault pushes; boto3 downloads every object into a folder; that folder clones as a repository.
            let pushedPrefix = "roundtrip/\(Fixture.uniqueName())"
            _ = try await Syncer(local: a, remote: try servers.s3Remote(endpoint: endpoint, prefix: pushedPrefix)).push()
            try await Self.python(Self.download, endpoint: endpoint, prefix: pushedPrefix, folder: root + "/downloaded")
            let (fromBoto, _) = try await Syncer.clone(from: DiskRemote(path: root + "/downloaded"), to: root + "/b", password: Self.password)
            #expect(try Checker(repository: fromBoto.self).check(readData: true).isHealthy)

            // boto3 uploads a repository folder; ModVault clones it from the bucket.
            let uploadedPrefix = "roundtrip/\(Fixture.uniqueName())"
            try await Self.python(Self.upload, endpoint: endpoint, prefix: uploadedPrefix, folder: root + "/a")
            let (fromBucket, _) = try await Syncer.clone(from: try servers.s3Remote(endpoint: endpoint, prefix: uploadedPrefix),
                                                         to: root + "/c", password: Self.password)
            #expect(try Checker(repository: fromBucket).check(readData: true).isHealthy)
            #expect(try fromBucket.snapshots().map(\.id) == a.snapshots().map(\.id))
        }

        static let download = """
            import boto3, os
            from botocore.config import Config
            s3 = boto3.client("s3", endpoint_url=os.environ["ENDPOINT"], region_name="us-east-1",
                config=Config(s3={"addressing_style": "path"}, request_checksum_calculation="when_required",
                              response_checksum_validation="when_required"))
            prefix = os.environ["PREFIX"] + "/"
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=os.environ["BUCKET"], Prefix=prefix):
                for item in page.get("Contents", []):
                    path = os.path.join(os.environ["FOLDER"], item["Key"][len(prefix):])
                    os.makedirs(os.path.dirname(path), exist_ok=True)
                    s3.download_file(os.environ["BUCKET"], item["Key"], path)
            print("{}")
            """

        static let upload = """
            import boto3, os
            from botocore.config import Config
            s3 = boto3.client("s3", endpoint_url=os.environ["ENDPOINT"], region_name="us-east-1",
                config=Config(s3={"addressing_style": "path"}, request_checksum_calculation="when_required",
                              response_checksum_validation="when_required"))
            top = os.environ["FOLDER"]
            for folder, _, files in os.walk(top):
                for name in files:
                    rel = os.path.relpath(os.path.join(folder, name), top)
                    if rel.startswith("cache/") or name.startswith("."):
                        continue
                    s3.upload_file(os.path.join(folder, name), os.environ["BUCKET"], os.environ["PREFIX"] + "/" + rel)
            print("{}")
            """

        static func python(_ script: String, endpoint: String, prefix: String, folder: String) async throws {
            let python = try #require(TestTools.findOnPath("python3"))
            let result = try await TestTools.run(python, ["-c", script], environment: [
                "ENDPOINT": endpoint, "BUCKET": TestServers.bucket, "PREFIX": prefix, "FOLDER": folder,
                "AWS_ACCESS_KEY_ID": TestServers.accessKey, "AWS_SECRET_ACCESS_KEY": TestServers.secretKey,
                "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
            ])
            try #require(result.status == 0, "boto3 script failed: \(result.output)")
        }
    }
}

extension LiveRemoteTests {
    /// Pushes that lose their server, and pushes that race each other.
    @Suite("Push failure and concurrency")
    struct PushRecovery {
    static let password = RepositoryTransfers.password
    static func options() -> RepositoryOptions { RepositoryTransfers.options() }
    static func scratch() throws -> String { try RepositoryTransfers.scratch() }
    static func writeFiles(_ dir: String, names: [String], size: Int, seed: UInt64) throws {
        try RepositoryTransfers.writeFiles(dir, names: names, size: size, seed: seed)
    }

    /// A private rclone serve s3 is killed (SIGKILL) in the middle of a push and restarted on the same
    /// data: the next push completes, and a repository cloned from it passes check --read-data.
    @Test("server killed mid-push, restarted, push completes")
    func serverKilledMidPush() async throws {
        let root = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let data = root + "/rclone-data"
        try FileSystem.makeDirectories(data + "/" + TestServers.bucket)
        let rclone = try TestTools.locate("rclone")
        let port = try TestTools.freePorts(1)[0]
        func launch() async throws -> ServerProcess {
            let server = try ServerProcess.launch(
                "rclone-killed", tool: rclone,
                arguments: ["serve", "s3", "--auth-key", "\(TestServers.accessKey),\(TestServers.secretKey)", "--addr", "127.0.0.1:\(port)", data],
                port: port, logFolder: root)
            try await server.waitUntilAnswering("http://127.0.0.1:\(port)/")
            return server
        }
        var server = try await launch()
        defer { server.stop() }
        let remote = RetryingRemote(
            try TestServers.required().s3Remote(endpoint: "http://127.0.0.1:\(port)", prefix: "killed"),
            policy: RetryPolicy(maxAttempts: 3, initialDelay: .milliseconds(50), maxDelay: .milliseconds(200), maxTotalTime: .seconds(5)))

        let a = try Repository.initialize(at: root + "/a", password: Self.password, options: Self.options())
        try Self.writeFiles(root + "/src", names: (0..<24).map { "f\($0).ba2" }, size: 400_000, seed: 77)
        _ = try await Archiver(repository: a).snapshot(source: root + "/src")

        // Kill the server once a few packs have arrived.
        let victim = server
        let killer = Task {
            while !Task.isCancelled {
                let arrived = (try? FileManager.default.subpathsOfDirectory(atPath: data + "/" + TestServers.bucket + "/killed/data"))?
                    .filter { $0.count > 64 }.count ?? 0
                if arrived >= 3 { break }
                try await Task.sleep(for: .milliseconds(5))
            }
            victim.kill()
        }
        var firstFailed = false
        do { _ = try await Syncer(local: a, remote: remote).push() } catch { firstFailed = true }
        _ = try? await killer.value
        #expect(firstFailed, "the push should have lost its server")
        server = try await launch()
        let resumed = try await Syncer(local: a, remote: remote).push()
        #expect(resumed.bytesUploaded > 0)
        let (b, _) = try await Syncer.clone(from: remote, to: root + "/b", password: Self.password)
        #expect(try Checker(repository: b).check(readData: true).isHealthy)
        #expect(try b.snapshots().map(\.id) == a.snapshots().map(\.id))
    }

    /// Two machines push different snapshots of one repository to the same remote at the same time.
    @Test("concurrent pushes lose nothing", arguments: [RemoteKind.s3Rclone, .pocketBase])
    func concurrentPushes(_ kind: RemoteKind) async throws {
        let root = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let remote = RetryingRemote(try await kind.makeRemote(pageSize: 100))
        let a = try Repository.initialize(at: root + "/a", password: Self.password, options: Self.options())
        _ = try await Syncer(local: a, remote: remote).push()
        let (b, _) = try await Syncer.clone(from: remote, to: root + "/b", password: Self.password)
        try Self.writeFiles(root + "/srcA", names: ["a1.esp", "a2.ba2"], size: 300_000, seed: 1)
        try Self.writeFiles(root + "/srcB", names: ["b1.esp", "b2.ba2"], size: 300_000, seed: 2)
        let snapA = try await Archiver(repository: a).snapshot(source: root + "/srcA")
        let snapB = try await Archiver(repository: b).snapshot(source: root + "/srcB")
        async let pushA = Syncer(local: a, remote: remote).push()
        async let pushB = Syncer(local: b, remote: remote).push()
        _ = try await (pushA, pushB)
        let (c, _) = try await Syncer.clone(from: remote, to: root + "/c", password: Self.password)
        #expect(Set(try c.snapshots().map(\.id)) == [snapA.record.id, snapB.record.id])
        #expect(try Checker(repository: c).check(readData: true).isHealthy)
    }
}
}
