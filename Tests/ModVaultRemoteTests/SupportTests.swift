import Foundation
import Synchronization
import Testing
import ModVaultCore
import ModVaultRemoteSupport
import ModVaultRemoteS3
import ModVaultRemotePocketBase

@Suite("Remote URLs")
struct RemoteURLTests {
    /// A password in a URL would be saved in remotes.json and printed in errors: every kind refuses
    /// user information, and the message masks it.
    @Test(arguments: ["https://alice:hunter2@example.com/repo", "http://alice:hunter2@127.0.0.1:8080/r",
                      "s3://alice:hunter2@bucket/prefix", "pocketbase+https://alice:hunter2@pb.example.com/mods",
                      "file://alice:hunter2@localhost/srv/repo", "s3://bucket/p?endpoint=https%3A%2F%2Falice%3Ahunter2%40minio.local"])
    func credentialsInURLsAreRefusedAndNeverShown(url: String) throws {
        let error = #expect(throws: RemoteError.self) { try RemoteURL.parse(url, environment: [:]) }
        let text = error.map { "\($0)" } ?? ""
        #expect(text.contains("credentials do not belong in the URL"), "\(text)")
        #expect(!text.contains("hunter2"), "\(text)")
    }

    @Test func redactionMasksOnlyTheUserPart() {
        #expect(RemoteURL.redactingUserInfo("https://a:b@host/x@y") == "https://***@host/x@y")
        #expect(RemoteURL.redactingUserInfo("https://host/x@y") == "https://host/x@y")
        #expect(RemoteURL.redactingUserInfo("/plain/path") == "/plain/path")
    }

    @Test func diskPathsAndFileURLs() throws {
        #expect(try RemoteURL.parse("/mnt/nas/repo", environment: [:]) == .disk(path: "/mnt/nas/repo"))
        #expect(try RemoteURL.parse("file:///mnt/nas/my%20repo/", environment: [:]) == .disk(path: "/mnt/nas/my repo"))
        #expect(try RemoteURL.parse("relative/repo", environment: [:]) == .disk(path: FileSystem.absolute("relative/repo")))
        #expect(throws: RemoteError.self) { try RemoteURL.parse("file://otherhost/x", environment: [:]) }
    }

    @Test func s3FromQueryAndEnvironment() throws {
        let plain = try RemoteURL.parse("s3://bucket/some/prefix/", environment: [:])
        #expect(plain == .s3(S3Address(bucket: "bucket", prefix: "some/prefix")))
        #expect(plain.location == "s3://bucket/some/prefix")

        let env = ["AWS_ENDPOINT_URL": "http://127.0.0.1:9000", "AWS_REGION": "eu-west-1"]
        guard case .s3(let fromEnv) = try RemoteURL.parse("s3://b", environment: env) else { Issue.record("not s3"); return }
        #expect(fromEnv.endpoint == "http://127.0.0.1:9000")
        #expect(fromEnv.region == "eu-west-1")
        #expect(fromEnv.prefix == "")

        let text = "s3://b/p?endpoint=https%3A%2F%2Fminio.lan%3A9000&region=us-west-2&style=virtual&createIfAbsent=false"
        guard case .s3(let fromQuery) = try RemoteURL.parse(text, environment: env) else { Issue.record("not s3"); return }
        #expect(fromQuery == S3Address(bucket: "b", prefix: "p", endpoint: "https://minio.lan:9000", region: "us-west-2",
                                       style: .virtual, createIfAbsent: false))
        // The canonical text parses back to the same address.
        #expect(try RemoteURL.parse(RemoteURL.s3(fromQuery).description, environment: [:]) == .s3(fromQuery))

        for bad in ["s3://", "s3://b?style=sideways", "s3://b?color=red", "s3://key:secret@b/p", "s3://b?endpoint=ftp://x"] {
            #expect(throws: RemoteError.self, "\(bad)") { try RemoteURL.parse(bad, environment: [:]) }
        }
    }

    @Test func pocketBaseAndHTTP() throws {
        #expect(try RemoteURL.parse("pocketbase+http://127.0.0.1:8090/objects", environment: [:])
            == .pocketBase(PocketBaseAddress(baseURL: "http://127.0.0.1:8090", collection: "objects")))
        let behindProxy = try RemoteURL.parse("pocketbase+https://example.org/pb/mods_repo", environment: [:])
        #expect(behindProxy == .pocketBase(PocketBaseAddress(baseURL: "https://example.org/pb", collection: "mods_repo")))
        #expect(behindProxy.location == "pocketbase+https://example.org/pb/mods_repo")
        #expect(throws: RemoteError.self) { try RemoteURL.parse("pocketbase+http://host:8090/", environment: [:]) }
        #expect(throws: RemoteError.self) { try RemoteURL.parse("pocketbase+http://host/bad-name", environment: [:]) }

        #expect(try RemoteURL.parse("https://cdn.example.org/modlists/repo/", environment: [:]) == .http(baseURL: "https://cdn.example.org/modlists/repo"))
        #expect(throws: RemoteError.self) { try RemoteURL.parse("ftp://host/x", environment: [:]) }
        let error = try? #require(throws: RemoteError.self) { try RemoteURL.parse("gopher://x", environment: [:]) }
        #expect(error?.reason == .invalidConfiguration)
        #expect(error?.description.hasPrefix("gopher://x: invalid remote configuration (unknown scheme") == true)
    }
}

