import Foundation
import ArgumentParser
import ModVaultCore
import ModVaultCrypto
import ModVaultStore
import ModVaultArchive
import ModVaultSync
import ModVaultRemoteSupport
import ModVaultRemoteDisk
import ModVaultRemoteS3
import ModVaultRemotePocketBase

/// The PocketBase remote behind a URL (sharing talks to PocketBase's collections directly), or nil.
func pocketBase(_ url: RemoteURL) throws -> PocketBaseRemote? {
    guard case .pocketBase(let address) = url else { return nil }
    let env = ProcessInfo.processInfo.environment
    return PocketBaseRemote(address: address, credentials: try PocketBaseCredentials.fromEnvironment(env, location: address.location),
                            options: RemoteFactory.pocketBaseOptions(env))
}

/// The PocketBase project behind `name`, or a clear refusal for a remote that cannot enforce roles.
private func project(_ name: String, repo: String?, what: String) throws -> PocketBaseRemote {
    let url = try RemoteFactory.url(for: name, repo: repo)
    guard let pb = try pocketBase(url) else {
        throw CLIError("\(url.location) keeps no members or invites: \(what) needs a PocketBase project. On S3 and disk, access is "
                       + "whatever credentials each teammate holds (Docs/SHARING.md has a bucket policy per role).", kind: .invalidInput)
    }
    return pb
}

/// A date in whole seconds, ISO 8601 UTC, as team commands print them (server times carry only milliseconds).
private func isoSeconds(_ date: Date) -> String { ISO8601DateFormatter().string(from: date) }

struct ShareCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "share",
        abstract: "Invite a teammate: print a one-time invite code for a role.",
        discussion: """
            The code holds where the project lives, an invite ID, a one-time secret and
            an expiry; nothing else that grants access. The remote keeps only the
            secret's hash, the role and the repository key sealed under a key derived
            from the secret. The teammate runs 'modvault join CODE'.

            On PocketBase the server enforces the role (reader: list and download;
            writer: also upload and push; admin: also members, invites and prune) and
            the expiry, and a code works once. S3 and disk remotes cannot check roles:
            access is whatever credentials the teammate holds, which the code never
            carries; the expiry is then only checked by 'join'.
            """)
    @OptionGroup var global: RepositoryOptionsGroup
    @Argument(help: "Remote name or URL of the project.") var remote: String
    @Option(help: ArgumentHelp("reader, writer or admin.", valueName: "role")) var role: String = "reader"
    @Option(help: ArgumentHelp("How long the code works: 12h, 3d, 2w (units as for 'forget --keep-within'; m is months).", valueName: "duration")) var expires: String = "72h"
    @Flag(help: "Print one JSON object: code, invite_id, role, expires.") var json = false

    func validate() throws {
        guard ProjectRole(rawValue: role) != nil else { throw ValidationError("--role must be reader, writer or admin, not '\(role)'") }
        guard RetentionPolicy.parseDuration(expires) != nil else { throw ValidationError("--expires takes a duration such as 12h, 3d or 2w, not '\(expires)'") }
    }

    func run() async throws {
        let opened = try global.open()
        let url = try RemoteFactory.url(for: remote, repo: opened.path)
        let pb = try pocketBase(url)
        let repo = try Sharing.withMemberKey(opened, password: try global.password())
        let code = try await Sharing.invite(repository: repo, remote: try RemoteFactory.make(url, forWriting: true), pocketBase: pb,
                                            remoteURL: url.description, role: ProjectRole(rawValue: role)!,
                                            expires: Date().addingTimeInterval(RetentionPolicy.parseDuration(expires)!))
        let id = code.invite
        if pb == nil {
            Terminal.warn("\(url.location) cannot enforce roles or expiry: the teammate's access is whatever credentials you give them "
                          + "(see Docs/SHARING.md for an S3 policy per role); the code carries none")
        }
        if json {
            print(JSON.line(["code": code.text, "invite_id": id, "role": role, "expires": isoSeconds(code.expires)]))
        } else {
            print(code.text)
            if !global.quiet {
                FileHandle.standardError.write(Data("modvault: invite \(id) for a \(role), works once until \(isoSeconds(code.expires)); the teammate runs 'modvault join CODE --repo PATH'\n".utf8))
            }
        }
    }
}

