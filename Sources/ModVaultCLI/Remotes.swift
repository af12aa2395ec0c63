import Foundation
import ArgumentParser
import ModVaultCore
import ModVaultStore
import ModVaultSync
import ModVaultRemoteSupport
import ModVaultRemoteDisk
import ModVaultRemoteS3
import ModVaultRemotePocketBase
import ModVaultRemoteHTTP

/// Named remotes of a local repository, kept in `<repo>/remotes.json` (local only: never pushed, never
/// holding credentials, which come from the environment or credentials files).
struct RemoteRegistry: Codable {
    var remotes: [String: String] = [:]

    static func path(_ repo: String) -> String { FileSystem.absolute(repo) + "/remotes.json" }

    static func load(_ repo: String) throws -> RemoteRegistry {
        let file = path(repo)
        guard FileSystem.exists(file) else { return RemoteRegistry() }
        // Names decide where credentials from the environment are sent: a list someone else wrote
        // (a repository folder copied from them, or shared) must not redirect them.
        var st = stat()
        guard lstat(file, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            throw CLIError("\(file) is not a regular file; refusing to take remote names from it")
        }
        guard st.st_uid == geteuid() else {
            throw CLIError("\(file) belongs to user \(st.st_uid), not to you; refusing to take remote names from it "
                           + "(give the remote's URL instead, or take the file over with chown if you trust it)")
        }
        return try JSONDecoder().decode(RemoteRegistry.self, from: Data(try FileSystem.readFile(file)))
    }

    func save(_ repo: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try FileSystem.writeAtomically(Self.path(repo), bytes: Array(try encoder.encode(self)), mode: 0o600)
    }
}

/// Builds a remote (with retries) from a URL or the name of a saved remote.
enum RemoteFactory {
    static func url(for nameOrURL: String, repo: String?) throws -> RemoteURL {
        if let repo, let saved = try RemoteRegistry.load(repo).remotes[nameOrURL] { return try RemoteURL.parse(saved) }
        if nameOrURL.contains("://") || nameOrURL.hasPrefix("/") || nameOrURL.hasPrefix(".") { return try RemoteURL.parse(nameOrURL) }
        throw CLIError("no remote named '\(nameOrURL)' (see 'modvault remote list'), and it is not a URL", kind: .notFound)
    }

    /// `forWriting` creates a missing folder for a disk remote, as a first push should.
    static func make(_ url: RemoteURL, forWriting: Bool = false) throws -> any Remote {
        let env = ProcessInfo.processInfo.environment
        let base: any Remote
        switch url {
        case .disk(let path):
            let disk = DiskRemote(path: path)
            if forWriting { try disk.createFolder() }
            base = disk
        case .s3(let address):
            base = try S3Remote(address: address, credentials: try AWSCredentials.resolve(environment: env, location: address.location),
                                region: AWSCredentials.region(environment: env, location: address.location))
        case .pocketBase(let address):
            base = PocketBaseRemote(address: address, credentials: try PocketBaseCredentials.fromEnvironment(env, location: address.location),
                                    options: pocketBaseOptions(env))
        case .http(let baseURL): base = HTTPRemote(baseURL: baseURL)
        }
        return RetryingRemote(base)
    }

    /// PocketBase options from the environment: `MODVAULT_ALLOW_INSECURE_HTTP=1` allows a password over plain http.
    static func pocketBaseOptions(_ env: [String: String]) -> PocketBaseOptions {
        var options = PocketBaseOptions()
        options.allowInsecureHTTP = env["MODVAULT_ALLOW_INSECURE_HTTP"] == "1"
        return options
    }
}

/// Prints transfer progress on a terminal.
func transferProgress(_ label: String, quiet: Bool) -> TransferProgress? {
    guard !quiet, Terminal.stderrIsTTY else { return nil }
    return { s in
        let rate = s.elapsed > 0 ? Double(s.bytes) / s.elapsed / 1e6 : 0
        var line = "\r\u{1B}[K\(label) \(s.objects)/\(s.totalObjects) objects, \(Format.bytes(s.bytes))"
        if s.totalBytes > 0 { line += " of \(Format.bytes(s.totalBytes))" }
        line += String(format: ", %.1f MB/s", rate)
        if rate > 0, s.elapsed >= 1, s.totalBytes > s.bytes { line += ", ETA " + Format.duration(Double(s.totalBytes - s.bytes) / (rate * 1e6)) }
        FileHandle.standardError.write(Data(line.utf8))
    }
}

/// The `--transfers` option shared by push, pull, clone and mirror.
enum Transfers {
    /// `n` if it is a sensible number of requests in flight, else a usage error.
    static func check(_ n: Int) throws -> Int {
        guard (1...64).contains(n) else { throw ValidationError("--transfers must be between 1 and 64, not \(n)") }
        return n
    }
}

