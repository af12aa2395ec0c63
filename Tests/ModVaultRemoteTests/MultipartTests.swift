import Foundation
import Synchronization
import Testing
import ModVaultCore
import ModVaultRemoteSupport
import ModVaultRemoteS3
import ModVaultStore
import ModVaultArchive
import ModVaultSync

/// Passes requests to a real server, counting part uploads and failing the ones `failPart` names.
final class PartCountingTransport: HTTPTransport {
    let base: any HTTPTransport
    let failPart: Int?
    let parts = Mutex(0)

    init(base: any HTTPTransport, failPart: Int?) {
        self.base = base
        self.failPart = failPart
    }

    func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        let query = request.url.query ?? ""
        if request.method == "PUT", query.contains("partNumber=") {
            let n = parts.withLock { $0 += 1; return $0 }
            if n == failPart { throw HTTPTransportError(.connectionLost, "injected: connection reset during part \(n)") }
        }
        return try await base.send(request)
    }
}

extension LiveRemoteTests {
    @Suite("S3 multipart upload")
    struct Multipart {
        static let small = S3Options(multipartThreshold: 5 << 20, partSize: 5 << 20)

        /// Runs `script` with boto3 against `endpoint` and returns its last output line.
        static func boto3(_ script: String, endpoint: String, key: String = "") async throws -> String {
            let python = try #require(TestTools.findOnPath("python3"))
            let result = try await TestTools.run(python, ["-c", """
                import boto3, json, os
                from botocore.config import Config
                s3 = boto3.client("s3", endpoint_url=os.environ["ENDPOINT"], region_name="us-east-1",
                    config=Config(s3={"addressing_style": "path"}, request_checksum_calculation="when_required",
                                  response_checksum_validation="when_required"))
                B, K = os.environ["BUCKET"], os.environ["KEY"]
                """ + "\n" + script], environment: [
                "ENDPOINT": endpoint, "BUCKET": TestServers.bucket, "KEY": key,
                "AWS_ACCESS_KEY_ID": TestServers.accessKey, "AWS_SECRET_ACCESS_KEY": TestServers.secretKey,
                "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
            ])
            try #require(result.status == 0, "boto3 script failed: \(result.output)")
            return result.output.split(separator: "\n").last.map(String.init) ?? ""
        }

        static func remote(_ servers: TestServers, endpoint: String, prefix: String, failPart: Int? = nil) throws -> (S3Remote, PartCountingTransport) {
            let base: any HTTPTransport = URL(string: endpoint)?.port == servers.moto.port ? TestServers.serialTransport : AsyncHTTPTransport.shared
            let transport = PartCountingTransport(base: base, failPart: failPart)
            let remote = try S3Remote(address: S3Address(bucket: TestServers.bucket, prefix: prefix, endpoint: endpoint, region: "us-east-1", style: .path),
                                      credentials: AWSCredentials(accessKeyID: TestServers.accessKey, secretAccessKey: TestServers.secretKey),
                                      options: small, transport: transport)
            return (remote, transport)
        }

        static func writeTemporary(_ bytes: [UInt8]) throws -> String {
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("part-\(Fixture.uniqueName())").path
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            return path
        }

        @Test("a file above the threshold goes up in parts and reads back whole", arguments: [RemoteKind.s3Rclone, .s3Moto])
        func largeFileInParts(_ kind: RemoteKind) async throws {
            let servers = try TestServers.required()
            let endpoint = kind == .s3Rclone ? servers.rcloneEndpoint : servers.motoEndpoint
            let (remote, transport) = try Self.remote(servers, endpoint: endpoint, prefix: "mp/\(Fixture.uniqueName())")
            let data = Fixture.bytes((12 << 20) + 123, seed: 77)
            let path = try Self.writeTemporary(data)
            defer { try? FileManager.default.removeItem(atPath: path) }
            let name = Fixture.name(.pack)
            try await remote.save(name, file: path, ifAbsent: false)
            #expect(transport.parts.withLock { $0 } == 3)
            #expect(try await remote.stat(name) == Int64(data.count))
            #expect(try await remote.load(name, range: nil) == data)
            #expect(try await remote.load(name, range: (5 << 20) - 10..<(5 << 20) + 10) == Array(data[(5 << 20) - 10..<(5 << 20) + 10]))

            // A small file is one PUT, with no parts.
            let smallPath = try Self.writeTemporary(Array(data.prefix(1000)))
            defer { try? FileManager.default.removeItem(atPath: smallPath) }
            try await remote.save(Fixture.name(.index), file: smallPath, ifAbsent: false)
            #expect(transport.parts.withLock { $0 } == 3)
        }

