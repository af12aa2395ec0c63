import Foundation
import Synchronization
import Testing
import ModVaultCore
import ModVaultCrypto
import ModVaultStore
import ModVaultArchive
import ModVaultRemoteSupport
import ModVaultServer
import ModVaultSync
import ModVaultRemoteHTTP
import ModVaultRemoteDisk
import ModVaultFixtures
import ModVaultFormats

/// The JSON API and its security checks, over real HTTP against a server on a free loopback port.
@Suite("modvault serve")
struct WebServerTests {
    /// A repository with two snapshots of a small folder, served on a free port.
    final class Served: Sendable {
        let root: String
        let base: String
        let repository: Repository
        let first: String, second: String
        let task: Task<Void, any Error>
        let cookie: String
        let csrf: String

        static func start() async throws -> Served {
            let root = NSTemporaryDirectory() + "modvault-serve-" + Hex.encode(SecureRandom.bytes(6))
            var options = RepositoryOptions()
            options.scrypt = ScryptParameters(n: 1024, r: 8, p: 1)
            let password = Array("serve secret".utf8)
            let repo = try Repository.initialize(at: root + "/repo", password: password, options: options)
            let source = root + "/mods"
            try FileSystem.makeDirectories(source + "/A/Textures")
            try Data("first plugin".utf8).write(to: URL(fileURLWithPath: source + "/A/A.esp"))
            try Data(repeating: 7, count: 3 << 20).write(to: URL(fileURLWithPath: source + "/A/Textures/big.dds"))
            let first = try await Archiver(repository: repo).snapshot(source: source).record.id.hex
            try Data("second plugin".utf8).write(to: URL(fileURLWithPath: source + "/A/A.esp"))
            try Data("new".utf8).write(to: URL(fileURLWithPath: source + "/A/New.txt"))
            let second = try await Archiver(repository: repo).snapshot(source: source).record.id.hex

            var configuration = WebServerConfiguration(repository: repo, password: password) { name in
                throw WebError.notFound("no remote \(name)")
            }
            configuration.peerToken = "peer-token"
            return try await launch(configuration, root: root, first: first, second: second)
        }

        /// Serves `configuration` on a free port and signs in.
        static func launch(_ configuration: WebServerConfiguration, root: String, first: String = "", second: String = "") async throws -> Served {
            var configuration = configuration
            let repo = configuration.repository
            configuration.port = 0
            configuration.loginToken = "test-login-token"
            let url = Mutex<String?>(nil)
            let server = WebServer(configuration: configuration)
            let task = Task { try await server.run { address in url.withLock { $0 = address } } }
            var address: String? = nil
            for _ in 0..<200 where address == nil {
                try await Task.sleep(for: .milliseconds(25))
                address = url.withLock { $0 }
            }
            let login = try #require(address)
            let base = String(login[..<login.range(of: "/login")!.lowerBound])
            // Signing in: the one-time token becomes an HttpOnly, SameSite=Strict session cookie.
            let response = try await WebServerTests.send("GET", base + "/login?token=test-login-token", host: nil)
            #expect(response.status == 303)
            let setCookie = try #require(response.headers["set-cookie"])
            #expect(setCookie.contains("HttpOnly") && setCookie.contains("SameSite=Strict"))
            let cookie = String(setCookie.split(separator: ";")[0])
            let page = try await WebServerTests.send("GET", base + "/", host: nil, cookie: cookie)
            let html = page.text
            let marker = "name=\"csrf\" content=\""
            let start = try #require(html.range(of: marker)).upperBound
            let csrf = String(html[start...].prefix { $0 != "\"" })
            return Served(root: root, base: base, repository: repo, first: first, second: second, task: task, cookie: cookie, csrf: csrf)
        }

        init(root: String, base: String, repository: Repository, first: String, second: String, task: Task<Void, any Error>, cookie: String, csrf: String) {
            self.root = root; self.base = base; self.repository = repository; self.first = first; self.second = second
            self.task = task; self.cookie = cookie; self.csrf = csrf
        }

        func stop() {
            task.cancel()
            try? FileManager.default.removeItem(atPath: root)
        }

        var hostPort: String { String(base.dropFirst("http://".count)) }

