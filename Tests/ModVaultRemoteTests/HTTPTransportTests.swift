import Foundation
import Testing
import ModVaultCore
import ModVaultRemoteSupport
import ModVaultRemoteHTTP

/// The HTTP layer against real loopback servers: Python's `http.server`, which ignores `Range`
/// as many simple hosts do, and a redirecting peer (`Tests/Support/redirect_server.py`).
@Suite("HTTP transport limits and redirects")
struct HTTPTransportTests {
    static let support = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Support").path

    /// A folder served by `python3 -m http.server` on a free loopback port.
    static func serve(_ folder: String, log: String) async throws -> ServerProcess {
        let python = try #require(TestTools.findOnPath("python3"))
        let port = try TestTools.freePorts(1)[0]
        let server = try ServerProcess.launch("http-server", tool: python,
                                              arguments: ["-m", "http.server", "--bind", "127.0.0.1", "--directory", folder, "\(port)"],
                                              port: port, logFolder: log)
        try await server.waitUntilAnswering("http://127.0.0.1:\(port)/")
        return server
    }

    static func scratch() throws -> String {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("modvault-http-\(UUID().uuidString)").path
        try FileSystem.makeDirectories(root + "/served")
        return root
    }

    /// A ranged read from a server that ignores `Range` once received the whole object into memory
    /// (256 MiB here) and then sliced it; now the transport keeps the window and stops reading after it.
    @Test func aServerIgnoringRangeCostsOnlyTheBytesUpToTheRange() async throws {
        let root = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let name = ObjectName(kind: .pack, id: ObjectID(bytes: [UInt8](repeating: 0xAB, count: 32))!)
        let path = root + "/served/" + name.relativePath
        try FileSystem.makeDirectories(FileSystem.parentPath(path))
        let head = (0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        #expect(FileManager.default.createFile(atPath: path, contents: Data(head)))
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.truncate(atOffset: 256 << 20)  // sparse: the rest reads as zeros
        try handle.close()
        let server = try await Self.serve(root + "/served", log: root)
        defer { server.stop() }
        let base = "http://127.0.0.1:\(server.port)"

        let range: Range<Int64> = 1000..<3000
        var request = HTTPRequest(method: "GET", url: URL(string: base + "/" + name.relativePath)!,
                                  headers: [("Range", HTTPSupport.rangeHeader(range))])
        request.limit(reading: name, range: range)
        let response = try await AsyncHTTPTransport.shared.send(request)
        #expect(response.status == 200)
        #expect(response.header("content-range") == nil)
        #expect(response.body == Array(head[1000..<3000]))
        #expect(response.bodyOffset == 1000)
        #expect(response.receivedBytes < 8 << 20, "read \(response.receivedBytes) bytes of a 256 MiB object for 2000 of them")

        let remote = HTTPRemote(baseURL: base)
        #expect(try await remote.load(name, range: range) == Array(head[1000..<3000]))
        #expect(try await remote.load(name, range: 4090..<4100) == Array(head[4090..<4096]) + [0, 0, 0, 0])
    }

    /// A whole-object read is refused when the server announces more than an object of its kind may hold.
    @Test func anObjectLargerThanItsKindAllowsIsRefusedUnread() async throws {
        let root = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let key = ObjectName(kind: .key, id: ObjectID(bytes: [UInt8](repeating: 0x01, count: 32))!)
        try FileSystem.makeDirectories(root + "/served/keys")
        #expect(FileManager.default.createFile(atPath: root + "/served/" + key.relativePath, contents: Data(count: 1 << 20)))
        let server = try await Self.serve(root + "/served", log: root)
        defer { server.stop() }
        let remote = HTTPRemote(baseURL: "http://127.0.0.1:\(server.port)")
        await #expect { _ = try await remote.load(key, range: nil) } throws: { error in
            let remoteError = error as? RemoteError
            return remoteError?.reason == .unexpectedResponse && "\(error)".contains("announces 1048576 bytes, more than the 65536 allowed")
                && "\(error)".contains(key.relativePath)
        }
    }

    /// A redirect within the same scheme, host and port is followed; one to another host is refused,
    /// naming it, and nothing (credentials included) is sent there.
    @Test func redirectsToAnotherHostAreNotFollowed() async throws {
        let root = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let python = try #require(TestTools.findOnPath("python3"))
        let port = try TestTools.freePorts(1)[0]
        let server = try ServerProcess.launch("redirect", tool: python, arguments: [Self.support + "/redirect_server.py", "\(port)"],
                                              port: port, logFolder: root)
        defer { server.stop() }
        try await server.waitUntilAnswering("http://127.0.0.1:\(port)/target/up")
        let client = RemoteHTTPClient(transport: AsyncHTTPTransport.shared, location: "http://127.0.0.1:\(port)")
        let secret = [("Authorization", "Bearer team-secret")]

        let same = try await client.send(HTTPRequest(method: "GET", url: URL(string: "http://127.0.0.1:\(port)/same/a")!, headers: secret), object: "a")
        #expect(same.status == 200 && same.text == "reached a")

        await #expect { _ = try await client.send(HTTPRequest(method: "GET", url: URL(string: "http://127.0.0.1:\(port)/away/b")!, headers: secret), object: "b") } throws: { error in
            (error as? RemoteError)?.reason == .unexpectedResponse && "\(error)".contains("redirected to http://localhost:\(port)")
        }
        server.stop()
        let log = try String(contentsOfFile: server.logPath, encoding: .utf8)
        #expect(log.contains("/target/a 127.0.0.1:\(port) Bearer team-secret"))
        #expect(log.contains("/away/b"))
        #expect(!log.contains("/target/b"), "the credentials followed the redirect to another host:\n\(log)")
    }
}
