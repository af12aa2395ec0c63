public import Foundation
public import ModVaultCore
internal import ModVaultCrypto

/// One HTTP request as the remotes build it: the exact headers they set are the headers sent.
public struct HTTPRequest: Sendable {
    /// `GET`, `PUT`, `HEAD`, `POST`, `PATCH` or `DELETE`.
    public var method: String
    /// The full URL, already percent-encoded.
    public var url: URL
    /// Header fields in the order given; names are case-insensitive.
    public var headers: [(name: String, value: String)]
    /// The body, if any.
    public var body: [UInt8]?
    /// A body read from a local file as it is sent (instead of `body`), so an upload holds only a
    /// small buffer, not the object.
    public var bodyFile: FileRange?
    /// Seconds without progress before the request fails with a timeout.
    public var timeout: TimeInterval
    /// The most body bytes the transport reads; a longer answer (or a `Content-Length` announcing one)
    /// fails with `.tooLarge` before it fills memory.
    public var maximumBodyLength: Int64
    /// For a ranged GET: the bytes wanted. A server that ignores `Range` answers 200 with the whole
    /// object; the transport then keeps only these bytes and stops reading after them.
    public var window: Range<Int64>?

    /// The default body limit, for listings and other answers that are not repository objects.
    public static let defaultMaximumBodyLength: Int64 = 16 << 20

    /// Creates a request.
    public init(method: String, url: URL, headers: [(name: String, value: String)] = [], body: [UInt8]? = nil, timeout: TimeInterval = 60,
                maximumBodyLength: Int64 = HTTPRequest.defaultMaximumBodyLength, window: Range<Int64>? = nil) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
        self.maximumBodyLength = maximumBodyLength
        self.window = window
    }

    /// The value of header `name` (case-insensitive), if set.
    public func header(_ name: String) -> String? {
        headers.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
    }
}

extension HTTPRequest {
    /// Sets the body limits for reading `range` of `name`, or all of it: never more than the range, or
    /// than the largest object of its kind (`FileKind.maximumObjectLength`).
    public mutating func limit(reading name: ObjectName, range: Range<Int64>?) {
        maximumBodyLength = range.map { Int64($0.count) } ?? name.kind.maximumObjectLength
        window = range
    }
}

/// A byte range of a local file, sent as a request body, optionally framed by bytes in memory
/// (a multipart form's part headers and closing boundary).
public struct FileRange: Sendable, Equatable {
    /// The file's path.
    public var path: String
    /// Where the range starts in the file.
    public var offset: Int64
    /// The range's length.
    public var length: Int64
    /// Bytes sent before the range.
    public var before: [UInt8]
    /// Bytes sent after the range.
    public var after: [UInt8]

    /// Creates a range.
    public init(path: String, offset: Int64 = 0, length: Int64, before: [UInt8] = [], after: [UInt8] = []) {
        self.path = path
        self.offset = offset
        self.length = length
        self.before = before
        self.after = after
    }

    /// The whole body's length: the range and the bytes around it.
    public var bodyLength: Int64 { Int64(before.count) + length + Int64(after.count) }

    /// MD5 and SHA-256 of the body, read in 1 MiB pieces (S3's Content-MD5 and signed payload hash).
    public func digests() throws -> (md5: [UInt8], sha256: [UInt8]) {
        let file = try OpenFile.openForReading(path)
        let md5 = DigestStream.md5(), sha = DigestStream.sha256()
        before.withUnsafeBytes { b in
            md5.update(b)
            sha.update(b)
        }
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var done: Int64 = 0
        while done < length {
            let want = Int(min(Int64(buffer.count), length - done))
            let n = try buffer.withUnsafeMutableBytes { try file.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[0..<want]), at: offset + done) }
            guard n == want else { throw SystemCallError(code: EIO, operation: "short read (\(done + Int64(n)) of \(length) bytes)", path: path) }
            buffer.withUnsafeBytes { b in
                md5.update(UnsafeRawBufferPointer(rebasing: b[0..<n]))
                sha.update(UnsafeRawBufferPointer(rebasing: b[0..<n]))
            }
            done += Int64(n)
        }
        after.withUnsafeBytes { b in
            md5.update(b)
            sha.update(b)
        }
        return (md5.finish(), sha.finish())
    }
}

