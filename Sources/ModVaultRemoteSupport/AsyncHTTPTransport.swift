internal import AsyncHTTPClient
import ModVaultCore
public import Foundation
internal import NIOCore
internal import NIOHTTP1
internal import NIOPosix
internal import NIOSSL
internal import Synchronization

/// `HTTPTransport` over async-http-client: pooled connections, and bodies read as they arrive so
/// the request's limits (`maximumBodyLength`, `window`) bound memory whatever the server sends.
///
/// Redirects are not followed here; `RemoteHTTPClient` decides which ones are safe. Compressed
/// transfer is refused (`Accept-Encoding: identity`) because it would break byte ranges.
public final class AsyncHTTPTransport: HTTPTransport {
    /// A transport shared by every remote that is not given its own.
    public static let shared = AsyncHTTPTransport()

    private let connectionsPerHost: Int
    // One client per distinct no-progress timeout: async-http-client sets the read timeout per client.
    private let clients = Mutex<[Int: HTTPClient]>([:])
    // Requests beyond the connection limit wait here, without a deadline: in async-http-client's pool
    // the wait would count against the connect timeout, and a long queue (a busy, slow server) would
    // fail requests that were never sent.
    private let slots: RequestSlots

    /// Creates a transport allowing `connectionsPerHost` parallel connections to one host.
    public init(connectionsPerHost: Int = 16) {
        self.connectionsPerHost = connectionsPerHost
        slots = RequestSlots(connectionsPerHost)
    }

    deinit {
        for client in clients.withLock({ Array($0.values) }) { client.shutdown { _ in } }
    }

