public import Foundation
public import ModVaultCore
public import ModVaultRemoteSupport
internal import Synchronization

/// How a `PocketBaseRemote` signs in: as a user of an auth collection, never only as a superuser.
public enum PocketBaseCredentials: Sendable, Equatable {
    /// Email and password of a user record (`POCKETBASE_EMAIL`, `POCKETBASE_PASSWORD`).
    case password(email: String, password: String)
    /// An auth token of such a user (`POCKETBASE_TOKEN`), checked and renewed with `auth-refresh`.
    case token(String)

    /// Reads `POCKETBASE_TOKEN`, or else `POCKETBASE_EMAIL` and `POCKETBASE_PASSWORD`; throws
    /// `.invalidConfiguration` naming `location` when neither is set.
    public static func fromEnvironment(_ environment: [String: String], location: String) throws -> PocketBaseCredentials {
        if let token = environment["POCKETBASE_TOKEN"], !token.isEmpty { return .token(token) }
        if let email = environment["POCKETBASE_EMAIL"], !email.isEmpty,
           let password = environment["POCKETBASE_PASSWORD"], !password.isEmpty {
            return .password(email: email, password: password)
        }
        throw RemoteError(.invalidConfiguration, location: location,
                          detail: "no PocketBase credentials: set POCKETBASE_EMAIL and POCKETBASE_PASSWORD, or POCKETBASE_TOKEN")
    }
}

/// Tuning for a `PocketBaseRemote`.
public struct PocketBaseOptions: Sendable, Equatable {
    /// Records per list request (PocketBase allows at most 1000).
    public var listPageSize: Int
    /// Seconds without progress before a request times out.
    public var requestTimeout: TimeInterval
    /// The auth collection users sign in to, and the one the collection's API rules admit.
    public var authCollection: String
    /// The file size limit `createProject` sets: packs must fit.
    public var maxFileSize: Int64
    /// How long a file token is reused before a new one is fetched (PocketBase issues them for minutes).
    public var fileTokenLifetime: Duration
    /// Send passwords over plain `http://` to a host that is not this machine (`MODVAULT_ALLOW_INSECURE_HTTP=1`).
    public var allowInsecureHTTP = false

    /// Creates options.
    public init(listPageSize: Int = 500, requestTimeout: TimeInterval = 60, authCollection: String = "users",
                maxFileSize: Int64 = 1 << 30, fileTokenLifetime: Duration = .seconds(60)) {
        self.listPageSize = max(1, min(1000, listPageSize))
        self.requestTimeout = requestTimeout
        self.authCollection = authCollection
        self.maxFileSize = maxFileSize
        self.fileTokenLifetime = fileTokenLifetime
    }
}

/// A remote in one PocketBase collection: each object is a record with `kind`, `name`, `size` and a
/// protected `file`, unique on (`kind`, `name`). Schema and API rules: Docs/REMOTES.md.
///
/// Create-if-absent is the unique index: a second create of a name fails. Downloads use short-lived
/// file tokens, with `Range` for partial reads. Wrap in `RetryingRemote` for retries.
public final class PocketBaseRemote: Remote, Sendable {
    /// The server and collection.
    public let address: PocketBaseAddress
    /// Tuning.
    public let options: PocketBaseOptions
    let credentials: PocketBaseCredentials
    let client: RemoteHTTPClient
    private let state = Mutex(SessionState())

    private struct RecordRef: Sendable {
        var id: String
        var file: String
        var size: Int64
    }

    private struct SessionState: Sendable {
        var authToken: String?
        var fileToken: (token: String, fetched: ContinuousClock.Instant)?
        var records: [String: RecordRef] = [:]
        var userID: String?
    }

    /// A remote at `address` signing in with `credentials`.
    public init(address: PocketBaseAddress, credentials: PocketBaseCredentials, options: PocketBaseOptions = PocketBaseOptions(),
                transport: any HTTPTransport = AsyncHTTPTransport.shared) {
        self.address = address
        self.credentials = credentials
        self.options = options
        self.client = RemoteHTTPClient(transport: transport, location: address.location)
    }

