import Foundation
import Testing
import ModVaultCore
import ModVaultCrypto
import ModVaultChunking
import ModVaultStore
import ModVaultArchive
import ModVaultFixtures

/// A temporary folder with a fresh repository.
final class Workspace {
    let root: String
    let repository: Repository

    init(packSize: Int = 1 << 20, chunker: ChunkerParameters = .default) throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("modvault-archive-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        var options = RepositoryOptions()
        options.scrypt = ScryptParameters(n: 1024, r: 8, p: 1)
        options.packSize = packSize
        options.chunker = chunker
        repository = try Repository.initialize(at: root + "/repo", password: Array("pw".utf8), options: options)
    }

    deinit {
        _ = try? FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: root)
        try? FileManager.default.removeItem(atPath: root)
    }

    /// Stores a crafted tree as it is, bypassing the archiver, and returns its ID.
    func craftTree(_ nodes: [TreeNode]) throws -> ObjectID {
        let writer = BlobWriter(repository: repository)
        let bytes = Tree(nodes: nodes).encoded()
        let id = repository.contentMAC.id(bytes)
        try bytes.withUnsafeBytes { _ = try writer.store(BlobHandle(id: id, type: .tree), plaintext: $0, sealer: writer.makeSealer()) }
        try writer.flush()
        return id
    }

    /// Stores a crafted tree and a snapshot pointing at it, bypassing the archiver.
    func craftSnapshot(_ nodes: [TreeNode]) throws -> Snapshot {
        let writer = BlobWriter(repository: repository)
        let sealer = writer.makeSealer()
        var content: [BlobHandle] = []
        let payload = Array("evil".utf8)
        let blob = repository.contentMAC.id(payload)
        try payload.withUnsafeBytes { _ = try writer.store(BlobHandle(id: blob, type: .data), plaintext: $0, sealer: sealer) }
        content.append(BlobHandle(id: blob, type: .data))
        let withContent = nodes.map { n -> TreeNode in
            var n = n
            if n.type == .regular { n.content = .inline(content); n.size = Int64(payload.count) }
            return n
        }
        let bytes = Tree(nodes: withContent).encoded()
        let treeID = repository.contentMAC.id(bytes)
        try bytes.withUnsafeBytes { _ = try writer.store(BlobHandle(id: treeID, type: .tree), plaintext: $0, sealer: sealer) }
        try writer.flush()
        return Snapshot(time: Date(), host: "test", username: "test", device: "test", paths: ["/crafted"], tags: [],
                        parents: [], tree: treeID, summary: nil)
    }
}

@Suite("archive operations")
struct ArchiveTests {
    static func file(_ name: String) -> TreeNode {
        TreeNode(name: name, type: .regular, mode: 0o644, mtimeNanos: 0, size: 0)
    }