/// One HTTP response, read up to the request's limits.
public struct HTTPResponse: Sendable {
    /// The status code.
    public var status: Int
    /// Header fields, keyed by lowercase name.
    public var headers: [String: String]
    /// The body, or the part of it the request's `window` kept.
    public var body: [UInt8]
    /// Where `body` starts in the answer's full body: non-zero only when the transport kept a window of
    /// a 200 answer that ignored `Range`.
    public var bodyOffset: Int64
    /// Body bytes read off the connection, kept or not.
    public var receivedBytes: Int64

    /// Creates a response.
    public init(status: Int, headers: [String: String] = [:], body: [UInt8] = [], bodyOffset: Int64 = 0, receivedBytes: Int64? = nil) {
        self.status = status
        self.headers = Dictionary(headers.map { ($0.key.lowercased(), $0.value) }, uniquingKeysWith: { a, _ in a })
        self.body = body
        self.bodyOffset = bodyOffset
        self.receivedBytes = receivedBytes ?? Int64(body.count)
    }

    /// The value of header `name` (case-insensitive).
    public func header(_ name: String) -> String? { headers[name.lowercased()] }

    /// The body as UTF-8 text, for error messages.
    public var text: String { String(decoding: body, as: UTF8.self) }
}

/// How a request failed before any HTTP status arrived.
public struct HTTPTransportError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The broad cause.
    public enum Cause: Sendable, Equatable {
        /// No answer within the timeout.
        case timedOut
        /// No connection could be made: refused, unknown host, TLS failure.
        case cannotConnect
        /// The connection broke mid-request.
        case connectionLost
        /// The answer is longer than the request's `maximumBodyLength`.
        case tooLarge
        /// Anything else the transport reported.
        case other
    }

    /// The broad cause.
    public var cause: Cause
    /// The transport's message.
    public var message: String

    /// Creates the error.
    public init(_ cause: Cause, _ message: String) {
        self.cause = cause
        self.message = message
    }

    /// The transport's message.
    public var description: String { message }

    /// The matching `RemoteError` reason.
    public var remoteReason: RemoteError.Reason {
        switch cause {
        case .timedOut: return .timedOut
        case .cannotConnect: return .unreachable
        case .connectionLost: return .connectionLost
        case .tooLarge, .other: return .unexpectedResponse
        }
    }
}

/// Sends HTTP requests. A protocol so the remotes can run over another client, or a test double.
public protocol HTTPTransport: Sendable {
    /// Sends `request` and returns the whole response, or throws `HTTPTransportError`.
    func send(_ request: HTTPRequest) async throws -> HTTPResponse
}

/// Sends requests for one remote and turns transport failures into `RemoteError`s naming it.
public struct RemoteHTTPClient: Sendable {
    /// The transport used.
    public var transport: any HTTPTransport
    /// The remote's location, for messages.
    public var location: String

    /// Creates a client.
    public init(transport: any HTTPTransport, location: String) {
        self.transport = transport
        self.location = location
    }

    /// The most redirects followed for one request.
    public static let maximumRedirects = 5

    /// Sends `request`; a failure without an HTTP status becomes a `RemoteError` about `object`.
    ///
    /// Redirects are followed only within the same scheme, host and port, since every request carries
    /// the remote's credentials (a signature, a token); a redirect elsewhere is an error naming both.
    public func send(_ request: HTTPRequest, object: String?) async throws -> HTTPResponse {
        var current = request
        for _ in 0...Self.maximumRedirects {
            let response: HTTPResponse
            do {
                response = try await transport.send(current)
            } catch let error as HTTPTransportError {
                throw RemoteError(error.remoteReason, location: location, object: object, detail: error.message)
            }
            guard [301, 302, 303, 307, 308].contains(response.status), let location = response.header("location") else { return response }
            guard let next = URL(string: location, relativeTo: current.url)?.absoluteURL else {
                throw RemoteError(.unexpectedResponse, location: self.location, object: object, detail: "redirect to an unreadable address")
            }
            guard Self.sameOrigin(next, current.url) else {
                throw RemoteError(
                    .unexpectedResponse, location: self.location, object: object,
                    detail: "redirected to \(Self.origin(next)); a redirect to another host is not followed, so the credentials for \(Self.origin(current.url)) are not sent there")
            }
            current.url = next
        }
        throw RemoteError(.unexpectedResponse, location: location, object: object, detail: "more than \(Self.maximumRedirects) redirects")
    }