@Suite("AWS credentials and S3 addressing")
struct CredentialsTests {
    @Test func environmentWinsOverFiles() throws {
        let env = ["AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": "secretenv", "AWS_SESSION_TOKEN": "tok",
                   "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent"]
        #expect(try AWSCredentials.resolve(environment: env, location: "s3://b")
            == AWSCredentials(accessKeyID: "AKIDENV", secretAccessKey: "secretenv", sessionToken: "tok"))
    }

    @Test func profilesFromTheSharedFiles() throws {
        let folder = NSTemporaryDirectory() + "modvault-aws-\(Fixture.uniqueName())"
        try FileSystem.makeDirectories(folder)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try FileSystem.writeAtomically(folder + "/credentials", bytes: Array("""
            # comment
            [default]
            aws_access_key_id = AKIDDEFAULT
            aws_secret_access_key = defaultsecret

            [work]
            aws_access_key_id=AKIDWORK
            aws_secret_access_key=worksecret
            aws_session_token = worktoken
            [broken]
            aws_access_key_id = only
            """.utf8))
        try FileSystem.writeAtomically(folder + "/config", bytes: Array("[profile work]\nregion = eu-central-1\n".utf8))
        let base = ["AWS_SHARED_CREDENTIALS_FILE": folder + "/credentials", "AWS_CONFIG_FILE": folder + "/config"]
        #expect(try AWSCredentials.resolve(environment: base, location: "s3://b").accessKeyID == "AKIDDEFAULT")
        var work = base
        work["AWS_PROFILE"] = "work"
        #expect(try AWSCredentials.resolve(environment: work, location: "s3://b")
            == AWSCredentials(accessKeyID: "AKIDWORK", secretAccessKey: "worksecret", sessionToken: "worktoken"))
        #expect(AWSCredentials.region(environment: work, location: "s3://b") == "eu-central-1")
        #expect(AWSCredentials.region(environment: base, location: "s3://b") == nil)
        var broken = base
        broken["AWS_PROFILE"] = "broken"
        #expect(throws: RemoteError.self) { try AWSCredentials.resolve(environment: broken, location: "s3://b") }
        var missing = base
        missing["AWS_PROFILE"] = "absent"
        let error = try? #require(throws: RemoteError.self) { try AWSCredentials.resolve(environment: missing, location: "s3://b/p") }
        #expect(error?.description.hasPrefix("s3://b/p: invalid remote configuration (no S3 credentials") == true)
    }

    @Test func addressingStyles() throws {
        let credentials = AWSCredentials(accessKeyID: "a", secretAccessKey: "b")
        let name = ObjectName(kind: .pack, name: "3f2a")
        let aws = try S3Remote(address: S3Address(bucket: "mods", prefix: "fo4", region: "eu-west-1"), credentials: credentials)
        #expect(aws.style == .virtual)
        #expect(aws.objectURL(name) == "https://mods.s3.eu-west-1.amazonaws.com/fo4/data/3f/3f2a")
        let custom = try S3Remote(address: S3Address(bucket: "mods", endpoint: "http://127.0.0.1:9000"), credentials: credentials)
        #expect(custom.style == .path)
        #expect(custom.objectURL(.config) == "http://127.0.0.1:9000/mods/config")
        let forced = try S3Remote(address: S3Address(bucket: "mods", endpoint: "https://r2.example:443", style: .virtual), credentials: credentials)
        #expect(forced.objectURL(.config) == "https://mods.r2.example/config")
        let dotted = try S3Remote(address: S3Address(bucket: "my.mods"), credentials: credentials)
        #expect(dotted.style == .path)
        #expect(dotted.region == "us-east-1")
    }

    @Test func pocketBaseCredentialsFromEnvironment() throws {
        #expect(try PocketBaseCredentials.fromEnvironment(["POCKETBASE_TOKEN": "t", "POCKETBASE_EMAIL": "e"], location: "x") == .token("t"))
        #expect(try PocketBaseCredentials.fromEnvironment(["POCKETBASE_EMAIL": "e@x", "POCKETBASE_PASSWORD": "p"], location: "x")
            == .password(email: "e@x", password: "p"))
        #expect(throws: RemoteError.self) { try PocketBaseCredentials.fromEnvironment(["POCKETBASE_EMAIL": "e@x"], location: "x") }
    }
}

