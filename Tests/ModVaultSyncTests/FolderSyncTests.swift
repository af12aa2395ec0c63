import Foundation
import Testing
import ModVaultCore
import ModVaultStore
import ModVaultArchive
import ModVaultRemoteDisk
import ModVaultRemoteSupport
import ModVaultFormats
import ModVaultFixtures
@testable import ModVaultSync

/// One machine syncing one folder: its own repository (a clone of the shared one) and folder.
final class SyncDevice: @unchecked Sendable {
    // Test-only: each device is used by one task at a time.
    let name: String
    let repository: Repository
    let folder: String
    let remote: any Remote

    init(name: String, repository: Repository, folder: String, remote: any Remote) throws {
        self.name = name
        self.repository = repository
        self.folder = folder
        self.remote = remote
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    }

    var state: FolderSyncState {
        get throws {
            try FolderSyncState.load(folder) ?? FolderSyncState(repository: repository.config.id, remote: "shared", remoteLocation: remote.location)
        }
    }

    @discardableResult
    func sync(_ configure: (inout FolderSyncOptions) -> Void = { _ in }) async throws -> FolderSyncReport {
        var options = FolderSyncOptions()
        configure(&options)
        return try await FolderSync(repository: repository, remote: remote, folder: folder).run(state: try state, options: options)
    }

    func write(_ relative: String, _ text: String) throws {
        let path = folder + "/" + relative
        try FileManager.default.createDirectory(atPath: FileSystem.parentPath(path), withIntermediateDirectories: true)
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
    }

    func write(_ relative: String, bytes: [UInt8]) throws {
        let path = folder + "/" + relative
        try FileManager.default.createDirectory(atPath: FileSystem.parentPath(path), withIntermediateDirectories: true)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    func bytes(_ relative: String) -> [UInt8]? { (try? Data(contentsOf: URL(fileURLWithPath: folder + "/" + relative))).map { Array($0) } }

    func read(_ relative: String) -> String? {
        (try? Data(contentsOf: URL(fileURLWithPath: folder + "/" + relative))).map { String(decoding: $0, as: UTF8.self) }
    }

    func remove(_ relative: String) throws { try FileManager.default.removeItem(atPath: folder + "/" + relative) }

    /// Every file below the folder except sync's own, with its content.
    func contents() throws -> [String: String] {
        var out: [String: String] = [:]
        for rel in try FileManager.default.subpathsOfDirectory(atPath: folder) where !rel.hasPrefix(".modvault") {
            if !FileSystem.isDirectory(folder + "/" + rel) { out[rel] = read(rel) }
        }
        return out
    }
}

/// A shared disk remote and any number of devices on it.
final class SyncTeam {
    let world: SyncWorld
    let remote: any Remote
    var devices: [SyncDevice] = []

    init(remote: (any Remote)? = nil) throws {
        world = try SyncWorld()
        self.remote = try remote ?? world.remote()
    }

    /// The first device: a new repository, with `files` in its folder, synced once.
    func first(_ files: [String: String] = [:]) async throws -> SyncDevice {
        let repo = try Repository.initialize(at: world.root + "/repo-a", password: world.password, options: world.options)
        let device = try SyncDevice(name: "a", repository: repo, folder: world.root + "/a", remote: remote)
        for (path, text) in files { try device.write(path, text) }
        try await device.sync()
        devices.append(device)
        return device
    }

    /// Another device: a clone of the remote, its empty folder synced once.
    func join(_ name: String) async throws -> SyncDevice {
        let (repo, _) = try await Syncer.clone(from: remote, to: world.root + "/repo-" + name, password: world.password)
        let device = try SyncDevice(name: name, repository: repo, folder: world.root + "/" + name, remote: remote)
        try await device.sync()
        devices.append(device)
        return device
    }
}

@Suite("folder sync over a disk remote")
struct FolderSyncTests {
    @Test func aJoiningDeviceGetsTheFolderWithoutAMergePush() async throws {
        let team = try SyncTeam()
        let a = try await team.first(["Foo/Foo.esp": "plugin", "Foo/textures/a.dds": "texture"])
        let b = try await team.join("b")
        #expect(try b.contents() == a.contents())
        let log = try await PushLog(remote: team.remote, repository: a.repository).read(after: 0)
        #expect(log.entries.map(\.seq) == [1])
        // Nothing to do: no snapshot, no push, no writes.
        let again = try await b.sync()
        #expect(!again.snapshotted && !again.pushed && !again.pulled)
    }