        /// A request as the signed-in browser sends it (its cookie; for changes, Origin and CSRF token).
        func request(_ method: String, _ path: String, json: Any? = nil, host: String? = nil, origin: String?? = nil,
                     csrf: String?? = nil, cookie: String?? = nil) async throws -> HTTPResponse {
            try await WebServerTests.send(method, base + path, host: host, cookie: cookie ?? self.cookie,
                                  origin: method == "GET" ? nil : (origin ?? base), csrf: method == "GET" ? nil : (csrf ?? self.csrf), json: json)
        }
    }

    static func send(_ method: String, _ url: String, host: String?, cookie: String? = nil, origin: String? = nil, csrf: String? = nil,
                     json: Any? = nil) async throws -> HTTPResponse {
        var headers: [(name: String, value: String)] = []
        if let host { headers.append(("Host", host)) }
        if let cookie { headers.append(("Cookie", cookie)) }
        if let origin { headers.append(("Origin", origin)) }
        if let csrf { headers.append(("X-CSRF-Token", csrf)) }
        var body: [UInt8]? = nil
        if let json {
            body = [UInt8](try JSONSerialization.data(withJSONObject: json))
            headers.append(("Content-Type", "application/json"))
        }
        return try await AsyncHTTPTransport.shared.send(HTTPRequest(method: method, url: URL(string: url)!, headers: headers, body: body))
    }

    static func object(_ r: HTTPResponse) throws -> Any { try JSONSerialization.jsonObject(with: Data(r.body)) }

    @Test func historyBrowseDownloadDiff() async throws {
        let s = try await Served.start()
        defer { s.stop() }
        let history = try #require(try Self.object(try await s.request("GET", "/api/v1/snapshots")) as? [[String: Any]])
        #expect(history.map { $0["id"] as? String } == [s.second, s.first])
        #expect(history.allSatisfy { $0["short_id"] is String && $0["time"] is String && $0["parents"] is [Any] })

        let top = try #require(try Self.object(try await s.request("GET", "/api/v1/snapshots/\(s.second)/entries")) as? [[String: Any]])
        #expect(top.map { $0["name"] as? String } == ["A"] && top.first?["type"] as? String == "folder")
        let folder = try #require(try Self.object(try await s.request("GET", "/api/v1/snapshots/\(s.second)/entries?path=A")) as? [[String: Any]])
        #expect(Set(folder.compactMap { $0["name"] as? String }) == ["A.esp", "New.txt", "Textures"])

        let file = try await s.request("GET", "/api/v1/snapshots/\(s.first)/file?path=A/Textures/big.dds")
        #expect(file.status == 200 && file.body == [UInt8](repeating: 7, count: 3 << 20))
        let plugin = try await s.request("GET", "/api/v1/snapshots/\(s.first)/file?path=A/A.esp")
        #expect(plugin.text == "first plugin")

        let changes = try #require(try Self.object(try await s.request("GET", "/api/v1/diff?from=\(s.first)&to=\(s.second)")) as? [[String: Any]])
        #expect(Set(changes.map { "\($0["kind"] ?? "") \($0["path"] ?? "")" }) == ["modified A/A.esp", "added A/New.txt"])
        // What changed inside one file comes on its own (this plugin does not parse: nothing to list).
        let detail = try await s.request("GET", "/api/v1/diff/inside?from=\(s.first)&to=\(s.second)&path=A/A.esp")
        #expect(detail.status == 200 && detail.text == "[]")

        // Every version of one file, and what is inside a file (this one is no format ModVault reads).
        let versions = try #require(try Self.object(try await s.request("GET", "/api/v1/history?path=A/A.esp")) as? [[String: Any]])
        #expect(versions.map { $0["snapshot"] as? String } == [s.second, s.first])
        let big = try #require(try Self.object(try await s.request("GET", "/api/v1/history?path=A/Textures/big.dds")) as? [[String: Any]])
        #expect(big.count == 1 && big.first?["snapshot"] as? String == s.first && big.first?["same_in"] as? Int == 1)
        let inside = try #require(try Self.object(try await s.request("GET", "/api/v1/snapshots/\(s.first)/inside?path=A/A.esp")) as? [String: Any])
        #expect(inside["format"] as? String == "opaque")
        #expect(try await s.request("GET", "/api/v1/snapshots/\(s.first)/inside?path=A/Missing.esp").status == 404)

        // Pages render the same data without scripts.
        let page = try await s.request("GET", "/browse/\(s.second)?path=A")
        #expect(page.status == 200 && page.text.contains("New.txt") && page.text.contains("Textures/"))
        let diff = try await s.request("GET", "/diff?from=\(s.first)&to=\(s.second)")
        #expect(diff.status == 200 && diff.text.contains("A/New.txt"))
    }