    static func origin(_ url: URL) -> String {
        let scheme = url.scheme?.lowercased() ?? "?"
        let port = url.port ?? (scheme == "https" ? 443 : 80)
        return "\(scheme)://\(url.host?.lowercased() ?? "?"):\(port)"
    }

    static func sameOrigin(_ a: URL, _ b: URL) -> Bool { origin(a) == origin(b) }
}

/// Helpers for byte ranges and URLs shared by the HTTP-based remotes.
public enum HTTPSupport {
    /// The `Range` header value for a half-open range: `bytes=first-last`.
    public static func rangeHeader(_ range: Range<Int64>) -> String {
        "bytes=\(range.lowerBound)-\(range.upperBound - 1)"
    }

    /// Parses `Content-Range: bytes first-last/total` into the half-open range and the total (nil when `*`).
    public static func parseContentRange(_ value: String) -> (range: Range<Int64>, total: Int64?)? {
        let trimmed = value.trimmingCharacters(in: .whitespaces)
        guard trimmed.hasPrefix("bytes ") else { return nil }
        let spec = trimmed.dropFirst(6)
        let parts = spec.split(separator: "/", maxSplits: 1)
        guard parts.count == 2 else { return nil }
        let bounds = parts[0].split(separator: "-", maxSplits: 1)
        guard bounds.count == 2, let first = Int64(bounds[0]), let last = Int64(bounds[1]), last >= first else { return nil }
        return (first..<(last + 1), parts[1] == "*" ? nil : Int64(parts[1]))
    }

    /// The requested part of a GET response body: validates a 206 against `range`, and slices a 200
    /// from a server that ignored `Range`. Throws `.unexpectedResponse` or `.invalidRange` naming `object`.
    public static func rangedBody(
        _ response: HTTPResponse, requested range: Range<Int64>?, location: String, object: String
    ) throws -> [UInt8] {
        guard let range else { return response.body }
        if let contentRange = response.header("content-range"), let parsed = parseContentRange(contentRange) {
            // Some servers answer 200 with a Content-Range; the header is what counts.
            guard parsed.range == range, response.body.count == range.count else {
                throw RemoteError(
                    .unexpectedResponse, location: location, object: object,
                    detail: "asked for \(rangeHeader(range)), got \(contentRange) with \(response.body.count) bytes")
            }
            return response.body
        }
        if response.status == 206 {
            guard response.body.count == range.count else {
                throw RemoteError(
                    .unexpectedResponse, location: location, object: object,
                    detail: "asked for \(range.count) bytes, got \(response.body.count)")
            }
            return response.body
        }
        // A server that ignores Range sends the whole object; the transport kept only the window
        // (bodyOffset = where it starts), or the whole body when it was not asked to.
        let start = range.lowerBound - response.bodyOffset
        guard start >= 0, start + Int64(range.count) <= Int64(response.body.count) else {
            throw RemoteError(
                .invalidRange, location: location, object: object,
                detail: "\(rangeHeader(range)) of an object that ended after \(response.bodyOffset + Int64(response.body.count)) bytes")
        }
        if start == 0, response.body.count == range.count { return response.body }
        return Array(response.body[Int(start)..<Int(start + Int64(range.count))])
    }

    /// Percent-encodes `text` so only RFC 3986 unreserved characters remain (and `/` when `keepSlash`).
    public static func percentEncode(_ text: String, keepSlash: Bool = false) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                 UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            case UInt8(ascii: "/") where keepSlash:
                out.append("/")
            default:
                out += String(format: "%%%02X", byte)
            }
        }
        return out
    }

    /// Decodes `%XX` escapes (and leaves everything else as is).
    public static func percentDecode(_ text: String) -> String {
        text.removingPercentEncoding ?? text
    }
}