    private func client(timeout: TimeInterval, streaming: Bool = false) -> HTTPClient {
        let millis = max(1, Int((timeout * 1000).rounded()))
        // Long-lived answers (event streams) get a pool of their own: they would otherwise hold the
        // connections that ordinary requests wait for.
        let key = streaming ? -millis : millis
        return clients.withLock { clients in
            if let client = clients[key] { return client }
            var pool = HTTPClient.Configuration.ConnectionPool(
                idleTimeout: .seconds(30), concurrentHTTP1ConnectionsPerHostSoftLimit: connectionsPerHost)
            // A failed connection fails its request at once: RetryingRemote owns the retry policy, and the
            // pool's own growing backoff would outlast a server that has already come back.
            pool.retryConnectionEstablishment = false
            var configuration = HTTPClient.Configuration(
                redirectConfiguration: .disallow,
                timeout: .init(connect: .milliseconds(Int64(min(millis, 30_000))), read: .milliseconds(Int64(millis))),
                connectionPool: pool,
                decompression: .disabled)
            configuration.httpVersion = .http1Only
            let client = HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton, configuration: configuration)
            clients[key] = client
            return client
        }
    }

    /// Sends `request`, reading the body within its limits.
    public func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        try await slots.acquire()
        defer { slots.release() }
        return try await sendNow(request)
    }

    private func sendNow(_ request: HTTPRequest) async throws -> HTTPResponse {
        do {
            let response = try await client(timeout: request.timeout).execute(Self.outgoing(request), deadline: .distantFuture)
            return try await Self.read(response, for: request)
        } catch {
            throw Self.transportFailure(error)
        }
    }

    /// Sends `request` and passes each piece of a 2xx answer's body to `receive` as it arrives, until the
    /// server ends it; returns the status and headers then (the body went to `receive`). Any other answer
    /// is read whole, within the request's limits, and returned without calling `receive`.
    ///
    /// For long-lived answers such as server-sent events: the request waits for no connection slot and
    /// uses a connection pool of its own; `request.timeout` is the longest silence allowed. Transport
    /// failures throw `HTTPTransportError`; what `receive` throws is rethrown as it is. Cancelling the
    /// calling task closes the connection.
    public func stream(_ request: HTTPRequest, receive: ([UInt8]) async throws -> Void) async throws -> HTTPResponse {
        let response: HTTPClientResponse
        do {
            response = try await client(timeout: request.timeout, streaming: true).execute(Self.outgoing(request), deadline: .distantFuture)
            guard (200..<300).contains(response.status.code) else { return try await Self.read(response, for: request) }
        } catch {
            throw Self.transportFailure(error)
        }
        var pieces = response.body.makeAsyncIterator()
        while true {
            let piece: ByteBuffer?
            do {
                piece = try await pieces.next()
            } catch HTTPParserError.invalidEOFState {
                // The connection closed inside the body (a server that died mid-stream).
                throw HTTPTransportError(.connectionLost, "the server closed the connection before the answer ended")
            } catch {
                throw Self.transportFailure(error)
            }
            guard let piece else { break }
            try await receive(Array(piece.readableBytesView))
        }
        try Task.checkCancellation()
        return HTTPResponse(status: Int(response.status.code), headers: Self.headers(of: response))
    }

    /// The async-http-client request for `request`.
    private static func outgoing(_ request: HTTPRequest) -> HTTPClientRequest {
        var outgoing = HTTPClientRequest(url: Self.connectable(request.url).absoluteString)
        outgoing.method = HTTPMethod(rawValue: request.method)
        if let host = request.url.host, host.lowercased().hasSuffix(".localhost") {
            outgoing.headers.add(name: "Host", value: request.url.port.map { "\(host):\($0)" } ?? host)
        }
        outgoing.headers.add(name: "Accept-Encoding", value: "identity")
        for (name, value) in request.headers { outgoing.headers.replaceOrAdd(name: name, value: value) }
        if let file = request.bodyFile {
            outgoing.body = .stream(FileBodyPieces(range: file), length: .known(file.bodyLength))
        } else if let body = request.body {
            // Sent in 4 MiB buffers made as they go, not one copy of the whole body: a push keeps
            // several packs in flight, and each would otherwise be held twice.
            outgoing.body = .bytes(body)
        }
        return outgoing
    }

    /// The answer's header fields, keyed by lowercase name.
    private static func headers(of response: HTTPClientResponse) -> [String: String] {
        var headers: [String: String] = [:]
        for (name, value) in response.headers { headers[name.lowercased()] = value }
        return headers
    }

    /// Reads the body of `response` within the limits of `request`.
    private static func read(_ response: HTTPClientResponse, for request: HTTPRequest) async throws -> HTTPResponse {
        let headers = Self.headers(of: response)
        let status = Int(response.status.code)
        // A 200 to a ranged request without Content-Range ignored the Range header: keep the window.
        let window = (status == 200 && headers["content-range"] == nil) ? request.window : nil
        let limit = window.map { Int64($0.count) } ?? request.maximumBodyLength
        let declared = headers["content-length"].flatMap { Int64($0) }
        if window == nil, request.method != "HEAD", let declared, declared > limit {
            throw HTTPTransportError(.tooLarge, "the answer announces \(declared) bytes, more than the \(limit) allowed")
        }
        var body: [UInt8] = []
        body.reserveCapacity(Int(min(declared ?? 0, limit, 64 << 20)))
        var position: Int64 = 0
        for try await buffer in response.body {
            let start = position
            position += Int64(buffer.readableBytes)
            if let window {
                let low = max(start, window.lowerBound), high = min(position, window.upperBound)
                if low < high {
                    buffer.withUnsafeReadableBytes { bytes in
                        body.append(contentsOf: bytes[Int(low - start)..<Int(high - start)])
                    }
                }
                if position >= window.upperBound {
                    return HTTPResponse(status: status, headers: headers, body: body, bodyOffset: window.lowerBound, receivedBytes: position)
                }
                continue
            }
            guard Int64(body.count) + (position - start) <= limit else {
                throw HTTPTransportError(.tooLarge, "the answer is longer than the \(limit) bytes allowed")
            }
            buffer.withUnsafeReadableBytes { body.append(contentsOf: $0) }
        }
        if let window {
            // The object ended before the window did: return what there was, from the window's start.
            return HTTPResponse(status: status, headers: headers, body: body, bodyOffset: min(window.lowerBound, position), receivedBytes: position)
        }
        return HTTPResponse(status: status, headers: headers, body: body, receivedBytes: position)
    }

    /// `error` as the transport reports it: a `HTTPTransportError`, or `CancellationError` when the task was cancelled.
    private static func transportFailure(_ error: any Error) -> any Error {
        if error is HTTPTransportError { return error }
        if error is CancellationError || Task.isCancelled { return CancellationError() }
        return classify(error)
    }

    /// The URL to connect to: names under `.localhost` are loopback (RFC 6761), as browsers and curl
    /// treat them, so S3 virtual-hosted addressing works against a local server; the Host header
    /// keeps the name.
    static func connectable(_ url: URL) -> URL {
        guard let host = url.host, host.lowercased().hasSuffix(".localhost"),
              var parts = URLComponents(url: url, resolvingAgainstBaseURL: false) else { return url }
        parts.host = "127.0.0.1"
        return parts.url ?? url
    }

    /// Maps an async-http-client or SwiftNIO error to a transport error.
    static func classify(_ error: any Error) -> HTTPTransportError {
        let message = String(describing: error)
        if let http = error as? HTTPClientError {
            switch http {
            case .connectTimeout: return HTTPTransportError(.cannotConnect, "connection timed out")
            case .readTimeout, .writeTimeout, .deadlineExceeded: return HTTPTransportError(.timedOut, "no progress within the timeout")
            case .remoteConnectionClosed: return HTTPTransportError(.connectionLost, "the server closed the connection")
            case .cancelled: return HTTPTransportError(.other, "cancelled")
            default: return HTTPTransportError(.other, message)
            }
        }
        if error is NIOConnectionError || error is NIOSSLError { return HTTPTransportError(.cannotConnect, message) }
        if let io = error as? IOError {
            switch io.errnoCode {
            case ECONNREFUSED, ENETUNREACH, EHOSTUNREACH, EADDRNOTAVAIL: return HTTPTransportError(.cannotConnect, message)
            case ECONNRESET, EPIPE: return HTTPTransportError(.connectionLost, message)
            default: return HTTPTransportError(.other, message)
            }
        }
        if let channel = error as? ChannelError {
            switch channel {
            case .connectTimeout: return HTTPTransportError(.cannotConnect, message)
            case .eof, .ioOnClosedChannel, .alreadyClosed, .outputClosed, .inputClosed: return HTTPTransportError(.connectionLost, message)
            default: return HTTPTransportError(.other, message)
            }
        }
        return HTTPTransportError(.other, message)
    }
}

