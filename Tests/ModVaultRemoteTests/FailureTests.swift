import Foundation
import Testing
import ModVaultCore
import ModVaultRemoteSupport
import ModVaultRemoteDisk
import ModVaultRemoteS3
import ModVaultRemotePocketBase
import ModVaultRemoteHTTP

/// Few, quick retries, so failing cases stay fast while still showing the bounds hold.
// Some tests count attempts, so the time limit stays far away even when a busy machine delays wake-ups.
let quickRetries = RetryPolicy(maxAttempts: 3, initialDelay: .milliseconds(10), maxDelay: .milliseconds(50), maxTotalTime: .seconds(600))

extension LiveRemoteTests {
    /// Bad credentials, missing containers and dead hosts: clear errors naming the remote, and no endless retrying.
    @Suite("Failures")
    struct Failures {
        @Test("S3 with a wrong secret: access denied naming the remote, not retried")
        func s3BadCredentials() async throws {
            let servers = try TestServers.required()
            let remote = try servers.s3Remote(endpoint: servers.rcloneEndpoint, prefix: "bad", secret: "not-the-secret")
            let retrying = RetryingRemote(remote, policy: quickRetries)
            let listing = await Fixture.remoteError { _ = try await retrying.list(.index, after: nil, limit: 10) }
            #expect(listing?.reason == .accessDenied)
            #expect(listing?.attempts == 1)
            #expect(listing?.description.hasPrefix("s3://\(TestServers.bucket)/bad") == true)
            #expect(listing?.description.contains("403") == true)
            let saving = await Fixture.remoteError { try await retrying.save(Fixture.name(.index), data: [1], ifAbsent: false) }
            #expect(saving?.reason == .accessDenied)
            #expect(saving?.kind == .other)
        }

        @Test("S3 with a missing bucket: 'does not exist' naming the bucket", arguments: [RemoteKind.s3Rclone, .s3Moto])
        func s3MissingBucket(_ kind: RemoteKind) async throws {
            let servers = try TestServers.required()
            let endpoint = kind == .s3Rclone ? servers.rcloneEndpoint : servers.motoEndpoint
            let remote = RetryingRemote(try servers.s3Remote(endpoint: endpoint, prefix: "p", bucket: "no-such-bucket"), policy: quickRetries)
            let listing = await Fixture.remoteError { _ = try await remote.list(.snapshot, after: nil, limit: 10) }
            #expect(listing?.reason == .containerMissing)
            #expect(listing?.kind == .repositoryMissing)
            #expect(listing?.description.hasPrefix("s3://no-such-bucket/p: does not exist (404 NoSuchBucket)") == true)
            let loading = await Fixture.remoteError { _ = try await remote.load(.config, range: nil) }
            #expect(loading?.reason == .containerMissing)
        }

        @Test("PocketBase with a wrong password: access denied naming the remote")
        func pocketBaseBadPassword() async throws {
            let servers = try TestServers.required()
            let remote = PocketBaseRemote(address: PocketBaseAddress(baseURL: servers.pocketBaseURL, collection: "anything"),
                                          credentials: .password(email: TestServers.userEmail, password: "wrong-password"))
            let error = await Fixture.remoteError { _ = try await RetryingRemote(remote, policy: quickRetries).list(.index, after: nil, limit: 5) }
            #expect(error?.reason == .accessDenied)
            #expect(error?.attempts == 1)
            #expect(error?.description.hasPrefix("pocketbase+\(servers.pocketBaseURL)/anything: access denied") == true)
        }

        @Test("PocketBase with a forged token: access denied, never an empty listing")
        func pocketBaseBadToken() async throws {
            let servers = try TestServers.required()
            let remote = PocketBaseRemote(address: PocketBaseAddress(baseURL: servers.pocketBaseURL, collection: "anything"),
                                          credentials: .token("eyJhbGciOiJIUzI1NiJ9.eyJpZCI6Im5vYm9keSJ9.c2lnbmF0dXJl"))
            let error = await Fixture.remoteError { _ = try await remote.list(.index, after: nil, limit: 5) }
            #expect(error?.reason == .accessDenied)
            #expect(error?.description.contains("token refused") == true)
        }

        @Test("PocketBase with a missing collection: 'does not exist' naming it")
        func pocketBaseMissingCollection() async throws {
            let servers = try TestServers.required()
            let remote = PocketBaseRemote(address: PocketBaseAddress(baseURL: servers.pocketBaseURL, collection: "nosuchcollection"),
                                          credentials: .password(email: TestServers.userEmail, password: TestServers.userPassword))
            let error = await Fixture.remoteError { _ = try await remote.list(.snapshot, after: nil, limit: 5) }
            #expect(error?.reason == .containerMissing)
            #expect(error?.description.hasPrefix("pocketbase+\(servers.pocketBaseURL)/nosuchcollection: does not exist") == true)
        }

