internal import Dispatch
internal import Synchronization
public import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

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
    /// Seconds without progress before the request fails with a timeout.
    public var timeout: TimeInterval

    /// Creates a request.
    public init(method: String, url: URL, headers: [(name: String, value: String)] = [], body: [UInt8]? = nil, timeout: TimeInterval = 60) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
    }

    /// The value of header `name` (case-insensitive), if set.
    public func header(_ name: String) -> String? {
        headers.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
    }
}

/// One HTTP response, fully read.
public struct HTTPResponse: Sendable {
    /// The status code.
    public var status: Int
    /// Header fields, keyed by lowercase name.
    public var headers: [String: String]
    /// The body.
    public var body: [UInt8]

    /// Creates a response.
    public init(status: Int, headers: [String: String] = [:], body: [UInt8] = []) {
        self.status = status
        self.headers = Dictionary(headers.map { ($0.key.lowercased(), $0.value) }, uniquingKeysWith: { a, _ in a })
        self.body = body
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
        case .other: return .unexpectedResponse
        }
    }
}

/// Sends HTTP requests. A protocol so the remotes can run over another client, or a test double.
public protocol HTTPTransport: Sendable {
    /// Sends `request` and returns the whole response, or throws `HTTPTransportError`.
    func send(_ request: HTTPRequest) async throws -> HTTPResponse
}

/// `HTTPTransport` over Foundation's `URLSession` (libcurl on Linux).
public final class URLSessionTransport: HTTPTransport, @unchecked Sendable {
    // URLSession is thread-safe; the class only holds it.
    private let session: URLSession

    /// A transport shared by every remote that is not given its own.
    public static let shared = URLSessionTransport()

    /// Creates a transport allowing `connectionsPerHost` parallel connections to one host.
    public init(connectionsPerHost: Int = 8) {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.httpMaximumConnectionsPerHost = connectionsPerHost
        configuration.urlCache = nil
        configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
        configuration.httpCookieStorage = nil
        configuration.httpShouldSetCookies = false
        session = URLSession(configuration: configuration)
    }

    deinit { session.finishTasksAndInvalidate() }

    /// Sends `request` through the session.
    public func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        var urlRequest = URLRequest(url: request.url)
        urlRequest.httpMethod = request.method
        urlRequest.timeoutInterval = request.timeout
        // Compressed transfer would break byte ranges and Content-Length checks.
        urlRequest.setValue("identity", forHTTPHeaderField: "Accept-Encoding")
        for (name, value) in request.headers { urlRequest.setValue(value, forHTTPHeaderField: name) }
        do {
            let (data, response) = try await perform(urlRequest, body: request.body.map { Data($0) })
            guard let http = response as? HTTPURLResponse else {
                throw HTTPTransportError(.other, "not an HTTP response")
            }
            var headers: [String: String] = [:]
            for (key, value) in http.allHeaderFields {
                if let key = key as? String, let value = value as? String { headers[key.lowercased()] = value }
            }
            return HTTPResponse(status: http.statusCode, headers: headers, body: [UInt8](data))
        } catch let error as HTTPTransportError {
            throw error
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            if Task.isCancelled { throw CancellationError() }
            throw Self.classify(error)
        }
    }

    /// Runs one request through the completion-handler API.
    ///
    /// Not `URLSession.data(for:)`: on Linux its cancellation handler calls `URLSessionTask.cancel()`,
    /// which waits synchronously on the session's queue while the Swift task's status lock is held,
    /// and that queue may at the same moment be resuming the task, which needs the same lock. A
    /// task group cancelling a transfer then hangs the process. Here cancellation only schedules
    /// `cancel()` on another queue, so no lock is held while it waits.
    private func perform(_ request: URLRequest, body: Data?) async throws -> (Data, URLResponse) {
        let box = Mutex<(task: URLSessionTask?, cancelled: Bool)>((nil, false))
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<(Data, URLResponse), any Error>) in
                let completion: @Sendable (Data?, URLResponse?, (any Error)?) -> Void = { data, response, error in
                    if let error {
                        continuation.resume(throwing: error)
                    } else if let response {
                        continuation.resume(returning: (data ?? Data(), response))
                    } else {
                        continuation.resume(throwing: HTTPTransportError(.other, "no response"))
                    }
                }
                let task = body.map { session.uploadTask(with: request, from: $0, completionHandler: completion) }
                    ?? session.dataTask(with: request, completionHandler: completion)
                let cancelled = box.withLock { state in
                    state.task = task
                    return state.cancelled
                }
                task.resume()
                if cancelled { DispatchQueue.global().async { task.cancel() } }
            }
        } onCancel: {
            let task = box.withLock { state in
                state.cancelled = true
                return state.task
            }
            if let task { DispatchQueue.global().async { task.cancel() } }
        }
    }

    /// Maps a Foundation networking error to a transport error.
    static func classify(_ error: any Error) -> HTTPTransportError {
        let ns = error as NSError
        let message = (ns.userInfo[NSLocalizedDescriptionKey] as? String)
            ?? (ns.userInfo[NSUnderlyingErrorKey] as? NSError)?.localizedDescription
            ?? "\(ns.domain) \(ns.code)"
        guard ns.domain == NSURLErrorDomain else { return HTTPTransportError(.other, message) }
        switch ns.code {
        case NSURLErrorTimedOut:
            return HTTPTransportError(.timedOut, message)
        case NSURLErrorCannotConnectToHost, NSURLErrorCannotFindHost, NSURLErrorDNSLookupFailed,
             NSURLErrorNotConnectedToInternet, NSURLErrorSecureConnectionFailed,
             NSURLErrorServerCertificateUntrusted, NSURLErrorServerCertificateHasBadDate,
             NSURLErrorServerCertificateNotYetValid, NSURLErrorServerCertificateHasUnknownRoot:
            return HTTPTransportError(.cannotConnect, message)
        case NSURLErrorNetworkConnectionLost, NSURLErrorBadServerResponse, NSURLErrorZeroByteResource,
             NSURLErrorCannotParseResponse:
            return HTTPTransportError(.connectionLost, message)
        case NSURLErrorCancelled:
            return HTTPTransportError(.other, "cancelled")
        default:
            return HTTPTransportError(.other, message)
        }
    }
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

    /// Sends `request`; a failure without an HTTP status becomes a `RemoteError` about `object`.
    public func send(_ request: HTTPRequest, object: String?) async throws -> HTTPResponse {
        do {
            return try await transport.send(request)
        } catch let error as HTTPTransportError {
            throw RemoteError(error.remoteReason, location: location, object: object, detail: error.message)
        }
    }
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
        // A server that ignores Range sends the whole object.
        guard range.upperBound <= Int64(response.body.count) else {
            throw RemoteError(
                .invalidRange, location: location, object: object,
                detail: "\(rangeHeader(range)) of a \(response.body.count)-byte object")
        }
        return Array(response.body[Int(range.lowerBound)..<Int(range.upperBound)])
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