    /// A remote at `address` with credentials from `environment` (see `PocketBaseCredentials.fromEnvironment`).
    public convenience init(address: PocketBaseAddress, environment: [String: String] = ProcessInfo.processInfo.environment,
                            options: PocketBaseOptions = PocketBaseOptions(), transport: any HTTPTransport = AsyncHTTPTransport.shared) throws {
        let credentials = try PocketBaseCredentials.fromEnvironment(environment, location: address.location)
        self.init(address: address, credentials: credentials, options: options, transport: transport)
    }

    /// `pocketbase+http://host:port/collection`.
    public var location: String { address.location }

    /// Always true: the unique index on (`kind`, `name`) refuses a second record.
    public var supportsCreateIfAbsent: Bool { get async { true } }

    // MARK: Collection set-up

    /// Waits (up to 10 s) until the records API knows the new collection: a busy server can answer
    /// "missing collection" for a moment after creating it, and the first push follows right away.
    func waitUntilServed(superuserToken token: String) async throws {
        let path = "/api/collections/\(HTTPSupport.percentEncode(address.collection))/records"
        for _ in 0..<100 {
            let probe = try await send("GET", path: path, query: [("perPage", "1")], headers: [("Authorization", token)], object: nil)
            if probe.status != 404 { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw RemoteError(.containerMissing, location: location, detail: "collection \(address.collection) was created but is not served")
    }

    /// The record ID of the account with `email` in `options.authCollection`, looked up as superuser.
    func userID(email: String, superuserToken token: String) async throws -> String {
        let quoted = email.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'")
        let response = try await send("GET", path: "/api/collections/\(HTTPSupport.percentEncode(options.authCollection))/records",
                                      query: [("filter", "email='\(quoted)'"), ("perPage", "2"), ("fields", "id")],
                                      headers: [("Authorization", token)], object: nil)
        guard response.status == 200 else { throw failure(response, object: nil) }
        let items = ((try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any])?["items"] as? [[String: Any]] ?? []
        guard items.count == 1, let id = items[0]["id"] as? String, Self.isRecordID(id) else {
            throw RemoteError(.invalidConfiguration, location: location,
                              detail: "no single account \(email) in '\(options.authCollection)' to admit to the collection")
        }
        return id
    }

    /// True for names and addresses of this machine.
    public static func isLoopback(_ host: String) -> Bool {
        let h = host.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        if h == "localhost" || h == "::1" { return true }
        // 127.0.0.0/8 as an address, not a name that merely starts with "127.".
        let parts = h.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts[0] == "127" && parts.allSatisfy { p in !p.isEmpty && p.count <= 3 && p.allSatisfy(\.isNumber) && Int(p)! <= 255 }
    }

    /// PocketBase record IDs are short runs of letters and digits; anything else is not put in a rule.
    static func isRecordID(_ id: String) -> Bool {
        !id.isEmpty && id.count <= 64 && id.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 122) || ($0 >= 65 && $0 <= 90) }
    }

    /// Signs in now (otherwise the first operation does), so bad credentials show up early.
    public func authenticate() async throws {
        _ = try await authToken(renew: true)
    }

    // MARK: Remote

    /// Creates a record holding `data`. A taken name fails with `.alreadyExists` under `ifAbsent`,
    /// and otherwise has its file replaced.
    public func save(_ name: ObjectName, data: [UInt8], ifAbsent: Bool) async throws {
        try await store(name, payload: .bytes(data), size: Int64(data.count), ifAbsent: ifAbsent)
    }

    /// The same from a file, streamed from disk between the form's headers and closing boundary
    /// rather than read whole into memory.
    public func save(_ name: ObjectName, file path: String, ifAbsent: Bool) async throws {
        let size = try FileSystem.status(path).size
        try await store(name, payload: .file(path), size: size, ifAbsent: ifAbsent)
    }

    /// Where a record's file comes from.
    enum Payload {
        case bytes([UInt8])
        case file(String)
    }