    /// Every check: wrong Host, no session, a spent login token, cross-origin and token-less
    /// changes, and paths that try to leave the snapshot or the target.
    @Test func securityChecks() async throws {
        let s = try await Served.start()
        defer { s.stop() }
        #expect(try await s.request("GET", "/api/v1/snapshots", host: "evil.example:80").status == 403)
        #expect(try await s.request("GET", "/api/v1/snapshots", host: "127.0.0.2:\(s.base.split(separator: ":").last!)").status == 403)
        #expect(try await s.request("GET", "/api/v1/snapshots", cookie: .some(nil)).status == 401)
        #expect(try await s.request("GET", "/", cookie: .some("modvault_session=forged")).status == 401)
        #expect(try await Self.send("GET", s.base + "/login?token=test-login-token", host: nil).status == 401)
        #expect(try await s.request("GET", "/api/v1/snapshots", host: "localhost:\(s.base.split(separator: ":").last!)").status == 200)

        let restore: [String: Any] = ["snapshot": s.first, "paths": ["A/A.esp"], "target": s.root + "/out"]
        #expect(try await s.request("POST", "/api/v1/restore", json: restore, origin: .some("http://evil.example")).status == 403)
        #expect(try await s.request("POST", "/api/v1/restore", json: restore, origin: .some(nil)).status == 403)
        #expect(try await s.request("POST", "/api/v1/restore", json: restore, csrf: .some(nil)).status == 403)
        #expect(try await s.request("POST", "/api/v1/restore", json: restore, csrf: .some("0000")).status == 403)
        #expect(!FileSystem.exists(s.root + "/out"))
        // No CORS: nothing ever grants another origin access.
        let answer = try await s.request("GET", "/api/v1/snapshots")
        #expect(!answer.headers.keys.contains { $0.hasPrefix("access-control-") })

        for path in ["../../etc/passwd", "/etc/passwd", "A/../../x", "A//A.esp", "A/./A.esp", "A\\A.esp"] {
            let encoded = path.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
            #expect(try await s.request("GET", "/api/v1/snapshots/\(s.first)/file?path=\(encoded)").status == 400, "\(path)")
            #expect(try await s.request("GET", "/api/v1/snapshots/\(s.first)/entries?path=\(encoded)").status == 400, "\(path)")
        }
        for target in ["relative/out", s.root + "/../escape", s.root + "/./out"] {
            let bad: [String: Any] = ["snapshot": s.first, "target": target]
            #expect(try await s.request("POST", "/api/v1/restore", json: bad).status == 400, "\(target)")
        }
        let traversal: [String: Any] = ["snapshot": s.first, "paths": ["../A"], "target": s.root + "/out"]
        #expect(try await s.request("POST", "/api/v1/restore", json: traversal).status == 400)
    }

    /// A restore runs as a job whose progress streams as Server-Sent Events, and stays listed.
    @Test func restoreJobWithProgress() async throws {
        let s = try await Served.start()
        defer { s.stop() }
        let body: [String: Any] = ["snapshot": s.first, "paths": ["A/Textures"], "target": s.root + "/restored"]
        let started = try await s.request("POST", "/api/v1/restore", json: body)
        #expect(started.status == 202)
        let job = try #require(try Self.object(started) as? [String: Any])
        let id = try #require(job["id"] as? String)
        let events = try await s.request("GET", "/api/v1/jobs/\(id)/events")
        #expect(events.headers["content-type"]?.hasPrefix("text/event-stream") == true)
        let last = try #require(events.text.split(separator: "\n").last { $0.hasPrefix("data: ") })
        let final = try #require(try JSONSerialization.jsonObject(with: Data(last.dropFirst(6).utf8)) as? [String: Any])
        #expect(final["state"] as? String == "done", "\(final)")
        #expect(FileManager.default.contents(atPath: s.root + "/restored/A/Textures/big.dds") == Data(repeating: 7, count: 3 << 20))
        #expect(!FileSystem.exists(s.root + "/restored/A/A.esp"))
        let jobs = try #require(try Self.object(try await s.request("GET", "/api/v1/jobs")) as? [[String: Any]])
        #expect(jobs.first?["id"] as? String == id)
        // A non-empty target is refused.
        #expect(try await s.request("POST", "/api/v1/restore", json: body).status == 409)

        // Prune, previewed and then done, each a job; the repository stays whole.
        for dryRun in [true, false] {
            let pruning = try #require(try Self.object(try await s.request("POST", "/api/v1/prune", json: ["dry_run": dryRun])) as? [String: Any])
            let stream = try await s.request("GET", "/api/v1/jobs/\(try #require(pruning["id"] as? String))/events")
            let end = try #require(stream.text.split(separator: "\n").last { $0.hasPrefix("data: ") })
            let state = try #require(try JSONSerialization.jsonObject(with: Data(end.dropFirst(6).utf8)) as? [String: Any])
            #expect(state["state"] as? String == "done" && (state["message"] as? String)?.contains(dryRun ? "would free" : "freed") == true, "\(state)")
        }
        #expect(try Checker(repository: s.repository).check(readData: true).isHealthy)
    }