/// A scripted remote for wrapper tests: fails the first `failures` calls with `error`, counts calls and concurrency.
final class ScriptedRemote: Remote, Sendable {
    let location = "scripted://remote"
    private let state: Mutex<(calls: Int, inFlight: Int, peak: Int, objects: [ObjectName: [UInt8]])>
    private let failures: Int
    private let error: RemoteError?
    private let delay: Duration

    init(failures: Int = 0, error: RemoteError? = nil, delay: Duration = .zero) {
        self.failures = failures
        self.error = error
        self.delay = delay
        self.state = Mutex((0, 0, 0, [:]))
    }

    var calls: Int { state.withLock { $0.calls } }
    var peakConcurrency: Int { state.withLock { $0.peak } }
    var supportsCreateIfAbsent: Bool { get async { true } }

    private func step() async throws {
        let call = state.withLock { s in
            s.calls += 1
            s.inFlight += 1
            s.peak = max(s.peak, s.inFlight)
            return s.calls
        }
        defer { state.withLock { $0.inFlight -= 1 } }
        if delay > .zero { try await Task.sleep(for: delay) }
        if call <= failures, let error { throw error }
    }

    func save(_ name: ObjectName, data: [UInt8], ifAbsent: Bool) async throws {
        try await step()
        try state.withLock { s in
            if ifAbsent, s.objects[name] != nil { throw RemoteError(.alreadyExists, location: location, name: name) }
            s.objects[name] = data
        }
    }

    func load(_ name: ObjectName, range: Range<Int64>?) async throws -> [UInt8] {
        try await step()
        guard let data = state.withLock({ $0.objects[name] }) else { throw RemoteError(.notFound, location: location, name: name) }
        return data
    }

    func stat(_ name: ObjectName) async throws -> Int64? {
        try await step()
        return state.withLock { $0.objects[name].map { Int64($0.count) } }
    }

    func list(_ kind: FileKind, after: String?, limit: Int) async throws -> [RemoteEntry] {
        try await step()
        return []
    }