func finishProgressLine(_ progress: TransferProgress?) {
    if progress != nil { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
}

struct RemoteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remote",
        abstract: "Manage named remotes: folders, S3 buckets, PocketBase collections, HTTP mirrors.",
        discussion: """
            URL forms: /path or file:///path; s3://bucket/prefix (endpoint from
            AWS_ENDPOINT_URL or ?endpoint=); pocketbase+http(s)://host:port/collection;
            http(s)://host/path (read-only). Credentials never go into the repository: S3
            uses AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION
            or ~/.aws/credentials (AWS_PROFILE); PocketBase uses POCKETBASE_EMAIL and
            POCKETBASE_PASSWORD (a user of 'users') or POCKETBASE_TOKEN.
            """,
        subcommands: [RemoteAdd.self, RemoteList.self, RemoteRemove.self, RemoteInit.self])
}

struct RemoteAdd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "add", abstract: "Save a remote under a name.")
    @OptionGroup var global: RepositoryOptionsGroup
    @Argument(help: "Name, e.g. nas or team.") var name: String
    @Argument(help: "URL (see 'modvault remote --help').") var url: String

    func run() async throws {
        guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) else {
            throw ValidationError("remote names are letters, digits, - and _")
        }
        let parsed = try RemoteURL.parse(url)
        let repo = try global.repositoryPath()
        guard FileSystem.exists(repo + "/config") else { throw StoreError.repositoryMissing(path: FileSystem.absolute(repo)) }
        var registry = try RemoteRegistry.load(repo)
        registry.remotes[name] = parsed.description
        try registry.save(repo)
        print("added remote \(name) = \(parsed.location)")
    }
}

struct RemoteList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List saved remotes.")
    @OptionGroup var global: RepositoryOptionsGroup
    @Flag(help: "Print a JSON array of {name, url}.") var json = false

    func run() async throws {
        let registry = try RemoteRegistry.load(try global.repositoryPath())
        let sorted = registry.remotes.sorted { $0.key < $1.key }
        if json {
            let rows = sorted.map { ["name": $0.key, "url": $0.value] }
            print(String(decoding: try JSONSerialization.data(withJSONObject: rows, options: [.sortedKeys, .withoutEscapingSlashes]), as: UTF8.self))
        } else {
            for (name, url) in sorted { print("\(name)\t\(url)") }
        }
    }
}

struct RemoteRemove: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "remove", abstract: "Forget a saved remote (its data stays).")
    @OptionGroup var global: RepositoryOptionsGroup
    @Argument(help: "Name.") var name: String

    func run() async throws {
        let repo = try global.repositoryPath()
        var registry = try RemoteRegistry.load(repo)
        guard registry.remotes.removeValue(forKey: name) != nil else { throw CLIError("no remote named '\(name)'", kind: .notFound) }
        try registry.save(repo)
        print("removed remote \(name)")
    }
}

struct RemoteInit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Prepare a remote: create a PocketBase project, or a folder.",
        discussion: """
            PocketBase: needs POCKETBASE_SUPERUSER_EMAIL and POCKETBASE_SUPERUSER_PASSWORD once, to create
            three collections: <name> (objects), <name>_members and <name>_invites, whose API rules give
            readers, writers and admins exactly their rights (Docs/SHARING.md). The accounts named with
            --admin (by default the one in POCKETBASE_EMAIL) become the first admins; others join with
            an invite code from 'modvault share'. Daily use signs in as a user, never as a superuser.
            """)
    @OptionGroup var global: RepositoryOptionsGroup
    @Argument(help: "Name of a saved remote, or a URL.") var remote: String
    @Option(name: .customLong("admin"), help: ArgumentHelp("PocketBase: email of an account to make a first admin (repeatable).",
                                                           valueName: "email"))
    var admins: [String] = []

    func run() async throws {
        let url = try RemoteFactory.url(for: remote, repo: try? global.repositoryPath())
        let env = ProcessInfo.processInfo.environment
        switch url {
        case .pocketBase(let address):
            guard let email = env["POCKETBASE_SUPERUSER_EMAIL"], let password = env["POCKETBASE_SUPERUSER_PASSWORD"] else {
                throw CLIError("set POCKETBASE_SUPERUSER_EMAIL and POCKETBASE_SUPERUSER_PASSWORD to create the collections")
            }
            let credentials = (try? PocketBaseCredentials.fromEnvironment(env, location: address.location)) ?? .token("")
            try await PocketBaseRemote(address: address, credentials: credentials, options: RemoteFactory.pocketBaseOptions(env))
                .createProject(superuserEmail: email, password: password, admins: admins.isEmpty ? nil : admins)
            print("created project \(address.location) (collections \(address.collection), \(PocketBaseProject.members(address.collection)), "
                  + "\(PocketBaseProject.invites(address.collection))); admins: \(admins.isEmpty ? (env["POCKETBASE_EMAIL"] ?? "") : admins.joined(separator: ", "))")
        case .disk(let path):
            try DiskRemote(path: path).createFolder()
            print("prepared folder \(path)")
        default:
            print("\(url.location) needs no preparation (create the bucket with your provider's tools)")
        }
    }
}

