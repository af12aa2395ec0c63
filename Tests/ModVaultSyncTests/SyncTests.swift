import Foundation
import Testing
import ModVaultCore
import ModVaultCrypto
import ModVaultChunking
import ModVaultStore
import ModVaultArchive
import ModVaultSync
import ModVaultRemoteDisk
import ModVaultRemoteSupport
import ModVaultFixtures

/// Two machines' worth of folders: local repositories, a shared disk remote, sources and targets.
final class SyncWorld {
    let root: String
    let password = Array("shared secret".utf8)
    var options: RepositoryOptions = {
        var o = RepositoryOptions()
        o.scrypt = ScryptParameters(n: 1024, r: 8, p: 1)
        o.packSize = 1 << 20
        o.chunker = ChunkerParameters(minSize: 16 << 10, averageSize: 64 << 10, maxSize: 256 << 10)
        return o
    }()

    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("modvault-sync-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: root) }

    func remote(_ name: String = "remote") throws -> DiskRemote {
        let r = DiskRemote(path: root + "/" + name)
        try r.createFolder()
        return r
    }

    /// Writes `count` files of pseudo-random content (seeded) into `dir`.
    func writeFiles(_ dir: String, count: Int, size: Int, seed: UInt64) throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var state = seed
        for i in 0..<count {
            var bytes = [UInt8](repeating: 0, count: size)
            for j in stride(from: 0, to: size, by: 8) {
                state = state &* 6364136223846793005 &+ 1442695040888963407
                withUnsafeBytes(of: state) { for k in 0..<min(8, size - j) { bytes[j + k] = $0[k] } }
            }
            try Data(bytes).write(to: URL(fileURLWithPath: "\(dir)/file\(i).bin"))
        }
    }

    /// Writes `slot` straight onto `remote` as key slot `name`, as someone with write access could.
    func plant(_ slot: KeySlot, as name: String, on remote: any Remote) async throws {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        try await remote.save(ObjectName(kind: .key, name: name), data: Array(try encoder.encode(slot)), ifAbsent: true)
    }

    func contents(_ dir: String) throws -> [String: Data] {
        var out: [String: Data] = [:]
        for rel in try FileManager.default.subpathsOfDirectory(atPath: dir) where !rel.contains(".modvault-") {
            let path = dir + "/" + rel
            if !FileSystem.isDirectory(path) { out[rel] = try Data(contentsOf: URL(fileURLWithPath: path)) }
        }
        return out
    }
}

@Suite("push, pull, clone and mirror over a disk remote")
struct SyncTests {
    @Test func pushCloneAndPullRoundTrip() async throws {
        let w = try SyncWorld()
        let remote = try w.remote()
        let a = try Repository.initialize(at: w.root + "/a", password: w.password, options: w.options)
        try w.writeFiles(w.root + "/src", count: 6, size: 300_000, seed: 1)
        let first = try await Archiver(repository: a).snapshot(source: w.root + "/src")

        let push1 = try await Syncer(local: a, remote: remote).push()
        #expect(push1.bytesUploaded > 1_800_000)
        // Nothing new: the second push uploads nothing at all.
        let push2 = try await Syncer(local: a, remote: remote).push()
        #expect(push2.bytesUploaded == 0)

        let (b, cloneReport) = try await Syncer.clone(from: remote, to: w.root + "/b", password: w.password)
        #expect(b.config.id == a.config.id)
        #expect(cloneReport.bytesDownloaded > 0)
        #expect(try b.snapshots().map(\.id) == [first.record.id])
        #expect(try Checker(repository: b).check(readData: true).isHealthy)
        _ = try await Restorer(repository: b).restore(first.record.snapshot, options: RestoreOptions(target: w.root + "/restored"))
        #expect(try w.contents(w.root + "/restored") == w.contents(w.root + "/src"))

        // A change on A travels to B with only the new chunks.
        try w.writeFiles(w.root + "/src/extra", count: 1, size: 200_000, seed: 9)
        _ = try await Archiver(repository: a).snapshot(source: w.root + "/src")
        let push3 = try await Syncer(local: a, remote: remote).push()
        #expect(push3.bytesUploaded < 400_000)
        let pull = try await Syncer(local: b, remote: remote).pull()
        #expect(pull.bytesDownloaded < 400_000)
        #expect(try b.snapshots().count == 2)
        #expect(try Checker(repository: b).check(readData: true).isHealthy)
    }