    /// `serve --peer`: a second repository clones from this one over the HTTP remote, with no server
    /// in between; a wrong token, local-only files and writes are refused.
    @Test func peerServesTheRepositoryReadOnly() async throws {
        let s = try await Served.start()
        defer { s.stop() }
        let peer = HTTPRemote(baseURL: s.base + "/peer/peer-token")
        let (clone, report) = try await Syncer.clone(from: peer, to: s.root + "/clone", password: Array("serve secret".utf8))
        #expect(report.objectsDownloaded > 0)
        #expect(Set(try clone.snapshots().map(\.id.hex)) == [s.first, s.second])
        #expect(try Checker(repository: clone).check(readData: true).isHealthy)
        // A byte range comes back as 206 with the right bytes.
        let config = try await s.request("GET", "/peer/peer-token/config")
        #expect(config.status == 200)
        let part = try await WebServerTests.send("GET", s.base + "/peer/peer-token/config", host: nil)
        #expect(part.body == config.body)
        var ranged = HTTPRequest(method: "GET", url: URL(string: s.base + "/peer/peer-token/config")!, headers: [("Range", "bytes=2-9")])
        ranged.timeout = 10
        let slice = try await AsyncHTTPTransport.shared.send(ranged)
        #expect(slice.status == 206 && slice.body == Array(config.body[2...9]))
        // Wrong token, local files, anything outside the layout, and writes: refused.
        let wrong = HTTPRemote(baseURL: s.base + "/peer/other-token")
        #expect(try await wrong.stat(.config) == nil)
        for path in ["remotes.json", "cache/index.sqlite", "keys/.removed", "../config", "locks/x"] {
            #expect(try await WebServerTests.send("GET", s.base + "/peer/peer-token/" + path, host: nil).status == 404, "\(path)")
        }
        #expect(try await WebServerTests.send("POST", s.base + "/peer/peer-token/config", host: nil).status == 405)
    }

