import Foundation
import Synchronization
import Testing
import ModVaultCore
import ModVaultCrypto
import ModVaultStore
import ModVaultArchive
import ModVaultSync
import ModVaultRemoteSupport
import ModVaultRemotePocketBase

extension LiveRemoteTests {
    /// Sharing on a real PocketBase: invites, roles the server enforces, removal with key rotation,
    /// and isolation between projects. Rules are checked with raw HTTP requests made with each
    /// role's own token, so nothing here relies on the client refusing first.
    @Suite("Sharing on PocketBase")
    struct Sharing {
        typealias Device = FolderSyncOnServers.Device
        static let password = Array("team secret".utf8)

        /// A project owned by the standard test user, with one folder synced into it.
        struct Project {
            let owner: PocketBaseRemote
            let ownerDevice: Device
            let root: String

            var collection: String { owner.address.collection }
            var baseURL: String { owner.address.baseURL }

            static func make() async throws -> Project {
                let servers = try TestServers.required()
                let root = servers.root + "/share-" + Fixture.uniqueName()
                let owner = PocketBaseRemote(address: PocketBaseAddress(baseURL: servers.pocketBaseURL, collection: "p\(Fixture.uniqueName())"),
                                             credentials: .password(email: TestServers.userEmail, password: TestServers.userPassword))
                try await owner.createProject(superuserEmail: TestServers.superuserEmail, password: TestServers.superuserPassword)
                let repo = try Repository.initialize(at: root + "/owner-repo", password: Sharing.password, options: FolderSyncOnServers.options())
                let device = try Device(repository: repo, folder: root + "/owner", remote: owner)
                try device.write("Data/Foo.esp", "plugin v1")
                try device.write("Data/Textures/t.dds", String(repeating: "texture ", count: 4000))
                try await device.sync()
                return Project(owner: owner, ownerDevice: device, root: root)
            }

            /// A new account and a remote signed in as it.
            func account(_ label: String) async throws -> (remote: PocketBaseRemote, email: String, password: String) {
                let email = "\(label)-\(Fixture.uniqueName())@modvault.test", secret = "pass-\(Fixture.uniqueName())"
                try await PocketBaseAdmin(baseURL: baseURL).createUser(email: email, password: secret)
                return (PocketBaseRemote(address: owner.address, credentials: .password(email: email, password: secret)), email, secret)
            }

            /// An invite made the way `modvault share` makes it.
            func invite(_ role: ProjectRole, expires: Date = Date().addingTimeInterval(3600), by admin: PocketBaseRemote? = nil,
                        master: MasterKey? = nil) async throws -> InviteCode {
                let id = PocketBaseProject.newRecordID()
                let code = InviteCode(remote: RemoteURL.pocketBase(owner.address).description, invite: id, expires: expires, role: role.rawValue,
                                      repository: ownerDevice.repository.config.id.hex)
                let slot = try InviteSlot.seal(master ?? ownerDevice.repository.masterKey, for: code)
                _ = try await (admin ?? owner).createInvite(id: id, secret: code.secret, role: role, expires: expires, slot: slot)
                return code
            }

            /// Redeems `code` as `remote`'s account and creates its repository, as `modvault join` does.
            func join(_ code: InviteCode, as remote: PocketBaseRemote, label: String) async throws -> Device {
                let redeemed = try await remote.redeemInvite(id: code.invite, secret: code.secret, expires: code.expires)
                let master = try InviteSlot.open(redeemed.slot, with: code)
                let (repo, _) = try await Syncer.join(from: remote, to: root + "/\(label)-repo", master: master, password: Sharing.password,
                                                      repository: code.repository)
                try await remote.heartbeat(device: label, publicKey: Base64.encode(repo.masterKey.member!.publicKey.bytes))
                return try Device(repository: repo, folder: root + "/\(label)", remote: remote)
            }
        }