struct Push: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Upload what a remote lacks: packs, index, snapshots (config and keys on the first push).",
        discussion: """
            Interrupted pushes resume; two machines pushing to one remote lose nothing. What the remote
            holds is remembered locally (cache/remotes/), so a push lists the whole remote only every
            16 pushes or 7 days, or with --verify.
            """)
    @OptionGroup var global: RepositoryOptionsGroup
    @Argument(help: "Remote name or URL.") var remote: String
    @Argument(help: "Only these snapshots (and what they need).") var snapshots: [String] = []
    @Flag(help: "List the whole remote instead of trusting the local record of what it holds (for a remote changed by hand).")
    var verify = false
    @Option(help: ArgumentHelp("Objects (or, for mirror, 4 MiB batches of ranged reads) in flight at once; lower it for a server that handles one request at a time.", valueName: "n"))
    var transfers = 8
    func validate() throws { _ = try Transfers.check(transfers) }
    @Flag(help: "Print a JSON summary as the last line.") var json = false

    func run() async throws {
        let opened = try global.open()
        let url = try RemoteFactory.url(for: remote, repo: opened.path)
        let target = try RemoteFactory.make(url, forWriting: true)
        let repo = try await global.adoptingRotatedKey(opened, from: target)
        let all = try repo.snapshots()
        let selected = snapshots.isEmpty ? nil : try snapshots.map { try repo.resolveSnapshot($0, among: all).id }
        let progress = transferProgress("push", quiet: global.quiet)
        var syncer = Syncer(local: repo, remote: target)
        syncer.lockWait = global.retryLock
        syncer.concurrency = try Transfers.check(transfers)
        syncer.verifyRemote = verify
        let report = try await syncer.push(snapshots: selected, progress: progress)
        // The manifest lets a plain static HTTP host serving this folder or bucket be pulled and mirrored.
        // A PocketBase project is never served that way, and only its admins may rewrite an object.
        if case .pocketBase = url {} else { _ = try await RemoteManifest.write(to: target) }
        finishProgressLine(progress)
        printReport(report, verb: "pushed to \(target.location)", json: json, quiet: global.quiet)
    }
}

struct Pull: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Download what the local repository lacks from a remote.")
    @OptionGroup var global: RepositoryOptionsGroup
    @Argument(help: "Remote name or URL.") var remote: String
    @Argument(help: "Only these snapshots (IDs or prefixes on the remote) and what they need.") var snapshots: [String] = []
    @Option(help: ArgumentHelp("Objects (or, for mirror, 4 MiB batches of ranged reads) in flight at once; lower it for a server that handles one request at a time.", valueName: "n"))
    var transfers = 8
    func validate() throws { _ = try Transfers.check(transfers) }
    @Flag(help: "Print a JSON summary as the last line.") var json = false

    func run() async throws {
        let opened = try global.open()
        let source = try RemoteFactory.make(try RemoteFactory.url(for: remote, repo: opened.path))
        let repo = try await global.adoptingRotatedKey(opened, from: source)
        let progress = transferProgress("pull", quiet: global.quiet)
        var syncer = Syncer(local: repo, remote: source)
        syncer.lockWait = global.retryLock
        syncer.concurrency = try Transfers.check(transfers)
        let report = try await syncer.pull(snapshots: snapshots.isEmpty ? nil : snapshots, progress: progress)
        finishProgressLine(progress)
        printReport(report, verb: "pulled from \(source.location)", json: json, quiet: global.quiet)
        if !report.refused.isEmpty { throw ExitWith(status: .partial) }
    }
}

struct Clone: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create the local repository (at $MODVAULT_REPO) from a remote, then pull every snapshot.",
        discussion: "Same repository ID, keys and chunker secret; the remote is saved as 'origin'.")
    @OptionGroup var global: RepositoryOptionsGroup
    @Argument(help: "Remote URL.") var url: String
    @Option(help: ArgumentHelp("Objects (or, for mirror, 4 MiB batches of ranged reads) in flight at once; lower it for a server that handles one request at a time.", valueName: "n"))
    var transfers = 8
    func validate() throws { _ = try Transfers.check(transfers) }
    @Flag(help: "Print a JSON summary as the last line.") var json = false

    func run() async throws {
        let parsed = try RemoteURL.parse(url)
        let path = try global.repositoryPath()
        let progress = transferProgress("clone", quiet: global.quiet)
        let (repo, report) = try await Syncer.clone(from: try RemoteFactory.make(parsed), to: path, password: try global.password(), progress: progress,
                                                       concurrency: try Transfers.check(transfers))
        finishProgressLine(progress)
        var registry = try RemoteRegistry.load(repo.path)
        registry.remotes["origin"] = parsed.description
        try registry.save(repo.path)
        printReport(report, verb: "cloned \(parsed.location) into \(repo.path)", json: json, quiet: global.quiet)
        if !report.refused.isEmpty { throw ExitWith(status: .partial) }
    }
}