    @Test func aDifferentRepositoryIsRefused() async throws {
        let w = try SyncWorld()
        let remote = try w.remote()
        let a = try Repository.initialize(at: w.root + "/a", password: w.password, options: w.options)
        let other = try Repository.initialize(at: w.root + "/other", password: w.password, options: w.options)
        _ = try await Syncer(local: a, remote: remote).push()
        await #expect(throws: SyncError.self) { try await Syncer(local: other, remote: remote).push() }
        await #expect(throws: SyncError.self) { try await Syncer(local: other, remote: remote).pull() }
    }

    /// A slot planted on the remote by someone without the password (an unknown KDF, or scrypt
    /// parameters that would take 128 GiB) neither stops the clone nor is copied into it.
    @Test func cloneSkipsAndLeavesBehindUnusableKeySlots() async throws {
        let w = try SyncWorld()
        let remote = try w.remote()
        let a = try Repository.initialize(at: w.root + "/a", password: w.password, options: w.options)
        _ = try await Syncer(local: a, remote: remote).push()
        var planted = try KeySlot.seal(a.masterKey, password: Array("x".utf8), parameters: w.options.scrypt)
        planted.scrypt = ScryptParameters(n: 1 << 24, r: 64, p: 16)
        var unknown = planted
        unknown.kdf = "argon9"
        try await w.plant(planted, as: String(repeating: "0", count: 64), on: remote)
        try await w.plant(unknown, as: String(repeating: "1", count: 64), on: remote)
        let (b, _) = try await Syncer.clone(from: remote, to: w.root + "/b", password: w.password)
        #expect(b.masterKey == a.masterKey)
        #expect(try FileSystem.list(w.root + "/b/keys").sorted() == [a.keyID])
    }

    /// Files planted on the remote by someone without the key, each named by its own SHA-256 so the
    /// old name check passed them, are refused by clone and pull: nothing of them is stored, every
    /// later command works, and the report names each with the reason.
    @Test func plantedFilesAreRefusedByCloneAndPull() async throws {
        let w = try SyncWorld()
        let remote = try w.remote()
        let a = try Repository.initialize(at: w.root + "/a", password: w.password, options: w.options)
        try w.writeFiles(w.root + "/src", count: 3, size: 50_000, seed: 9)
        _ = try await Archiver(repository: a).snapshot(source: w.root + "/src")
        _ = try await Syncer(local: a, remote: remote).push()
        var rng = SplitMix64(seed: 99)
        var planted: [ObjectName] = []
        for kind in [FileKind.snapshot, .index, .pack] {
            let bytes = rng.bytes(4096)
            let name = ObjectName(kind: kind, id: SHA256Digest.hash(bytes))
            try await remote.save(name, data: bytes, ifAbsent: true)
            planted.append(name)
        }
        let (b, cloned) = try await Syncer.clone(from: remote, to: w.root + "/b", password: w.password)
        #expect(Set(cloned.refused.map(\.object)) == Set(planted.map(\.relativePath)))
        for name in planted { #expect(!FileSystem.exists(b.filePath(name))) }
        #expect(try b.snapshots().count == 1)
        #expect(try Checker(repository: b).check(readData: true).isHealthy)

        // A pull into the original repository refuses them the same way.
        let pulled = try await Syncer(local: a, remote: remote).pull()
        #expect(pulled.refused.count == 3)
        #expect(try a.snapshots().count == 1)
    }

    /// A password removed or changed here stops working on the remote at the next push; a slot only
    /// the remote has (a teammate's) stays.
    @Test func keyChangesReachTheRemoteAtTheNextPush() async throws {
        let w = try SyncWorld()
        let remote = try w.remote()
        let a = try Repository.initialize(at: w.root + "/a", password: w.password, options: w.options)
        _ = try await Syncer(local: a, remote: remote).push()
        // A teammate's slot, added on the remote only.
        let teammate = Array("teammate".utf8)
        let theirs = try KeySlot.seal(a.masterKey, password: teammate, parameters: w.options.scrypt)
        try await w.plant(theirs, as: String(repeating: "7", count: 64), on: remote)

        let newPassword = Array("new password".utf8)
        _ = try a.changePassword(to: newPassword, parameters: w.options.scrypt)
        let pushed = try await Syncer(local: a, remote: remote).push()
        #expect(pushed.keysAdded == 1 && pushed.keysRemoved == 1)
        await #expect(throws: SyncError.self) { try await Syncer.clone(from: remote, to: w.root + "/old", password: w.password) }
        _ = try await Syncer.clone(from: remote, to: w.root + "/new", password: newPassword)
        _ = try await Syncer.clone(from: remote, to: w.root + "/theirs", password: teammate)
        // Pushing again changes nothing.
        let again = try await Syncer(local: try Repository.open(at: w.root + "/a", password: newPassword), remote: remote).push()
        #expect(again.keysAdded == 0 && again.keysRemoved == 0)
    }

    @Test func wrongPasswordOnCloneCreatesNothing() async throws {
        let w = try SyncWorld()
        let remote = try w.remote()
        let a = try Repository.initialize(at: w.root + "/a", password: w.password, options: w.options)
        _ = try await Syncer(local: a, remote: remote).push()
        await #expect(throws: SyncError.self) {
            try await Syncer.clone(from: remote, to: w.root + "/b", password: Array("wrong".utf8))
        }
        #expect(!FileManager.default.fileExists(atPath: w.root + "/b"))
    }