    func remove(_ name: ObjectName) async throws {
        try await step()
        _ = state.withLock { $0.objects.removeValue(forKey: name) }
    }
}

@Suite("Retry and concurrency wrappers")
struct WrapperTests {
    // These tests count attempts. The time limit is far away because on a busy 2-core machine a
    // sleeping task can wait tens of seconds for a thread, which would end the retries early.
    let fast = RetryPolicy(maxAttempts: 5, initialDelay: .milliseconds(1), maxDelay: .milliseconds(4), maxTotalTime: .seconds(3600))

    @Test func transientFailuresAreRetriedUntilSuccess() async throws {
        let base = ScriptedRemote(failures: 3, error: RemoteError(.serverError, location: "scripted://remote", status: 503))
        let remote = RetryingRemote(base, policy: fast, seed: 7)
        #expect(try await remote.stat(.config) == nil)
        #expect(base.calls == 4)
    }

    @Test func attemptsAreBoundedAndReported() async throws {
        let base = ScriptedRemote(failures: 100, error: RemoteError(.timedOut, location: "scripted://remote"))
        let error = await Fixture.remoteError { _ = try await RetryingRemote(base, policy: fast).stat(.config) }
        #expect(base.calls == 5)
        #expect(error?.attempts == 5)
        #expect(error?.description == "scripted://remote: timed out after 5 attempts")
    }

    @Test func totalTimeBoundsAttemptsToo() async throws {
        let base = ScriptedRemote(failures: 1000, error: RemoteError(.connectionLost, location: "scripted://remote"), delay: .milliseconds(5))
        let policy = RetryPolicy(maxAttempts: 1000, initialDelay: .milliseconds(5), maxDelay: .milliseconds(20), maxTotalTime: .milliseconds(200))
        let error = await Fixture.remoteError { _ = try await RetryingRemote(base, policy: policy).stat(.config) }
        #expect(error?.reason == .connectionLost)
        #expect(base.calls < 1000)
        #expect(error?.description.contains("retry time limit") == true)
    }

    @Test func permanentFailuresAreNotRetried() async throws {
        for reason in [RemoteError.Reason.accessDenied, .containerMissing, .notFound, .invalidName, .readOnly] {
            let base = ScriptedRemote(failures: 10, error: RemoteError(reason, location: "scripted://remote"))
            let error = await Fixture.remoteError { _ = try await RetryingRemote(base, policy: fast).stat(.config) }
            #expect(error?.reason == reason)
            #expect(base.calls == 1, "\(reason)")
        }
    }

    @Test func aSaveWhoseAnswerWasLostIsNotReportedAsAlreadyExisting() async throws {
        let base = ScriptedRemote()
        // The first save "times out" after it was carried out; the retry meets alreadyExists,
        // reads the object back, and finds its own bytes.
        let retrying = RetryingRemote(OnlyFirstSaveTimesOut(base: base), policy: fast)
        let other = ObjectName(kind: .lock, name: "def")
        try await retrying.save(other, data: [3, 4], ifAbsent: true)
        #expect(try await base.load(other, range: nil) == [3, 4])
        // Someone else's object under the name is still a conflict.
        let third = ObjectName(kind: .lock, name: "0123")
        try await base.save(third, data: [9], ifAbsent: true)
        let conflict = await Fixture.remoteError {
            try await RetryingRemote(OnlyFirstSaveTimesOut(base: base), policy: fast).save(third, data: [5], ifAbsent: true)
        }
        #expect(conflict?.reason == .alreadyExists)
    }