        /// Test 1: a reader joins, syncs down, restores; the server refuses their push (through the
        /// client and as a raw create with their token); the code works once; expired and revoked codes fail.
        @Test func readerJoinsAndIsReadOnly() async throws {
            let project = try await Project.make()
            let code = try await project.invite(.reader)
            let reader = try await project.account("reader")
            let device = try await project.join(code, as: reader.remote, label: "reader")
            try await device.sync()
            #expect(try device.contents() == project.ownerDevice.contents())
            #expect(try await reader.remote.myMembership()?.role == .reader)
            // The reader restores the owner's snapshot from their own repository, byte for byte.
            let ownerHead = try #require(try project.ownerDevice.repository.snapshots().last).id
            let latest = try #require(try device.repository.snapshots().first { $0.id == ownerHead })
            let restored = project.root + "/reader-restored"
            _ = try await Restorer(repository: device.repository).restore(latest.snapshot, options: RestoreOptions(target: restored))
            let owner = try Device(repository: project.ownerDevice.repository, folder: restored, remote: project.owner)
            let restoredFiles = try owner.contents(), ownerFiles = try project.ownerDevice.contents()
            #expect(restoredFiles == ownerFiles, "restored \(restoredFiles.keys.sorted()), folder \(ownerFiles.keys.sorted())")
            // And receives the owner's next push as it happens.
            let inbox = EventInbox()
            var watch = ProjectWatch(remote: reader.remote, repository: device.repository)
            watch.signals = projectSignals(reader.remote)
            let start = try await PushLog(remote: reader.remote, repository: device.repository).read(after: 0).lastSeq
            let watcher = watch
            let task = Task { try await watcher.run(after: start) { inbox.add($0) } }
            defer { task.cancel() }
            try await Task.sleep(for: .seconds(1))
            try project.ownerDevice.write("Data/New.txt", "owner's news")
            try await project.ownerDevice.sync()
            try await inbox.waitFor(timeout: 10) { $0.pushes.count == 1 }
            #expect(inbox.events.pushes.map(\.seq) == [start + 1])

            // The reader edits and syncs: the push log append is refused by the server.
            try device.write("Data/Foo.esp", "reader edit")
            let pushError = await Fixture.remoteError { try await device.sync() }
            #expect(pushError?.reason == .accessDenied)
            let token = try await RawPocketBase.token(project.baseURL, email: reader.email, password: reader.password)
            let raw = try await RawPocketBase.createObject(project.baseURL, collection: project.collection, kind: "pushes",
                                                           name: String(repeating: "9", count: 20), owner: nil, token: token)
            #expect(raw.status == 400)

            // A second use, an expired code and a revoked code each fail, saying why.
            let other = try await project.account("second")
            let reuse = await Fixture.remoteError { _ = try await other.remote.redeemInvite(id: code.invite, secret: code.secret, expires: code.expires) }
            #expect(reuse?.reason == .accessDenied && reuse?.detail?.contains("already used") == true)
            let expired = try await project.invite(.reader, expires: Date().addingTimeInterval(-60))
            let late = await Fixture.remoteError { _ = try await other.remote.redeemInvite(id: expired.invite, secret: expired.secret, expires: expired.expires) }
            #expect(late?.reason == .accessDenied && late?.detail?.contains("expired") == true)
            // Even a code whose own expiry was altered: the server's recorded expiry decides.
            let lateAnyway = await Fixture.remoteError {
                _ = try await other.remote.redeemInvite(id: expired.invite, secret: expired.secret, expires: Date().addingTimeInterval(3600))
            }
            #expect(lateAnyway?.reason == .accessDenied)
            let revoked = try await project.invite(.writer)
            try await project.owner.revokeInvite(id: revoked.invite)
            let gone = await Fixture.remoteError { _ = try await other.remote.redeemInvite(id: revoked.invite, secret: revoked.secret, expires: revoked.expires) }
            #expect(gone?.reason == .accessDenied && gone?.detail?.contains("revoked") == true)
            // A wrong secret is refused like a revoked code, and the slot never leaves the server.
            let fresh = try await project.invite(.admin)
            let wrong = await Fixture.remoteError {
                _ = try await other.remote.redeemInvite(id: fresh.invite, secret: String(repeating: "0", count: 40), expires: fresh.expires)
            }
            #expect(wrong?.reason == .accessDenied)
            #expect(try await other.remote.myMembership() == nil)
            // The role comes from the server's record, not from the code's text.
            var forged = try await project.invite(.reader)
            forged.role = "admin"
            let joined = try await other.remote.redeemInvite(id: forged.invite, secret: forged.secret, expires: forged.expires)
            #expect(joined.role == .reader)
        }

