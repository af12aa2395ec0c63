import Foundation
import Testing
import ModVaultCore
import ModVaultFixtures


/// Writes a small mod-like folder: incompressible "textures", compressible "scripts", a plugin-like file.
func writeCorpus(_ dir: String, rng: inout SplitMix64, files: Int = 12, size: Int = 400_000) throws {
    try FileManager.default.createDirectory(atPath: dir + "/Textures", withIntermediateDirectories: true)
    try FileManager.default.createDirectory(atPath: dir + "/Scripts", withIntermediateDirectories: true)
    for i in 0..<files {
        try Data(rng.bytes(size)).write(to: URL(fileURLWithPath: "\(dir)/Textures/t\(i).dds"))
        let text = (0..<(size / 40)).map { "line \($0) of script \(i) value \(rng.below(1000))\n" }.joined()
        try text.write(toFile: "\(dir)/Scripts/s\(i).psc", atomically: false, encoding: .utf8)
    }
}

/// Changes a folder a little: rewrites part of one texture, appends to a script, adds a file.
func mutateCorpus(_ dir: String, rng: inout SplitMix64, step: Int) throws {
    let textures = try FileManager.default.contentsOfDirectory(atPath: dir + "/Textures").sorted()
    let victim = dir + "/Textures/" + textures[rng.below(textures.count)]
    let handle = try #require(FileHandle(forUpdatingAtPath: victim))
    try handle.seek(toOffset: UInt64(rng.below(300_000)))
    handle.write(Data(rng.bytes(50_000)))
    try handle.close()
    try Data(rng.bytes(80_000 + rng.below(100_000))).write(to: URL(fileURLWithPath: "\(dir)/Textures/new\(step).dds"))
}

@Suite("repository lifecycle and crash safety", .serialized)
struct LifecycleTests {
    static let initArgs = ["init", "--chunk-min", "16K", "--chunk-avg", "64K", "--chunk-max", "256K", "--pack-size", "1M"]