    @Test func concurrencyIsLimited() async throws {
        let base = ScriptedRemote(delay: .milliseconds(5))
        let remote = ConcurrencyLimitedRemote(base, limit: 3)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<24 {
                group.addTask { try await remote.save(ObjectName(kind: .index, name: "n\(i)"), data: [UInt8(i)], ifAbsent: false) }
            }
            try await group.waitForAll()
        }
        #expect(base.calls == 24)
        #expect(base.peakConcurrency <= 3)
        #expect(base.peakConcurrency >= 1)
    }

    @Test func faultInjectionIsReproducible() async throws {
        func run() async -> [Bool] {
            let faulty = FaultInjectingRemote(ScriptedRemote(), failureRate: 0.3, seed: 99, timeoutDelay: .zero)
            var outcomes: [Bool] = []
            for _ in 0..<50 {
                do {
                    _ = try await faulty.stat(.config)
                    outcomes.append(true)
                } catch {
                    outcomes.append(false)
                }
            }
            return outcomes
        }
        let first = await run(), second = await run()
        #expect(first == second)
        #expect(first.contains(false))
        #expect(first.contains(true))
    }

    @Test func backoffDoublesUpToTheCeiling() {
        let policy = RetryPolicy(maxAttempts: 10, initialDelay: .milliseconds(100), maxDelay: .seconds(1), maxTotalTime: .seconds(60))
        #expect(policy.backoffCeiling(afterAttempt: 1) == .milliseconds(100))
        #expect(policy.backoffCeiling(afterAttempt: 2) == .milliseconds(200))
        #expect(policy.backoffCeiling(afterAttempt: 4) == .milliseconds(800))
        #expect(policy.backoffCeiling(afterAttempt: 9) == .seconds(1))
    }
}

/// Passes through, except that the first save times out after being carried out.
final class OnlyFirstSaveTimesOut: Remote, Sendable {
    let base: ScriptedRemote
    private let fired = Mutex(false)
    init(base: ScriptedRemote) { self.base = base }
    var location: String { base.location }
    var supportsCreateIfAbsent: Bool { get async { true } }
    func save(_ name: ObjectName, data: [UInt8], ifAbsent: Bool) async throws {
        try await base.save(name, data: data, ifAbsent: ifAbsent)
        if !fired.withLock({ f in defer { f = true }; return f }) {
            throw RemoteError(.timedOut, location: location, name: name)
        }
    }
    func load(_ name: ObjectName, range: Range<Int64>?) async throws -> [UInt8] { try await base.load(name, range: range) }
    func stat(_ name: ObjectName) async throws -> Int64? { try await base.stat(name) }
    func list(_ kind: FileKind, after: String?, limit: Int) async throws -> [RemoteEntry] { try await base.list(kind, after: after, limit: limit) }
    func remove(_ name: ObjectName) async throws { try await base.remove(name) }
}

@Suite("Layout, manifest and HTTP helpers")
struct LayoutTests {
    @Test func relativePathsMapBackToNames() {
        let id = String(repeating: "3f", count: 32)
        for kind in FileKind.allCases {
            let name = kind == .config ? ObjectName.config : ObjectName(kind: kind, name: id)
            #expect(RemoteLayout.objectName(forRelativePath: name.relativePath) == name, "\(kind)")
        }
        #expect(RemoteLayout.objectName(forRelativePath: "manifest.json") == RemoteManifest.objectName)
        for foreign in ["data/00/\(id)", "data/3f", "cache/index.sqlite", "keys/.tmp-x", "snapshots/a/b", "unknown/x", ".modvault-probe-1"] {
            #expect(RemoteLayout.objectName(forRelativePath: foreign) == nil, "\(foreign)")
        }
    }

