import Foundation
import Testing
import ModVaultCore
import ModVaultStore
import ModVaultArchive
import ModVaultFixtures
import ModVaultFormats

/// Devices for CLI sync tests: each has its own repository, folder and XDG_CONFIG_HOME (so its own device ID).
struct CLIDevices {
    let h: CLIHarness
    let remote: String

    init() throws {
        h = try CLIHarness()
        remote = h.root + "/remote"
    }

    func folder(_ device: String) -> String { h.root + "/" + device + "-folder" }

    func environment(_ device: String) -> [String: String] {
        var env = ProcessInfo.processInfo.environment
        env["MODVAULT_REPO"] = h.root + "/" + device + "-repo"
        env["MODVAULT_PASSWORD_FILE"] = h.passwordFile
        env["MODVAULT_TEST_SCRYPT_N"] = "1024"
        env["XDG_CONFIG_HOME"] = h.root + "/" + device + "-config"
        env.removeValue(forKey: "MODVAULT_PASSWORD")
        return env
    }

    @discardableResult
    func run(_ device: String, _ args: [String]) throws -> CLIHarness.Result {
        try CLIHarness.run([CLIHarness.binary] + args, environment: environment(device))
    }

    /// Starts `modvault ARGS` for `device` in the background, output to files.
    func start(_ device: String, _ args: [String]) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: CLIHarness.binary)
        p.arguments = args
        p.environment = environment(device)
        let out = h.root + "/\(device)-bg-\(UUID().uuidString)"
        FileManager.default.createFile(atPath: out, contents: nil)
        p.standardOutput = FileHandle(forWritingAtPath: out)
        p.standardError = FileHandle(forWritingAtPath: out) ?? FileHandle.nullDevice
        try p.run()
        return p
    }

    func write(_ device: String, _ relative: String, _ data: Data) throws {
        let path = folder(device) + "/" + relative
        try FileManager.default.createDirectory(atPath: FileSystem.parentPath(path), withIntermediateDirectories: true)
        try data.write(to: URL(fileURLWithPath: path))
    }

    func read(_ device: String, _ relative: String) -> String? {
        (try? Data(contentsOf: URL(fileURLWithPath: folder(device) + "/" + relative))).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Files (not sync's own) and their content hashes.
    func files(_ device: String) throws -> [String: UInt64] {
        var out: [String: UInt64] = [:]
        for rel in try FileManager.default.subpathsOfDirectory(atPath: folder(device)) where !rel.hasPrefix(".modvault") {
            let path = folder(device) + "/" + rel
            if !FileSystem.isDirectory(path) { out[rel] = fnv1a(try Data(contentsOf: URL(fileURLWithPath: path))) }
        }
        return out
    }

    /// A: a new repository with `files`, synced to the remote; B: a clone, synced into an empty folder.
    func setUp(_ files: [String: String]) throws {
        try FileManager.default.createDirectory(atPath: folder("a"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: folder("b"), withIntermediateDirectories: true)
        #expect(try run("a", LifecycleTests.initArgs).status == 0)
        for (path, text) in files { try write("a", path, Data(text.utf8)) }
        let first = try run("a", ["sync", folder("a"), "--remote", remote, "--json"])
        #expect(first.status == 0, "\(first.stderr)")
        #expect(try run("b", ["clone", remote]).status == 0)
        let joined = try run("b", ["sync", folder("b"), "--remote", remote])
        #expect(joined.status == 0, "\(joined.stderr)")
    }
}

@Suite("sync on the command line")
struct SyncCLITests {
    @Test func jsonStatusConflictsResolveAndLog() throws {
        let d = try CLIDevices()
        try d.setUp(["Data/Foo.esp": "base plugin", "Data/readme.txt": "hello"])
        #expect(d.read("b", "Data/Foo.esp") == "base plugin")

        try d.write("b", "Data/Foo.esp", Data("B's edit of the plugin".utf8))
        let pushedB = try d.run("b", ["sync", d.folder("b"), "--json"])
        let jb = try pushedB.lastJSON()
        for key in ["head", "remote_head", "seq", "pushed", "pulled", "merged", "files_written", "bytes_uploaded", "bytes_downloaded", "conflicts"] {
            #expect(jb[key] != nil, "sync --json lacks \(key)")
        }
        #expect(jb["pushed"] as? Bool == true && jb["seq"] as? Int == 2)

        try d.write("a", "Data/Foo.esp", Data("A's edit".utf8))
        let clash = try d.run("a", ["sync", d.folder("a"), "--json"])
        #expect(clash.status == 5, "conflicts waiting for resolve exit with 5: \(clash.stderr)")
        let conflicts = try #require(try clash.lastJSON()["conflicts"] as? [[String: Any]])
        #expect(conflicts.count == 1)
        #expect(conflicts.first?["path"] as? String == "Data/Foo.esp" && conflicts.first?["kind"] as? String == "modify/modify"
                && conflicts.first?["resolution"] as? String == "manual")
        #expect(d.read("a", "Data/Foo.esp") == "A's edit")

        let status = try d.run("a", ["status", d.folder("a"), "--json"])
        let js = try status.lastJSON()
        for key in ["head", "remote_head", "ahead", "behind", "local_changes", "conflicts", "last_sync"] { #expect(js[key] != nil, "status --json lacks \(key)") }
        #expect((js["conflicts"] as? [Any])?.count == 1)
        #expect(js["behind"] as? Int == 1)
        let listed = try d.run("a", ["conflicts", d.folder("a"), "--json"])
        #expect(listed.stdout.contains("Data/Foo.esp"))

        let bad = try d.run("a", ["resolve", d.folder("a"), "Data/readme.txt", "--take", "theirs"])
        #expect(bad.status != 0 && bad.stderr.contains("no pending conflict"))
        #expect(try d.run("a", ["resolve", d.folder("a"), "Data/Foo.esp", "--take", "theirs"]).status == 0)
        #expect(d.read("a", "Data/Foo.esp") == "B's edit of the plugin")
        let done = try d.run("a", ["sync", d.folder("a"), "--json"])
        #expect(done.status == 0, "\(done.stderr)")
        #expect(try d.run("b", ["sync", d.folder("b")]).status == 0)
        #expect(try d.files("a") == d.files("b"))

        let log = try d.run("a", ["log", d.remote, "--json"])
        let entries = try #require(try JSONSerialization.jsonObject(with: Data(log.stdout.utf8)) as? [[String: Any]])
        #expect(entries.map { $0["seq"] as? Int ?? 0 } == Array(1...entries.count))
        for e in entries {
            for key in ["seq", "snapshot", "parents", "author", "device", "time", "summary"] { #expect(e[key] != nil, "log --json lacks \(key)") }
        }
        #expect(Set(entries.compactMap { $0["device"] as? String }).count == 2, "each device has its own ID")
        #expect((entries.first?["summary"] as? [String: Any])?["added"] as? Int == 2)
    }

    @Test func rulesFileAndStrategyFlag() throws {
        let d = try CLIDevices()
        try d.setUp(["Meshes/a.nif": "base", "Data/Foo.esp": "base"])
        try "# artists own the meshes\nMeshes/** theirs\n".write(toFile: d.folder("a") + "/.modvault/sync-rules", atomically: true, encoding: .utf8)
        try d.write("b", "Meshes/a.nif", Data("mesh from B".utf8))
        try d.write("b", "Data/Foo.esp", Data("plugin from B".utf8))
        #expect(try d.run("b", ["sync", d.folder("b")]).status == 0)
        try d.write("a", "Meshes/a.nif", Data("mesh from A".utf8))
        try d.write("a", "Data/Foo.esp", Data("plugin from A".utf8))
        let r = try d.run("a", ["sync", d.folder("a"), "--strategy", "ours", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        // --strategy decides the whole run, rules included.
        #expect(d.read("a", "Meshes/a.nif") == "mesh from A" && d.read("a", "Data/Foo.esp") == "plugin from A")
        let usage = try d.run("a", ["sync", d.folder("a"), "--strategy", "sometimes"])
        #expect(usage.status == 2)
    }

    /// `watch --json` prints each push as it lands, once, and ends cleanly on SIGTERM.
    @Test func watchPrintsPushesAsTheyLand() throws {
        let d = try CLIDevices()
        try d.setUp(["a.txt": "a"])
        let out = d.h.root + "/watch.out"
        FileManager.default.createFile(atPath: out, contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: CLIHarness.binary)
        p.arguments = ["watch", d.remote, "--json", "--interval", "0.3"]
        p.environment = d.environment("a")
        p.standardOutput = FileHandle(forWritingAtPath: out)
        p.standardError = FileHandle.nullDevice
        try p.run()
        defer { if p.isRunning { kill(p.processIdentifier, SIGKILL) } }
        Thread.sleep(forTimeInterval: 1)
        for i in 0..<2 {
            try d.write("b", "b\(i).txt", Data("from B \(i)".utf8))
            #expect(try d.run("b", ["sync", d.folder("b")]).status == 0)
        }
        func lines() -> [[String: Any]] {
            let text = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
            return text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        }
        let started = Date()
        while lines().count < 2, Date().timeIntervalSince(started) < 10 { Thread.sleep(forTimeInterval: 0.1) }
        kill(p.processIdentifier, SIGTERM)
        p.waitUntilExit()
        let events = lines()
        #expect(events.map { $0["seq"] as? Int ?? 0 } == [2, 3], "each new push once, in order")
        #expect(events.allSatisfy { $0["type"] as? String == "push" && $0["author"] != nil && $0["summary"] != nil })
        #expect(p.terminationReason == .exit && p.terminationStatus == 0)
    }

    /// Both devices follow their folders; a file saved on one appears on the other within 10 s.
    @Test func watchBringsASavedFileAcross() throws {
        let d = try CLIDevices()
        try d.setUp(["start.txt": "start"])
        let a = try d.start("a", ["sync", d.folder("a"), "--watch", "--interval", "1", "--settle", "0.3"])
        let b = try d.start("b", ["sync", d.folder("b"), "--watch", "--interval", "1", "--settle", "0.3"])
        defer {
            if a.isRunning { kill(a.processIdentifier, SIGKILL) }
            if b.isRunning { kill(b.processIdentifier, SIGKILL) }
        }
        Thread.sleep(forTimeInterval: 1.5)
        for (from, to, name) in [("a", "b", "from-a.txt"), ("b", "a", "from-b.txt")] {
            let saved = Date()
            try d.write(from, "Sub/" + name, Data("saved on \(from)".utf8))
            while d.read(to, "Sub/" + name) == nil, Date().timeIntervalSince(saved) < 15 { Thread.sleep(forTimeInterval: 0.1) }
            let seconds = Date().timeIntervalSince(saved)
            #expect(d.read(to, "Sub/" + name) == "saved on \(from)")
            #expect(seconds <= 10, "took \(seconds) s")
        }
        // SIGTERM ends each watch cleanly.
        kill(a.processIdentifier, SIGTERM)
        kill(b.processIdentifier, SIGTERM)
        a.waitUntilExit()
        b.waitUntilExit()
        #expect(a.terminationReason == .exit && a.terminationStatus == 0)
        #expect(b.terminationReason == .exit && b.terminationStatus == 0)
    }

    /// Sync killed at random points on both devices: no torn file in either folder, the repository
    /// checks, the next sync completes, and every version either folder held is in some snapshot.
    @Test func killAtRandomPointsOfSyncLosesNothing() throws {
        let d = try CLIDevices()
        try d.setUp(["seed.txt": "seed"])
        let seed = UInt64(ProcessInfo.processInfo.environment["MODVAULT_KILL_SEED"] ?? "") ?? 20261205
        let trials = Int(ProcessInfo.processInfo.environment["MODVAULT_SYNC_KILL_TRIALS"] ?? "") ?? 50
        var rng = SplitMix64(seed: seed)
        var written = Set<UInt64>([fnv1a(Data("seed".utf8))])
        var versions: [String: Set<UInt64>] = ["seed.txt": [fnv1a(Data("seed".utf8))]]
        var duration = 0.5
        var killed = 0
        var failures: [String] = []
        for trial in 0..<trials {
            let device = trial % 2 == 0 ? "a" : "b"
            // Each device edits its own files, some large enough that writing them takes a while.
            for _ in 0..<(1 + rng.below(3)) {
                let name = "\(device)\(rng.below(4)).bin"
                var bytes = [UInt8](repeating: 0, count: 1000 + rng.below(600_000))
                for i in stride(from: 0, to: bytes.count, by: 8) { bytes[i] = UInt8(truncatingIfNeeded: rng.next()) }
                let data = Data(bytes)
                try d.write(device, name, data)
                written.insert(fnv1a(data))
            }
            for (path, hash) in try d.files(device) { versions[path, default: []].insert(hash) }
            let p = try d.start(device, ["sync", d.folder(device)])
            let started = Date()
            let delay = Double(rng.below(1000)) / 1000 * duration * 1.2
            while p.isRunning && Date().timeIntervalSince(started) < delay { usleep(2_000) }
            if p.isRunning {
                kill(p.processIdentifier, SIGKILL)
                killed += 1
            } else {
                duration = max(0.2, Date().timeIntervalSince(started))
            }
            p.waitUntilExit()
            for dev in ["a", "b"] {
                for (path, hash) in try d.files(dev) where !written.contains(hash) {
                    failures.append("trial \(trial): \(dev)/\(path) holds content no one wrote (torn)")
                }
            }
            let check = try d.run(device, ["check"])
            if check.status != 0 { failures.append("trial \(trial): check failed: \(check.stderr)") }
            let next = try d.run(device, ["sync", d.folder(device)])
            if next.status != 0 { failures.append("trial \(trial): the next sync failed (\(next.status)): \(next.stderr)") }
        }
        for _ in 0..<2 { for dev in ["a", "b"] { try d.run(dev, ["sync", d.folder(dev)]) } }
        #expect(try d.files("a") == d.files("b"))
        for dev in ["a", "b"] {
            let r = try d.run(dev, ["check", "--read-data"])
            #expect(r.status == 0, "\(dev): \(r.stderr)")
        }
        // Every version of every file is in some snapshot of one of the two repositories.
        var stored: [String: Set<UInt64>] = [:]
        for dev in ["a", "b"] {
            let repo = try Repository.open(at: d.h.root + "/" + dev + "-repo", password: Array("correct horse".utf8))
            var seen: [FileContent: UInt64] = [:]
            for record in try repo.snapshots() {
                try TreeWalker(repository: repo).walk(record.snapshot.tree) { entry in
                    guard entry.node.type == .regular else { return true }
                    if seen[entry.node.content] == nil {
                        let reader = try SnapshotFileReader(repository: repo, node: entry.node)
                        seen[entry.node.content] = fnv1a(Data(try reader.read(offset: 0, count: Int(reader.size))))
                    }
                    stored[entry.path, default: []].insert(seen[entry.node.content]!)
                    return true
                }
            }
        }
        for (path, hashes) in versions {
            let missing = hashes.subtracting(stored[path] ?? [])
            if !missing.isEmpty { failures.append("\(path): \(missing.count) versions are in no snapshot") }
        }
        print("sync kill test: \(trials) trials (seed \(seed)), \(killed) killed mid-sync, \(failures.count) failures")
        #expect(killed >= trials / 4, "too few kills landed mid-sync to mean anything")
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
    }

    /// A plugin record conflict settled on the command line: `conflicts` names the record and how to
    /// settle it, `resolve --record` refuses a FormID that is not in conflict, and the next sync writes
    /// the merge on one device and brings it to the other.
    @Test func resolveRecordByRecord() throws {
        let d = try CLIDevices()
        let plugin = globPlugin
        try FileManager.default.createDirectory(atPath: d.folder("a") + "/Data", withIntermediateDirectories: true)
        try plugin([0x800: 1, 0x801: 2]).write(to: URL(fileURLWithPath: d.folder("a") + "/Data/Team.esp"))
        try d.setUp([:])
        try d.write("b", "Data/Team.esp", plugin([0x800: 12, 0x801: 22]))
        #expect(try d.run("b", ["sync", d.folder("b")]).status == 0)
        try d.write("a", "Data/Team.esp", plugin([0x800: 11, 0x801: 2]))
        #expect(try d.run("a", ["sync", d.folder("a")]).status == 5)

        let listed = try d.run("a", ["conflicts", d.folder("a")])
        #expect(listed.stdout.contains("Team.esp:000800") && listed.stdout.contains("--record Team.esp:000800=ours|theirs"), "\(listed.stdout)")
        let wrong = try d.run("a", ["resolve", d.folder("a"), "Data/Team.esp", "--record", "Team.esp:000801=theirs"])
        #expect(wrong.status != 0 && wrong.stderr.contains("Team.esp:000800"), "\(wrong.stderr)")
        let malformed = try d.run("a", ["resolve", d.folder("a"), "Data/Team.esp", "--record", "Team.esp:000800"])
        #expect(malformed.status == 2)
        let resolved = try d.run("a", ["resolve", d.folder("a"), "Data/Team.esp", "--record", "Team.esp:000800=theirs"])
        #expect(resolved.status == 0, "\(resolved.stderr)")
        let done = try d.run("a", ["sync", d.folder("a"), "--json"])
        #expect(done.status == 0, "\(done.stderr)")
        #expect(try d.run("b", ["sync", d.folder("b")]).status == 0)
        #expect(try d.files("a") == d.files("b"))
        let merged = try Data(contentsOf: URL(fileURLWithPath: d.folder("a") + "/Data/Team.esp"))
        let values = try ModVaultFormats.PluginFile.parse(MemoryRangeReader([UInt8](merged))).records.filter { $0.signature == "GLOB" }.map { r -> UInt32 in
            let end = Int(r.offset) + 24 + Int(r.dataSize)
            return merged[(end - 4)..<end].reversed().reduce(0) { $0 << 8 | UInt32($1) }
        }
        #expect(values == [12, 22], "theirs for the clashing record, theirs' one-sided edit kept")
    }

    @Test func mergePluginWritesOnlyAMergeAndReportsConflicts() throws {
        let h = try CLIHarness()
        let plugin = globPlugin
        let files = ["base": [0x800: 1, 0x801: 2], "ours": [0x800: 5, 0x801: 2], "theirs": [0x800: 1, 0x801: 7, 0x802: 9],
                     "clash": [0x800: 6, 0x801: 2]] as [String: [UInt32: UInt32]]
        for (name, values) in files { try plugin(values).write(to: URL(fileURLWithPath: "\(h.root)/\(name).esp")) }
        let ok = try h.modvault(["merge-plugin", "\(h.root)/base.esp", "\(h.root)/ours.esp", "\(h.root)/theirs.esp", "-o", "\(h.root)/out.esp", "--json"])
        #expect(ok.status == 0, "\(ok.stderr)")
        let j = try ok.lastJSON()
        for key in ["merged", "taken_ours", "taken_theirs", "same_both", "added", "removed", "conflicts"] { #expect(j[key] != nil, "lacks \(key)") }
        #expect(j["merged"] as? Bool == true && j["taken_ours"] as? Int == 1 && j["taken_theirs"] as? Int == 1 && j["added"] as? Int == 1)
        #expect(FileManager.default.fileExists(atPath: h.root + "/out.esp"))

        let clash = try h.modvault(["merge-plugin", "\(h.root)/base.esp", "\(h.root)/clash.esp", "\(h.root)/ours.esp", "-o", "\(h.root)/none.esp", "--json"])
        #expect(clash.status == 5)
        let conflicts = try #require(try clash.lastJSON()["conflicts"] as? [[String: Any]])
        #expect(conflicts.first?["form_id"] as? String == "clash.esp:000800" && conflicts.first?["kind"] as? String == "both_changed"
                && conflicts.first?["editor_id"] as? String == "gValue2048")
        #expect(!FileManager.default.fileExists(atPath: h.root + "/none.esp"))
        let partial = try h.modvault(["merge-plugin", "\(h.root)/base.esp", "\(h.root)/clash.esp", "\(h.root)/ours.esp", "-o", "\(h.root)/p.esp", "--partial"])
        #expect(partial.status == 5 && FileManager.default.fileExists(atPath: h.root + "/p.esp"))

        try Data("not a plugin".utf8).write(to: URL(fileURLWithPath: h.root + "/bad.esp"))
        let bad = try h.modvault(["merge-plugin", "\(h.root)/base.esp", "\(h.root)/ours.esp", "\(h.root)/bad.esp", "-o", "\(h.root)/x.esp"])
        #expect(bad.status == 1 && bad.stderr.contains("bad.esp"))
    }
}

/// A plugin of one GLOB per (object ID, value), each value as its FLTV.
func globPlugin(_ values: [UInt32: UInt32]) -> Data {
    let records = values.sorted { $0.key < $1.key }.map { object, value in
        PluginRecord("GLOB", formID: 0x0100_0000 | object, fields: [
            PluginField("EDID", Array("gValue\(object)\0".utf8)), PluginField("FLTV", withUnsafeBytes(of: value.littleEndian) { Array($0) }),
        ])
    }
    return Data(PluginWriter.bytes(header: PluginHeader(nextObjectID: 0x900), groups: [PluginGroup("GLOB", records: records)]))
}