    @Test func pushOfOneSnapshotKeepsTheRemoteConsistent() async throws {
        let w = try SyncWorld()
        let remote = try w.remote()
        let a = try Repository.initialize(at: w.root + "/a", password: w.password, options: w.options)
        try w.writeFiles(w.root + "/one", count: 3, size: 200_000, seed: 2)
        try w.writeFiles(w.root + "/two", count: 3, size: 200_000, seed: 3)
        let one = try await Archiver(repository: a).snapshot(source: w.root + "/one")
        _ = try await Archiver(repository: a).snapshot(source: w.root + "/two")
        _ = try await Syncer(local: a, remote: remote).push(snapshots: [one.record.id])
        let (b, _) = try await Syncer.clone(from: remote, to: w.root + "/b", password: w.password)
        #expect(try b.snapshots().map(\.id) == [one.record.id])
        #expect(try Checker(repository: b).check(readData: true).isHealthy)
        // Exactly the packs holding what snapshot one reaches went up; the second snapshot's packs, written
        // by a run of their own, stayed home.
        let uploaded = Set(try FileSystem.list(remote.path + "/data").flatMap { try FileSystem.list(remote.path + "/data/" + $0) })
        let needed = Set(try Reachability.reach([one.record.snapshot.tree], in: a).compactMap { try a.index.location(of: $0)?.pack.hex })
        #expect(uploaded == needed)
        #expect(uploaded.count < (try a.list(.pack)).count)
    }