    @Test func manifestEntriesPageLikeAListing() throws {
        let names = ["aa", "ab", "b0", "c1"]
        let manifest = RemoteManifest(listings: [
            .index: names.reversed().map { RemoteEntry(name: ObjectName(kind: .index, name: $0), size: 5) },
            .config: [RemoteEntry(name: .config, size: 1), RemoteEntry(name: RemoteManifest.objectName, size: 9)],
        ])
        #expect(manifest.entries(.index, after: nil, limit: 2).map(\.name.name) == ["aa", "ab"])
        #expect(manifest.entries(.index, after: "ab", limit: 10).map(\.name.name) == ["b0", "c1"])
        #expect(manifest.entries(.config, after: nil, limit: 10).map(\.name) == [.config])
        #expect(!manifest.covers(.key))
        let decoded = try RemoteManifest.decode(try manifest.encoded(), location: "x")
        #expect(decoded == manifest)
        #expect(throws: RemoteError.self) { try RemoteManifest.decode(Array("{\"version\": 2, \"written\": \"\", \"objects\": {}}".utf8), location: "x") }
    }

    @Test func contentRangeParsing() {
        #expect(HTTPSupport.parseContentRange("bytes 10-19/100")! == (10..<20, 100))
        #expect(HTTPSupport.parseContentRange("bytes 0-0/*")! == (0..<1, nil))
        #expect(HTTPSupport.parseContentRange("items 1-2/3") == nil)
        #expect(HTTPSupport.rangeHeader(5..<6) == "bytes=5-5")
        #expect(HTTPSupport.percentEncode("a b/c$~", keepSlash: true) == "a%20b/c%24~")
    }

    @Test func rangedBodiesAreCheckedOrSliced() throws {
        let whole = HTTPResponse(status: 200, body: Array(0..<10))
        #expect(try HTTPSupport.rangedBody(whole, requested: 2..<5, location: "l", object: "o") == [2, 3, 4])
        let partial = HTTPResponse(status: 206, headers: ["Content-Range": "bytes 2-4/10"], body: [2, 3, 4])
        #expect(try HTTPSupport.rangedBody(partial, requested: 2..<5, location: "l", object: "o") == [2, 3, 4])
        let short = HTTPResponse(status: 206, headers: ["Content-Range": "bytes 2-3/10"], body: [2, 3])
        #expect(throws: RemoteError.self) { try HTTPSupport.rangedBody(short, requested: 2..<5, location: "l", object: "o") }
    }

    @Test func errorMessagesNameTheRemote() {
        let error = RemoteError(.accessDenied, location: "s3://bucket/prefix", detail: "403 InvalidAccessKeyId", status: 403)
        #expect(error.description == "s3://bucket/prefix: access denied (403 InvalidAccessKeyId)")
        let object = RemoteError(.notFound, location: "/mnt/nas/repo/", name: ObjectName(kind: .index, name: "ab"))
        #expect(object.description == "/mnt/nas/repo/index/ab: not found")
        #expect(object.kind == .notFound)
        #expect(RemoteError(.containerMissing, location: "x").kind == .repositoryMissing)
        #expect(RemoteError(.serverError, location: "x").isRetryable)
        #expect(!RemoteError(.alreadyExists, location: "x").isRetryable)
    }
}

@Suite("file-backed request bodies")
struct FileRangeTests {
    /// A range's streamed digests equal the one-shot digests of the same bytes, across 1 MiB pieces.
    @Test(arguments: [(0, 0), (0, 1), (7, (1 << 20) + 13), (3 << 20, 5)] as [(Int64, Int64)])
    func digestsMatchTheBytes(_ offset: Int64, _ length: Int64) throws {
        let data = Fixture.bytes((3 << 20) + 64, seed: 5)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("range-\(Fixture.uniqueName())").path
        try Data(data).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let slice = Array(data[Int(offset)..<Int(offset + length)])
        let d = try FileRange(path: path, offset: offset, length: length).digests()
        #expect(d.md5 == Digest.md5(slice))
        #expect(d.sha256 == Digest.sha256(slice))
    }

    /// A file shorter than the range it should hold is an error naming it, not a short upload.
    @Test func aFileThatShrankIsAnError() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("range-\(Fixture.uniqueName())").path
        try Data(repeating: 1, count: 100).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect { try FileRange(path: path, length: 200).digests() } throws: { ($0 as? SystemCallError)?.path == path }
    }
}