    @Test func twoDevicesSyncingAtOnceMergeWithoutLosingEither() async throws {
        let team = try SyncTeam()
        let a = try await team.first(["shared.txt": "base\n", "Foo/a.txt": "a0"])
        let b = try await team.join("b")
        try a.write("Foo/a.txt", "a1 edited on A")
        try a.write("Foo/new-on-a.txt", "from A")
        try b.write("shared.txt", "base\nedited on B\n")
        try b.remove("Foo/a.txt")
        try b.write("Foo/a.txt", "a0")  // rewritten unchanged: no change
        try b.write("Bar/new-on-b.txt", "from B")
        async let ra = a.sync()
        async let rb = b.sync()
        let (x, y) = try await (ra, rb)
        #expect(x.pushed && y.pushed)
        #expect(x.merged != y.merged, "exactly one of the two merged")
        try await a.sync()
        try await b.sync()
        #expect(try a.contents() == b.contents())
        #expect(a.read("Foo/a.txt") == "a1 edited on A")
        #expect(a.read("shared.txt") == "base\nedited on B\n")
        #expect(a.read("Bar/new-on-b.txt") == "from B" && b.read("Foo/new-on-a.txt") == "from A")

        let log = try await PushLog(remote: team.remote, repository: a.repository).read(after: 0)
        #expect(log.entries.map(\.seq) == Array(1...UInt64(log.entries.count)))
        let merges = log.entries.filter { $0.parents.count == 2 }
        #expect(merges.count == 1)
        for device in [a, b] {
            #expect(try Checker(repository: device.repository).check(readData: true).isHealthy)
        }
    }

    @Test(arguments: [ConflictStrategy.ours, .theirs, .newest, .keepBoth])
    func eachStrategySettlesABothModifiedConflict(strategy: ConflictStrategy) async throws {
        let team = try SyncTeam()
        let a = try await team.first(["Mod/readme.txt": "base"])
        let b = try await team.join("b")
        try b.write("Mod/readme.txt", "theirs: edited on B first")
        try await b.sync()
        try a.write("Mod/readme.txt", "ours: edited on A later")
        let report = try await a.sync { $0.strategy = strategy }
        let conflict = try #require(report.conflicts.first)
        #expect(conflict.path == "Mod/readme.txt" && conflict.kind == .bothModified)
        let text = a.read("Mod/readme.txt")
        switch strategy {
        case .ours: #expect(text == "ours: edited on A later")
        case .theirs: #expect(text == "theirs: edited on B first")
        // A's snapshot of its edit is the later one.
        case .newest: #expect(text == "ours: edited on A later")
        case .keepBoth:
            #expect(text == "ours: edited on A later")
            let copy = try #require(conflict.copy)
            #expect(a.read(copy) == "theirs: edited on B first")
        case .manual: break
        }
        #expect(!report.unresolved)
        try await b.sync()
        #expect(try a.contents() == b.contents())
    }

    @Test func manualLeavesThePathAndResolveFinishesTheMerge() async throws {
        let team = try SyncTeam()
        let a = try await team.first(["Data/Foo.esp": "base plugin", "Data/other.txt": "x"])
        let b = try await team.join("b")
        try b.write("Data/Foo.esp", "B's plugin edit")
        try b.write("Data/other.txt", "x changed on B")
        try await b.sync()
        try a.write("Data/Foo.esp", "A's plugin edit!")
        // Plugins default to manual: A keeps its version, takes B's other change, pushes nothing.
        let report = try await a.sync()
        #expect(report.unresolved && !report.pushed)
        #expect(report.conflicts.map(\.path) == ["Data/Foo.esp"])
        #expect(a.read("Data/Foo.esp") == "A's plugin edit!")
        #expect(a.read("Data/other.txt") == "x changed on B")
        #expect(try a.state.conflicts.map(\.path) == ["Data/Foo.esp"])
        // Still unresolved on the next run.
        #expect(try await a.sync().unresolved)

        let sync = FolderSync(repository: a.repository, remote: team.remote, folder: a.folder)
        _ = try sync.resolve("Data/Foo.esp", take: .both, state: try a.state)
        let copies = try a.contents().keys.filter { SyncRules.isConflictCopy($0) }
        #expect(copies.count == 1)
        #expect(copies.allSatisfy { !SyncRules.isLoadable($0) })
        let done = try await a.sync()
        #expect(done.pushed && done.merged && !done.unresolved)
        try await b.sync()
        #expect(b.read("Data/Foo.esp") == "A's plugin edit!")
        #expect(try a.contents() == b.contents())
    }

