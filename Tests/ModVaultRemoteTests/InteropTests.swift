import Foundation
import Testing
import ModVaultCore
import ModVaultRemoteSupport
import ModVaultRemoteS3

extension LiveRemoteTests {
    /// A real S3 client (boto3, installed with moto[server]) and S3Remote read each other's objects.
    @Suite("S3 interop with boto3")
    struct Interop {
        /// Lists `PREFIX` with boto3's paginator and prints `{key: [size, sha256]}`.
        static let listAndFetch = """
            import boto3, hashlib, json, os
            from botocore.config import Config
            s3 = boto3.client("s3", endpoint_url=os.environ["ENDPOINT"], region_name="us-east-1",
                config=Config(s3={"addressing_style": "path"}, request_checksum_calculation="when_required",
                              response_checksum_validation="when_required"))
            out = {}
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=os.environ["BUCKET"], Prefix=os.environ["PREFIX"], PaginationConfig={"PageSize": 2}):
                for item in page.get("Contents", []):
                    body = s3.get_object(Bucket=os.environ["BUCKET"], Key=item["Key"])["Body"].read()
                    out[item["Key"]] = [item["Size"], hashlib.sha256(body).hexdigest()]
            print(json.dumps(out))
            """

        /// Uploads a small repository layout under `PREFIX` and prints `{relative path: sha256}`.
        static let upload = """
            import boto3, hashlib, json, os
            from botocore.config import Config
            s3 = boto3.client("s3", endpoint_url=os.environ["ENDPOINT"], region_name="us-east-1",
                config=Config(s3={"addressing_style": "path"}, request_checksum_calculation="when_required",
                              response_checksum_validation="when_required"))
            out = {}
            def put(path, seed):
                body = b"".join(hashlib.sha256(("%s-%d" % (seed, i)).encode()).digest() for i in range(100 + len(out) * 7))
                s3.put_object(Bucket=os.environ["BUCKET"], Key=os.environ["PREFIX"] + "/" + path, Body=body)
                out[path] = hashlib.sha256(body).hexdigest()
            put("config", "c")
            for i in range(3):
                h = hashlib.sha256(b"key%d" % i).hexdigest(); put("keys/" + h, h)
                h = hashlib.sha256(b"pack%d" % i).hexdigest(); put("data/" + h[:2] + "/" + h, h)
                h = hashlib.sha256(b"index%d" % i).hexdigest(); put("index/" + h, h)
            h = hashlib.sha256(b"snap").hexdigest(); put("snapshots/" + h, h)
            print(json.dumps(out))
            """

        static func python(_ script: String, endpoint: String, prefix: String) async throws -> [String: Any] {
            let python = try #require(TestTools.findOnPath("python3"), "python3 is needed for the boto3 interop test")
            let result = try await TestTools.run(python, ["-c", script], environment: [
                "ENDPOINT": endpoint, "BUCKET": TestServers.bucket, "PREFIX": prefix,
                "AWS_ACCESS_KEY_ID": TestServers.accessKey, "AWS_SECRET_ACCESS_KEY": TestServers.secretKey,
                "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
            ])
            try #require(result.status == 0, "boto3 script failed: \(result.output)")
            let last = result.output.split(separator: "\n").last.map(String.init) ?? ""
            return try #require(try JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: Any], "boto3 printed \(result.output)")
        }

        @Test("boto3 lists and fetches what S3Remote wrote", arguments: [RemoteKind.s3Rclone, .s3Moto])
        func boto3ReadsOurObjects(_ kind: RemoteKind) async throws {
            let servers = try TestServers.required()
            let endpoint = kind == .s3Rclone ? servers.rcloneEndpoint : servers.motoEndpoint
            let prefix = "interop/\(Fixture.uniqueName())"
            let remote = try servers.s3Remote(endpoint: endpoint, prefix: prefix)
            var expected: [String: (Int, String)] = [:]
            for (i, fileKind) in FileKind.allCases.enumerated() {
                let name = Fixture.name(fileKind)
                let data = Fixture.bytes(1000 + i * 4097, seed: UInt64(40 + i))
                try await remote.save(name, data: data, ifAbsent: false)
                expected["\(prefix)/\(name.relativePath)"] = (data.count, Digest.hex(Digest.sha256(data)))
            }
            let seen = try await Self.python(Self.listAndFetch, endpoint: endpoint, prefix: prefix + "/")
            #expect(Set(seen.keys) == Set(expected.keys))
            for (key, value) in expected {
                let pair = seen[key] as? [Any]
                #expect((pair?.first as? Int) == value.0, "\(key)")
                #expect((pair?.last as? String) == value.1, "\(key)")
            }
        }

        @Test("S3Remote lists and loads a repository layout boto3 uploaded", arguments: [RemoteKind.s3Rclone, .s3Moto])
        func weReadBoto3Objects(_ kind: RemoteKind) async throws {
            let servers = try TestServers.required()
            let endpoint = kind == .s3Rclone ? servers.rcloneEndpoint : servers.motoEndpoint
            let prefix = "interop/\(Fixture.uniqueName())"
            let uploaded = try await Self.python(Self.upload, endpoint: endpoint, prefix: prefix).compactMapValues { $0 as? String }
            #expect(uploaded.count == 11)
            let remote = try servers.s3Remote(endpoint: endpoint, prefix: prefix, options: S3Options(listPageSize: 2))
            var found: [String: String] = [:]
            for fileKind in FileKind.allCases {
                for entry in try await Fixture.listAll(remote, fileKind, limit: 2) {
                    let bytes = try await remote.load(entry.name, range: nil)
                    #expect(Int64(bytes.count) == entry.size)
                    found[entry.name.relativePath] = Digest.hex(Digest.sha256(bytes))
                }
            }
            #expect(found == uploaded)
        }
    }
}