    @Test func mirrorDownloadsOnlyWhatSeedsLack() async throws {
        let w = try SyncWorld()
        let remote = try w.remote()
        let a = try Repository.initialize(at: w.root + "/a", password: w.password, options: w.options)
        try w.writeFiles(w.root + "/v1", count: 8, size: 400_000, seed: 5)
        let v1 = try await Archiver(repository: a).snapshot(source: w.root + "/v1")
        // Version 2: one file replaced, one added; the rest identical.
        try FileManager.default.copyItem(atPath: w.root + "/v1", toPath: w.root + "/v2")
        try w.writeFiles(w.root + "/v2new", count: 2, size: 400_000, seed: 6)
        try FileManager.default.removeItem(atPath: w.root + "/v2/file0.bin")
        try FileManager.default.moveItem(atPath: w.root + "/v2new/file0.bin", toPath: w.root + "/v2/file0.bin")
        try FileManager.default.moveItem(atPath: w.root + "/v2new/file1.bin", toPath: w.root + "/v2/added.bin")
        let v2 = try await Archiver(repository: a).snapshot(source: w.root + "/v2")
        _ = try await Syncer(local: a, remote: remote).push()

        // A teammate without any repository: first mirror downloads everything...
        let access = try await RemoteRepositoryAccess(remote: remote, password: w.password)
        let target = w.root + "/teammate"
        let full = try await Mirror(access: access).mirror(String(v1.record.id.hex.prefix(10)), options: MirrorOptions(target: target))
        #expect(try w.contents(target) == w.contents(w.root + "/v1"))
        #expect(full.bytesDownloaded >= 3_200_000)
        // ...the update downloads only the two new files' chunks, reusing the rest from the folder.
        var options = MirrorOptions(target: target)
        options.deleteExtraneous = true
        let update = try await Mirror(access: access).mirror(v2.record.id.hex, options: options)
        #expect(try w.contents(target) == w.contents(w.root + "/v2"))
        #expect(update.bytesReused >= 2_400_000)
        #expect(update.bytesDownloaded < 1_000_000)
    }

    /// Archives stored as a repack of their previous version (archive blobs) mirror byte for byte,
    /// into an empty folder and over the previous version, which then serves the base's chunks.
    @Test func mirrorRebuildsRepackedArchives() async throws {
        let w = try SyncWorld()
        let remote = try w.remote()
        let a = try Repository.initialize(at: w.root + "/a", password: w.password, options: w.options)
        let fixture = FixtureOptions(seed: 5, scaleBytes: 3 << 20)
        _ = try FixtureGenerator.writeBase(fixture, to: w.root + "/base")
        _ = try FixtureGenerator.writeScenario(.repack, fixture, to: w.root + "/repacked")
        let first = try await Archiver(repository: a).snapshot(source: w.root + "/base")
        var options = SnapshotOptions()
        options.parent = first.record.id.hex
        let second = try await Archiver(repository: a).snapshot(source: w.root + "/repacked", options: options)
        #expect(second.streams.repacked > 3, "\(second.streams)")
        _ = try await Syncer(local: a, remote: remote).push()

        let access = try await RemoteRepositoryAccess(remote: remote, password: w.password)
        let empty = w.root + "/empty"
        _ = try await Mirror(access: access).mirror(second.record.id.hex, options: MirrorOptions(target: empty))
        #expect(try w.contents(empty) == w.contents(w.root + "/repacked"))
        try FileManager.default.copyItem(atPath: w.root + "/base", toPath: w.root + "/over")
        let over = try await Mirror(access: access).mirror(second.record.id.hex, options: MirrorOptions(target: w.root + "/over"))
        #expect(try w.contents(w.root + "/over") == w.contents(w.root + "/repacked"))
        #expect(over.bytesDownloaded < 256 << 10, "downloaded \(over.bytesDownloaded)")
        #expect(try FileSystem.list(w.root + "/over").allSatisfy { !$0.hasPrefix(".modvault") })
    }

    /// Mirror writes through the same materialiser as restore: a chain of links that escapes is refused
    /// before any file is written, and folder modes and times are applied as restore applies them.
    @Test func mirrorRefusesEscapingLinkChainsAndKeepsFolderTimes() async throws {
        let w = try SyncWorld()
        let remote = try w.remote()
        let a = try Repository.initialize(at: w.root + "/a", password: w.password, options: w.options)
        let source = w.root + "/src"
        try w.writeFiles(source + "/sub", count: 2, size: 10_000, seed: 3)
        try FileManager.default.createSymbolicLink(atPath: source + "/self", withDestinationPath: ".")
        try FileManager.default.createSymbolicLink(atPath: source + "/esc", withDestinationPath: "self/self/self/../../..")
        _ = try await Archiver(repository: a).snapshot(source: source)
        _ = try await Syncer(local: a, remote: remote).push()
        let access = try await RemoteRepositoryAccess(remote: remote, password: w.password)
        let target = w.root + "/x/y/mirror"
        await #expect { _ = try await Mirror(access: access).mirror("latest", options: MirrorOptions(target: target)) } throws: { error in
            "\(error)".contains("passes through the link 'self'")
        }
        #expect(!FileSystem.exists(target + "/sub/file0.bin") && !FileSystem.exists(target + "/esc"))

