public import Foundation
import Synchronization
public import Hummingbird
import Logging
public import ModVaultCore
public import ModVaultStore
import ModVaultArchive
import ModVaultSync
public import ModVaultRemotePocketBase

/// What `modvault serve` serves, and where.
public struct WebServerConfiguration: Sendable {
    /// The address to listen on (loopback unless the user asked otherwise).
    public var host: String = "127.0.0.1"
    /// The port; 0 picks a free one.
    public var port: Int = 8424
    /// The repository, opened with `password`.
    public var repository: Repository
    /// The repository's password (sharing re-seals the key slot once to add a member key).
    public var password: [UInt8]
    /// Saved remotes: name → URL text.
    public var remotes: [String: String] = [:]
    /// Synced folders the Sync page shows (absolute paths).
    public var folders: [String] = []
    /// Opens a saved remote by name: the remote, and the same remote as a PocketBase project if it is one.
    public var openRemote: @Sendable (String) throws -> (remote: any Remote, url: String, pocketBase: PocketBaseRemote?)
    /// The one-time login token (random unless a test sets it).
    public var loginToken: String = WebSessions.random()
    /// With a token, `/peer/<token>/` serves the repository read-only to the HTTP remote (`serve --peer`).
    public var peerToken: String?

    /// A configuration serving `repository`.
    public init(repository: Repository, password: [UInt8],
                openRemote: @escaping @Sendable (String) throws -> (remote: any Remote, url: String, pocketBase: PocketBaseRemote?)) {
        self.repository = repository
        self.password = password
        self.openRemote = openRemote
    }
}

/// The local web UI and its JSON API (`/api/v1`, Docs/openapi.yaml) over the same library calls as the CLI.
public final class WebServer: Sendable {
    /// What to serve.
    public let configuration: WebServerConfiguration
    let sessions: WebSessions
    let jobs = WebJobs()
    let repository: Mutex<Repository>

    /// A server for `configuration`.
    public init(configuration: WebServerConfiguration) {
        self.configuration = configuration
        sessions = WebSessions(loginToken: configuration.loginToken)
        repository = Mutex(configuration.repository)
    }

    let insideCache = InsideCache()
    var model: WebModel { WebModel(repository: repository.withLock { $0 }, cache: insideCache) }