        /// The API rules, each checked with a raw request carrying one role's token.
        @Test func serverEnforcesEachRole() async throws {
            let project = try await Project.make()
            let writer = try await project.account("writer")
            let writerDevice = try await project.join(try await project.invite(.writer), as: writer.remote, label: "writer")
            let reader = try await project.account("reader")
            _ = try await project.join(try await project.invite(.reader), as: reader.remote, label: "reader")
            let outsider = try await project.account("outsider")
            let base = project.baseURL, c = project.collection
            let readerToken = try await RawPocketBase.token(base, email: reader.email, password: reader.password)
            let writerToken = try await RawPocketBase.token(base, email: writer.email, password: writer.password)
            let outsiderToken = try await RawPocketBase.token(base, email: outsider.email, password: outsider.password)

            // A writer syncs a change: uploads and a push log entry are allowed.
            try writerDevice.write("Data/W.txt", "from the writer")
            try await writerDevice.sync()
            // A writer may not delete a pack (only admins prune) nor replace an object.
            let pack = try #require(try await project.owner.list(.pack, after: nil, limit: 1).first)
            let packID = try #require(try await RawPocketBase.recordID(base, collection: c, kind: "data", name: pack.name.name, token: writerToken))
            #expect(try await RawPocketBase.send(base, "DELETE", "/api/collections/\(c)/records/\(packID)", token: writerToken).status == 404)
            #expect(try await RawPocketBase.send(base, "PATCH", "/api/collections/\(c)/records/\(packID)", json: ["size": 1], token: writerToken).status == 404)
            let viaClient = await Fixture.remoteError { try await writer.remote.remove(pack.name) }
            #expect(viaClient?.reason == .accessDenied)
            #expect(try await project.owner.stat(pack.name) == pack.size)
            // A reader may not create anything but their own key slot, nor a slot in someone else's name.
            #expect(try await RawPocketBase.createObject(base, collection: c, kind: "data", name: "ab", owner: nil, token: readerToken).status == 400)
            let me = try await reader.remote.currentUser().id
            let ownerID = try await project.owner.currentUser().id
            #expect(try await RawPocketBase.createObject(base, collection: c, kind: "keys", name: "cd", owner: ownerID, token: readerToken).status == 400)
            #expect(try await RawPocketBase.createObject(base, collection: c, kind: "keys", name: "ef", owner: me, token: readerToken).status == 200)
            // Key slots: a member sees only their own; an outsider lists nothing at all.
            let readerKeys = try await RawPocketBase.list(base, collection: c, filter: "kind='keys'", token: readerToken)
            #expect(!readerKeys.isEmpty && readerKeys.allSatisfy { $0["owner"] as? String == me })
            #expect(try await RawPocketBase.list(base, collection: c, filter: "kind='keys'", token: outsiderToken).isEmpty)
            #expect(try await RawPocketBase.list(base, collection: c, filter: "", token: outsiderToken).isEmpty)
            #expect(try await RawPocketBase.list(base, collection: PocketBaseProject.members(c), filter: "", token: outsiderToken).isEmpty)
            // Members and invites: only admins manage them; nobody raises their own role.
            let readerRow = try #require(try await reader.remote.myMembership())
            #expect(try await RawPocketBase.send(base, "PATCH", "/api/collections/\(PocketBaseProject.members(c))/records/\(readerRow.id)",
                                                 json: ["role": "admin"], token: readerToken).status == 404)
            #expect(try await RawPocketBase.send(base, "POST", "/api/collections/\(PocketBaseProject.members(c))/records",
                                                 json: ["user": outsider.remote.currentUser().id, "role": "reader"], token: writerToken).status == 400)
            #expect(try await RawPocketBase.send(base, "POST", "/api/collections/\(PocketBaseProject.invites(c))/records",
                                                 json: ["email": "x@\(PocketBaseProject.inviteEmailDomain)", "password": "12345678abc",
                                                        "passwordConfirm": "12345678abc", "role": "admin", "expires": "2099-01-01 00:00:00.000Z"],
                                                 token: writerToken).status == 400)
            #expect(try await RawPocketBase.list(base, collection: PocketBaseProject.invites(c), filter: "", token: writerToken).isEmpty)
            // The reader's heartbeat updates their own row; the members list shows them online.
            let members = try await project.owner.members()
            #expect(Set(members.map(\.role)) == [.admin, .writer, .reader])
            #expect(members.first { $0.email == reader.email }?.isOnline() == true)
        }

        /// Test 3: removal with rotation. The removed member's requests fail; what is written after
        /// the rotation does not open with the old key (checked with the crypto directly); remaining
        /// members receive the new key; a member invited afterwards reads old and new snapshots.
        @Test func removalWithRotation() async throws {
            let project = try await Project.make()
            // The owner gets a member key and publishes it, as `share` does.
            var ownerRepo = project.ownerDevice.repository
            var withMember = ownerRepo.masterKey
            withMember.member = MemberPrivateKey.random()
            _ = try ownerRepo.replaceMasterKey(with: withMember, password: Sharing.password)
            ownerRepo = try Repository.open(at: ownerRepo.path, password: Sharing.password)
            try await project.owner.heartbeat(device: "owner", publicKey: Base64.encode(withMember.member!.publicKey.bytes))

            let leaver = try await project.account("leaver")
            let leaverDevice = try await project.join(try await project.invite(.writer), as: leaver.remote, label: "leaver")
            let stayer = try await project.account("stayer")
            let stayerDevice = try await project.join(try await project.invite(.writer), as: stayer.remote, label: "stayer")
            let oldKey = ownerRepo.masterKey.encryption
            #expect(leaverDevice.repository.masterKey.encryption == oldKey)

            // Remove with rotation, as `members remove --rotate` does.
            let removed = try await project.owner.removeMember(email: leaver.email)
            #expect(removed.email == leaver.email)
            let rotated = ownerRepo.masterKey.rotated()
            _ = try ownerRepo.replaceMasterKey(with: rotated, password: Sharing.password)
            ownerRepo = try Repository.open(at: ownerRepo.path, password: Sharing.password)
            for member in try await project.owner.members() {
                let text = try #require(member.publicKey)
                let key = try MemberPublicKey(bytes: try #require(Base64.decode(text)))
                try await project.owner.saveGrant(try KeyGrant.seal(ownerRepo.masterKey, to: key).encoded(), for: member.userID)
            }
            // The owner writes new data with the new key.
            let owner = try Device(repository: ownerRepo, folder: project.ownerDevice.folder, remote: project.owner)
            try owner.write("Data/After.txt", "written after the rotation")
            try await owner.sync()

            // The removed member: listing returns nothing, reading and writing fail.
            #expect(try await leaver.remote.list(.snapshot, after: nil, limit: 10).isEmpty)
            #expect(try await leaver.remote.list(.key, after: nil, limit: 10).isEmpty)
            #expect(await Fixture.remoteError { _ = try await leaver.remote.load(.config, range: nil) } != nil)
            // New packs do not open with the old key, whoever holds a copy of them.
            let newPacks = try await Set(project.owner.list(.pack, after: nil, limit: 1000).map(\.name.name))
                .subtracting(try leaverDevice.repository.list(.pack).map(\.hex))
            #expect(!newPacks.isEmpty)
            for name in newPacks {
                let bytes = try await project.owner.load(ObjectName(kind: .pack, name: name), range: nil)
                let headerLength = Int(UInt32(littleEndian: bytes.suffix(4).withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }))
                let header = Array(bytes[(bytes.count - 4 - headerLength)..<(bytes.count - 4)])
                #expect(throws: CryptoError.self) { try AEAD(key: oldKey).open(header, associatedData: Array("modvault-pack-header".utf8)) }
                #expect((try? ownerRepo.cipher.open(header, associatedData: Array("modvault-pack-header".utf8))) != nil)
            }
            // The remaining member picks the new key up at their next sync and reads the new file.
            let adopted = try #require(try await KeyRotation.adoptPendingKey(stayerDevice.repository, from: stayer.remote, password: Sharing.password))
            #expect(adopted.masterKey.encryption == ownerRepo.masterKey.encryption)
            #expect(adopted.masterKey.retired == [oldKey])
            let stayerAfter = try Device(repository: adopted, folder: stayerDevice.folder, remote: stayer.remote)
            try await stayerAfter.sync()
            #expect(try stayerAfter.contents()["Data/After.txt"] == Data("written after the rotation".utf8))
            #expect(try await KeyRotation.pendingKey(for: adopted, on: stayer.remote) == nil)

            // A member invited after the rotation reads old and new snapshots.
            let late = try await project.account("late")
            let code = try await project.invite(.reader, master: ownerRepo.masterKey)
            let lateDevice = try await project.join(code, as: late.remote, label: "late")
            try await lateDevice.sync()
            #expect(try lateDevice.contents() == owner.contents())
            #expect(try Checker(repository: lateDevice.repository).check(readData: true).isHealthy)
        }

        /// Test 2: a writer's push reaches the owner's watch within 2 s; with PocketBase restarted while
        /// two more pushes happen, both arrive after the reconnect, once each and in order.
        @Test func watchFollowsPushesAcrossARestart() async throws {
            let server = try await PrivatePocketBase.start()
            defer { server.stop() }
            let ownerRemote = PocketBaseRemote(address: PocketBaseAddress(baseURL: server.baseURL, collection: "w\(Fixture.uniqueName())"),
                                               credentials: .password(email: TestServers.userEmail, password: TestServers.userPassword))
            try await ownerRemote.createProject(superuserEmail: TestServers.superuserEmail, password: TestServers.superuserPassword)
            let root = try TestServers.required().root + "/watch-" + Fixture.uniqueName()
            let ownerRepo = try Repository.initialize(at: root + "/owner-repo", password: Sharing.password, options: FolderSyncOnServers.options())
            let owner = try Device(repository: ownerRepo, folder: root + "/owner", remote: ownerRemote)
            try owner.write("a.txt", "first")
            try await owner.sync()

            // The writer joins by invite, as `join` does.
            let writerEmail = "writer-\(Fixture.uniqueName())@modvault.test"
            try await PocketBaseAdmin(baseURL: server.baseURL).createUser(email: writerEmail, password: "writer-pass-123")
            let writerRemote = PocketBaseRemote(address: ownerRemote.address, credentials: .password(email: writerEmail, password: "writer-pass-123"))
            let code = InviteCode(remote: RemoteURL.pocketBase(ownerRemote.address).description, invite: PocketBaseProject.newRecordID(),
                                  expires: Date().addingTimeInterval(600), role: "writer", repository: ownerRepo.config.id.hex)
            _ = try await ownerRemote.createInvite(id: code.invite, secret: code.secret, role: .writer, expires: code.expires,
                                                   slot: try InviteSlot.seal(ownerRepo.masterKey, for: code))
            let redeemed = try await writerRemote.redeemInvite(id: code.invite, secret: code.secret, expires: code.expires)
            let (writerRepo, _) = try await Syncer.join(from: writerRemote, to: root + "/writer-repo", master: try InviteSlot.open(redeemed.slot, with: code),
                                                        password: Sharing.password, repository: code.repository)
            let writer = try Device(repository: writerRepo, folder: root + "/writer", remote: writerRemote)
            try await writer.sync()

            let start = try await PushLog(remote: ownerRemote, repository: ownerRepo).read(after: 0).lastSeq
            let inbox = EventInbox()
            var watch = ProjectWatch(remote: ownerRemote, repository: ownerRepo)
            watch.signals = projectSignals(ownerRemote)
            // The first reconnect waits 3 s, so the two pushes below land while the watcher is away and
            // only the catch-up listing can deliver them.
            watch.interval = 3
            let watcher = watch
            let task = Task { try await watcher.run(after: start) { inbox.add($0) } }
            defer { task.cancel() }
            try await Task.sleep(for: .seconds(1))  // the subscription is made

            try writer.write("b.txt", "from the writer")
            try await writer.sync()
            let pushed = ContinuousClock.now
            try await inbox.waitFor(timeout: 10) { $0.pushes.count == 1 }
            let delay = ContinuousClock.now - pushed
            #expect(delay < .seconds(2), "the push took \(delay) to reach the watcher")

            // The server goes down; while it restarts and before the watcher is back, two pushes land.
            server.kill()
            try await server.restart()
            for n in 1...2 {
                try writer.write("c\(n).txt", "push \(n) during the outage")
                try await writer.sync()
            }
            try await inbox.waitFor(timeout: 30) { $0.pushes.count >= 3 }
            try await Task.sleep(for: .seconds(1))  // anything duplicated would show up by now
            let seqs = inbox.events.pushes.map(\.seq)
            #expect(seqs == [start + 1, start + 2, start + 3], "pushes seen: \(seqs)")
            #expect(inbox.events.contains { if case .reconnecting = $0 { true } else { false } })
        }

        /// On S3 (moto), which cannot enforce roles: the invite is stored beside the key slots, a
        /// teammate with their own credentials redeems it once and joins, and expiry is checked.
        @Test func inviteOnS3() async throws {
            let remote = try await RemoteKind.s3Moto.makeRemote()
            let root = try TestServers.required().root + "/s3-share-" + Fixture.uniqueName()
            let repo = try Repository.initialize(at: root + "/owner-repo", password: Sharing.password, options: FolderSyncOnServers.options())
            let owner = try Device(repository: repo, folder: root + "/owner", remote: remote)
            try owner.write("Data/Foo.esp", "plugin")
            try await owner.sync()
            let keyed = try ModVaultSync.Sharing.withMemberKey(repo, password: Sharing.password)
            let url = "s3://test/somewhere"
            let code = try await ModVaultSync.Sharing.invite(repository: keyed, remote: remote, pocketBase: nil, remoteURL: url, role: .writer,
                                                            expires: Date().addingTimeInterval(600))
            #expect(code.remote == url && !code.text.contains(TestServers.secretKey) && !code.text.contains(TestServers.accessKey))
            // Opening the repository by password passes the stored invite over without a warning.
            let slots = try await remote.list(.key, after: nil, limit: 100)
            #expect(slots.count == 2)

            let (master, role) = try await ModVaultSync.Sharing.redeem(try InviteCode.parse(code.text), remote: remote, pocketBase: nil)
            #expect(role == "writer")
            let (joined, _) = try await Syncer.join(from: remote, to: root + "/joiner-repo", master: master, password: Array("joiner".utf8),
                                                    repository: code.repository)
            #expect(try joined.snapshots().count == 1)
            #expect(await ModVaultSync.Sharing.discardStoredInvite(code, remote: remote) == nil)
            await #expect(throws: InviteError.gone(invite: code.invite, remote: remote.location)) {
                _ = try await ModVaultSync.Sharing.redeem(code, remote: remote, pocketBase: nil)
            }
            let late = try await ModVaultSync.Sharing.invite(repository: keyed, remote: remote, pocketBase: nil, remoteURL: url, role: .reader,
                                                            expires: Date().addingTimeInterval(-5))
            await #expect(throws: InviteError.self) { _ = try await ModVaultSync.Sharing.redeem(late, remote: remote, pocketBase: nil) }
        }

        /// Test 4: the code carries no configured credential.
        @Test func codeCarriesNoCredentials() async throws {
            let project = try await Project.make()
            let code = try await project.invite(.writer)
            let token = try await RawPocketBase.token(project.baseURL, email: TestServers.userEmail, password: TestServers.userPassword)
            let decoded = String(decoding: Base64.decode(String(code.text.dropFirst(InviteCode.prefix.count))
                .replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
                .padding(toLength: ((code.text.count - InviteCode.prefix.count + 3) / 4) * 4, withPad: "=", startingAt: 0)) ?? [], as: UTF8.self)
            #expect(decoded.contains(code.invite))
            for credential in [TestServers.userPassword, TestServers.superuserPassword, TestServers.superuserEmail, token,
                               String(decoding: Sharing.password, as: UTF8.self)] {
                #expect(!code.text.contains(credential) && !decoded.contains(credential))
            }
            #expect(try InviteCode.parse(code.text) == code)
        }

        /// Test 5: two projects on one server; an admin of one sees, reads and deletes nothing of the other.
        /// Projects created at the same moment on one server are all made, each with its first admin.
        @Test func projectsCreatedAtTheSameMomentAreAllMade() async throws {
            let servers = try TestServers.required()
            let owners = (0..<12).map { _ in
                PocketBaseRemote(address: PocketBaseAddress(baseURL: servers.pocketBaseURL, collection: "q\(Fixture.uniqueName())"),
                                 credentials: .password(email: TestServers.userEmail, password: TestServers.userPassword))
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for owner in owners {
                    group.addTask { try await owner.createProject(superuserEmail: TestServers.superuserEmail, password: TestServers.superuserPassword) }
                }
                try await group.waitForAll()
            }
            for owner in owners {
                #expect(try await owner.members().map(\.email) == [TestServers.userEmail])
                #expect(try await owner.list(.snapshot, after: nil, limit: 10).isEmpty)
            }
        }

        @Test func projectsAreIsolated() async throws {
            let first = try await Project.make()
            let second = try await Project.make()
            // An admin of the second project only.
            let admin = try await second.account("admin2")
            _ = try await second.join(try await second.invite(.admin), as: admin.remote, label: "admin2")
            let token = try await RawPocketBase.token(first.baseURL, email: admin.email, password: admin.password)
            let c = first.collection
            for collection in [c, PocketBaseProject.members(c), PocketBaseProject.invites(c)] {
                #expect(try await RawPocketBase.list(first.baseURL, collection: collection, filter: "", token: token).isEmpty)
            }
            let pack = try #require(try await first.owner.list(.pack, after: nil, limit: 1).first)
            let packID = try #require(try await RawPocketBase.recordID(first.baseURL, collection: c, kind: "data", name: pack.name.name,
                                                                       token: try await RawPocketBase.token(first.baseURL, email: TestServers.userEmail,
                                                                                                            password: TestServers.userPassword)))
            #expect(try await RawPocketBase.send(first.baseURL, "GET", "/api/collections/\(c)/records/\(packID)", token: token).status == 404)
            #expect(try await RawPocketBase.send(first.baseURL, "DELETE", "/api/collections/\(c)/records/\(packID)", token: token).status == 404)
            #expect(try await RawPocketBase.createObject(first.baseURL, collection: c, kind: "data", name: "zz", owner: nil, token: token).status == 400)
            // Through the client too.
            let other = PocketBaseRemote(address: first.owner.address, credentials: .password(email: admin.email, password: admin.password))
            #expect(try await other.members().isEmpty)
            #expect(((try? await other.invites()) ?? []).isEmpty)
            #expect(await Fixture.remoteError { try await other.remove(pack.name) } == nil)
            #expect(try await first.owner.stat(pack.name) == pack.size)
            #expect(await Fixture.remoteError { _ = try await other.createInvite(id: PocketBaseProject.newRecordID(), secret: "0123456789abcdef0123",
                                                                               role: .admin, expires: Date().addingTimeInterval(60), slot: "x") } != nil)
        }
    }
}