        try FileManager.default.removeItem(atPath: source + "/esc")
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSince1970: 1_000_000_000), .posixPermissions: 0o750],
                                              ofItemAtPath: source + "/sub")
        _ = try await Archiver(repository: a).snapshot(source: source)
        _ = try await Syncer(local: a, remote: remote).push()
        _ = try await Mirror(access: try await RemoteRepositoryAccess(remote: remote, password: w.password))
            .mirror("latest", options: MirrorOptions(target: target))
        let attributes = try FileManager.default.attributesOfItem(atPath: target + "/sub")
        #expect((attributes[.modificationDate] as? Date)?.timeIntervalSince1970 == 1_000_000_000)
        #expect((attributes[.posixPermissions] as? Int) == 0o750)
        #expect(try w.contents(target + "/sub") == w.contents(source + "/sub"))
    }
}

@Suite("compressed streams across machines")
struct StreamSyncTests {
    /// A corpus whose BA2 members are stored decompressed with recipes: push, clone and mirror carry
    /// the stream blobs and their content, and every copy rebuilds the archives byte for byte.
    @Test func streamsTravelThroughPushCloneAndMirror() async throws {
        let w = try SyncWorld()
        let remote = try w.remote()
        let a = try Repository.initialize(at: w.root + "/a", password: w.password, options: w.options)
        let source = w.root + "/mods"
        _ = try FixtureGenerator.writeBase(FixtureOptions(seed: 3, scaleBytes: 2 << 20), to: source)
        var options = SnapshotOptions()
        options.normalize = .all
        let snapshot = try await Archiver(repository: a).snapshot(source: source, options: options)
        #expect(snapshot.streams.normalized > 10)
        _ = try await Syncer(local: a, remote: remote).push()

        let (b, _) = try await Syncer.clone(from: remote, to: w.root + "/b", password: w.password)
        #expect(try Checker(repository: b).check(readData: true, rebuildStreams: true).isHealthy)
        _ = try await Restorer(repository: b).restore(snapshot.record.snapshot, options: RestoreOptions(target: w.root + "/restored"))
        #expect(try w.contents(w.root + "/restored") == w.contents(source))

        // A teammate with nothing downloads everything; with the archives already in place, the streams
        // are found in them by their IDs and nothing of them is downloaded again.
        let access = try await RemoteRepositoryAccess(remote: remote, password: w.password)
        let target = w.root + "/teammate"
        let first = try await Mirror(access: access).mirror("latest", options: MirrorOptions(target: target))
        #expect(try w.contents(target) == w.contents(source))
        #expect(first.bytesDownloaded > 1_000_000)
        let again = try await Mirror(access: access).mirror("latest", options: MirrorOptions(target: target))
        #expect(try w.contents(target) == w.contents(source))
        #expect(again.bytesDownloaded < 100_000, "downloaded \(again.bytesDownloaded)")

        // Selected snapshots: a push of one snapshot, and a pull of one, carry its streams' content too.
        let partial = try w.remote("partial")
        _ = try await Syncer(local: a, remote: partial).push(snapshots: [snapshot.record.id])
        let (c, _) = try await Syncer.clone(from: partial, to: w.root + "/c", password: w.password)
        #expect(try Checker(repository: c).check(readData: true, rebuildStreams: true).isHealthy)
        let other = w.root + "/other"
        _ = try FixtureGenerator.writeBase(FixtureOptions(seed: 4, scaleBytes: 2 << 20), to: other)
        let second = try await Archiver(repository: a).snapshot(source: other, options: options)
        _ = try await Syncer(local: a, remote: remote).push()
        _ = try await Syncer(local: b, remote: remote).pull(snapshots: [second.record.id.hex])
        _ = try await Restorer(repository: b).restore(second.record.snapshot, options: RestoreOptions(target: w.root + "/restored-other"))
        #expect(try w.contents(w.root + "/restored-other") == w.contents(other))
    }
}