    @Test func resolveTheirsTakesTheRemoteVersion() async throws {
        let team = try SyncTeam()
        let a = try await team.first(["Foo.esm": "base"])
        let b = try await team.join("b")
        try b.write("Foo.esm", "from B, longer")
        try await b.sync()
        try a.write("Foo.esm", "from A")
        #expect(try await a.sync().unresolved)
        let sync = FolderSync(repository: a.repository, remote: team.remote, folder: a.folder)
        _ = try sync.resolve("Foo.esm", take: .theirs, state: try a.state)
        #expect(a.read("Foo.esm") == "from B, longer")
        let done = try await a.sync()
        #expect(!done.unresolved)
        try await b.sync()
        #expect(try a.contents() == b.contents())
        // A's own version is still in history.
        let all = try a.repository.snapshots()
        var found = false
        for record in all {
            if let node = try? TreeWalker(repository: a.repository).find("Foo.esm", in: record.snapshot.tree), node.size == 6 { found = true }
        }
        #expect(found)
    }

    @Test func modifyDeleteKeepsTheModificationAndAddAddConflicts() async throws {
        let team = try SyncTeam()
        let a = try await team.first(["keep.txt": "base", "gone.txt": "base"])
        let b = try await team.join("b")
        try b.remove("keep.txt")
        try b.write("gone.txt", "modified on B")
        try b.write("both.txt", "added on B")
        try await b.sync()
        try a.write("keep.txt", "modified on A")
        try a.remove("gone.txt")
        try a.write("both.txt", "added on A, differently")
        let report = try await a.sync()
        let kinds = Dictionary(uniqueKeysWithValues: report.conflicts.map { ($0.path, ($0.kind, $0.resolution)) })
        #expect(kinds["keep.txt"]?.0 == .modifiedDeleted && kinds["keep.txt"]?.1 == "kept-modification")
        #expect(kinds["gone.txt"]?.0 == .deletedModified && kinds["gone.txt"]?.1 == "kept-modification")
        #expect(kinds["both.txt"]?.0 == .bothAdded && kinds["both.txt"]?.1 == "keep-both")
        #expect(a.read("keep.txt") == "modified on A" && a.read("gone.txt") == "modified on B")
    }

    @Test func loadOrderFilesMergeByLines() async throws {
        let team = try SyncTeam()
        let base = "# comment\n*Fallout4.esm\n*DLCRobot.esm\n*Mod1.esp\n*Mod2.esp\n"
        let a = try await team.first(["profiles/Default/plugins.txt": base])
        let b = try await team.join("b")
        try b.write("profiles/Default/plugins.txt", base.replacingOccurrences(of: "*Mod2.esp\n", with: "*Mod2.esp\n*NewFromB.esp\n"))
        try await b.sync()
        try a.write("profiles/Default/plugins.txt", base.replacingOccurrences(of: "*Mod1.esp", with: "Mod1.esp"))
        let report = try await a.sync()
        #expect(report.conflicts.first?.resolution == "lines-merged")
        #expect(a.read("profiles/Default/plugins.txt") == "# comment\n*Fallout4.esm\n*DLCRobot.esm\nMod1.esp\n*Mod2.esp\n*NewFromB.esp\n")
        // Both sides changing the same line is a conflict, left for resolve (manual is the default).
        try await b.sync()
        try b.write("profiles/Default/plugins.txt", "# comment\n*Fallout4.esm\n*DLCRobot.esm\n-Mod1.esp\n*Mod2.esp\n*NewFromB.esp\n")
        try await b.sync()
        try a.write("profiles/Default/plugins.txt", "# comment\n*Fallout4.esm\n*DLCRobot.esm\n+Mod1.esp\n*Mod2.esp\n*NewFromB.esp\n")
        let clash = try await a.sync()
        #expect(clash.unresolved)
    }

