import Foundation
import Synchronization
public import Hummingbird
import HTTPTypes
import ModVaultCore

/// Sessions of the one user this server serves: a one-time login token, printed on the terminal
/// (as Jupyter does), becomes a session cookie with its own CSRF token.
public final class WebSessions: Sendable {
    /// The session cookie's name.
    public static let cookie = "modvault_session"
    private let state: Mutex<(loginToken: String?, sessions: [String: String])>

    /// Sessions that a first visit with `loginToken` opens.
    public init(loginToken: String) { state = Mutex((loginToken, [:])) }

    /// Spends the login token: a new session ID and its CSRF token, or nil when the token is wrong or used.
    func login(_ token: String) -> (session: String, csrf: String)? {
        state.withLock { s in
            guard let expected = s.loginToken, WebSessions.constantTimeEqual(token, expected) else { return nil }
            s.loginToken = nil
            let session = Self.random(), csrf = Self.random()
            s.sessions[session] = csrf
            return (session, csrf)
        }
    }

    /// The CSRF token of session `id`, or nil when there is no such session.
    func csrf(session id: String) -> String? { state.withLock { $0.sessions[id] } }

    /// 32 random bytes as hex: login tokens, session IDs, CSRF and peer tokens.
    public static func random() -> String { Hex.encode((0..<32).map { _ in UInt8.random(in: 0...255) }) }

    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        return zip(x, y).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }
}

/// The request context: Hummingbird's basic one plus the session a request carries.
public struct WebContext: RequestContext {
    /// Hummingbird's per-request storage.
    public var coreContext: CoreRequestContextStorage
    /// The CSRF token of the request's session, once `WebGuard` has checked it.
    public var csrf: String?

    /// Creates the context for one request.
    public init(source: Source) {
        coreContext = .init(source: source)
        csrf = nil
    }
}

/// The checks every request passes before any route runs:
/// - `Host` must be the address the server listens on (DNS rebinding);
/// - a session cookie is needed everywhere but `/login`;
/// - a request that changes anything (not GET or HEAD) needs a matching `Origin` and the session's
///   CSRF token in `X-CSRF-Token`. No CORS headers are ever sent.
public struct WebGuard: RouterMiddleware {
    /// `host:port` values the `Host` header may carry.
    let hosts: Set<String>
    /// Origins a state-changing request may come from.
    let origins: Set<String>
    let sessions: WebSessions

    /// A guard for a server reachable as `hosts` (each `host:port`).
    public init(hosts: [String], sessions: WebSessions) {
        self.hosts = Set(hosts.map { $0.lowercased() })
        self.origins = Set(hosts.map { "http://" + $0.lowercased() })
        self.sessions = sessions
    }

    /// Checks `request`, then hands it on.
    public func handle(_ request: Request, context: WebContext, next: (Request, WebContext) async throws -> Response) async throws -> Response {
        let host = (request.head.authority ?? "").lowercased()
        guard hosts.contains(host) else {
            return WebResponse.error(.forbidden("Host \(host.isEmpty ? "(none)" : host) is not this server's address"), api: true)
        }
        let api = request.uri.path.hasPrefix("/api/")
        if request.uri.path == "/login" { return try await next(request, context) }
        // A peer's HTTP remote has no browser session: its token is in the path, and it only reads.
        if request.uri.path.hasPrefix("/peer/") {
            guard request.method == .get || request.method == .head else { return Response(status: .methodNotAllowed) }
            return try await next(request, context)
        }
        guard let session = request.cookies[WebSessions.cookie]?.value, let csrf = sessions.csrf(session: session) else {
            return WebResponse.error(.unauthorized("not signed in: open the address 'modvault serve' printed"), api: api)
        }
        if request.method != .get && request.method != .head {
            guard let origin = request.headers[.origin]?.lowercased(), origins.contains(origin) else {
                return WebResponse.error(.forbidden("cross-origin request refused (Origin \(request.headers[.origin] ?? "missing"))"), api: api)
            }
            guard let given = request.headers[WebResponse.csrfHeader], WebSessions.constantTimeEqual(given, csrf) else {
                return WebResponse.error(.forbidden("missing or wrong CSRF token"), api: api)
            }
        }
        var context = context
        context.csrf = csrf
        return try await next(request, context)
    }
}

/// Building responses: JSON for the API, HTML for pages, errors as either.
enum WebResponse {
    static let csrfHeader = HTTPField.Name("X-CSRF-Token")!

    static func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return Response(status: status, headers: [.contentType: "application/json; charset=utf-8", .cacheControl: "no-store"],
                        body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(value))))
    }

    static func html(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store",
                                           .contentSecurityPolicy: "default-src 'self'; style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline'"],
                 body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static func error(_ error: WebError, api: Bool) -> Response {
        let status = HTTPResponse.Status(code: error.status)
        if api { return (try? json(["error": error.description], status: status)) ?? Response(status: status) }
        return html(HTML.page(title: "Error", csrf: nil, body: "<p class=error>\(HTML.escape(error.description))</p>"), status: status)
    }
}