/// PocketBase requests made by hand, bypassing every client-side check.
enum RawPocketBase {
    static func send(_ base: String, _ method: String, _ path: String, query: String = "", json: [String: Any]? = nil,
                     token: String?) async throws -> HTTPResponse {
        var headers: [(name: String, value: String)] = []
        if let token { headers.append(("Authorization", token)) }
        var body: [UInt8]? = nil
        if let json {
            body = [UInt8](try JSONSerialization.data(withJSONObject: json))
            headers.append(("Content-Type", "application/json"))
        }
        return try await AsyncHTTPTransport.shared.send(HTTPRequest(method: method, url: URL(string: base + path + query)!, headers: headers, body: body))
    }

    static func token(_ base: String, email: String, password: String) async throws -> String {
        let response = try await send(base, "POST", "/api/collections/users/auth-with-password", json: ["identity": email, "password": password], token: nil)
        let json = try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]
        return try #require(json?["token"] as? String)
    }

    static func list(_ base: String, collection: String, filter: String, token: String) async throws -> [[String: Any]] {
        let query = filter.isEmpty ? "" : "?filter=" + HTTPSupport.percentEncode(filter)
        let response = try await send(base, "GET", "/api/collections/\(collection)/records", query: query, token: token)
        #expect(response.status == 200)
        let json = try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]
        return json?["items"] as? [[String: Any]] ?? []
    }

    static func recordID(_ base: String, collection: String, kind: String, name: String, token: String) async throws -> String? {
        try await list(base, collection: collection, filter: "kind='\(kind)' && name='\(name)'", token: token).first?["id"] as? String
    }

    /// A multipart create of one object record, as a client would send it.
    static func createObject(_ base: String, collection: String, kind: String, name: String, owner: String?, token: String) async throws -> HTTPResponse {
        let boundary = "raw-\(Fixture.uniqueName())"
        var text = ""
        var fields = [("kind", kind), ("name", name), ("size", "3")]
        if let owner { fields.append(("owner", owner)) }
        for (k, v) in fields { text += "--\(boundary)\r\nContent-Disposition: form-data; name=\"\(k)\"\r\n\r\n\(v)\r\n" }
        text += "--\(boundary)\r\nContent-Disposition: form-data; name=\"file\"; filename=\"\(name)\"\r\nContent-Type: application/octet-stream\r\n\r\nabc\r\n--\(boundary)--\r\n"
        return try await AsyncHTTPTransport.shared.send(HTTPRequest(
            method: "POST", url: URL(string: base + "/api/collections/\(collection)/records")!,
            headers: [("Authorization", token), ("Content-Type", "multipart/form-data; boundary=\(boundary)")], body: Array(text.utf8)))
    }
}

/// Events a `ProjectWatch` reported, for a test to wait on.
final class EventInbox: Sendable {
    private let state = Mutex<[ProjectEvent]>([])

    func add(_ event: ProjectEvent) { state.withLock { $0.append(event) } }

    var events: [ProjectEvent] { state.withLock { $0 } }

    /// Waits until `condition` holds for the events so far, or fails after `timeout` seconds.
    func waitFor(timeout: Double, _ condition: ([ProjectEvent]) -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(timeout)
        while !condition(events) {
            guard ContinuousClock.now < deadline else { throw TestSetupError("timed out; events: \(events)") }
            try await Task.sleep(for: .milliseconds(20))
        }
    }
}

extension [ProjectEvent] {
    /// The push entries among the events, in order.
    var pushes: [PushEntry] { compactMap { if case .push(let e) = $0 { e } else { nil } } }
}