    @Test func aRenameTakesTheOtherSidesModificationAlong() async throws {
        let team = try SyncTeam()
        let a = try await team.first(["Old/mesh.nif": "mesh base content"])
        let b = try await team.join("b")
        try FileManager.default.createDirectory(atPath: b.folder + "/New", withIntermediateDirectories: true)
        try FileManager.default.moveItem(atPath: b.folder + "/Old/mesh.nif", toPath: b.folder + "/New/mesh.nif")
        try await b.sync()
        try a.write("Old/mesh.nif", "mesh edited on A")
        let report = try await a.sync()
        #expect(report.conflicts.isEmpty)
        #expect(a.read("New/mesh.nif") == "mesh edited on A")
        #expect(a.read("Old/mesh.nif") == nil)
    }

    @Test func aMassDeleteStopsUntilAllowed() async throws {
        let team = try SyncTeam()
        var files: [String: String] = [:]
        for i in 0..<10 { files["f\(i).txt"] = "file \(i)" }
        let a = try await team.first(files)
        let b = try await team.join("b")
        for i in 0..<8 { try a.remove("f\(i).txt") }
        try await a.sync()
        await #expect(throws: SyncFolderError.self) { try await b.sync() }
        #expect(try b.contents().count == 10)
        try await b.sync { $0.allowMassDelete = true }
        #expect(try b.contents().count == 2)
    }

    @Test func aFileChangedWhileSyncRunsIsNotOverwritten() async throws {
        let team = try SyncTeam()
        let a = try await team.first(["x.txt": "base", "y.txt": "base"])
        let b = try await team.join("b")
        try a.write("x.txt", "from A")
        try a.write("y.txt", "from A too")
        try await a.sync()
        // Plan B's update as sync does, then edit x.txt on B before it is applied.
        let scanned = try await Archiver(repository: b.repository).snapshot(source: b.folder, options: {
            var o = SnapshotOptions()
            o.excludedRootNames = [FolderSyncState.folderName]
            o.skipSaving = { _ in true }
            o.recordStatuses = true
            o.parent = try b.state.head?.hex
            return o
        }())
        _ = try await Syncer(local: b.repository, remote: team.remote).pull()
        let head = try #require(try await PushLog(remote: team.remote, repository: b.repository).read(after: 0).entries.last)
        let changes = try FolderChanges.plan(from: scanned.tree, statuses: scanned.statuses, to: try b.repository.loadSnapshot(head.snapshot).tree, repository: b.repository)
        try b.write("x.txt", "edited on B during the sync")
        let applied = try FolderChanges.apply(changes, folder: b.folder, repository: b.repository)
        #expect(applied.skipped == ["x.txt"])
        #expect(b.read("x.txt") == "edited on B during the sync")
        #expect(b.read("y.txt") == "from A too")
    }

    @Test func plantedLogEntriesAreRefusedAndSkipped() async throws {
        let team = try SyncTeam()
        let a = try await team.first(["a.txt": "a"])
        try await team.remote.save(PushLog.name(2), data: Array("not sealed".utf8), ifAbsent: true)
        try a.write("a.txt", "a, edited")
        let report = try await a.sync()
        #expect(report.pushed && report.seq == 3)
        #expect(report.warnings.contains { $0.contains("pushes/00000000000000000002") })
        let log = try await PushLog(remote: team.remote, repository: a.repository).read(after: 0)
        #expect(log.entries.map(\.seq) == [1, 3] && log.refused.count == 1)
    }