    private func store(_ name: ObjectName, payload: Payload, size: Int64, ifAbsent: Bool) async throws {
        try RemoteLayout.validate(name, location: location)
        let object = name.relativePath
        var fields = [("kind", name.kind.rawValue), ("name", name.name), ("size", String(size))]
        // Project rules let each member see and remove only the key slots they own.
        if name.kind == .key { fields.append(("owner", try await ownUserID())) }
        func form(_ fields: [(String, String)]) -> (contentType: String, body: [UInt8]?, file: FileRange?) {
            let (contentType, head, tail) = multipart(fields: fields, fileName: name.name)
            switch payload {
            case .bytes(let data): return (contentType, head + data + tail, nil)
            case .file(let path): return (contentType, nil, FileRange(path: path, length: size, before: head, after: tail))
            }
        }
        let created = form(fields)
        var response = try await authorized("POST", path: recordsPath, headers: [("Content-Type", created.contentType)],
                                            body: created.body, bodyFile: created.file, object: object)
        if response.status == 400, isUniqueViolation(response) {
            if ifAbsent { throw RemoteError(.alreadyExists, location: location, name: name) }
            // A pack, index file or snapshot is named by its content: the record already holds these
            // bytes, and a writer may not replace records (only admins may), so there is nothing to do.
            if name.kind.isContentAddressed, let existing = try await lookup(name), existing.size == size { return }
            guard let existing = try await lookup(name) else {
                throw RemoteError(.conflict, location: location, name: name, detail: "record vanished while replacing it")
            }
            let update = form([("size", String(size))])
            response = try await authorized("PATCH", path: recordsPath + "/" + existing.id, headers: [("Content-Type", update.contentType)],
                                            body: update.body, bodyFile: update.file, object: object)
        }
        guard response.status == 200 else { throw failure(response, object: object) }
        if let record = try? decodeRecord(response.body) { remember(object, record) }
    }

    /// Downloads the record's file, or `range` of it, with a file token.
    public func load(_ name: ObjectName, range: Range<Int64>?) async throws -> [UInt8] {
        try RemoteLayout.validate(name, location: location)
        let object = name.relativePath
        var retriedLookup = false
        var retriedToken = false
        while true {
            guard let record = try await cachedOrLookup(name) else { throw RemoteError(.notFound, location: location, name: name) }
            if let range, range.isEmpty || range.lowerBound < 0 || range.upperBound > record.size {
                throw RemoteError(.invalidRange, location: location, name: name,
                                  detail: "\(HTTPSupport.rangeHeader(range)) of a \(record.size)-byte object")
            }
            let token = try await fileToken(renew: retriedToken)
            var headers: [(String, String)] = []
            if let range { headers.append(("Range", HTTPSupport.rangeHeader(range))) }
            let path = "/api/files/\(HTTPSupport.percentEncode(address.collection))/\(HTTPSupport.percentEncode(record.id))/"
                + HTTPSupport.percentEncode(record.file)
            let response = try await send("GET", path: path, query: [("token", token)], headers: headers, object: object, reading: (name, range))
            switch response.status {
            case 200, 206:
                let bytes = try HTTPSupport.rangedBody(response, requested: range, location: location, object: object)
                if range == nil, bytes.count != record.size {
                    throw RemoteError(.unexpectedResponse, location: location, name: name,
                                      detail: "record says \(record.size) bytes, file has \(bytes.count)")
                }
                return bytes
            case 404 where !retriedLookup:
                // The record may have been replaced or removed since it was looked up.
                forget(object)
                retriedLookup = true
            case 401 where !retriedToken, 403 where !retriedToken:
                retriedToken = true
            default:
                throw failure(response, object: object)
            }
        }
    }

    /// The record's `size`, or nil when there is no record of that name.
    public func stat(_ name: ObjectName) async throws -> Int64? {
        try RemoteLayout.validate(name, location: location)
        return try await lookup(name)?.size
    }