@Suite("transfers through an unreliable remote")
struct UnreliableRemoteTests {
    /// 10% of requests fail or time out (some after the write happened); with retries, push, pull
    /// and mirror still finish, and everything they produce verifies.
    @Test(arguments: [UInt64(1), 2, 3])
    func pushPullAndMirrorSurviveFaults(seed: UInt64) async throws {
        let w = try SyncWorld()
        let disk = try w.remote()
        let policy = RetryPolicy(maxAttempts: 12, initialDelay: .milliseconds(1), maxDelay: .milliseconds(20), maxTotalTime: .seconds(60))
        let flaky = RetryingRemote(FaultInjectingRemote(disk, failureRate: 0.1, seed: seed, timeoutDelay: .milliseconds(2)), policy: policy, seed: seed)
        let a = try Repository.initialize(at: w.root + "/a", password: w.password, options: w.options)
        try w.writeFiles(w.root + "/src", count: 8, size: 250_000, seed: seed)
        let snap = try await Archiver(repository: a).snapshot(source: w.root + "/src")
        _ = try await Syncer(local: a, remote: flaky).push()

        let (b, _) = try await Syncer.clone(from: flaky, to: w.root + "/b", password: w.password)
        #expect(try Checker(repository: b).check(readData: true).isHealthy)
        #expect(try b.snapshots().map(\.id) == [snap.record.id])

        let access = try await RemoteRepositoryAccess(remote: flaky, password: w.password)
        _ = try await Mirror(access: access).mirror("latest", options: MirrorOptions(target: w.root + "/mirror"))
        #expect(try w.contents(w.root + "/mirror") == w.contents(w.root + "/src"))
    }

    /// A push that dies halfway (the remote stops answering) resumes: the next push sends only the
    /// rest, and the remote verifies afterwards.
    @Test func interruptedPushResumes() async throws {
        let w = try SyncWorld()
        let disk = try w.remote()
        let a = try Repository.initialize(at: w.root + "/a", password: w.password, options: w.options)
        try w.writeFiles(w.root + "/src", count: 10, size: 300_000, seed: 4)
        _ = try await Archiver(repository: a).snapshot(source: w.root + "/src")
        let dying = try w.remote("remote") // same folder
        let broken = Interrupting(base: dying, saves: 3)
        await #expect(throws: (any Error).self) { try await Syncer(local: a, remote: broken).push() }
        #expect(try await disk.stat(.config) == nil, "a half-pushed remote must not look like a repository yet")
        let resumed = try await Syncer(local: a, remote: disk).push()
        let total = try a.list(.pack).count + a.list(.index).count + a.list(.snapshot).count
        #expect(resumed.objectsUploaded < total + 2)
        let (b, _) = try await Syncer.clone(from: disk, to: w.root + "/b", password: w.password)
        #expect(try Checker(repository: b).check(readData: true).isHealthy)
    }
}

extension UnreliableRemoteTests {
    /// A pull that loses the connection after a few packs keeps those (verified, synced, named) and
    /// leaves no temporaries; the local repository still checks, and the next pull fetches only the rest.
    @Test func interruptedPullKeepsWhatArrivedAndResumes() async throws {
        let w = try SyncWorld()
        let disk = try w.remote()
        let a = try Repository.initialize(at: w.root + "/a", password: w.password, options: w.options)
        try w.writeFiles(w.root + "/src", count: 1, size: 1_000, seed: 6)
        _ = try await Archiver(repository: a).snapshot(source: w.root + "/src")
        _ = try await Syncer(local: a, remote: disk).push()
        let (b, _) = try await Syncer.clone(from: disk, to: w.root + "/b", password: w.password)
        let before = Set(try b.list(.pack))
        try w.writeFiles(w.root + "/src", count: 12, size: 1_000_000, seed: 7)
        _ = try await Archiver(repository: a).snapshot(source: w.root + "/src")
        _ = try await Syncer(local: a, remote: disk).push()
        let newPacks = Set(try a.list(.pack)).subtracting(before)
        #expect(newPacks.count > 4)

        let dropping = Interrupting(base: try w.remote("remote"), packLoads: 2)
        await #expect(throws: (any Error).self) { try await Syncer(local: b, remote: dropping).pull() }
        let kept = Set(try b.list(.pack)).subtracting(before)
        #expect(!kept.isEmpty && kept.count <= 2 && kept.isSubset(of: newPacks), "the packs that arrived whole are kept")
        var leftovers: [String] = []
        for sub in try FileSystem.list(b.path + "/data") where sub.count == 2 {
            leftovers += try FileSystem.list(b.path + "/data/" + sub).filter { $0.hasPrefix(".tmp-") }
        }
        #expect(leftovers.isEmpty)
        #expect(try Checker(repository: b).check(readData: true).isHealthy)

        let resumed = try await Syncer(local: b, remote: disk).pull()
        #expect(resumed.objectsDownloaded < newPacks.count + 2, "only the rest is downloaded")
        #expect(try Set(b.snapshots().map(\.id)) == Set(a.snapshots().map(\.id)))
        #expect(try Set(b.list(.pack)) == Set(a.list(.pack)))
        #expect(try Checker(repository: b).check(readData: true).isHealthy)
    }
}