    /// A log entry naming a snapshot the remote lacks is passed over, not trusted and not fatal.
    @Test func aLogEntryWhoseSnapshotIsMissingIsSkipped() async throws {
        let team = try SyncTeam()
        let a = try await team.first(["a.txt": "a"])
        let b = try await team.join("b")
        try a.write("a.txt", "a2")
        try await a.sync()
        // A key holder's broken client logs #3 for a snapshot it never uploaded.
        let log = PushLog(remote: team.remote, repository: a.repository)
        let ghost = ObjectID(hex: String(repeating: "ab", count: 32))!
        #expect(try await log.append(PushEntry(seq: 3, snapshot: ghost, parents: [], author: "x@y", device: "broken", time: Date(),
                                               summary: PushSummary())))
        let report = try await b.sync()
        #expect(report.warnings.contains { $0.contains("pushes/00000000000000000003") })
        #expect(b.read("a.txt") == "a2")
        try b.write("b.txt", "b")
        let pushed = try await b.sync()
        #expect(pushed.pushed && pushed.seq == 4)
        try await a.sync()
        #expect(a.read("b.txt") == "b")
    }

    @Test(arguments: [UInt64(1), 2])
    func syncCompletesThroughTenPercentFaults(seed: UInt64) async throws {
        let w = try SyncWorld()
        let disk = try w.remote()
        let policy = RetryPolicy(maxAttempts: 12, initialDelay: .milliseconds(1), maxDelay: .milliseconds(20), maxTotalTime: .seconds(60))
        let flaky = RetryingRemote(FaultInjectingRemote(disk, failureRate: 0.1, seed: seed, timeoutDelay: .milliseconds(2)), policy: policy, seed: seed)
        let team = try SyncTeam(remote: flaky)
        let a = try await team.first(["one.txt": "1"])
        let b = try await team.join("b")
        for round in 0..<4 {
            try a.write("a\(round).txt", "round \(round) on A")
            try b.write("b\(round).txt", "round \(round) on B")
            async let x = a.sync()
            async let y = b.sync()
            _ = try await (x, y)
        }
        try await a.sync()
        try await b.sync()
        #expect(try a.contents() == b.contents())
        #expect(try a.contents().count == 9)
        #expect(try Checker(repository: b.repository).check(readData: true).isHealthy)
    }

    /// newest with equal snapshot times: the larger device ID wins, whichever device merges.
    @Test func newestBreaksATieByDeviceID() async throws {
        let team = try SyncTeam()
        let a = try await team.first(["x.txt": "base"])
        let b = try await team.join("b")
        try a.write("x.txt", "from the device aaaa")
        try b.write("x.txt", "from the device ffff, longer")
        let sa = try await Archiver(repository: a.repository).snapshot(source: a.folder).record
        let sb = try await Archiver(repository: b.repository).snapshot(source: b.folder).record
        _ = try await Syncer(local: b.repository, remote: team.remote).push()
        _ = try await Syncer(local: a.repository, remote: team.remote).pull()
        let base = try #require(try a.state.head)
        let time = Date(timeIntervalSince1970: 1_900_000_000)
        for (oursIsA, expected) in [(true, sb.snapshot.tree), (false, sb.snapshot.tree)] {
            let writer = BlobWriter(repository: a.repository)
            let merger = TreeMerger(repository: a.repository, writer: writer, rules: SyncRules(override: .newest))
            let sideA = MergeSide(id: sa.id, time: time, device: "aaaa"), sideB = MergeSide(id: sb.id, time: time, device: "ffff")
            let outcome = try merger.merge(base: try a.repository.loadSnapshot(base).tree,
                                           ours: oursIsA ? sideA : sideB, oursTree: oursIsA ? sa.snapshot.tree : sb.snapshot.tree,
                                           theirs: oursIsA ? sideB : sideA, theirsTree: oursIsA ? sb.snapshot.tree : sa.snapshot.tree)
            try writer.flush()
            let merged = try #require(try TreeWalker(repository: a.repository).find("x.txt", in: outcome.tree))
            let winner = try #require(try TreeWalker(repository: a.repository).find("x.txt", in: expected))
            #expect(merged.content == winner.content, "ours is A: \(oursIsA)")
        }
    }

    @Test func aFileAgainstAFolderKeepsBoth() async throws {
        let team = try SyncTeam()
        let a = try await team.first(["keep.txt": "k"])
        let b = try await team.join("b")
        try b.write("Thing/inside.txt", "a folder on B")
        try await b.sync()
        try a.write("Thing", "a file on A")
        let report = try await a.sync()
        let conflict = try #require(report.conflicts.first { $0.kind == .fileFolder })
        let copy = try #require(conflict.copy)
        #expect(a.read("Thing/inside.txt") == "a folder on B")
        #expect(a.read(copy) == "a file on A")
        try await b.sync()
        #expect(try a.contents() == b.contents())
    }

    @Test func aHeadForgottenLocallyComesBackFromTheRemote() async throws {
        let team = try SyncTeam()
        let a = try await team.first(["a.txt": "a"])
        let head = try #require(try a.state.head)
        try FileSystem.remove(a.repository.filePath(ObjectName(kind: .snapshot, id: head)))
        try a.write("a.txt", "a, edited after forgetting")
        let report = try await a.sync()
        #expect(report.pushed && !report.merged)
        #expect(try a.repository.loadSnapshot(head).tree != ObjectID.zero)
    }

    /// A syncs `base` as Data/Team.esp, B joins; A edits it to `a` and B to `b`; B syncs, then A, whose
    /// sync must merge record by record and push, then B again: both devices end with one plugin, returned
    /// with the team (whose folders live as long as it does).
    static func pluginMergedOnTwoDevices(base: [UInt8], a aBytes: [UInt8], b bBytes: [UInt8]) async throws -> (SyncTeam, SyncDevice, SyncDevice, [UInt8]) {
        let team = try SyncTeam()
        let a = try await team.first([:])
        try a.write("Data/Team.esp", bytes: base)
        try await a.sync()
        let b = try await team.join("b")
        try a.write("Data/Team.esp", bytes: aBytes)
        try b.write("Data/Team.esp", bytes: bBytes)
        try await b.sync()
        let report = try await a.sync()
        #expect(report.conflicts.map(\.resolution) == ["records-merged"])
        #expect(!report.unresolved && report.pushed)
        try await b.sync()
        let merged = try #require(a.bytes("Data/Team.esp"))
        #expect(b.bytes("Data/Team.esp") == merged)
        return (team, a, b, merged)
    }

    /// Two devices edit different records of one plugin: both end with the same merged plugin, no conflict.
    @Test func aPluginEditedOnBothSidesMergesRecordByRecord() async throws {
        let (team, a, b, merged) = try await Self.pluginMergedOnTwoDevices(base: tinyPlugin([0x800: 1, 0x801: 2, 0x802: 3]),
                                                                      a: tinyPlugin([0x800: 10, 0x801: 2, 0x802: 3]),
                                                                      b: tinyPlugin([0x800: 1, 0x801: 2, 0x802: 30, 0x803: 4]))
        let parsed = try ModVaultFormats.PluginFile.parse(MemoryRangeReader(merged))
        #expect(parsed.records.count == 4)
        // The same record changed differently on both sides stays for resolve, with the record named.
        try a.write("Data/Team.esp", bytes: tinyPlugin([0x800: 11, 0x801: 2, 0x802: 30, 0x803: 4]))
        try b.write("Data/Team.esp", bytes: tinyPlugin([0x800: 12, 0x801: 2, 0x802: 30, 0x803: 4]))
        try await b.sync()
        let clash = try await a.sync()
        #expect(clash.unresolved)
        #expect(clash.conflicts.first?.records?.first?.formID == "Team.esp:000800")
        withExtendedLifetime(team) {}
    }

    /// Each device adds a different master while editing its own record: the plugin merges into the
    /// union of masters, and both devices end with the same file.
    @Test func mastersAddedOnEachDeviceMergeIntoTheirUnion() async throws {
        let (_, _, _, merged) = try await Self.pluginMergedOnTwoDevices(
            base: tinyPlugin([0x800: 1, 0x801: 2]),
            a: tinyPlugin([0x800: 10, 0x801: 2], masters: ["Fallout4.esm", "DLCRobot.esm"]),
            b: tinyPlugin([0x800: 1, 0x801: 20], masters: ["Fallout4.esm", "DLCCoast.esm"]))
        let parsed = try ModVaultFormats.PluginFile.parse(MemoryRangeReader(merged))
        #expect(parsed.header.masters == ["Fallout4.esm", "DLCRobot.esm", "DLCCoast.esm"])
        #expect(parsed.records.map(\.formID).sorted() == [0x0300_0800, 0x0300_0801])
        #expect(try tinyPluginValues(merged) == [0x800: 10, 0x801: 20])
    }

    /// A plugin conflict settled record by record: B's value for the clashing record, A's other edit
    /// kept; both devices end with the same plugin.
    @Test func recordResolutionsFinishAPluginMerge() async throws {
        let team = try SyncTeam()
        let a = try await team.first([:])
        try a.write("Data/Team.esp", bytes: tinyPlugin([0x800: 1, 0x801: 2, 0x802: 3]))
        try await a.sync()
        let b = try await team.join("b")
        try a.write("Data/Team.esp", bytes: tinyPlugin([0x800: 11, 0x801: 2, 0x802: 33]))
        try b.write("Data/Team.esp", bytes: tinyPlugin([0x800: 12, 0x801: 22, 0x802: 3]))
        try await b.sync()
        #expect(try await a.sync().unresolved)
        let sync = FolderSync(repository: a.repository, remote: team.remote, folder: a.folder)
        // A FormID that is not in conflict is refused, naming the ones that are.
        #expect(throws: SyncFolderError.self) { _ = try sync.resolve("Data/Team.esp", records: ["Team.esp:000801": .ours], state: try a.state) }
        let after = try sync.resolve("Data/Team.esp", records: ["Team.esp:000800": .theirs], state: try a.state)
        #expect(after.conflicts.isEmpty)
        let done = try await a.sync()
        #expect(done.pushed && !done.unresolved)
        #expect(done.conflicts.map(\.resolution) == ["records-merged"])
        try await b.sync()
        let merged = try #require(a.bytes("Data/Team.esp"))
        #expect(b.bytes("Data/Team.esp") == merged)
        #expect(try tinyPluginValues(merged) == [0x800: 12, 0x801: 22, 0x802: 33])
        #expect(try a.state.recordResolutions == nil)
    }

    @Test func dryRunChangesNothing() async throws {
        let team = try SyncTeam()
        let a = try await team.first(["a.txt": "a"])
        let b = try await team.join("b")
        try a.write("a.txt", "a2")
        try await a.sync()
        try b.write("local.txt", "mine")
        let before = try b.state
        let report = try await b.sync { $0.dryRun = true }
        #expect(report.planned == ["a.txt"])
        #expect(b.read("a.txt") == "a")
        #expect(try b.state == before)
        let log = try await PushLog(remote: team.remote, repository: b.repository).read(after: 0)
        #expect(log.lastSeq == 2)
    }

    @Test func pushOnlyRefusesWhenTheRemoteMovedOn() async throws {
        let team = try SyncTeam()
        let a = try await team.first(["a.txt": "a"])
        let b = try await team.join("b")
        try a.write("a.txt", "a2")
        try await a.sync()
        try b.write("b.txt", "b")
        await #expect(throws: SyncFolderError.self) { try await b.sync { $0.direction = .pushOnly } }
        let pulled = try await b.sync { $0.direction = .pullOnly }
        #expect(!pulled.pushed && b.read("a.txt") == "a2" && b.read("b.txt") == "b")
        let pushed = try await b.sync { $0.direction = .pushOnly }
        #expect(pushed.pushed)
        try await a.sync()
        #expect(a.read("b.txt") == "b")
    }
}

