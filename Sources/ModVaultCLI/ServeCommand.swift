import Foundation
import ArgumentParser
import ModVaultCore
import ModVaultStore
import ModVaultServer
import ModVaultRemotePocketBase

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve a local web UI and JSON API for the repository, until SIGINT or SIGTERM.",
        discussion: """
            Prints an address with a one-time login token (as Jupyter does); opening it
            signs the browser in with a cookie. Pages: history, browse a snapshot (and
            download or restore files, see inside archives, plugins and textures), every
            version of a file, changes between snapshots (inside archives, plugins and
            textures too), sync (each --folder: ahead/behind, push log, sync now,
            conflicts resolved per path), team (members, who is online, invites), jobs
            (restores and syncs with live progress). The JSON API lives under /api/v1
            (Docs/openapi.yaml).

            With --peer it also serves the repository read-only, in the layout the HTTP
            remote reads, at a second address holding its own token: a teammate on the
            same network runs 'modvault clone ADDRESS' (or pull, mirror) with no server
            in between. They still need the repository password to read anything.

            It listens on 127.0.0.1 only, unless --listen names another address and
            --no-tls-acknowledged says you accept that it speaks plain HTTP. Requests
            must carry this server's address as Host; changes need the session cookie,
            a matching Origin and the page's CSRF token.
            """)
    @OptionGroup var global: RepositoryOptionsGroup
    @Option(help: ArgumentHelp("Address and port to listen on (port 0 picks a free one).", valueName: "host:port"))
    var listen = "127.0.0.1:8424"
    @Option(help: ArgumentHelp("A synced folder to show on the Sync page (repeatable).", valueName: "dir")) var folder: [String] = []
    @Flag(help: "Also serve the repository read-only to teammates' HTTP remote, behind a token (prints the URL to clone, pull or mirror from).")
    var peer = false
    @Flag(help: "Allow a non-loopback --listen address without TLS: anyone on that network can reach the login page.")
    var noTLSAcknowledged = false

    func validate() throws {
        guard let (host, _) = Self.split(listen) else { throw ValidationError("--listen takes HOST:PORT, not '\(listen)'") }
        if !PocketBaseRemote.isLoopback(host), !noTLSAcknowledged {
            throw ValidationError("\(host) is not this machine: serving there needs --no-tls-acknowledged (this server speaks plain HTTP)")
        }
    }

    static func split(_ text: String) -> (String, Int)? {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else { return nil }
        let host = String(text[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        return host.isEmpty ? nil : (host, port)
    }

    func run() async throws {
        let repo = try global.open()
        let (host, port) = Self.split(listen)!
        let registry = try RemoteRegistry.load(repo.path)
        var configuration = WebServerConfiguration(repository: repo, password: try global.password()) { name in
            let url = try RemoteFactory.url(for: name, repo: repo.path)
            return (try RemoteFactory.make(url, forWriting: true), url.description, try pocketBase(url))
        }
        configuration.host = host
        configuration.port = port
        configuration.remotes = registry.remotes
        configuration.folders = folder.map(FileSystem.absolute)
        if peer { configuration.peerToken = WebSessions.random() }
        let quiet = global.quiet
        let peerToken = configuration.peerToken
        try await WebServer(configuration: configuration).run { url in
            print(url)
            if let peerToken, let origin = url.components(separatedBy: "/login").first {
                print("\(origin)/peer/\(peerToken)")
                if !quiet {
                    FileHandle.standardError.write(Data("modvault: teammates can 'modvault clone', 'pull' or 'mirror' from the second address (read-only)\n".utf8))
                }
            }
            if !quiet { FileHandle.standardError.write(Data("modvault: serving \(repo.path); open the address above (it works once)\n".utf8)) }
            fflush(nil)
        }
    }
}