/// A real remote whose connection "drops" after a number of saves or of pack downloads, like a
/// server that dies mid-push or a link that fails mid-mirror.
struct Interrupting: Remote {
    let base: DiskRemote
    var saves = Int.max
    var packLoads = Int.max
    let saveCount = SaveCounter()
    let loadCount = SaveCounter()

    var location: String { base.location }
    var supportsCreateIfAbsent: Bool { get async { true } }

    func save(_ name: ObjectName, data: [UInt8], ifAbsent: Bool) async throws {
        guard saveCount.next() <= saves else { throw StoreError.invalidArgument("\(location): connection lost (simulated)") }
        try await base.save(name, data: data, ifAbsent: ifAbsent)
    }

    func load(_ name: ObjectName, range: Range<Int64>?) async throws -> [UInt8] {
        guard name.kind != .pack || loadCount.next() <= packLoads else {
            throw StoreError.invalidArgument("\(location): connection lost (simulated)")
        }
        return try await base.load(name, range: range)
    }

    func stat(_ name: ObjectName) async throws -> Int64? { try await base.stat(name) }
    func list(_ kind: FileKind, after: String?, limit: Int) async throws -> [RemoteEntry] { try await base.list(kind, after: after, limit: limit) }
    func remove(_ name: ObjectName) async throws { try await base.remove(name) }
}

final class SaveCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func next() -> Int {
        lock.lock()
        defer { lock.unlock() }
        count += 1
        return count
    }
}

@Suite("interrupted mirror")
struct InterruptedMirrorTests {
    /// A mirror that loses its connection leaves the target's old files untouched, and the next run
    /// finishes while downloading less than a fresh mirror would, because its temporaries are seeds.
    @Test func resumesFromItsTemporaries() async throws {
        let w = try SyncWorld()
        let disk = try w.remote()
        let a = try Repository.initialize(at: w.root + "/a", password: w.password, options: w.options)
        try w.writeFiles(w.root + "/src", count: 12, size: 300_000, seed: 21)
        _ = try await Archiver(repository: a).snapshot(source: w.root + "/src")
        _ = try await Syncer(local: a, remote: disk).push()

        let full = try await Mirror(access: try await RemoteRepositoryAccess(remote: disk, password: w.password))
            .mirror("latest", options: MirrorOptions(target: w.root + "/reference"))
        var options = MirrorOptions(target: w.root + "/target")
        options.concurrency = 1
        // Small batches, so the 3.6 MB are many requests and the connection drops part-way.
        options.batchBytes = 256 << 10
        let dropping = Interrupting(base: disk, packLoads: 6)
        await #expect(throws: (any Error).self) {
            try await Mirror(access: try await RemoteRepositoryAccess(remote: dropping, password: w.password)).mirror("latest", options: options)
        }
        // Nothing was renamed into place; only temporaries exist.
        #expect(try w.contents(w.root + "/target").isEmpty)
        let resumed = try await Mirror(access: try await RemoteRepositoryAccess(remote: disk, password: w.password)).mirror("latest", options: options)
        #expect(try w.contents(w.root + "/target") == w.contents(w.root + "/src"))
        #expect(resumed.bytesReused > 0)
        #expect(resumed.bytesDownloaded < full.bytesDownloaded)
    }
}