@Suite("sync rules, line merge and the push log format")
struct SyncUnitTests {
    @Test(arguments: [
        ("*.esp", "Data/Foo.esp", true), ("*.esp", "Data/Foo.ESP", true), ("*.esp", "Data/Foo.esm", false),
        ("Textures/**", "Textures/a/b.dds", true), ("Textures/**", "Meshes/a.nif", false), ("Textures/*", "Textures/a/b.dds", false),
        ("**/plugins.txt", "plugins.txt", true), ("**/plugins.txt", "profiles/Default/plugins.txt", true), ("a?c.txt", "abc.txt", true),
    ])
    func globs(pattern: String, path: String, matches: Bool) {
        #expect(SyncRules.matches(pattern, path) == matches)
    }

    @Test func rulesFileAndDefaults() throws {
        let rules = try SyncRules.parse("# team rules\n*.esp theirs\nTextures/** newest   # artists\n\n", path: "rules")
        let r = SyncRules(rules: rules)
        #expect(r.strategy(for: "Foo/Foo.esp") == (.theirs, true))
        #expect(r.strategy(for: "Textures/x.dds") == (.newest, true))
        #expect(r.strategy(for: "Foo/Foo.esm") == (.manual, false))
        #expect(r.strategy(for: "profiles/p/modlist.txt") == (.manual, false))
        #expect(r.strategy(for: "Meshes/x.nif") == (.keepBoth, false))
        #expect(SyncRules(override: .ours, rules: rules).strategy(for: "Foo.esp") == (.ours, true))
        #expect(throws: SyncFolderError.self) { try SyncRules.parse("*.esp sometimes\n", path: "rules") }
    }