        @Test("a failed part aborts the upload: nothing is stored, no parts are left")
        func failedPartAborts() async throws {
            let servers = try TestServers.required()
            let prefix = "mp/\(Fixture.uniqueName())"
            let (remote, _) = try Self.remote(servers, endpoint: servers.motoEndpoint, prefix: prefix, failPart: 2)
            let path = try Self.writeTemporary(Fixture.bytes(11 << 20, seed: 78))
            defer { try? FileManager.default.removeItem(atPath: path) }
            let name = Fixture.name(.pack)
            await #expect(throws: RemoteError.self) { try await remote.save(name, file: path, ifAbsent: false) }
            #expect(try await remote.stat(name) == nil)
            let left = try await Self.boto3("""
                r = s3.list_multipart_uploads(Bucket=B, Prefix=K)
                print(len(r.get("Uploads", [])))
                """, endpoint: servers.motoEndpoint, key: prefix + "/")
            #expect(left == "0")
        }

        @Test("uploads left by a killed push are aborted once they are old enough, and only under the remote's prefix",
              arguments: [RemoteKind.s3Rclone, .s3Moto])
        func staleUploadsAreAborted(_ kind: RemoteKind) async throws {
            let servers = try TestServers.required()
            let endpoint = kind == .s3Rclone ? servers.rcloneEndpoint : servers.motoEndpoint
            let prefix = "mp/\(Fixture.uniqueName())"
            let other = "mp/\(Fixture.uniqueName())"
            let (remote, _) = try Self.remote(servers, endpoint: endpoint, prefix: prefix)
            let begin = """
                u = s3.create_multipart_upload(Bucket=B, Key=K)
                s3.upload_part(Bucket=B, Key=K, UploadId=u["UploadId"], PartNumber=1, Body=b"x" * (5 << 20))
                print(u["UploadId"])
                """
            _ = try await Self.boto3(begin, endpoint: endpoint, key: prefix + "/data/ab/" + String(repeating: "ab", count: 32))
            _ = try await Self.boto3(begin, endpoint: endpoint, key: other + "/data/ab/" + String(repeating: "ab", count: 32))
            // moto reports every upload as initiated in 2010, so only rclone can show a young one kept.
            if kind == .s3Rclone { #expect(try await remote.abortIncompleteUploads(olderThan: 3600) == 0) }
            try await Task.sleep(for: .milliseconds(1100))
            // At least one: boto3 retries a create that times out on a busy server, which can leave two.
            #expect(try await remote.abortIncompleteUploads(olderThan: 0) >= 1)
            let count = """
                print(len(s3.list_multipart_uploads(Bucket=B, Prefix=K).get("Uploads", [])))
                """
            #expect(try await Self.boto3(count, endpoint: endpoint, key: prefix + "/") == "0")
            #expect(try await Self.boto3(count, endpoint: endpoint, key: other + "/") != "0", "another prefix's upload is left alone")
        }

        /// A repository with 12 MiB packs pushed through the wrapped, retrying remote as `push` does:
        /// the packs go up in parts, and a clone reads everything back.
        @Test("push sends large packs in parts; clone checks every byte", arguments: [RemoteKind.s3Rclone, .s3Moto])
        func pushLargePacks(_ kind: RemoteKind) async throws {
            let servers = try TestServers.required()
            let endpoint = kind == .s3Rclone ? servers.rcloneEndpoint : servers.motoEndpoint
            let (s3, transport) = try Self.remote(servers, endpoint: endpoint, prefix: "mp/\(Fixture.uniqueName())")
            let remote = RetryingRemote(ConcurrencyLimitedRemote(s3, limit: 4))
            let root = try RepositoryTransfers.scratch()
            defer { try? FileManager.default.removeItem(atPath: root) }
            var options = RepositoryTransfers.options()
            options.packSize = 12 << 20
            let a = try Repository.initialize(at: root + "/a", password: RepositoryTransfers.password, options: options)
            try RepositoryTransfers.writeFiles(root + "/src", names: ["Textures.ba2", "Meshes.ba2"], size: 10 << 20, seed: 5)
            _ = try await Archiver(repository: a).snapshot(source: root + "/src")
            let packs = try a.list(.pack).map { try FileSystem.status(a.filePath(ObjectName(kind: .pack, id: $0))).size }
            #expect(packs.contains { $0 > 5 << 20 })
            _ = try await Syncer(local: a, remote: remote).push()
            #expect(transport.parts.withLock { $0 } >= 2)

            let (b, _) = try await Syncer.clone(from: remote, to: root + "/b", password: RepositoryTransfers.password)
            #expect(try Checker(repository: b).check(readData: true).isHealthy)
            #expect(try b.list(.pack).sorted() == a.list(.pack).sorted())
        }

        @Test("part sizes keep every upload within 10,000 parts", arguments: [Int64(1) << 20, 64 << 20, 200 << 30, 5 << 40])
        func partSizes(_ size: Int64) {
            let part = S3Remote.partSize(for: size, configured: 16 << 20)
            #expect(part >= 16 << 20)
            #expect((size + Int64(part) - 1) / Int64(part) <= 10_000)
            #expect(part % (1 << 20) == 0)
        }
    }
}