    /// Runs until SIGINT or SIGTERM (or the task is cancelled); `ready` gets the login URL once listening.
    public func run(ready: @escaping @Sendable (String) -> Void) async throws {
        let portBox = PortBox(configuration.port)
        let host = configuration.host
        let token = configuration.loginToken
        // The guard needs the real port, known only once listening: it reads it from the box.
        let router = Router(context: WebContext.self)
        router.add(middleware: LateGuard(box: portBox, host: host, sessions: sessions))
        routes(router)
        // stdout carries the login address for scripts; the server's own log says only what goes wrong.
        var logger = Logger(label: "modvault-serve")
        logger.logLevel = .warning
        let app = Application(
            router: router, configuration: .init(address: .hostname(host, port: configuration.port), serverName: nil),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? 0
                portBox.port.withLock { $0 = port }
                ready("http://\(host):\(port)/login?token=\(token)")
            },
            logger: logger)
        try await app.runService()
    }

    /// `WebGuard` for the port the server ended up on.
    struct LateGuard: RouterMiddleware {
        let box: PortBox
        let host: String
        let sessions: WebSessions

        func handle(_ request: Request, context: WebContext, next: (Request, WebContext) async throws -> Response) async throws -> Response {
            let port = box.port.withLock { $0 }
            var names = ["\(host):\(port)"]
            if host == "127.0.0.1" || host == "::1" { names.append("localhost:\(port)") }
            return try await WebGuard(hosts: names, sessions: sessions).handle(request, context: context, next: next)
        }
    }

    // MARK: Routes

    func routes(_ router: Router<WebContext>) {
        router.get("/login") { [self] request, _ -> Response in
            guard let token = request.uri.queryParameters["token"].map(String.init), let (session, _) = sessions.login(token) else {
                return WebResponse.error(.unauthorized("this login link was already used or is wrong: restart 'modvault serve' for a new one"), api: false)
            }
            var response = Response(status: .seeOther, headers: [.location: "/"])
            if let cookie = try? Cookie.validated(name: WebSessions.cookie, value: session, path: "/", httpOnly: true, sameSite: .strict) {
                response.setCookie(cookie)
            }
            return response
        }
        // The repository for a peer's HTTP remote (serve --peer)
        router.get("/peer/:token/**") { [self] request, context in
            try await peer(request, token: try context.parameters.require("token"), path: context.parameters.getCatchAll().joined(separator: "/"))
        }
        router.head("/peer/:token/**") { [self] request, context in
            try await peer(request, token: try context.parameters.require("token"), path: context.parameters.getCatchAll().joined(separator: "/"))
        }
        // JSON API
        router.get("/api/v1/snapshots") { [self] _, _ in try handle { try WebResponse.json(try model.snapshots()) } }
        router.get("/api/v1/snapshots/:id/entries") { [self] request, context in
            try handle {
                try WebResponse.json(try model.entries(try context.parameters.require("id"), path: Self.query(request, "path") ?? ""))
            }
        }
        router.get("/api/v1/snapshots/:id/file") { [self] request, context in
            try handle { try download(snapshot: try context.parameters.require("id"), path: Self.query(request, "path") ?? "") }
        }
        router.get("/api/v1/snapshots/:id/inside") { [self] request, context in
            try handle {
                try WebResponse.json(try model.inside(try context.parameters.require("id"), path: Self.query(request, "path") ?? "",
                                                      folder: Self.query(request, "folder") ?? "", offset: Int(Self.query(request, "offset") ?? "") ?? 0))
            }
        }
        router.get("/api/v1/history") { [self] request, _ in
            try handle { try WebResponse.json(try model.fileHistory(Self.query(request, "path") ?? "")) }
        }
        router.get("/api/v1/diff") { [self] request, _ in
            try handle {
                guard let from = Self.query(request, "from"), let to = Self.query(request, "to") else { throw WebError.badRequest("give from and to") }
                return try WebResponse.json(try model.diff(from: from, to: to, inside: Self.query(request, "inside") == "1"))
            }
        }
        router.get("/api/v1/diff/inside") { [self] request, _ in
            try handle {
                guard let from = Self.query(request, "from"), let to = Self.query(request, "to"), let path = Self.query(request, "path") else {
                    throw WebError.badRequest("give from, to and path")
                }
                return try WebResponse.json(try model.insideChange(from: from, to: to, path: path))
            }
        }
        router.get("/api/v1/remotes") { [self] _, _ in try handle { try WebResponse.json(configuration.remotes) } }
        router.get("/api/v1/remotes/:name/members") { [self] _, context in
            try await handleAsync { try WebResponse.json(try await project(try context.parameters.require("name")).members().map(MemberItem.init)) }
        }
        router.get("/api/v1/remotes/:name/invites") { [self] _, context in
            try await handleAsync { try WebResponse.json(try await project(try context.parameters.require("name")).invites().map(InviteItem.init)) }
        }
        router.post("/api/v1/remotes/:name/invites") { [self] request, context in
            try await handleAsync {
                let body = try await request.decode(as: InviteRequest.self, context: context)
                return try WebResponse.json(try await createInvite(remote: try context.parameters.require("name"), body), status: .created)
            }
        }
        router.post("/api/v1/remotes/:name/invites/:id/revoke") { [self] _, context in
            try await handleAsync {
                try await project(try context.parameters.require("name")).revokeInvite(id: try context.parameters.require("id"))
                return try WebResponse.json(["revoked": try context.parameters.require("id")])
            }
        }
        router.post("/api/v1/restore") { [self] request, context in
            try await handleAsync {
                let body = try await request.decode(as: RestoreRequest.self, context: context)
                return try WebResponse.json(try startRestore(body), status: .accepted)
            }
        }
        router.get("/api/v1/folders") { [self] _, _ in
            try await handleAsync {
                var out: [FolderStatus] = []
                for index in configuration.folders.indices { out.append(try await folderStatus(index)) }
                return try WebResponse.json(out)
            }
        }
        router.post("/api/v1/folders/:index/sync") { [self] _, context in
            try await handleAsync { try WebResponse.json(try startSync(Int(try context.parameters.require("index")) ?? -1), status: .accepted) }
        }
        router.post("/api/v1/folders/:index/resolve") { [self] request, context in
            try await handleAsync {
                struct Body: Decodable { var path: String; var take: String?; var records: [String: String]? }
                let body = try await request.decode(as: Body.self, context: context)
                return try WebResponse.json(try await resolveConflict(Int(try context.parameters.require("index")) ?? -1, path: body.path,
                                                                      take: body.take, records: body.records))
            }
        }
        router.get("/api/v1/folders/:index/conflict") { [self] request, context in
            try handle {
                guard let path = Self.query(request, "path") else { throw WebError.badRequest("path is required") }
                return try WebResponse.json(try conflictDetail(Int(try context.parameters.require("index")) ?? -1, path: path))
            }
        }
        router.get("/api/v1/repository") { [self] _, _ in try handle { try WebResponse.json(try repositoryInfo()) } }
        router.post("/api/v1/check") { [self] request, context in
            try await handleAsync {
                struct Body: Decodable { var readData: Bool?
                    enum CodingKeys: String, CodingKey { case readData = "read_data" } }
                let body = try await request.decode(as: Body.self, context: context)
                return try WebResponse.json(startCheck(readData: body.readData ?? false), status: .accepted)
            }
        }
        router.post("/api/v1/prune") { [self] request, context in
            try await handleAsync {
                struct Body: Decodable { var dryRun: Bool?
                    enum CodingKeys: String, CodingKey { case dryRun = "dry_run" } }
                let body = try await request.decode(as: Body.self, context: context)
                return try WebResponse.json(startPrune(dryRun: body.dryRun ?? false), status: .accepted)
            }
        }
        router.get("/api/v1/jobs") { [self] _, _ in try handle { try WebResponse.json(jobs.all) } }
        router.get("/api/v1/jobs/:id") { [self] _, context in
            try handle {
                guard let job = jobs.job(try context.parameters.require("id")) else { throw WebError.notFound("no such job") }
                return try WebResponse.json(job)
            }
        }
        router.get("/api/v1/jobs/:id/events") { [self] _, context in
            try handle {
                let id = try context.parameters.require("id")
                guard jobs.job(id) != nil else { throw WebError.notFound("no such job") }
                return progressStream(id)
            }
        }
        // Pages
        router.get("/") { [self] request, context in
            try handle(page: true) { try historyPage(folder: Self.query(request, "folder"), device: Self.query(request, "device"), csrf: context.csrf) }
        }
        router.get("/browse/:id") { [self] request, context in
            try handle(page: true) { try browsePage(try context.parameters.require("id"), path: Self.query(request, "path") ?? "", csrf: context.csrf) }
        }
        router.get("/inside/:id") { [self] request, context in
            try handle(page: true) {
                try insidePage(try context.parameters.require("id"), path: Self.query(request, "path") ?? "", folder: Self.query(request, "folder") ?? "",
                               offset: Int(Self.query(request, "offset") ?? "") ?? 0, csrf: context.csrf)
            }
        }
        router.get("/file") { [self] request, context in
            try handle(page: true) { try fileHistoryPage(Self.query(request, "path") ?? "", csrf: context.csrf) }
        }
        router.get("/diff") { [self] request, context in
            try handle(page: true) { try diffPage(from: Self.query(request, "from") ?? "", to: Self.query(request, "to") ?? "", all: Self.query(request, "all") == "1",
                             detail: Self.query(request, "path"), csrf: context.csrf) }
        }
        router.get("/team") { [self] request, context in try await handleAsync(page: true) { try await teamPage(Self.query(request, "remote"), csrf: context.csrf) } }
        router.get("/sync") { [self] _, context in try await handleAsync(page: true) { try await syncPage(context.csrf) } }
        router.get("/folders/:index/conflict") { [self] request, context in
            try handle(page: true) {
                guard let path = Self.query(request, "path") else { throw WebError.badRequest("path is required") }
                return try conflictPage(Int(try context.parameters.require("index")) ?? -1, path: path, csrf: context.csrf)
            }
        }
        router.get("/repository") { [self] _, context in try handle(page: true) { try repositoryPage(context.csrf) } }
        router.get("/jobs") { [self] _, context in try handle(page: true) { jobsPage(context.csrf) } }
    }

    static func query(_ request: Request, _ name: String) -> String? { request.uri.queryParameters[name[...]].map(String.init) }

    /// Maps a thrown `WebError` (or anything else) to a response.
    func handle(page: Bool = false, _ body: () throws -> Response) throws -> Response {
        do { return try body() } catch { return Self.failure(error, page: page) }
    }

    func handleAsync(page: Bool = false, _ body: () async throws -> Response) async throws -> Response {
        do { return try await body() } catch { return Self.failure(error, page: page) }
    }

    /// A page or an API answer for `error`: a `WebError` keeps its status; a library failure gets the
    /// status of its kind (missing → 404, locked or already there → 409, anything else → 400), naming its cause.
    static func failure(_ error: any Error, page: Bool) -> Response {
        let web: WebError
        if let e = error as? WebError {
            web = e
        } else if let f = error as? ModVaultFailure {
            switch f.kind {
            case .notFound, .repositoryMissing: web = .notFound(f.description)
            case .locked, .repositoryExists: web = .conflict(f.description)
            default: web = .badRequest(f.description)
            }
        } else {
            web = .badRequest("\(error)")
        }
        return WebResponse.error(web, api: !page)
    }

    // MARK: Operations

    func download(snapshot: String, path: String) throws -> Response {
        let node = try model.file(snapshot, path: path)
        let reader = try SnapshotFileReader(repository: model.repository, node: node)
        let name = try WebPath.components(path).last ?? "file"
        let size = Int(reader.size)
        return Response(status: .ok, headers: [.contentType: "application/octet-stream",
                                               .contentDisposition: "attachment; filename=\"\(name.replacingOccurrences(of: "\"", with: "_"))\""],
                        body: .init(contentLength: size) { writer in
                            var offset: UInt64 = 0
                            while offset < reader.size {
                                let count = Int(min(UInt64(1 << 20), reader.size - offset))
                                try await writer.write(ByteBuffer(bytes: try reader.read(offset: offset, count: count)))
                                offset += UInt64(count)
                            }
                            try await writer.finish(nil)
                        })
    }

    func project(_ name: String) throws -> PocketBaseRemote {
        guard configuration.remotes[name] != nil else { throw WebError.notFound("no remote named \(name)") }
        guard let pb = try configuration.openRemote(name).pocketBase else {
            throw WebError.badRequest("\(name) keeps no members or invites: that needs a PocketBase project (Docs/SHARING.md)")
        }
        return pb
    }

    struct InviteRequest: Decodable { var role: String; var expiresHours: Double?
        enum CodingKeys: String, CodingKey { case role, expiresHours = "expires_hours" } }
    struct InviteCreated: Encodable { var code: String; var inviteID: String; var role: String; var expires: Date
        enum CodingKeys: String, CodingKey { case code, role, expires, inviteID = "invite_id" } }

    func createInvite(remote name: String, _ body: InviteRequest) async throws -> InviteCreated {
        guard configuration.remotes[name] != nil else { throw WebError.notFound("no remote named \(name)") }
        guard let role = ProjectRole(rawValue: body.role) else { throw WebError.badRequest("role must be reader, writer or admin") }
        let hours = body.expiresHours ?? 72
        guard hours > 0, hours <= 24 * 365 else { throw WebError.badRequest("expires_hours must be above 0 and at most a year") }
        let opened = try configuration.openRemote(name)
        let current = try Sharing.withMemberKey(repository.withLock { $0 }, password: configuration.password)
        repository.withLock { $0 = current }
        let code = try await Sharing.invite(repository: current, remote: opened.remote, pocketBase: opened.pocketBase, remoteURL: opened.url,
                                            role: role, expires: Date().addingTimeInterval(hours * 3600))
        return InviteCreated(code: code.text, inviteID: code.invite, role: role.rawValue, expires: code.expires)
    }

    struct RestoreRequest: Decodable { var snapshot: String; var paths: [String]?; var target: String }

    func startRestore(_ body: RestoreRequest) throws -> WebJob {
        let record = try model.snapshot(body.snapshot)
        let target = try WebPath.target(body.target)
        let include = try (body.paths ?? []).map { try WebPath.components($0).joined(separator: "/") }
        if FileSystem.exists(target), !((try? FileSystem.list(target)) ?? []).isEmpty {
            throw WebError.conflict("\(target) is not empty; choose an empty or new folder")
        }
        let repo = model.repository
        let title = "restore \(record.id.short)\(include.isEmpty ? "" : " (\(include.joined(separator: ", ")))") into \(target)"
        return jobs.start(kind: "restore", title: title) { update in
            var options = RestoreOptions(target: target)
            options.include = include
            options.progress = { sample in update(sample.files, sample.totalFiles, sample.bytes, sample.totalBytes) }
            let summary = try await Restorer(repository: repo).restore(record.snapshot, options: options)
            update(summary.files, summary.files, summary.bytes, summary.bytes)
            return "\(summary.files) files, \(HTML.bytes(summary.bytes)) written"
        }
    }

    /// Server-Sent Events: the job's state every 200 ms while it changes, until it ends.
    func progressStream(_ id: String) -> Response {
        Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-store"], body: .init { [self] writer in
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            encoder.dateEncodingStrategy = .iso8601
            var last: WebJob? = nil
            while let job = jobs.job(id) {
                if job != last {
                    try await writer.write(ByteBuffer(string: "data: " + String(decoding: try encoder.encode(job), as: UTF8.self) + "\n\n"))
                    last = job
                }
                if job.state != "running" { break }
                try await Task.sleep(for: .milliseconds(200))
            }
            try await writer.finish(nil)
        })
    }
}

/// The port the server listens on, known once it runs.
final class PortBox: Sendable {
    let port: Mutex<Int>
    init(_ port: Int) { self.port = Mutex(port) }
}

/// A member as the API shows it (the fields of `members --json`).
struct MemberItem: Encodable {
    var user: String, role: String, devices: [String], joined: Date?, lastSeen: Date?, online: Bool
    enum CodingKeys: String, CodingKey { case user, role, devices, joined, online, lastSeen = "last_seen" }
    init(_ m: ProjectMember) {
        user = m.email; role = m.role.rawValue; devices = m.devices; joined = m.joined; lastSeen = m.lastSeen; online = m.isOnline()
    }
}

/// An invite as the API shows it.
struct InviteItem: Encodable {
    var id: String, role: String, expires: Date, state: String
    init(_ i: ProjectInvite) { id = i.id; role = i.role.rawValue; expires = i.expires; state = i.used ? "used" : i.expires <= Date() ? "expired" : "open" }
}