    @Test func conflictCopiesAreNeverLoadable() {
        let id = ObjectID(hex: String(repeating: "ab", count: 32))!
        for name in ["Data/Foo.esp", "Data/Foo - Main.ba2", "Data/Bar.esl", "x.esm"] {
            let copy = SyncRules.conflictCopyPath(name, device: "0123456789abcdef", snapshot: id)
            #expect(!SyncRules.isLoadable(copy) && SyncRules.isLoadable(name) && SyncRules.isConflictCopy(copy))
        }
    }

    @Test(arguments: [
        // base, ours, theirs, merged (nil: conflict)
        ("a\nb\nc\n", "a\nB\nc\n", "a\nb\nc\nd\n", "a\nB\nc\nd\n" as String?),
        ("a\nb\nc\n", "a\nb\nc\n", "x\nb\nc\n", "x\nb\nc\n"),
        ("a\nb\nc\n", "a\nX\nc\n", "a\nY\nc\n", nil),
        ("a\nb\nc\n", "a\nX\nc\n", "a\nX\nc\n", "a\nX\nc\n"),
        ("", "a\n", "b\n", nil),
        ("a\nb\n", "b\n", "a\nb\nc\n", "b\nc\n"),
        ("a\r\nb\r\n", "a\r\nb\r\nc\r\n", "z\r\na\r\nb\r\n", "z\r\na\r\nb\r\nc\r\n"),
    ])
    func lineMerge(base: String, ours: String, theirs: String, merged: String?) {
        let result = LineMerge.merge(base: Array(base.utf8), ours: Array(ours.utf8), theirs: Array(theirs.utf8))
        #expect(result.map { String(decoding: $0, as: UTF8.self) } == merged)
    }