    /// A plugin conflict over the API: its three versions and the record's fields on each side, a
    /// FormID not in conflict refused, a bad side refused, then the record settled and merged by sync.
    @Test func conflictsAreShownAndSettledRecordByRecord() async throws {
        let root = NSTemporaryDirectory() + "modvault-serve-" + Hex.encode(SecureRandom.bytes(6))
        defer { try? FileManager.default.removeItem(atPath: root) }
        var options = RepositoryOptions()
        options.scrypt = ScryptParameters(n: 1024, r: 8, p: 1)
        let password = Array("serve secret".utf8)
        let a = try Repository.initialize(at: root + "/repo-a", password: password, options: options)
        let remote = DiskRemote(path: root + "/remote")
        try remote.createFolder()
        func plugin(_ values: [UInt32: UInt32]) -> Data {
            let records = values.sorted { $0.key < $1.key }.map { object, value in
                ModVaultFixtures.PluginRecord("GLOB", formID: 0x0100_0000 | object, fields: [
                    PluginField("EDID", Array("gValue\(object)\0".utf8)), PluginField("FLTV", withUnsafeBytes(of: value.littleEndian) { Array($0) }),
                ])
            }
            return Data(PluginWriter.bytes(header: ModVaultFixtures.PluginHeader(nextObjectID: 0x900), groups: [PluginGroup("GLOB", records: records)]))
        }
        func sync(_ repo: Repository, _ folder: String) async throws -> FolderSyncReport {
            let state = try FolderSyncState.load(folder) ?? FolderSyncState(repository: repo.config.id, remote: "team", remoteLocation: remote.location)
            return try await FolderSync(repository: repo, remote: remote, folder: folder).run(state: state)
        }
        let folderA = root + "/a", folderB = root + "/b"
        try FileSystem.makeDirectories(folderA + "/Data")
        try FileSystem.makeDirectories(folderB)
        try plugin([0x800: 1, 0x801: 2]).write(to: URL(fileURLWithPath: folderA + "/Data/Team.esp"))
        _ = try await sync(a, folderA)
        let (b, _) = try await Syncer.clone(from: remote, to: root + "/repo-b", password: password)
        _ = try await sync(b, folderB)
        try plugin([0x800: 12, 0x801: 22]).write(to: URL(fileURLWithPath: folderB + "/Data/Team.esp"))
        _ = try await sync(b, folderB)
        try plugin([0x800: 11, 0x801: 2]).write(to: URL(fileURLWithPath: folderA + "/Data/Team.esp"))
        #expect(try await sync(a, folderA).unresolved)

        var configuration = WebServerConfiguration(repository: a, password: password) { name in
            guard name == "team" else { throw WebError.notFound("no remote \(name)") }
            return (remote, remote.location, nil)
        }
        configuration.folders = [folderA]
        let s = try await Served.launch(configuration, root: root)
        defer { s.task.cancel() }

        let detail = try await s.request("GET", "/api/v1/folders/0/conflict?path=Data/Team.esp")
        #expect(detail.status == 200, "\(detail.text)")
        let d = try #require(try Self.object(detail) as? [String: Any])
        for side in ["base", "ours", "theirs"] {
            #expect((d[side] as? [String: Any])?["present"] as? Bool == true, "\(side) is there")
        }
        let records = try #require(d["records"] as? [[String: Any]])
        #expect(records.count == 1)
        #expect(records.first?["form_id"] as? String == "Team.esp:000800" && records.first?["editor_id"] as? String == "gValue2048")
        let fields = try #require(records.first?["fields"] as? [String: [[String: String]]])
        #expect(fields["ours"]?.last?["signature"] == "FLTV" && fields["ours"]?.last?["value"] == "0b 00 00 00")
        #expect(fields["theirs"]?.last?["value"] == "0c 00 00 00" && fields["base"]?.last?["value"] == "01 00 00 00")
        #expect(try await s.request("GET", "/api/v1/folders/0/conflict?path=Data/None.esp").status == 404)
        #expect(try await s.request("GET", "/folders/0/conflict?path=Data/Team.esp").text.contains("table class=records"))

        let notInConflict = try await s.request("POST", "/api/v1/folders/0/resolve", json: ["path": "Data/Team.esp", "records": ["Team.esp:000801": "theirs"]])
        #expect(notInConflict.status == 404 && notInConflict.text.contains("Team.esp:000800"), "\(notInConflict.status) \(notInConflict.text)")
        let badSide = try await s.request("POST", "/api/v1/folders/0/resolve", json: ["path": "Data/Team.esp", "records": ["Team.esp:000800": "mine"]])
        #expect(badSide.status == 400)
        let neither = try await s.request("POST", "/api/v1/folders/0/resolve", json: ["path": "Data/Team.esp"])
        #expect(neither.status == 400)
        let crossSite = try await s.request("POST", "/api/v1/folders/0/resolve", json: ["path": "Data/Team.esp", "records": ["Team.esp:000800": "theirs"]],
                                            origin: "http://evil.example")
        #expect(crossSite.status == 403)
        let settled = try await s.request("POST", "/api/v1/folders/0/resolve", json: ["path": "Data/Team.esp", "records": ["Team.esp:000800": "theirs"]])
        #expect(settled.status == 200, "\(settled.text)")
        #expect(((try Self.object(settled) as? [String: Any])?["conflicts"] as? [Any])?.isEmpty == true)

        let done = try await sync(a, folderA)
        #expect(done.pushed && !done.unresolved)
        _ = try await sync(b, folderB)
        let merged = try Data(contentsOf: URL(fileURLWithPath: folderA + "/Data/Team.esp"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: folderB + "/Data/Team.esp")) == merged)
        let parsed = try ModVaultFormats.PluginFile.parse(MemoryRangeReader([UInt8](merged)))
        let values = parsed.records.filter { $0.signature == "GLOB" }.map { r -> UInt8 in merged[Int(r.offset) + 24 + Int(r.dataSize) - 4] }
        #expect(values == [12, 22])
    }

}