/// Counts the listings a remote answers, per kind.
struct ListCounting: Remote {
    let base: DiskRemote
    let packListings = SaveCounter()

    var location: String { base.location }
    var supportsCreateIfAbsent: Bool { get async { true } }
    func save(_ name: ObjectName, data: [UInt8], ifAbsent: Bool) async throws { try await base.save(name, data: data, ifAbsent: ifAbsent) }
    func load(_ name: ObjectName, range: Range<Int64>?) async throws -> [UInt8] { try await base.load(name, range: range) }
    func stat(_ name: ObjectName) async throws -> Int64? { try await base.stat(name) }
    func list(_ kind: FileKind, after: String?, limit: Int) async throws -> [RemoteEntry] {
        if kind == .pack { _ = packListings.next() }
        return try await base.list(kind, after: after, limit: limit)
    }
    func remove(_ name: ObjectName) async throws { try await base.remove(name) }
}

@Suite("push without listing")
struct RemoteHoldingsTests {
    /// A push relies on the local record of what the remote holds instead of listing it, until
    /// `--verify` (or the periodic listing) finds what the record cannot know: here, a pack removed
    /// from the remote by hand, which the verified push uploads again.
    @Test func pushListsOnlyWhenItMustAndVerifyRepairs() async throws {
        let w = try SyncWorld()
        let disk = try w.remote()
        let remote = ListCounting(base: disk)
        let a = try Repository.initialize(at: w.root + "/a", password: w.password, options: w.options)
        try w.writeFiles(w.root + "/src", count: 4, size: 200_000, seed: 5)
        _ = try await Archiver(repository: a).snapshot(source: w.root + "/src")

        let first = try await Syncer(local: a, remote: remote).push()
        #expect(first.listedRemote)
        let listingsAfterFirst = remote.packListings.next() - 1

        try w.writeFiles(w.root + "/src", count: 6, size: 200_000, seed: 6)
        _ = try await Archiver(repository: a).snapshot(source: w.root + "/src")
        let second = try await Syncer(local: a, remote: remote).push()
        #expect(!second.listedRemote)
        #expect(second.objectsUploaded > 0)
        #expect(remote.packListings.next() - 1 == listingsAfterFirst + 1, "the second push listed the remote's packs")

        // Someone removes a pack from the remote by hand: the record cannot know, --verify finds it.
        let removed = try #require(try await disk.list(.pack, after: nil, limit: 1).first).name
        try await disk.remove(removed)
        let trusting = try await Syncer(local: a, remote: remote).push()
        #expect(!trusting.listedRemote && trusting.objectsUploaded == 0)
        var verifying = Syncer(local: a, remote: remote)
        verifying.verifyRemote = true
        let verified = try await verifying.push()
        #expect(verified.listedRemote && verified.objectsUploaded == 1)
        let (b, _) = try await Syncer.clone(from: disk, to: w.root + "/b", password: w.password)
        #expect(try Checker(repository: b).check(readData: true).isHealthy)

        // A remote emptied and started again (no config) is listed, whatever the record says.
        try FileManager.default.removeItem(atPath: w.root + "/remote")
        let fresh = try await Syncer(local: a, remote: try w.remote()).push()
        #expect(fresh.listedRemote)
        let (c, _) = try await Syncer.clone(from: try w.remote(), to: w.root + "/c", password: w.password)
        #expect(try c.snapshots().map(\.id) == a.snapshots().map(\.id))
    }

    /// After `maximumPushes` pushes on one record, the next push lists again.
    @Test func theRecordExpires() throws {
        var record = RemoteHoldings(location: "x", packs: [], index: [], snapshots: [])
        #expect(record.isFresh)
        record.pushesSinceListing = RemoteHoldings.maximumPushes
        #expect(!record.isFresh)
        record.pushesSinceListing = 0
        record.listed = Date().addingTimeInterval(-RemoteHoldings.maximumAge - 1)
        #expect(!record.isFresh)
    }
}