    @Test func pushEntryNamesAndPlaintextBytes() throws {
        #expect(PushLog.name(1).relativePath == "pushes/00000000000000000001")
        #expect(PushLog.name(12_345_678_901).name == "00000000012345678901")
        #expect(PushLog.seq(of: "00000000000000000042") == 42)
        #expect(PushLog.seq(of: "42") == nil && PushLog.seq(of: "0000000000000000004x") == nil)
        let id = ObjectID(hex: String(repeating: "01", count: 32))!
        let entry = PushEntry(seq: 7, snapshot: id, parents: [id], author: "u@h", device: "d", time: Date(timeIntervalSince1970: 1_800_000_000),
                              summary: PushSummary(added: 1, changed: 2, removed: 3))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        let text = String(decoding: try encoder.encode(entry), as: UTF8.self)
        let hex = String(repeating: "01", count: 32)
        #expect(text == #"{"author":"u@h","device":"d","parents":[""# + hex + #""],"seq":7,"snapshot":""# + hex
                + #"","summary":{"added":1,"changed":2,"removed":3},"time":"2027-01-15T08:00:00Z"}"#)
    }
}

/// A minimal Fallout 4 plugin: TES4 (one master) and one GMST group with a record per value.
func tinyPlugin(_ values: [UInt32: UInt32], masters: [String] = ["Fallout4.esm"]) -> [UInt8] {
    let records = values.sorted { $0.key < $1.key }.map { object, value in
        ModVaultFixtures.PluginRecord("GMST", formID: UInt32(masters.count) << 24 | object, fields: [
            PluginField("EDID", Array("fSetting\(object)\0".utf8)), PluginField("DATA", withUnsafeBytes(of: value.littleEndian) { Array($0) }),
        ])
    }
    return PluginWriter.bytes(header: ModVaultFixtures.PluginHeader(nextObjectID: 0x900, masters: masters), groups: [PluginGroup("GMST", records: records)])
}

/// The DATA value of each GMST of a `tinyPlugin` (its last four bytes), by object ID.
func tinyPluginValues(_ bytes: [UInt8]) throws -> [UInt32: UInt32] {
    let parsed = try ModVaultFormats.PluginFile.parse(MemoryRangeReader(bytes))
    var out: [UInt32: UInt32] = [:]
    for r in parsed.records where r.signature == "GMST" {
        let end = Int(r.offset) + 24 + Int(r.dataSize)
        out[r.formID & 0xFF_FFFF] = bytes[(end - 4)..<end].reversed().reduce(0) { $0 << 8 | UInt32($1) }
    }
    return out
}