    /// Lists records of `kind` by name after `after`, page by page.
    public func list(_ kind: FileKind, after: String?, limit: Int) async throws -> [RemoteEntry] {
        try RemoteLayout.validateCursor(after, location: location)
        guard limit > 0 else { return [] }
        var out: [RemoteEntry] = []
        var cursor = after
        while out.count < limit {
            var filter = "kind='\(kind.rawValue)'"
            if let cursor { filter += " && name>'\(cursor)'" }
            let pageSize = min(options.listPageSize, limit - out.count)
            let response = try await authorized(
                "GET", path: recordsPath,
                query: [("filter", filter), ("sort", "name"), ("perPage", String(pageSize)), ("page", "1"),
                        ("skipTotal", "1"), ("fields", "id,name,size,file")],
                object: RemoteLayout.folder(of: kind))
            guard response.status == 200 else { throw failure(response, object: RemoteLayout.folder(of: kind)) }
            let items = try decodeItems(response.body)
            for item in items {
                let name = ObjectName(kind: kind, name: item.name)
                guard RemoteLayout.isValid(name) else { continue }
                out.append(RemoteEntry(name: name, size: item.size))
            }
            guard items.count == pageSize, let last = items.last else { break }
            cursor = last.name
        }
        return out
    }

    /// Deletes the record; a missing one is not an error.
    public func remove(_ name: ObjectName) async throws {
        try RemoteLayout.validate(name, location: location)
        let object = name.relativePath
        forget(object)
        guard let record = try await lookup(name) else { return }
        let response = try await authorized("DELETE", path: recordsPath + "/" + record.id, object: object)
        forget(object)
        if response.status == 204 || response.status == 200 { return }
        let error = failure(response, object: object)
        if error.reason == .notFound {
            // PocketBase answers 404 both for a record already gone and for one the delete rule hides
            // from this account: only the first is success.
            guard try await lookup(name) != nil else { return }
            throw RemoteError(.accessDenied, location: location, name: name,
                              detail: "the project's rules do not let this account delete (admins only)", status: response.status)
        }
        throw error
    }

    // MARK: Records

    var recordsPath: String { "/api/collections/\(HTTPSupport.percentEncode(address.collection))/records" }

    private func cachedOrLookup(_ name: ObjectName) async throws -> RecordRef? {
        if let cached = state.withLock({ $0.records[name.relativePath] }) { return cached }
        return try await lookup(name)
    }

    private func lookup(_ name: ObjectName) async throws -> RecordRef? {
        let object = name.relativePath
        let response = try await authorized(
            "GET", path: recordsPath,
            query: [("filter", "kind='\(name.kind.rawValue)' && name='\(name.name)'"), ("perPage", "1"), ("page", "1"),
                    ("skipTotal", "1"), ("fields", "id,name,size,file")],
            object: object)
        guard response.status == 200 else { throw failure(response, object: object) }
        guard let item = try decodeItems(response.body).first else {
            forget(object)
            return nil
        }
        let record = RecordRef(id: item.id, file: item.file, size: item.size)
        remember(object, record)
        return record
    }

    private func remember(_ object: String, _ record: RecordRef) {
        state.withLock { s in
            // Bounded: a cache, not an index of the remote.
            if s.records.count >= 50_000 { s.records.removeAll(keepingCapacity: true) }
            s.records[object] = record
        }
    }

    func forget(_ object: String) {
        _ = state.withLock { $0.records.removeValue(forKey: object) }
    }

    private struct Item: Decodable {
        var id: String
        var name: String
        var size: Int64
        var file: String