    @Test(arguments: ["..", ".", "a/b", ""])
    func craftedUnsafeNamesAreRefused(name: String) async throws {
        let ws = try Workspace()
        let snapshot = try ws.craftSnapshot([Self.file(name), Self.file("fine.txt")])
        let target = ws.root + "/target"
        await #expect(throws: ArchiveError.self) {
            try await Restorer(repository: ws.repository).restore(snapshot, options: RestoreOptions(target: target))
        }
        // Validation happens before any write: not even the safe file is created.
        #expect(!FileManager.default.fileExists(atPath: target + "/fine.txt"))
        #expect(!FileManager.default.fileExists(atPath: ws.root + "/evil"))
    }

    @Test(arguments: ["/etc/passwd", "../outside", "a/../../outside", "./../x"])
    func escapingLinksAreRefused(target linkTarget: String) async throws {
        let ws = try Workspace()
        let link = TreeNode(name: "link", type: .symlink, mode: 0o777, mtimeNanos: 0, size: 0, linkTarget: linkTarget)
        let snapshot = try ws.craftSnapshot([link])
        do {
            _ = try await Restorer(repository: ws.repository).restore(snapshot, options: RestoreOptions(target: ws.root + "/t"))
            Issue.record("restore accepted link to \(linkTarget)")
        } catch let error as ArchiveError {
            #expect(error.kind == .unsafePath)
            #expect(error.description.contains("link"))
        }
    }

    @Test func duplicateNamesAreRefused() async throws {
        let ws = try Workspace()
        let snapshot = try ws.craftSnapshot([Self.file("same.esp"), Self.file("same.esp")])
        await #expect(throws: ArchiveError.self) {
            try await Restorer(repository: ws.repository).restore(snapshot, options: RestoreOptions(target: ws.root + "/t"))
        }
    }

    /// Links that each look harmless can escape together: `self -> .` makes `self/self/..` climb one
    /// level per `..` while the depth count only saw it go down and up. Snapshotted from a real folder,
    /// as a user (or a hostile teammate) would, and restored four folders deep.
    @Test(arguments: [
        [("self", "."), ("esc", "self/self/self/self/../../../..")],
        [("d", "sub"), ("x", "d/../..")],
        [("a", "b"), ("b", "."), ("x", "a/a/a/../../../..")],
    ])
    func linkChainsThatEscapeAreRefused(links: [(String, String)]) async throws {
        let ws = try Workspace()
        let source = ws.root + "/source"
        try FileManager.default.createDirectory(atPath: source + "/sub", withIntermediateDirectories: true)
        try FileSystem.writeAtomically(source + "/sub/fine.txt", bytes: Array("fine".utf8))
        for (name, target) in links { try FileManager.default.createSymbolicLink(atPath: source + "/" + name, withDestinationPath: target) }
        let snapshot = try await Archiver(repository: ws.repository).snapshot(source: source).record.snapshot
        let target = ws.root + "/a/b/c/d/t"
        do {
            _ = try await Restorer(repository: ws.repository).restore(snapshot, options: RestoreOptions(target: target))
            Issue.record("restore accepted \(links)")
        } catch let error as ArchiveError {
            #expect(error.kind == .unsafePath, "\(error)")
            #expect(error.description.contains("passes through the link") || error.description.contains("escapes"), "\(error)")
        }
        // Refused before anything was written.
        #expect(!FileSystem.exists(target + "/sub/fine.txt"))
        for (name, _) in links { #expect(!FileSystem.exists(target + "/" + name)) }
    }

    /// A link to a link, and links into real folders, stay allowed.
    @Test func linksToLinksInsideTheTargetAreRestored() async throws {
        let ws = try Workspace()
        let source = ws.root + "/source"
        try FileManager.default.createDirectory(atPath: source + "/real/lib", withIntermediateDirectories: true)
        try FileSystem.writeAtomically(source + "/real/lib/file.txt", bytes: Array("content".utf8))
        try FileManager.default.createSymbolicLink(atPath: source + "/lib", withDestinationPath: "real/lib")
        try FileManager.default.createSymbolicLink(atPath: source + "/alias", withDestinationPath: "lib")
        try FileManager.default.createSymbolicLink(atPath: source + "/real/up", withDestinationPath: "../real/lib/file.txt")
        let snapshot = try await Archiver(repository: ws.repository).snapshot(source: source).record.snapshot
        let target = ws.root + "/t"
        _ = try await Restorer(repository: ws.repository).restore(snapshot, options: RestoreOptions(target: target))
        #expect(try String(contentsOfFile: target + "/alias/file.txt", encoding: .utf8) == "content")
        #expect(try String(contentsOfFile: target + "/real/up", encoding: .utf8) == "content")
    }

    /// A tree from elsewhere asks for setuid, setgid and world-writable files; restore writes the
    /// permission bits only, narrowed by the umask.
    @Test func setuidAndWorldWritableModesAreNotApplied() async throws {
        let ws = try Workspace()
        var suid = Self.file("suid")
        suid.mode = 0o4777
        var sgid = Self.file("sgid")
        sgid.mode = 0o2666
        let snapshot = try ws.craftSnapshot([suid, sgid])
        let target = ws.root + "/t"
        _ = try await Restorer(repository: ws.repository).restore(snapshot, options: RestoreOptions(target: target))
        let mask = FileSystem.creationMask
        #expect(try FileSystem.status(target + "/suid").mode & 0o7777 == 0o777 & ~mask)
        #expect(try FileSystem.status(target + "/sgid").mode & 0o7777 == 0o666 & ~mask)
        #expect(Materializer.safeMode(0o4777) & 0o7000 == 0)
        #expect(Materializer.safeMode(0o777) == 0o777 & ~mask)
    }

    /// Three files each claiming 2^62 bytes once overflowed the restore's byte total and crashed it;
    /// now the first file's real size gives a clear error naming it.
    @Test func filesClaimingHugeSizesFailCleanly() async throws {
        let ws = try Workspace()
        let snapshot = try ws.craftSnapshot([Self.file("a"), Self.file("b"), Self.file("c")])
        var tree = try ws.repository.loadTree(snapshot.tree)
        for i in tree.nodes.indices { tree.nodes[i].size = Int64.max >> 1 }
        let bytes = tree.encoded()
        let treeID = ws.repository.contentMAC.id(bytes)
        let writer = BlobWriter(repository: ws.repository)
        try bytes.withUnsafeBytes { _ = try writer.store(BlobHandle(id: treeID, type: .tree), plaintext: $0, sealer: writer.makeSealer()) }
        try writer.flush()
        var lying = snapshot
        lying.tree = treeID
        let target = ws.root + "/t"
        await #expect { _ = try await Restorer(repository: ws.repository).restore(lying, options: RestoreOptions(target: target)) } throws: { error in
            "\(error)".contains("the snapshot records \(Int64.max >> 1)")
        }
        #expect(try FileSystem.list(target).isEmpty)
    }

    /// A folder swapped for a link to somewhere else after the folders were made once redirected the
    /// files written into it; everything is now created relative to folders opened without following
    /// links, so the swap stops the run with an error naming the folder and nothing lands outside.
    @Test func aFolderSwappedForALinkMidRunIsNotFollowed() throws {
        let ws = try Workspace()
        let target = ws.root + "/t", outside = ws.root + "/outside"
        try FileSystem.makeDirectories(outside)
        let dir = SnapshotEntry(path: "Data", node: TreeNode(name: "Data", type: .directory, mode: 0o755, mtimeNanos: 0, size: 0))
        let file = SnapshotEntry(path: "Data/x.esp", node: Self.file("x.esp"))
        let materializer = Materializer(target: target, temporaryPrefix: ".modvault-restore-")
        try materializer.makeDirectories([dir])
        try FileManager.default.removeItem(atPath: target + "/Data")
        try FileManager.default.createSymbolicLink(atPath: target + "/Data", withDestinationPath: outside)
        #expect { _ = try materializer.create(file) } throws: { error in
            (error as? ArchiveError)?.kind == .unsafePath && "\(error)".contains("no longer a folder")
        }
        #expect(try FileSystem.list(outside).isEmpty)
    }

    /// Two names differing only in case are restored side by side on a case-sensitive target, and refused
    /// before anything is written on a case-insensitive one (a FUSE folder that folds case as NTFS and FAT
    /// do), where the second would silently replace the first.
    @Test(.enabled(if: CaseFoldMount.available, "needs /dev/fuse and fusepy (scripts/setup.sh)"))
    func namesDifferingOnlyInCaseAreRefusedWhereTheTargetFoldsCase() async throws {
        let ws = try Workspace()
        let snapshot = try ws.craftSnapshot([Self.file("Foo.esp"), Self.file("foo.esp")])
        _ = try await Restorer(repository: ws.repository).restore(snapshot, options: RestoreOptions(target: ws.root + "/plain"))
        #expect(try FileSystem.list(ws.root + "/plain").sorted() == ["Foo.esp", "foo.esp"])

        let mount = try CaseFoldMount(backing: ws.root + "/backing", at: ws.root + "/folded")
        defer { mount.unmount() }
        let target = mount.path + "/t"
        await #expect { _ = try await Restorer(repository: ws.repository).restore(snapshot, options: RestoreOptions(target: target)) } throws: { error in
            (error as? ArchiveError)?.kind == .unsafePath && "\(error)".contains("only in case")
        }
        #expect(try FileSystem.list(mount.path).isEmpty)
    }

    /// A 250-byte name (legal on Linux) once failed half-way through a restore, because its
    /// temporary name was longer than 255 bytes.
    @Test func aLongNameIsRestored() async throws {
        let ws = try Workspace()
        let name = String(repeating: "n", count: 246) + ".esp"
        let snapshot = try ws.craftSnapshot([Self.file(name), Self.file("short.esp")])
        let target = ws.root + "/t"
        _ = try await Restorer(repository: ws.repository).restore(snapshot, options: RestoreOptions(target: target))
        #expect(try String(contentsOfFile: target + "/" + name, encoding: .utf8) == "evil")
        #expect(try FileSystem.list(target).sorted() == [name, "short.esp"].sorted())
    }

    /// A crafted tree holding a file and, beside it, an entry named as that file's temporary is
    /// refused before anything is written: assembling the file would overwrite the other entry.
    @Test func anEntryNamedAsATemporaryIsRefused() async throws {
        let ws = try Workspace()
        let target = ws.root + "/t"
        let temporary = Materializer(target: target, temporaryPrefix: ".modvault-restore-").temporaryName(of: "A.esp")
        let snapshot = try ws.craftSnapshot([Self.file("A.esp"), Self.file(temporary)])
        await #expect { _ = try await Restorer(repository: ws.repository).restore(snapshot, options: RestoreOptions(target: target)) } throws: { error in
            (error as? ArchiveError)?.kind == .unsafePath && "\(error)".contains("temporary")
        }
        #expect(!FileSystem.exists(target + "/A.esp"))
    }

    /// Twenty levels, each naming the level below twice: 2^20 paths from 21 small trees. The walk that
    /// restore, mirror and ls use refuses it once one subtree is used past the limit (lowered here, so
    /// the test stays quick), long before the expansion.
    @Test func aSubtreeReusedWithoutBoundIsRefused() async throws {
        let ws = try Workspace()
        let leaf = try ws.craftSnapshot([Self.file("leaf.txt")]).tree
        let writer = BlobWriter(repository: ws.repository)
        let sealer = writer.makeSealer()
        var below = leaf
        for _ in 0..<20 {
            let nodes = ["a", "b"].map { TreeNode(name: $0, type: .directory, mode: 0o755, mtimeNanos: 0, size: 0, subtree: below) }
            let bytes = Tree(nodes: nodes).encoded()
            let id = ws.repository.contentMAC.id(bytes)
            try bytes.withUnsafeBytes { _ = try writer.store(BlobHandle(id: id, type: .tree), plaintext: $0, sealer: sealer) }
            below = id
        }
        try writer.flush()
        var walker = TreeWalker(repository: ws.repository)
        walker.subtreeLimit = 1000
        var visited = 0
        #expect { try walker.walk(below) { _ in visited += 1; return true } } throws: { error in
            (error as? ArchiveError)?.kind == .unsafePath && "\(error)".contains("appears more than 1000 times")
        }
        #expect(visited < 5000)
        // A subtree used twice under two names (identical folders) is fine.
        var twice = 0
        try walker.walk(below) { entry in
            twice += 1
            return entry.path.split(separator: "/").count < 3
        }
        #expect(twice == 2 + 4 + 8)
    }

    @Test func innocentLinksInsideTheTargetAreRestored() async throws {
        let ws = try Workspace()
        let link = TreeNode(name: "link", type: .symlink, mode: 0o777, mtimeNanos: 0, size: 0, linkTarget: "sub/../fine.txt")
        let snapshot = try ws.craftSnapshot([link, Self.file("fine.txt")])
        _ = try await Restorer(repository: ws.repository).restore(snapshot, options: RestoreOptions(target: ws.root + "/t"))
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: ws.root + "/t/link") == "sub/../fine.txt")
        #expect(try String(contentsOfFile: ws.root + "/t/fine.txt", encoding: .utf8) == "evil")
    }

    @Test func fixtureRoundTripDiffAndIncrementalGrowth() async throws {
        // Small chunks, so that a few-MiB corpus has enough chunks per file to show deduplication.
        let ws = try Workspace(chunker: ChunkerParameters(minSize: 16 << 10, averageSize: 64 << 10, maxSize: 256 << 10))
        let base = ws.root + "/base", next = ws.root + "/next"
        _ = try FixtureGenerator.writeBase(FixtureOptions(seed: 7, scaleBytes: 3 << 20), to: base)
        _ = try FixtureGenerator.writeNext(FixtureOptions(seed: 7, scaleBytes: 3 << 20), to: next)
        let archiver = Archiver(repository: ws.repository)
        let first = try await archiver.snapshot(source: base)
        #expect(first.warnings.isEmpty)
        let summary1 = try #require(first.record.snapshot.summary)
        #expect(summary1.filesNew > 10)

        let out = ws.root + "/out"
        _ = try await Restorer(repository: ws.repository).restore(first.record.snapshot, options: RestoreOptions(target: out))
        let sourceFiles = try FileManager.default.subpathsOfDirectory(atPath: base).sorted()
        #expect(try FileManager.default.subpathsOfDirectory(atPath: out).sorted() == sourceFiles)
        for path in sourceFiles where !FileSystem.isDirectory(base + "/" + path) {
            #expect(FileManager.default.contentsEqual(atPath: base + "/" + path, andPath: out + "/" + path), "\(path)")
        }

        let second = try await archiver.snapshot(source: next)
        let summary2 = try #require(second.record.snapshot.summary)
        // The next version shares most content with the base: far less is added than was read.
        #expect(summary2.bytesAdded < summary2.bytesRead / 2)

        let changes = try Differ(repository: ws.repository).diff(first.record.snapshot.tree, second.record.snapshot.tree)
        #expect(changes.contains { $0.kind == .added })
        #expect(changes.contains { $0.kind == .removed })
        #expect(changes.contains { $0.kind == .modified && $0.path.hasSuffix(".esp") })
        let report = try Checker(repository: ws.repository).check(readData: true)
        #expect(report.isHealthy, "\(report.errors)")
        #expect(report.blobsVerified > 0)
    }

    @Test func checkNamesFilesAffectedByAMissingPack() async throws {
        let ws = try Workspace()
        let src = ws.root + "/src"
        try FileManager.default.createDirectory(atPath: src + "/mods/A", withIntermediateDirectories: true)
        var bytes = [UInt8](repeating: 0, count: 300_000)
        for i in bytes.indices { bytes[i] = UInt8(truncatingIfNeeded: i &* 2654435761 >> 13) }
        try Data(bytes).write(to: URL(fileURLWithPath: src + "/mods/A/A.ba2"))
        let result = try await Archiver(repository: ws.repository).snapshot(source: src)
        for pack in try ws.repository.list(.pack) {
            try FileManager.default.removeItem(atPath: ws.repository.filePath(ObjectName(kind: .pack, id: pack)))
        }
        let report = try Checker(repository: ws.repository).check(readData: false)
        #expect(!report.isHealthy)
        #expect(report.errors.contains { $0.contains("missing object") })
        #expect(report.affected.contains { $0.contains(result.record.id.short) })
    }

    @Test func changedAndUnchangedFilesAreCounted() async throws {
        let ws = try Workspace()
        let src = ws.root + "/src"
        try FileManager.default.createDirectory(atPath: src, withIntermediateDirectories: true)
        for i in 0..<5 { try "file \(i)".write(toFile: "\(src)/f\(i).txt", atomically: false, encoding: .utf8) }
        // A file changed in the clock tick the scan sees it is read again next time (`Scan.observedEntries`).
        try await Task.sleep(for: .milliseconds(30))
        let archiver = Archiver(repository: ws.repository)
        _ = try await archiver.snapshot(source: src)
        try "changed".write(toFile: "\(src)/f0.txt", atomically: false, encoding: .utf8)
        try "new".write(toFile: "\(src)/g.txt", atomically: false, encoding: .utf8)
        let s = try #require(try await archiver.snapshot(source: src).record.snapshot.summary)
        #expect(s.filesNew == 1)
        #expect(s.filesChanged == 1)
        #expect(s.filesUnchanged == 4)
    }
}

