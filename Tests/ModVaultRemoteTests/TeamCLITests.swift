import Foundation
import Testing
import ModVaultTestSupport
import ModVaultCore
import ModVaultRemoteSupport
import ModVaultRemotePocketBase

extension LiveRemoteTests {
    /// The team commands as a person runs them, against the suite's PocketBase: `remote init`,
    /// `share`, `join --folder`, `watch --json`, `members`, `invites`, `members remove --rotate`.
    @Suite("Team commands on PocketBase (CLI)")
    struct TeamCLI {
        /// One person at one machine: their own repository, password, PocketBase account and config folder.
        struct Person {
            let root: String
            let name: String
            let email: String
            let password: String

            var repo: String { root + "/\(name)-repo" }
            var folder: String { root + "/\(name)-folder" }

            var environment: [String: String] {
                var env = ProcessInfo.processInfo.environment
                env["MODVAULT_REPO"] = repo
                env["MODVAULT_PASSWORD"] = "\(name) local password"
                env["MODVAULT_TEST_SCRYPT_N"] = "1024"
                env["XDG_CONFIG_HOME"] = root + "/\(name)-config"
                env["POCKETBASE_EMAIL"] = email
                env["POCKETBASE_PASSWORD"] = password
                env.removeValue(forKey: "MODVAULT_PASSWORD_FILE")
                return env
            }

            func run(_ args: [String], extra: [String: String] = [:]) async throws -> (status: Int32, stdout: String, stderr: String) {
                let process = try start(args, extra: extra, output: root + "/\(name)-\(Fixture.uniqueName())")
                let status = await process.process.exited()
                return (status, try process.stdout(), try process.stderr())
            }

            func start(_ args: [String], extra: [String: String] = [:], output: String) throws -> Running {
                let p = Process()
                p.executableURL = URL(fileURLWithPath: BuiltProgram.modvault)
                p.arguments = args
                p.environment = environment.merging(extra) { $1 }
                FileManager.default.createFile(atPath: output + ".out", contents: nil)
                FileManager.default.createFile(atPath: output + ".err", contents: nil)
                p.standardOutput = FileHandle(forWritingAtPath: output + ".out")
                p.standardError = FileHandle(forWritingAtPath: output + ".err")
                p.standardInput = FileHandle.nullDevice
                try p.run()
                return Running(process: p, output: output)
            }
        }

        struct Running {
            let process: Process
            let output: String
            func stdout() throws -> String { try String(contentsOfFile: output + ".out", encoding: .utf8) }
            func stderr() throws -> String { try String(contentsOfFile: output + ".err", encoding: .utf8) }
            /// The stdout lines that are JSON objects.
            func objects() throws -> [[String: Any]] {
                try stdout().split(separator: "\n").compactMap { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            }
        }