        enum CodingKeys: String, CodingKey { case id, name, size, file }

        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            id = try c.decode(String.self, forKey: .id)
            name = try c.decode(String.self, forKey: .name)
            file = try c.decodeIfPresent(String.self, forKey: .file) ?? ""
            // PocketBase numbers are JSON doubles.
            size = Int64(try c.decodeIfPresent(Double.self, forKey: .size) ?? 0)
        }
    }

    private struct Page: Decodable { var items: [Item] }

    private func decodeItems(_ body: [UInt8]) throws -> [Item] {
        do {
            return try JSONDecoder().decode(Page.self, from: Data(body)).items
        } catch {
            throw RemoteError(.unexpectedResponse, location: location, detail: "unreadable record list: \(error)")
        }
    }

    private func decodeRecord(_ body: [UInt8]) throws -> RecordRef {
        let item = try JSONDecoder().decode(Item.self, from: Data(body))
        return RecordRef(id: item.id, file: item.file, size: item.size)
    }

    // MARK: Authentication

    /// The signed-in account's record ID, fetched once.
    func ownUserID() async throws -> String {
        if let id = state.withLock({ $0.userID }) { return id }
        let id = try await currentUser().id
        state.withLock { $0.userID = id }
        return id
    }

    func signIn(collection: String, email: String, password: String, what: String) async throws -> String {
        // Anyone on the path could read a password sent in the clear; only this machine is exempt.
        if !options.allowInsecureHTTP, let url = URLComponents(string: address.baseURL), url.scheme == "http",
           !Self.isLoopback(url.host ?? "") {
            throw RemoteError(.invalidConfiguration, location: location,
                              detail: "refusing to send the \(what) password over plain http to \(url.host ?? ""); use https, or set MODVAULT_ALLOW_INSECURE_HTTP=1")
        }
        let body = try JSONSerialization.data(withJSONObject: ["identity": email, "password": password])
        let response = try await send("POST", path: "/api/collections/\(HTTPSupport.percentEncode(collection))/auth-with-password",
                                      headers: [("Content-Type", "application/json")], body: [UInt8](body), object: nil)
        switch response.status {
        case 200:
            return try token(in: response)
        case 400, 401, 403:
            throw RemoteError(.accessDenied, location: location, detail: "\(what) \(email): \(response.status) \(message(response) ?? "sign-in refused")",
                              status: response.status)
        case 404:
            throw RemoteError(.invalidConfiguration, location: location,
                              detail: "auth collection '\(collection)' not found (\(message(response) ?? "404"))", status: 404)
        default:
            throw failure(response, object: nil)
        }
    }

    func authToken(renew: Bool) async throws -> String {
        if !renew, let token = state.withLock({ $0.authToken }) { return token }
        let token: String
        switch credentials {
        case .password(let email, let password):
            token = try await signIn(collection: options.authCollection, email: email, password: password, what: "user")
        case .token(let given):
            let current = state.withLock { $0.authToken } ?? given
            let response = try await send("POST", path: "/api/collections/\(HTTPSupport.percentEncode(options.authCollection))/auth-refresh",
                                          headers: [("Authorization", current)], object: nil)
            guard response.status == 200 else {
                if response.status >= 500 { throw failure(response, object: nil) }
                throw RemoteError(.accessDenied, location: location,
                                  detail: "token refused: \(response.status) \(message(response) ?? "")", status: response.status)
            }
            token = try self.token(in: response)
        }
        state.withLock { $0.authToken = token }
        return token
    }

    private func fileToken(renew: Bool) async throws -> String {
        if !renew, let cached = state.withLock({ $0.fileToken }), cached.fetched.duration(to: .now) < options.fileTokenLifetime {
            return cached.token
        }
        let response = try await authorized("POST", path: "/api/files/token", object: nil)
        guard response.status == 200 else { throw failure(response, object: nil) }
        let token = try token(in: response)
        state.withLock { $0.fileToken = (token, .now) }
        return token
    }

    func token(in response: HTTPResponse) throws -> String {
        guard let json = try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any],
              let token = json["token"] as? String, !token.isEmpty else {
            throw RemoteError(.unexpectedResponse, location: location, detail: "no token in the sign-in answer")
        }
        return token
    }

    /// Sends with the user's token; on 401 signs in again once (tokens expire).
    func authorized(
        _ method: String, path: String, query: [(String, String)] = [], headers: [(String, String)] = [],
        body: [UInt8]? = nil, bodyFile: FileRange? = nil, object: String?
    ) async throws -> HTTPResponse {
        var token = try await authToken(renew: false)
        var response = try await send(method, path: path, query: query, headers: headers + [("Authorization", token)], body: body,
                                      bodyFile: bodyFile, object: object)
        if response.status == 401 {
            token = try await authToken(renew: true)
            response = try await send(method, path: path, query: query, headers: headers + [("Authorization", token)], body: body,
                                      bodyFile: bodyFile, object: object)
        }
        return response
    }

    // MARK: HTTP

    func send(
        _ method: String, path: String, query: [(String, String)] = [], headers: [(String, String)] = [],
        body: [UInt8]? = nil, bodyFile: FileRange? = nil, object: String?, reading: (name: ObjectName, range: Range<Int64>?)? = nil
    ) async throws -> HTTPResponse {
        var text = address.baseURL + path
        if !query.isEmpty {
            text += "?" + query.map { "\(HTTPSupport.percentEncode($0.0))=\(HTTPSupport.percentEncode($0.1))" }.joined(separator: "&")
        }
        guard let url = URL(string: text) else {
            throw RemoteError(.invalidConfiguration, location: location, object: object, detail: "bad URL \(text)")
        }
        var request = HTTPRequest(method: method, url: url, headers: headers.map { (name: $0.0, value: $0.1) }, body: body,
                                  timeout: options.requestTimeout)
        request.bodyFile = bodyFile
        if let reading { request.limit(reading: reading.name, range: reading.range) }
        return try await client.send(request, object: object)
    }

    /// A multipart form of `fields` and one file part: the bytes before the file's content and after it.
    func multipart(fields: [(String, String)], fileName: String) -> (contentType: String, head: [UInt8], tail: [UInt8]) {
        let boundary = "modvault-" + Hex.encode((0..<16).map { _ in UInt8.random(in: 0...255) })
        var head: [UInt8] = []
        for (name, value) in fields {
            head += Array("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"\r\n\r\n\(value)\r\n".utf8)
        }
        head += Array(("--\(boundary)\r\nContent-Disposition: form-data; name=\"file\"; filename=\"\(fileName)\"\r\n"
            + "Content-Type: application/octet-stream\r\n\r\n").utf8)
        return ("multipart/form-data; boundary=\(boundary)", head, Array("\r\n--\(boundary)--\r\n".utf8))
    }

    func message(_ response: HTTPResponse) -> String? {
        (try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any])?["message"] as? String
    }

    /// Field name → error code from a PocketBase validation answer (`{"data": {"name": {"code": …}}}`).
    func fieldErrorCodes(_ response: HTTPResponse) -> [String: String] {
        guard let json = try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any],
              let data = json["data"] as? [String: Any] else { return [:] }
        var out: [String: String] = [:]
        for (field, value) in data {
            if let code = (value as? [String: Any])?["code"] as? String { out[field] = code }
        }
        return out
    }

    func isUniqueViolation(_ response: HTTPResponse) -> Bool {
        let codes = fieldErrorCodes(response)
        return codes["name"] == "validation_not_unique" || codes["kind"] == "validation_not_unique"
    }

    func failure(_ response: HTTPResponse, object: String?) -> RemoteError {
        let text = message(response)
        var detail = "\(response.status)" + (text.map { " \($0)" } ?? "")
        let fields = fieldErrorCodes(response)
        if !fields.isEmpty { detail += " " + fields.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ") }
        let reason: RemoteError.Reason
        switch response.status {
        case 401, 403: reason = .accessDenied
        // A create the collection's rules refuse: 400 with no field named (a validation error names one).
        case 400 where fields.isEmpty && text?.hasPrefix("Failed to create") == true:
            reason = .accessDenied
            detail += " (the collection's rules refuse this account: a reader, or not a member)"
        case 404 where text?.contains("collection") == true: reason = .containerMissing
        case 404: reason = .notFound
        case 416: reason = .invalidRange
        case 429: reason = .throttled
        case 500...599: reason = .serverError
        default: reason = .unexpectedResponse
        }
        return RemoteError(reason, location: location, object: reason == .containerMissing ? nil : object, detail: detail,
                           status: response.status)
    }
}
