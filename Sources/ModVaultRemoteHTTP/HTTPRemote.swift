public import Foundation
public import ModVaultCore
public import ModVaultRemoteSupport
internal import Synchronization

/// A read-only remote on any static web host or CDN that serves a repository folder.
///
/// Objects are fetched with GET (with `Range` for parts) and sized with HEAD. A static host cannot
/// list folders, so `list` reads the remote's `manifest.json` (written by `push` through
/// `RemoteManifest.write`): a listing from the start refetches it, and continuation pages reuse it.
/// Without a manifest, `list` fails with `.unsupported`. Writes fail with `.readOnly`.
public final class HTTPRemote: Remote, Sendable {
    /// The URL of the repository folder, without trailing slash.
    public let baseURL: String
    /// Extra headers sent with every request (for example an `Authorization` a CDN wants).
    public let headers: [String: String]
    /// Seconds without progress before a request times out.
    public let requestTimeout: TimeInterval
    private let client: RemoteHTTPClient
    private let manifest = Mutex<RemoteManifest?>(nil)

    /// A remote at `baseURL` (`http(s)://host/path`).
    public init(baseURL: String, headers: [String: String] = [:], requestTimeout: TimeInterval = 60,
                transport: any HTTPTransport = AsyncHTTPTransport.shared) {
        var base = baseURL
        while base.hasSuffix("/") { base.removeLast() }
        self.baseURL = base
        self.headers = headers
        self.requestTimeout = requestTimeout
        self.client = RemoteHTTPClient(transport: transport, location: base)
    }

    /// The base URL.
    public var location: String { baseURL }

    /// Always false: nothing can be written.
    public var supportsCreateIfAbsent: Bool { get async { false } }

    /// Always fails with `.readOnly`.
    public func save(_ name: ObjectName, data: [UInt8], ifAbsent: Bool) async throws {
        throw RemoteError(.readOnly, location: location, name: name, detail: "static HTTP hosts only serve files; push to the folder or bucket behind it")
    }

    /// Always fails with `.readOnly`.
    public func remove(_ name: ObjectName) async throws {
        throw RemoteError(.readOnly, location: location, name: name, detail: "static HTTP hosts only serve files")
    }

    /// GETs the object, or `range` of it with a `Range` request (a server that ignores `Range` still works).
    public func load(_ name: ObjectName, range: Range<Int64>?) async throws -> [UInt8] {
        try RemoteLayout.validate(name, location: location)
        if let range, range.isEmpty || range.lowerBound < 0 {
            throw RemoteError(.invalidRange, location: location, name: name, detail: "empty or negative range")
        }
        var extra: [(name: String, value: String)] = []
        if let range { extra.append(("Range", HTTPSupport.rangeHeader(range))) }
        let response = try await send("GET", name, extra, reading: range)
        guard response.status == 200 || response.status == 206 else { throw failure(response, name: name) }
        return try HTTPSupport.rangedBody(response, requested: range, location: location, object: name.relativePath)
    }

    /// HEADs the object: its Content-Length, or nil on 404.
    public func stat(_ name: ObjectName) async throws -> Int64? {
        try RemoteLayout.validate(name, location: location)
        let response = try await send("HEAD", name, [])
        if response.status == 404 || response.status == 410 { return nil }
        guard response.status == 200 else { throw failure(response, name: name) }
        guard let length = response.header("content-length").flatMap({ Int64($0) }) else {
            throw RemoteError(.unexpectedResponse, location: location, name: name, detail: "HEAD without Content-Length")
        }
        return length
    }

    /// Lists from `manifest.json`; fails with `.unsupported` when the host has none, or it omits `kind`.
    public func list(_ kind: FileKind, after: String?, limit: Int) async throws -> [RemoteEntry] {
        try RemoteLayout.validateCursor(after, location: location)
        var current = after == nil ? nil : manifest.withLock { $0 }
        if current == nil {
            current = try await fetchManifest()
        }
        guard let current, current.covers(kind) else {
            throw RemoteError(.unsupported, location: location, object: RemoteLayout.folder(of: kind),
                              detail: "a static host cannot list folders and its \(RemoteManifest.objectName.relativePath) does not list this one; "
                                  + "push to the folder or bucket behind it to write one")
        }
        return current.entries(kind, after: after, limit: limit)
    }

    private func fetchManifest() async throws -> RemoteManifest {
        let name = RemoteManifest.objectName
        let response = try await send("GET", name, [])
        if response.status == 404 || response.status == 410 {
            throw RemoteError(.unsupported, location: location, object: name.relativePath,
                              detail: "no listing: a static host cannot list folders, and there is no \(name.relativePath) (push writes it)")
        }
        guard response.status == 200 else { throw failure(response, name: name) }
        let parsed = try RemoteManifest.decode(response.body, location: location)
        manifest.withLock { $0 = parsed }
        return parsed
    }

    private func send(_ method: String, _ name: ObjectName, _ extra: [(name: String, value: String)],
                      reading range: Range<Int64>?? = nil) async throws -> HTTPResponse {
        let text = baseURL + "/" + HTTPSupport.percentEncode(name.relativePath, keepSlash: true)
        guard let url = URL(string: text) else {
            throw RemoteError(.invalidConfiguration, location: location, name: name, detail: "bad URL \(text)")
        }
        let all = headers.sorted { $0.key < $1.key }.map { (name: $0.key, value: $0.value) } + extra
        var request = HTTPRequest(method: method, url: url, headers: all, timeout: requestTimeout)
        if let range { request.limit(reading: name, range: range) }
        return try await client.send(request, object: name.relativePath)
    }

    private func failure(_ response: HTTPResponse, name: ObjectName) -> RemoteError {
        let reason: RemoteError.Reason
        switch response.status {
        case 401, 403: reason = .accessDenied
        case 404, 410: reason = .notFound
        case 416: reason = .invalidRange
        case 429: reason = .throttled
        case 500...599: reason = .serverError
        default: reason = .unexpectedResponse
        }
        return RemoteError(reason, location: location, name: name, detail: "HTTP \(response.status)", status: response.status)
    }
}