        @Test func shareJoinWatchMembersRemove() async throws {
            let servers = try TestServers.required()
            let root = servers.root + "/team-cli-" + Fixture.uniqueName()
            try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
            let url = "pocketbase+\(servers.pocketBaseURL)/c\(Fixture.uniqueName())"
            let owner = Person(root: root, name: "owner", email: TestServers.userEmail, password: TestServers.userPassword)
            var people: [Person] = []
            for name in ["joiner", "late"] {
                let email = "\(name)-\(Fixture.uniqueName())@modvault.test"
                try await PocketBaseAdmin(baseURL: servers.pocketBaseURL).createUser(email: email, password: "\(name)-pass-123")
                people.append(Person(root: root, name: name, email: email, password: "\(name)-pass-123"))
            }
            let (joiner, late) = (people[0], people[1])

            #expect(try await owner.run(["init"]).status == 0)
            let made = try await owner.run(["remote", "init", url], extra: ["POCKETBASE_SUPERUSER_EMAIL": TestServers.superuserEmail,
                                                                     "POCKETBASE_SUPERUSER_PASSWORD": TestServers.superuserPassword])
            #expect(made.status == 0, "\(made.stderr)")
            #expect(try await owner.run(["remote", "add", "team", url]).status == 0)
            try FileManager.default.createDirectory(atPath: owner.folder + "/Data", withIntermediateDirectories: true)
            try Data("plugin".utf8).write(to: URL(fileURLWithPath: owner.folder + "/Data/Foo.esp"))
            let bound = try await owner.run(["sync", owner.folder, "--remote", "team"])
            #expect(bound.status == 0, "\(bound.stderr)")

            let watch = try owner.start(["watch", "team", "--json"], output: root + "/watch")
            defer { if watch.process.isRunning { watch.process.terminate() } }
            // Team events are realtime only: act once the watch is subscribed, or a busy machine misses them.
            let subscribed = ContinuousClock.now + .seconds(20)
            while try !watch.stderr().contains("subscribed"), ContinuousClock.now < subscribed { try await Task.sleep(for: .milliseconds(50)) }
            let watchErrors = try watch.stderr()
            #expect(watchErrors.contains("subscribed"), "watch printed \(watchErrors)")
            let shared = try await owner.run(["share", "team", "--role", "writer", "--json"])
            #expect(shared.status == 0, "\(shared.stderr)")
            let share = try #require(try JSONSerialization.jsonObject(with: Data(shared.stdout.utf8)) as? [String: Any])
            let code = try #require(share["code"] as? String)
            #expect(share["role"] as? String == "writer" && share["invite_id"] is String && share["expires"] is String)
            for secret in [TestServers.userPassword, TestServers.superuserPassword, "owner local password"] { #expect(!code.contains(secret)) }

            let joined = try await joiner.run(["join", code, "--folder", joiner.folder])
            #expect(joined.status == 0, "\(joined.stderr)")
            #expect(FileManager.default.contents(atPath: joiner.folder + "/Data/Foo.esp") == Data("plugin".utf8))
            try Data("from the joiner".utf8).write(to: URL(fileURLWithPath: joiner.folder + "/Data/Joiner.txt"))
            let pushed = try await joiner.run(["sync", joiner.folder])
            #expect(pushed.status == 0, "\(pushed.stderr)")

            // The owner's watch shows the invite, the new member and their push.
            let deadline = ContinuousClock.now + .seconds(20)
            func types() throws -> [String] { try watch.objects().compactMap { $0["type"] as? String } }
            while try !(Set(types()).isSuperset(of: ["invite_created", "member_joined", "push"])), ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(100))
            }
            let printed = try watch.stdout()
            #expect(Set(try types()).isSuperset(of: ["invite_created", "member_joined", "push"]), "watch printed \(printed)")
            let joinedEvent = try watch.objects().first { $0["type"] as? String == "member_joined" }
            #expect(joinedEvent?["user"] as? String == joiner.email && joinedEvent?["role"] as? String == "writer")
            let push = try watch.objects().first { $0["type"] as? String == "push" }
            #expect(push?["seq"] as? Int == 2 && (push?["summary"] as? [String: Any])?["added"] as? Int == 1)

            let members = try await owner.run(["members", "team", "--json"])
            let rows = try #require(try JSONSerialization.jsonObject(with: Data(members.stdout.utf8)) as? [[String: Any]])
            #expect(Set(rows.compactMap { $0["user"] as? String }) == [owner.email, joiner.email])
            #expect(rows.allSatisfy { $0["online"] is Bool && $0["devices"] is [String] && $0["joined"] is String })
            #expect(rows.first { $0["user"] as? String == owner.email }?["online"] as? Bool == true)
            let invites = try await owner.run(["invites", "team", "--json"])
            let inviteRows = try #require(try JSONSerialization.jsonObject(with: Data(invites.stdout.utf8)) as? [[String: Any]])
            #expect(inviteRows.first?["state"] as? String == "used")

            // A second use is refused, saying so; a non-admin cannot invite.
            let again = try await late.run(["join", code, "--repo", late.repo])
            #expect(again.status != 0 && again.stderr.contains("already used"), "\(again.stderr)")
            let notAdmin = try await joiner.run(["share", url])
            #expect(notAdmin.status != 0 && notAdmin.stderr.contains("admin"), "\(notAdmin.stderr)")

            // Removal with rotation says what it cannot do; the removed member is refused from then on.
            let removed = try await owner.run(["members", "team", "remove", joiner.email, "--rotate", "--json"])
            #expect(removed.status == 0, "\(removed.stderr)")
            let report = try #require(try JSONSerialization.jsonObject(with: Data(removed.stdout.utf8)) as? [String: Any])
            #expect(report["rotated"] as? Bool == true && (report["note"] as? String)?.contains("cannot take back") == true)
            try Data("after removal".utf8).write(to: URL(fileURLWithPath: joiner.folder + "/Data/Late.txt"))
            let refused = try await joiner.run(["sync", joiner.folder])
            #expect(refused.status != 0)

            watch.process.interrupt()
            #expect(await watch.process.exited() == 0)
            let events = try watch.objects().compactMap { $0["type"] as? String }
            #expect(events.contains("member_removed"), "watch printed \(events)")
        }
    }
}