struct JoinCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "join",
        abstract: "Join a shared project with an invite code: create the local repository and pull it.",
        discussion: """
            Signs in to the project's remote with your own credentials (PocketBase:
            POCKETBASE_EMAIL and POCKETBASE_PASSWORD, or POCKETBASE_TOKEN; S3: your AWS
            keys), redeems the code (once; an expired, used or revoked code is refused),
            creates the repository at --repo with your own password (MODVAULT_PASSWORD or
            a prompt), uploads your key slot, and pulls every snapshot. The remote is
            saved under --name. With --folder, the folder is bound to it and synced
            (pull only for a reader).
            """)
    @OptionGroup var global: RepositoryOptionsGroup
    @Argument(help: "The invite code (mvinv1:...).") var code: String
    @Option(help: ArgumentHelp("Folder to bind to the project and sync.", valueName: "dir")) var folder: String?
    @Option(help: ArgumentHelp("Name to save the remote under (default: the PocketBase collection, else 'origin').", valueName: "name")) var name: String?
    @Flag(help: "Print a JSON summary as the last line.") var json = false

    func run() async throws {
        let invite = try InviteCode.parse(code)
        let url = try RemoteURL.parse(invite.remote)
        let path = try global.repositoryPath()
        let remote = try RemoteFactory.make(url)
        let project = try pocketBase(url)
        let (master, role) = try await Sharing.redeem(invite, remote: remote, pocketBase: project)
        let progress = transferProgress("join", quiet: global.quiet)
        let (repo, report) = try await Syncer.join(from: remote, to: path, master: master, password: try global.password(confirm: true),
                                                   repository: invite.repository, progress: progress)
        finishProgressLine(progress)
        if let project {
            try await project.heartbeat(device: Host.name, publicKey: repo.masterKey.member.map { Base64.encode($0.publicKey.bytes) })
        } else {
            // One use: drop the invite if these credentials may (otherwise its owner revokes it).
            if let error = await Sharing.discardStoredInvite(invite, remote: remote) {
                Terminal.warn("could not remove the used invite from \(url.location) (\(error)); ask its owner to revoke \(invite.invite)")
            }
        }
        let saved: String
        if let name { saved = name } else if case .pocketBase(let a) = url { saved = a.collection } else { saved = "origin" }
        var registry = try RemoteRegistry.load(repo.path)
        registry.remotes[saved] = url.description
        try registry.save(repo.path)
        printReport(report, verb: "joined \(url.location) as a \(role) into \(repo.path) (remote '\(saved)')", json: json && folder == nil, quiet: global.quiet)
        if let folder {
            try FileSystem.makeDirectories(FileSystem.absolute(folder))
            var arguments = [folder, "--remote", saved, "--repo", repo.path]
            if let file = global.passwordFile { arguments += ["--password-file", file] }
            if role == ProjectRole.reader.rawValue { arguments.append("--pull-only") }
            if global.quiet { arguments.append("--quiet") }
            if json { arguments.append("--json") }
            let sync = try SyncCommand.parse(arguments)
            try await sync.run()
        }
    }
}

struct MembersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "members",
        abstract: "List a project's members, or remove one (admins).",
        discussion: """
              modvault members team [--json]
              modvault members team remove alice@example.com [--rotate]
            A member counts as online while 'watch' or 'sync --watch' runs for them
            (a heartbeat at most \(Int(PocketBaseProject.onlineTimeout)) s old).

            'remove' deletes the membership and the member's key slots: the server
            refuses their requests from then on. --rotate also starts a new repository
            key for everything written afterwards, sealed to each remaining member's
            public key; old data stays readable with the old key. What revocation
            cannot do: anything the member already downloaded, and the old key they
            hold, stay with them.
            """)
    @OptionGroup var global: RepositoryOptionsGroup
    @Argument(help: "Remote name or URL of the project.") var remote: String
    @Argument(help: "'remove' to remove a member.") var action: String?
    @Argument(help: "The member's email.") var email: String?
    @Flag(help: "With remove: start a new repository key for everything written from now on.") var rotate = false
    @Flag(help: "JSON output.") var json = false

    func validate() throws {
        if let action, action != "remove" { throw ValidationError("unknown action '\(action)'; the only one is 'remove'") }
        if action != nil, email == nil { throw ValidationError("remove needs the member's email") }
        if rotate, action == nil { throw ValidationError("--rotate goes with 'remove'") }
    }

    func run() async throws {
        let repoPath = try? global.repositoryPath()
        let pb = try project(remote, repo: repoPath, what: "members")
        guard action == "remove", let email else {
            let members = try await pb.members()
            if json {
                print(JSON.line(members.map { m in
                    ["user": m.email, "role": m.role.rawValue, "devices": m.devices, "joined": m.joined.map(isoSeconds) as Any? ?? NSNull(),
                     "last_seen": m.lastSeen.map(isoSeconds) as Any? ?? NSNull(), "online": m.isOnline()] as [String: Any]
                }))
            } else {
                for m in members {
                    let seen = m.lastSeen.map { Format.time($0) } ?? "never"
                    print("\(m.isOnline() ? "●" : "○") \(m.email)  \(m.role.rawValue)  joined \(m.joined.map { Format.time($0) } ?? "?")  last seen \(seen)  \(m.devices.joined(separator: ", "))")
                }
            }
            return
        }
        var repo: Repository? = nil
        if rotate { repo = try global.open() }
        let removed = try await pb.removeMember(email: email)
        var report: [String: Any] = ["removed": removed.email, "role": removed.role.rawValue, "rotated": false]
        var lines = ["removed \(removed.email) (\(removed.role.rawValue)) and their key slots; the server refuses their requests from now on"]
        if rotate, var local = repo {
            let password = try global.password()
            // The admin's own member key comes along, so the admin's grant opens too.
            var master = local.masterKey.rotated()
            if master.member == nil { master.member = MemberPrivateKey.random() }
            _ = try local.replaceMasterKey(with: master, password: password)
            local = try Repository.open(at: local.path, password: password)
            var granted: [String] = []
            var missing: [String] = []
            for member in try await pb.members() {
                guard let text = member.publicKey, let bytes = Base64.decode(text), let key = try? MemberPublicKey(bytes: bytes) else {
                    missing.append(member.email)
                    continue
                }
                let grant = try KeyGrant.seal(local.masterKey, to: key).encoded()
                try await pb.saveGrant(grant, for: member.userID)
                granted.append(member.email)
            }
            // Upload the admin's new slot and drop the old one from the remote.
            _ = try await Syncer(local: local, remote: try RemoteFactory.make(try RemoteFactory.url(for: remote, repo: local.path))).push()
            report["rotated"] = true
            report["granted"] = granted
            report["without_key"] = missing
            lines.append("new repository key: everything written from now on is sealed with it; sent to \(granted.count) member(s)")
            if !missing.isEmpty { lines.append("no public key yet for \(missing.joined(separator: ", ")): they must join again to read new data") }
        }
        lines.append("revocation cannot take back what \(removed.email) already downloaded, nor the old key they hold")
        report["note"] = lines.last!
        if json { print(JSON.line(report)) } else { lines.forEach { print($0) } }
    }
}