/// A case-insensitive folder: `Tests/Support/casefold_fs.py` (FUSE, through fusepy) mounted over a
/// backing folder for the duration of one test.
struct CaseFoldMount {
    let path: String
    let process: Process

    /// True when a case-folding folder can really be mounted here: FUSE, fusepy and the right to
    /// mount (a container may lack it even with /dev/fuse present).
    static let available: Bool = {
        guard FileManager.default.fileExists(atPath: "/dev/fuse") else { return false }
        let probe = Process()
        probe.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        probe.arguments = ["python3", "-c", "import fuse"]
        probe.standardError = FileHandle.nullDevice
        guard (try? probe.run()) != nil else { return false }
        probe.waitUntilExit()
        guard probe.terminationStatus == 0 else { return false }
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("modvault-fuse-probe-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        guard let mount = try? CaseFoldMount(backing: root + "/backing", at: root + "/mounted") else { return false }
        mount.unmount()
        return true
    }()

    init(backing: String, at path: String) throws {
        try FileSystem.makeDirectories(backing)
        try FileSystem.makeDirectories(path)
        self.path = path
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Support/casefold_fs.py").path
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script, backing, path]
        try process.run()
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if let mounts = try? String(contentsOfFile: "/proc/mounts", encoding: .utf8), mounts.contains(" \(path) ") { return }
            Thread.sleep(forTimeInterval: 0.05)
        }
        process.terminate()
        throw SystemCallError(code: ETIMEDOUT, operation: "mount case-folding folder", path: path)
    }

    func unmount() {
        let umount = Process()
        umount.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        umount.arguments = ["fusermount", "-u", path]
        try? umount.run()
        umount.waitUntilExit()
        process.waitUntilExit()
    }
}