        @Test("PocketBase token sign-in works, and creating an existing collection is refused")
        func pocketBaseTokenAndDuplicateCollection() async throws {
            let servers = try TestServers.required()
            let address = PocketBaseAddress(baseURL: servers.pocketBaseURL, collection: "t\(Fixture.uniqueName())")
            let byPassword = PocketBaseRemote(address: address, credentials: .password(email: TestServers.userEmail, password: TestServers.userPassword))
            try await byPassword.createProject(superuserEmail: TestServers.superuserEmail, password: TestServers.superuserPassword)
            let again = await Fixture.remoteError {
                try await byPassword.createProject(superuserEmail: TestServers.superuserEmail, password: TestServers.superuserPassword)
            }
            #expect(again?.reason == .alreadyExists)
            let wrongAdmin = await Fixture.remoteError {
                try await byPassword.createProject(superuserEmail: TestServers.superuserEmail, password: "nope-nope-nope")
            }
            #expect(wrongAdmin?.reason == .accessDenied)

            let token = try await userToken(servers.pocketBaseURL)
            let byToken = PocketBaseRemote(address: address, credentials: .token(token))
            try await byToken.save(.config, data: [4, 5, 6], ifAbsent: true)
            #expect(try await byPassword.load(.config, range: nil) == [4, 5, 6])
        }

        /// A password is never sent over plain http to another machine unless the user says so.
        @Test("a PocketBase password is not sent over plain http to another host")
        func pocketBasePasswordNeedsTLSOffThisMachine() async throws {
            let address = PocketBaseAddress(baseURL: "http://192.0.2.10:8090", collection: "mods")
            let remote = PocketBaseRemote(address: address, credentials: .password(email: "a@b.test", password: "secret-pass"))
            let error = await Fixture.remoteError { try await remote.authenticate() }
            #expect(error?.reason == .invalidConfiguration)
            #expect(error?.description.contains("plain http") == true && error?.description.contains("secret-pass") == false)
            #expect(PocketBaseRemote.isLoopback("127.0.0.1") && PocketBaseRemote.isLoopback("localhost") && PocketBaseRemote.isLoopback("[::1]"))
            #expect(!PocketBaseRemote.isLoopback("192.0.2.10"))
            #expect(!PocketBaseRemote.isLoopback("127.example.com"))
        }

        /// Any account of `users` could once read every object, key slots included, and delete them.
        /// Now only the members named at creation can; a self-registered stranger is refused everything.
        @Test("a PocketBase collection admits only its members")
        func pocketBaseAdmitsOnlyMembers() async throws {
            let servers = try TestServers.required()
            let address = PocketBaseAddress(baseURL: servers.pocketBaseURL, collection: "m\(Fixture.uniqueName())")
            let member = PocketBaseRemote(address: address, credentials: .password(email: TestServers.userEmail, password: TestServers.userPassword))
            try await member.createProject(superuserEmail: TestServers.superuserEmail, password: TestServers.superuserPassword)
            try await member.save(ObjectName(kind: .key, name: String(repeating: "a", count: 64)), data: [1, 2, 3], ifAbsent: true)

            let strangerEmail = "stranger-\(Fixture.uniqueName())@modvault.test"
            try await PocketBaseAdmin(baseURL: servers.pocketBaseURL).createUser(email: strangerEmail, password: "stranger-pass-123")
            let stranger = PocketBaseRemote(address: address, credentials: .password(email: strangerEmail, password: "stranger-pass-123"))
            let keyName = ObjectName(kind: .key, name: String(repeating: "a", count: 64))
            // PocketBase answers a list outside the rule with nothing, and a read or write with an error.
            #expect(try await stranger.list(.key, after: nil, limit: 10).isEmpty)
            #expect(await Fixture.remoteError { _ = try await stranger.load(keyName, range: nil) } != nil)
            #expect(await Fixture.remoteError { try await stranger.save(.config, data: [9], ifAbsent: true) } != nil)
            try? await stranger.remove(keyName)
            #expect(try await member.load(keyName, range: nil) == [1, 2, 3])
            #expect(try await member.stat(.config) == nil)

            // A second admin named at creation has the same access as the first.
            let other = PocketBaseAddress(baseURL: servers.pocketBaseURL, collection: "m\(Fixture.uniqueName())")
            try await PocketBaseRemote(address: other, credentials: .password(email: TestServers.userEmail, password: TestServers.userPassword))
                .createProject(superuserEmail: TestServers.superuserEmail, password: TestServers.superuserPassword,
                                  admins: [TestServers.userEmail, strangerEmail])
            let admitted = PocketBaseRemote(address: other, credentials: .password(email: strangerEmail, password: "stranger-pass-123"))
            try await admitted.save(.config, data: [7], ifAbsent: true)
            #expect(try await admitted.load(.config, range: nil) == [7])
            // An email with no account is refused at creation, naming it.
            let missing = await Fixture.remoteError {
                try await PocketBaseRemote(address: PocketBaseAddress(baseURL: servers.pocketBaseURL, collection: "m\(Fixture.uniqueName())"),
                                           credentials: .token("x"))
                    .createProject(superuserEmail: TestServers.superuserEmail, password: TestServers.superuserPassword,
                                      admins: ["nobody@modvault.test"])
            }
            #expect(missing?.description.contains("nobody@modvault.test") == true)
        }