struct MirrorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mirror",
        abstract: "Materialise a snapshot from a remote into a folder, downloading only missing chunks.",
        discussion: """
            Chunks come first from the local repository ($MODVAULT_REPO, if it is the same
            repository), then from the files already in --target (seeds), and only then
            from the remote, with neighbouring blobs fetched in one ranged request. Files
            are replaced only when complete and verified; an interrupted mirror resumes.
            """)
    @OptionGroup var global: RepositoryOptionsGroup
    @Argument(help: "Remote name or URL.") var url: String
    @Argument(help: "Snapshot ID, prefix or 'latest'.") var snapshot: String
    @Option(help: ArgumentHelp("Folder to write.", valueName: "dir")) var target: String
    @Flag(help: "Remove files in the target that the snapshot does not have.") var delete = false
    @Option(help: ArgumentHelp("Objects (or, for mirror, 4 MiB batches of ranged reads) in flight at once; lower it for a server that handles one request at a time.", valueName: "n"))
    var transfers = 8
    func validate() throws { _ = try Transfers.check(transfers) }
    @Flag(help: "Print a JSON summary as the last line.") var json = false

    func run() async throws {
        let repoPath = try? global.repositoryPath()
        let local = repoPath.flatMap { FileSystem.exists($0 + "/config") ? try? Repository.open(at: $0, password: (try? global.password()) ?? []) : nil }
        let remote = try RemoteFactory.make(try RemoteFactory.url(for: url, repo: repoPath))
        let access: RemoteRepositoryAccess
        if let local, (try? await Syncer(local: local, remote: remote).remoteMatches()) == true {
            access = try await RemoteRepositoryAccess(remote: remote, local: local)
        } else {
            access = try await RemoteRepositoryAccess(remote: remote, password: try global.password())
        }
        var options = MirrorOptions(target: target)
        options.localRepository = local
        options.deleteExtraneous = delete
        options.concurrency = try Transfers.check(transfers)
        options.progress = transferProgress("mirror", quiet: global.quiet)
        let report = try await Mirror(access: access).mirror(snapshot, options: options)
        finishProgressLine(options.progress)
        printReport(report, verb: "mirrored \(snapshot) into \(target)", json: json, quiet: global.quiet)
    }
}

/// Prints a transfer's outcome; refused remote files are warnings on stderr whatever the format
/// (the command then exits 3: everything else was transferred).
func printReport(_ r: TransferReport, verb: String, json: Bool, quiet: Bool) {
    for refused in r.refused {
        Terminal.warn("left on the remote, not stored: \(refused) (written there by someone without the repository key, or damaged)")
    }
    if json {
        print(JSON.line(["bytes_uploaded": r.bytesUploaded, "bytes_downloaded": r.bytesDownloaded, "bytes_reused": r.bytesReused,
                         "objects_uploaded": r.objectsUploaded, "objects_downloaded": r.objectsDownloaded,
                         "objects_skipped": r.objectsSkipped, "seconds": r.seconds,
                         "keys_added": r.keysAdded, "keys_removed": r.keysRemoved, "listed_remote": r.listedRemote, "uploads_aborted": r.uploadsAborted,
                         "refused": r.refused.map { ["object": $0.object, "reason": $0.reason] }]))
    } else if !quiet {
        var parts: [String] = []
        if r.bytesUploaded > 0 || r.objectsUploaded > 0 { parts.append("uploaded \(r.objectsUploaded) objects (\(Format.bytes(r.bytesUploaded)))") }
        if r.bytesDownloaded > 0 || r.objectsDownloaded > 0 { parts.append("downloaded \(Format.bytes(r.bytesDownloaded))") }
        if r.bytesReused > 0 { parts.append("reused \(Format.bytes(r.bytesReused))") }
        if r.keysAdded > 0 { parts.append("\(r.keysAdded) key slot\(r.keysAdded == 1 ? "" : "s") added") }
        if r.keysRemoved > 0 { parts.append("\(r.keysRemoved) removed key slot\(r.keysRemoved == 1 ? "" : "s") revoked there too") }
        if parts.isEmpty { parts.append("nothing to transfer") }
        print("\(verb): \(parts.joined(separator: ", ")) in \(String(format: "%.2f", r.seconds)) s")
    }
}