struct InvitesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "invites",
        abstract: "List a project's invites, or revoke one (admins).",
        discussion: """
              modvault invites team [--json]
              modvault invites team revoke ID
            A revoked code stops working at once.
            """)
    @OptionGroup var global: RepositoryOptionsGroup
    @Argument(help: "Remote name or URL of the project.") var remote: String
    @Argument(help: "'revoke' to revoke an invite.") var action: String?
    @Argument(help: "The invite's ID.") var id: String?
    @Flag(help: "JSON output.") var json = false

    func validate() throws {
        if let action, action != "revoke" { throw ValidationError("unknown action '\(action)'; the only one is 'revoke'") }
        if action != nil, id == nil { throw ValidationError("revoke needs the invite's ID") }
    }

    func run() async throws {
        let pb = try project(remote, repo: try? global.repositoryPath(), what: "invites")
        if action == "revoke", let id {
            try await pb.revokeInvite(id: id)
            print(json ? JSON.line(["revoked": id]) : "revoked invite \(id)")
            return
        }
        let invites = try await pb.invites()
        let now = Date()
        func state(_ i: ProjectInvite) -> String { i.used ? "used" : i.expires <= now ? "expired" : "open" }
        if json {
            print(JSON.line(invites.map { ["id": $0.id, "role": $0.role.rawValue, "expires": isoSeconds($0.expires), "state": state($0),
                                           "created": $0.created.map(isoSeconds) as Any? ?? NSNull()] as [String: Any] }))
        } else {
            for i in invites { print("\(i.id)  \(i.role.rawValue)  \(state(i))  expires \(Format.time(i.expires))") }
        }
    }
}

extension RepositoryOptionsGroup {
    /// `repo`, or after an admin's `members remove --rotate` the same repository reopened with the
    /// new key that `remote` holds for this member. Repositories without a member key (never shared)
    /// cost nothing here.
    func adoptingRotatedKey(_ repo: Repository, from remote: any Remote) async throws -> Repository {
        guard repo.masterKey.member != nil else { return repo }
        guard let reopened = try await KeyRotation.adoptPendingKey(repo, from: remote, password: try password()) else { return repo }
        if !quiet { Terminal.warn("received the project's new repository key (an admin rotated it); new data is sealed with it") }
        return reopened
    }
}

/// Seconds between heartbeats of a member running `watch` or `sync --watch` (online for
/// `PocketBaseProject.onlineTimeout` after the last one).
let heartbeatInterval: Double = 20

/// Sends heartbeats until cancelled; a failed one is retried at the next beat.
func sendHeartbeats(_ pb: PocketBaseRemote) async {
    while !Task.isCancelled {
        _ = try? await pb.heartbeat(device: Host.name)
        try? await Task.sleep(for: .seconds(heartbeatInterval))
    }
}