    /// Runs a command and SIGKILLs it after `delay` seconds; returns true if it finished first.
    static func runAndKill(_ h: CLIHarness, _ args: [String], after delay: Double, password: String) throws -> Bool {
        var env = ProcessInfo.processInfo.environment
        env["MODVAULT_REPO"] = h.repo
        env["MODVAULT_TEST_SCRYPT_N"] = "1024"
        env["MODVAULT_PASSWORD"] = password
        env.removeValue(forKey: "MODVAULT_PASSWORD_FILE")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: CLIHarness.binary)
        p.arguments = args
        p.environment = env
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        let deadline = Date().addingTimeInterval(delay)
        while p.isRunning && Date() < deadline { usleep(2_000) }
        let finished = !p.isRunning
        if !finished { kill(p.processIdentifier, SIGKILL) }
        p.waitUntilExit()
        return finished && p.terminationReason == .exit
    }

    @Test func killAtRandomPointsLeavesRepositoryValid() throws {
        let h = try CLIHarness()
        let src = h.root + "/Data"
        let seed = UInt64(ProcessInfo.processInfo.environment["MODVAULT_KILL_SEED"] ?? "") ?? 20261125
        let trials = Int(ProcessInfo.processInfo.environment["MODVAULT_KILL_TRIALS"] ?? "") ?? 52
        var rng = SplitMix64(seed: seed)
        try writeCorpus(src, rng: &rng)
        // Real archives too: every other snapshot stores their zlib streams decompressed, so kills also
        // land while stream blobs and their content are being written.
        _ = try FixtureGenerator.writeBase(FixtureOptions(seed: seed, scaleBytes: 2 << 20), to: src + "/Mods")
        let archives = try FileManager.default.subpathsOfDirectory(atPath: src + "/Mods").filter { $0.hasSuffix(".ba2") }.sorted()
        try #require(!archives.isEmpty)
        let passwords = ["correct horse", "battery staple"]
        for (i, pw) in passwords.enumerated() { try pw.write(toFile: "\(h.root)/pw\(i)", atomically: true, encoding: .utf8) }
        var current = 0
        #expect(try h.modvault(Self.initArgs, password: passwords[current]).status == 0)

        var expected: [String: [String: String]] = [:]
        func snapshotIDs() throws -> [String] {
            let r = try h.modvault(["snapshots", "--json"], password: passwords[current])
            let list = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]] ?? []
            return list.compactMap { $0["id"] as? String }
        }
        // Two clean snapshots to protect, and a measure of how long each operation takes.
        var durations: [String: Double] = [:]
        for step in 0..<2 {
            let before = try describeTree(src)
            let t0 = Date()
            let r = try h.modvault(["snapshot", src, "--json"], password: passwords[current])
            durations["snapshot"] = Date().timeIntervalSince(t0)
            expected[try r.lastJSON()["snapshot"] as? String ?? ""] = before
            try mutateCorpus(src, rng: &rng, step: step)
        }
        let t0 = Date()
        try h.modvault(["check", "--read-data"], password: passwords[current])
        let baseDelay = Date().timeIntervalSince(t0)
        durations["forget"] = baseDelay * 2
        durations["key"] = baseDelay

        var killed = 0, failures: [String] = []
        for trial in 0..<trials {
            let op = trial % 4
            var args: [String]
            var kind: String
            var before: [String: String]? = nil
            switch op {
            case 0:
                try mutateCorpus(src, rng: &rng, step: 100 + trial)
                before = try describeTree(src)
                args = ["snapshot", src]
                kind = "snapshot"
            case 1:
                // In turn: an archive rewritten with the same bytes, read again with its streams decompressed
                // by recipes; every archive repacked at another zlib level, stored as references to the
                // streams kept compressed (inflate, then recipe); textures extracted as loose DDS files,
                // stored as references that inflate the archived streams. Kills land in all three.
                let options = FixtureOptions(seed: seed, scaleBytes: 2 << 20)
                switch (trial / 4) % 3 {
                case 0:
                    let archive = src + "/Mods/" + archives[(trial / 4) % archives.count]
                    try Data(contentsOf: URL(fileURLWithPath: archive)).write(to: URL(fileURLWithPath: archive))
                    args = ["snapshot", src, "--normalize", "all"]
                case 1:
                    _ = try FixtureGenerator.writeScenario(.repack, options, to: src + "/Mods")
                    args = ["snapshot", src]
                default:
                    _ = try FixtureGenerator.writeScenario(.looseDDS, options, to: src + "/Mods")
                    args = ["snapshot", src]
                }
                try mutateCorpus(src, rng: &rng, step: 100 + trial)
                before = try describeTree(src)
                kind = "snapshot"
            case 2:
                args = ["forget", "--keep-last", "3", "--prune", "--max-unused", "5%"]
                kind = "forget"
            default:
                args = ["key", "passwd", "--new-password-file", "\(h.root)/pw\(1 - current)"]
                kind = "key"
            }
            let delay = Double(rng.below(1000)) / 1000 * (durations[kind] ?? 1) * 1.2
            let finished = try Self.runAndKill(h, args, after: delay, password: passwords[current])
            if !finished { killed += 1 }

            // A killed password change leaves the old or the new password working, never neither.
            if try h.modvault(["snapshots"], password: passwords[current]).status == 12 { current = 1 - current }
            let check = try h.modvault(["check", "--read-data"], password: passwords[current])
            if check.status != 0 { failures.append("trial \(trial) (\(kind), killed: \(!finished)): check failed: \(check.stdout) \(check.stderr)") }
            let ids = try snapshotIDs()
            if let before { for id in ids where expected[id] == nil { expected[id] = before } }
            for id in expected.keys where !ids.contains(id) { expected.removeValue(forKey: id) }
            if ids.count != expected.count { failures.append("trial \(trial): unexpected snapshots \(ids.count) vs \(expected.count)") }
            for (id, tree) in expected {
                let target = "\(h.root)/restore-\(trial)-\(id.prefix(8))"
                let r = try h.modvault(["restore", id, "--target", target, "-q"], password: passwords[current])
                let restored = try describeTree(target)
                if r.status != 0 || restored != tree {
                    failures.append("trial \(trial) (\(kind)): snapshot \(id.prefix(8)) did not restore identically: \(r.stderr)")
                }
                _ = try? CLIHarness.run(["/bin/rm", "-rf", target], environment: [:])
            }
        }
        print("kill test: \(trials) trials (seed \(seed)), \(killed) killed mid-operation, \(failures.count) failures")
        #expect(killed >= trials / 4, "too few kills landed mid-operation to mean anything")
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
    }

    /// Races are timing-dependent, so the race runs several times with different data.
    @Test(arguments: [UInt64(7), 8, 9, 10])
    func twoSnapshotsAndAPruneRunTogether(seed: UInt64) throws {
        let h = try CLIHarness()
        var rng = SplitMix64(seed: seed)
        let a = h.root + "/A", b = h.root + "/B"
        try writeCorpus(a, rng: &rng, files: 8)
        try writeCorpus(b, rng: &rng, files: 8)
        #expect(try h.modvault(Self.initArgs).status == 0)
        // Something for prune to do: a snapshot that is then forgotten.
        try h.modvault(["snapshot", a])
        try mutateCorpus(a, rng: &rng, step: 1)
        try h.modvault(["forget", "--keep-last", "0", "--keep-tag", "none"])
        let treeA = try describeTree(a), treeB = try describeTree(b)

        var env = ProcessInfo.processInfo.environment
        env["MODVAULT_REPO"] = h.repo
        env["MODVAULT_PASSWORD_FILE"] = h.passwordFile
        func start(_ args: [String]) throws -> (Process, String) {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: CLIHarness.binary)
            p.arguments = args + ["--retry-lock", "120", "--json"]
            p.environment = env
            let out = h.root + "/out-\(UUID().uuidString)"
            FileManager.default.createFile(atPath: out, contents: nil)
            FileManager.default.createFile(atPath: out + ".err", contents: nil)
            p.standardOutput = FileHandle(forWritingAtPath: out)
            p.standardError = FileHandle(forWritingAtPath: out + ".err") ?? FileHandle.nullDevice
            try p.run()
            return (p, out)
        }
        let jobs = [try start(["snapshot", a]), try start(["prune"]), try start(["snapshot", b])]
        for (p, _) in jobs { p.waitUntilExit() }
        for (p, out) in jobs {
            #expect(p.terminationStatus == 0, "\(p.arguments ?? []): \((try? String(contentsOfFile: out + ".err", encoding: .utf8)) ?? "")")
        }
        func snapshotID(_ out: String) throws -> String {
            let text = try String(contentsOfFile: out, encoding: .utf8)
            let line = text.split(separator: "\n").last.map(String.init) ?? "{}"
            return (try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["snapshot"] as? String ?? ""
        }
        #expect(try h.modvault(["check", "--read-data"]).status == 0)
        for (out, tree) in [(jobs[0].1, treeA), (jobs[2].1, treeB)] {
            let target = h.root + "/restore-" + UUID().uuidString
            let r = try h.modvault(["restore", try snapshotID(out), "--target", target])
            #expect(r.status == 0, "\(r.stderr)")
            #expect(try describeTree(target) == tree)
        }
    }

    @Test func pruneFreesForgottenDataAndKeepsTheRest() throws {
        let h = try CLIHarness()
        var rng = SplitMix64(seed: 11)
        let src = h.root + "/Data"
        try writeCorpus(src, rng: &rng, files: 6)
        try h.modvault(Self.initArgs)
        let first = try h.modvault(["snapshot", src, "--json"]).lastJSON()["snapshot"] as? String ?? ""
        for step in 0..<3 {
            try mutateCorpus(src, rng: &rng, step: step)
            try h.modvault(["snapshot", src])
        }
        let tree = try describeTree(src)
        try h.modvault(["forget", first])
        // With 0% allowed unused, every pack holding forgotten data is rewritten, whatever the pack layout.
        let dry = try h.modvault(["prune", "--dry-run", "--max-unused", "0%", "--json"]).lastJSON()
        let real = try h.modvault(["prune", "--max-unused", "0%", "--json"])
        #expect(real.status == 0, "\(real.stderr)")
        let report = try real.lastJSON()
        #expect((report["bytes_freed"] as? Int ?? 0) > 0)
        // The dry run estimates the size of repacked packs; it must be within 2% of what prune then frees.
        let estimated = Double(dry["bytes_freed"] as? Int ?? 0), freed = Double(report["bytes_freed"] as? Int ?? 0)
        #expect(abs(estimated - freed) <= 0.02 * freed, "dry run \(estimated) vs real \(freed)")
        #expect(try h.modvault(["check", "--read-data"]).status == 0)
        let target = h.root + "/out"
        #expect(try h.modvault(["restore", "latest", "--target", target]).status == 0)
        #expect(try describeTree(target) == tree)
        // Nothing left to free.
        let again = try h.modvault(["prune", "--json"]).lastJSON()
        #expect(again["bytes_freed"] as? Int == 0)
    }

    @Test func keysCanBeAddedChangedAndNeverAllRemoved() throws {
        let h = try CLIHarness()
        try h.modvault(["init"])
        try "second".write(toFile: h.root + "/pw2", atomically: true, encoding: .utf8)
        #expect(try h.modvault(["key", "add", "--new-password-file", h.root + "/pw2"]).status == 0)
        #expect(try h.modvault(["snapshots"], password: "second").status == 0)
        let keys = try JSONSerialization.jsonObject(with: Data(try h.modvault(["key", "list", "--json"]).stdout.utf8)) as? [[String: Any]] ?? []
        #expect(keys.count == 2)
        let current = try #require(keys.first { $0["current"] as? Bool == true }?["id"] as? String)
        let other = try #require(keys.first { $0["current"] as? Bool == false }?["id"] as? String)
        let inUse = try h.modvault(["key", "remove", current])
        #expect(inUse.status != 0)
        #expect(inUse.stderr.contains("in use"))
        #expect(try h.modvault(["key", "remove", other]).status == 0)
        #expect(try h.modvault(["snapshots"], password: "second").status == 12)
        // passwd rewrites only the slot in use; the old password stops working.
        #expect(try h.modvault(["key", "passwd", "--new-password-file", h.root + "/pw2"]).status == 0)
        #expect(try h.modvault(["snapshots"]).status == 12)
        #expect(try h.modvault(["snapshots"], password: "second").status == 0)
        let keyFiles = try FileManager.default.contentsOfDirectory(atPath: h.repo + "/keys").filter { !$0.hasPrefix(".") }
        #expect(keyFiles.count == 1)
        for file in keyFiles {
            let text = try String(contentsOfFile: h.repo + "/keys/" + file, encoding: .utf8)
            #expect(!text.contains("encryption"), "the master key must never appear unsealed")
        }
    }

    @Test func staleLockIsReportedAndUnlockable() throws {
        let h = try CLIHarness()
        try h.modvault(["init"])
        // A lock held by a process that no longer exists on this host is stale and ignored;
        // a live foreign lock blocks prune with exit code 11 and a way out.
        let lock = """
            {"exclusive":false,"host":"another-machine","pid":4242,"username":"x","time":"\(ISO8601DateFormatter().string(from: Date()))","operation":"snapshot"}
            """
        try lock.write(toFile: h.repo + "/locks/" + String(repeating: "a", count: 64), atomically: true, encoding: .utf8)
        let blocked = try h.modvault(["prune"])
        #expect(blocked.status == 11)
        #expect(blocked.stderr.contains("another-machine"))
        #expect(blocked.stderr.contains("modvault unlock"))
        #expect(try h.modvault(["unlock", "--remove-all"]).status == 0)
        #expect(try h.modvault(["prune"]).status == 0)
    }

    @Test(.enabled(if: geteuid() == 0, "needs root to run as another user"))
    func permissionErrorsNameThePath() throws {
        let h = try CLIHarness()
        let src = h.root + "/src"
        var rng = SplitMix64(seed: 5)
        try writeCorpus(src, rng: &rng, files: 1, size: 10_000)
        #expect(try h.modvault(["init"]).status == 0)
        // The repository belongs to root; an unprivileged user may read the source but not write the repository.
        _ = try CLIHarness.run(["/bin/chmod", "-R", "a+rX", h.root], environment: [:])
        _ = try CLIHarness.run(["/bin/chmod", "a+r", h.passwordFile], environment: [:])
        h.extraEnvironment["HOME"] = h.root
        let prefix = ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"]
        let r = try h.modvault(["snapshot", src], prefix: prefix)
        #expect(r.status == 1)
        // Whichever write comes first (the index cache or a lock) is refused, and its path is named.
        #expect(r.stderr.contains("Permission denied") || r.stderr.contains("readonly"))
        #expect(r.stderr.contains(h.repo))
        #expect(try h.modvault(["check", "--read-data"]).status == 0)
    }

    static let canMount: Bool = {
        guard geteuid() == 0 else { return false }
        let probe = NSTemporaryDirectory() + "/modvault-mount-probe-\(getpid())"
        try? FileManager.default.createDirectory(atPath: probe, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: probe) }
        guard (try? CLIHarness.run(["/bin/mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", probe], environment: [:]))?.status == 0 else { return false }
        _ = try? CLIHarness.run(["/bin/umount", probe], environment: [:])
        return true
    }()

    @Test(.enabled(if: canMount, "needs root to mount a small tmpfs"))
    func diskFullLeavesRepositoryValid() throws {
        let h = try CLIHarness()
        let small = h.root + "/small"
        try FileManager.default.createDirectory(atPath: small, withIntermediateDirectories: true)
        #expect(try CLIHarness.run(["/bin/mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", small], environment: [:]).status == 0)
        defer { _ = try? CLIHarness.run(["/bin/umount", "-l", small], environment: [:]) }
        let repoHarness = h
        repoHarness.extraEnvironment["MODVAULT_REPO"] = small + "/repo"
        var rng = SplitMix64(seed: 3)
        let little = h.root + "/little", big = h.root + "/big"
        try writeCorpus(little, rng: &rng, files: 2, size: 50_000)
        try writeCorpus(big, rng: &rng, files: 12, size: 600_000)
        #expect(try repoHarness.modvault(Self.initArgs).status == 0)
        #expect(try repoHarness.modvault(["snapshot", little]).status == 0)
        let tree = try describeTree(little)
        let full = try repoHarness.modvault(["snapshot", big])
        #expect(full.status == 1)
        #expect(full.stderr.contains("No space left on device"))
        #expect(full.stderr.contains(small + "/repo"))
        let check = try repoHarness.modvault(["check", "--read-data"])
        #expect(check.status == 0, "\(check.stdout)\(check.stderr)")
        let target = h.root + "/out"
        #expect(try repoHarness.modvault(["restore", "latest", "--target", target]).status == 0)
        #expect(try describeTree(target) == tree)
    }
}