        @Test("an unreachable host fails after bounded retries with an error naming it",
              arguments: [RemoteKind.s3Rclone, .pocketBase, .http])
        func unreachableHost(_ kind: RemoteKind) async throws {
            let port = try TestTools.freePorts(1)[0]
            let base = "http://127.0.0.1:\(port)"
            let remote: any Remote
            switch kind {
            case .pocketBase:
                remote = PocketBaseRemote(address: PocketBaseAddress(baseURL: base, collection: "c"),
                                          credentials: .password(email: "a@b.c", password: "x"))
            case .http:
                remote = HTTPRemote(baseURL: base + "/repo")
            default:
                remote = try S3Remote(address: S3Address(bucket: "b", endpoint: base, style: .path),
                                      credentials: AWSCredentials(accessKeyID: "a", secretAccessKey: "b"))
            }
            let retrying = RetryingRemote(remote, policy: quickRetries)
            let error = await Fixture.remoteError { _ = try await retrying.stat(.config) }
            #expect(error?.reason == .unreachable)
            #expect(error?.attempts == quickRetries.maxAttempts)
            #expect(error?.description.hasPrefix(remote.location) == true)
            #expect(error?.description.contains("cannot connect") == true)
        }

        @Test("a disk remote whose folder is missing says so")
        func diskMissingFolder() async throws {
            let servers = try TestServers.required()
            let remote = DiskRemote(path: "\(servers.root)/disk/never-created")
            let listing = await Fixture.remoteError { _ = try await remote.list(.index, after: nil, limit: 5) }
            #expect(listing?.reason == .containerMissing)
            #expect(listing?.description == "\(servers.root)/disk/never-created: does not exist (no such folder)")
            let saving = await Fixture.remoteError { try await remote.save(.config, data: [1], ifAbsent: false) }
            #expect(saving?.reason == .containerMissing)
        }

        @Test("the HTTP remote is read-only, and cannot list without a manifest")
        func httpReadOnlyWithoutManifest() async throws {
            let servers = try TestServers.required()
            let folder = "\(servers.servedRoot)/\(Fixture.uniqueName())"
            let disk = DiskRemote(path: folder)
            try disk.createFolder()
            try await disk.save(.config, data: [7], ifAbsent: false)
            let remote = HTTPRemote(baseURL: servers.staticURL + "/" + FileSystem.lastComponent(folder))
            #expect(try await remote.load(.config, range: nil) == [7])
            let listing = await Fixture.remoteError { _ = try await remote.list(.snapshot, after: nil, limit: 5) }
            #expect(listing?.reason == .unsupported)
            #expect(listing?.description.contains("manifest.json") == true)
            let saving = await Fixture.remoteError { try await remote.save(.config, data: [1], ifAbsent: false) }
            #expect(saving?.reason == .readOnly)
            let removing = await Fixture.remoteError { try await remote.remove(.config) }
            #expect(removing?.reason == .readOnly)
            // A manifest that omits a kind cannot answer for it either.
            try await RemoteManifest.write(to: disk, kinds: [.config, .snapshot])
            #expect(try await remote.list(.snapshot, after: nil, limit: 5).isEmpty)
            let keys = await Fixture.remoteError { _ = try await remote.list(.key, after: nil, limit: 5) }
            #expect(keys?.reason == .unsupported)
        }

        @Test("S3 virtual-hosted addressing works against moto via bucket.localhost")
        func s3VirtualHosted() async throws {
            let servers = try TestServers.required()
            let remote = try servers.s3Remote(endpoint: "http://localhost:\(servers.moto.port)", prefix: "v/\(Fixture.uniqueName())", style: .virtual)
            let name = Fixture.name(.snapshot)
            try await remote.save(name, data: [1, 2, 3, 4], ifAbsent: true)
            #expect(try await remote.load(name, range: 1..<3) == [2, 3])
            #expect(try await remote.list(.snapshot, after: nil, limit: 10).map(\.name) == [name])
        }

        private func userToken(_ baseURL: String) async throws -> String {
            let body = try JSONSerialization.data(withJSONObject: ["identity": TestServers.userEmail, "password": TestServers.userPassword])
            let response = try await AsyncHTTPTransport.shared.send(HTTPRequest(
                method: "POST", url: URL(string: baseURL + "/api/collections/users/auth-with-password")!,
                headers: [("Content-Type", "application/json")], body: [UInt8](body)))
            let json = try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]
            return try #require(json?["token"] as? String)
        }
    }
}