/// A counting semaphore for async callers: at most `limit` holders; the rest wait in order.
final class RequestSlots: Sendable {
    private struct State {
        var free: Int
        var waiting: [(id: UInt64, continuation: CheckedContinuation<Void, any Error>)] = []
        var nextID: UInt64 = 0
    }
    private let state: Mutex<State>

    init(_ limit: Int) { state = Mutex(State(free: max(1, limit))) }

    /// Takes a slot, waiting for one if none is free; a cancelled waiter throws `CancellationError`.
    func acquire() async throws {
        let id = state.withLock { s -> UInt64? in
            if s.free > 0 {
                s.free -= 1
                return nil
            }
            s.nextID += 1
            return s.nextID
        }
        guard let id else { return }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let resumeNow = state.withLock { s -> Bool in
                    // A release may have come between the check above and now.
                    if s.free > 0 {
                        s.free -= 1
                        return true
                    }
                    s.waiting.append((id, continuation))
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let cancelled = state.withLock { s -> CheckedContinuation<Void, any Error>? in
                guard let i = s.waiting.firstIndex(where: { $0.id == id }) else { return nil }
                return s.waiting.remove(at: i).continuation
            }
            cancelled?.resume(throwing: CancellationError())
        }
    }

    /// Returns a slot, handing it straight to the longest waiter if there is one.
    func release() {
        let next = state.withLock { s -> CheckedContinuation<Void, any Error>? in
            if s.waiting.isEmpty {
                s.free += 1
                return nil
            }
            return s.waiting.removeFirst().continuation
        }
        next?.resume()
    }
}

/// A request body read from a file in 1 MiB pieces as the connection takes them, between the range's
/// `before` and `after` bytes; each send opens the file again, so a retried request starts over.
struct FileBodyPieces: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let range: FileRange

    struct AsyncIterator: AsyncIteratorProtocol {
        let range: FileRange
        var file: OpenFile?
        var done: Int64 = 0
        var sentBefore = false
        var sentAfter = false

        mutating func next() async throws -> ByteBuffer? {
            if !sentBefore {
                sentBefore = true
                if !range.before.isEmpty { return ByteBuffer(bytes: range.before) }
            }
            guard done < range.length else {
                guard !sentAfter else { return nil }
                sentAfter = true
                return range.after.isEmpty ? nil : ByteBuffer(bytes: range.after)
            }
            if file == nil { file = try OpenFile.openForReading(range.path) }
            let want = Int(Swift.min(Int64(1 << 20), range.length - done))
            var buffer = ByteBufferAllocator().buffer(capacity: want)
            let read = try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: want) { raw in
                try file!.read(into: UnsafeMutableRawBufferPointer(rebasing: raw[0..<want]), at: range.offset + done)
            }
            // The file shrank while it was being sent: fail the request rather than send short.
            guard read == want else {
                throw SystemCallError(code: EIO, operation: "short read (\(done + Int64(read)) of \(range.length) bytes)", path: range.path)
            }
            done += Int64(read)
            return buffer
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(range: range) }
}