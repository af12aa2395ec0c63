import Foundation
import Testing
import ModVaultCore
import ModVaultChunking
import ModVaultStore
import ModVaultArchive

@Suite("content lists and moved files in snapshots")
struct ContentListArchiveTests {
    static let smallChunks = ChunkerParameters(minSize: 1 << 10, averageSize: 4 << 10, maxSize: 16 << 10)

    static func write(_ path: String, bytes: Int, seed: UInt64) throws {
        var g = SplitMix64(seed: seed)
        let data = Data(g.bytes(bytes))
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try data.write(to: URL(fileURLWithPath: path))
    }

    static func node(_ ws: Workspace, _ snapshot: Snapshot, _ path: String) throws -> TreeNode {
        try #require(try TreeWalker(repository: ws.repository).find(path, in: snapshot.tree))
    }

    @Test func anEditInALongFileRewritesAFewListBlobsAndRestoresExactly() async throws {
        let ws = try Workspace(chunker: Self.smallChunks)
        let src = ws.root + "/src"
        try Self.write(src + "/Data/Big.ba2", bytes: 3 << 20, seed: 1)
        try Self.write(src + "/Data/small.esp", bytes: 3000, seed: 2)
        let archiver = Archiver(repository: ws.repository)
        let first = try await archiver.snapshot(source: src)
        let big = try Self.node(ws, first.record.snapshot, "Data/Big.ba2")
        guard case .list(_, let count) = big.content else { Issue.record("a 3 MiB file in 4 KiB chunks should have a list"); return }
        #expect(count > 300)
        #expect(try Self.node(ws, first.record.snapshot, "Data/small.esp").content.inlineHandles != nil)

        // Overwrite 100 bytes in the middle, keeping the size.
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: src + "/Data/Big.ba2"))
        try handle.seek(toOffset: 1_500_000)
        handle.write(Data(repeating: 0x5A, count: 100))
        try handle.close()
        let second = try await archiver.snapshot(source: src)
        let summary = try #require(second.record.snapshot.summary)
        // One or two chunks, the leaf lists above them, the root list, two trees: nothing that grows with the file.
        #expect(summary.blobsAdded <= 9, "\(summary.blobsAdded) blobs added")
        #expect(summary.bytesAdded < 40 << 10, "\(summary.bytesAdded) bytes added")

        for (snapshot, name) in [(first.record.snapshot, "one"), (second.record.snapshot, "two")] {
            _ = try await Restorer(repository: ws.repository).restore(snapshot, options: RestoreOptions(target: ws.root + "/" + name))
        }
        #expect(FileManager.default.contentsEqual(atPath: ws.root + "/two/Data/Big.ba2", andPath: src + "/Data/Big.ba2"))
        #expect(!FileManager.default.contentsEqual(atPath: ws.root + "/one/Data/Big.ba2", andPath: src + "/Data/Big.ba2"))

        // Prune keeps every list both snapshots reach; check reads them all back.
        _ = try Pruner(repository: ws.repository).prune(maxUnused: 0)
        #expect(try Checker(repository: ws.repository).check(readData: true).isHealthy)
        _ = try await Restorer(repository: ws.repository).restore(first.record.snapshot, options: RestoreOptions(target: ws.root + "/again"))
        #expect(FileManager.default.contentsEqual(atPath: ws.root + "/again/Data/Big.ba2", andPath: ws.root + "/one/Data/Big.ba2"))
    }

    @Test func aMovedFileIsNotReadAgain() async throws {
        let ws = try Workspace(chunker: Self.smallChunks)
        let src = ws.root + "/src"
        try Self.write(src + "/ModA/Textures.ba2", bytes: 1 << 20, seed: 3)
        try Self.write(src + "/ModA/keep.esp", bytes: 5000, seed: 4)
        // A file changed in the clock tick the scan sees it is read again next time (`Scan.observedEntries`).
        try await Task.sleep(for: .milliseconds(30))
        let archiver = Archiver(repository: ws.repository)
        let first = try await archiver.snapshot(source: src)
        try FileManager.default.createDirectory(atPath: src + "/ModB", withIntermediateDirectories: true)
        try FileManager.default.moveItem(atPath: src + "/ModA/Textures.ba2", toPath: src + "/ModB/Renamed.ba2")
        let second = try await archiver.snapshot(source: src)
        let summary = try #require(second.record.snapshot.summary)
        #expect(summary.bytesRead == 0)
        #expect(summary.filesNew == 0 && summary.filesUnchanged == 2)
        #expect(try Self.node(ws, second.record.snapshot, "ModB/Renamed.ba2").content == Self.node(ws, first.record.snapshot, "ModA/Textures.ba2").content)
        _ = try await Restorer(repository: ws.repository).restore(second.record.snapshot, options: RestoreOptions(target: ws.root + "/out"))
        #expect(FileManager.default.contentsEqual(atPath: ws.root + "/out/ModB/Renamed.ba2", andPath: src + "/ModB/Renamed.ba2"))
    }

    @Test func aFileEditedInPlaceWithItsSizeAndTimeKeptIsReadAgain() async throws {
        let ws = try Workspace(chunker: Self.smallChunks)
        let src = ws.root + "/src"
        let path = src + "/Mod/plugin.esp"
        try Self.write(path, bytes: 64 << 10, seed: 5)
        let archiver = Archiver(repository: ws.repository)
        _ = try await archiver.snapshot(source: src)
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
        handle.write(Data(repeating: 1, count: 10))
        try handle.close()
        // The mtime is put back, as some tools do; the ctime still moves, and the inode is the same.
        try FileManager.default.setAttributes([.modificationDate: attributes[.modificationDate]!], ofItemAtPath: path)
        let second = try await archiver.snapshot(source: src)
        #expect(second.record.snapshot.summary?.filesChanged == 1)
        _ = try await Restorer(repository: ws.repository).restore(second.record.snapshot, options: RestoreOptions(target: ws.root + "/out"))
        #expect(FileManager.default.contentsEqual(atPath: ws.root + "/out/Mod/plugin.esp", andPath: path))
    }

    @Test func aDamagedListIsReportedWithTheFilePath() async throws {
        let ws = try Workspace(chunker: Self.smallChunks)
        let src = ws.root + "/src"
        try Self.write(src + "/Data/Big.ba2", bytes: 1 << 20, seed: 6)
        let snapshot = try await Archiver(repository: ws.repository).snapshot(source: src).record.snapshot
        // A tree whose file claims a list that covers more blobs than the list holds.
        var node = try Self.node(ws, snapshot, "Data/Big.ba2")
        guard case .list(let root, let count) = node.content else { Issue.record("expected a list"); return }
        node.content = .list(root, count: count + 1)
        let crafted = try ws.craftTree([node])
        var bad = snapshot
        bad.tree = crafted
        do {
            _ = try await Restorer(repository: ws.repository).restore(bad, options: RestoreOptions(target: ws.root + "/out"))
            Issue.record("restore accepted a list whose counts disagree")
        } catch let error as StoreError {
            #expect(error.kind == .corrupt)
            #expect(error.description.contains("Big.ba2"))
        }
        // Saved as a snapshot, check names the file too.
        _ = try ws.repository.saveSnapshot(bad)
        let report = try Checker(repository: ws.repository).check(readData: false)
        #expect(!report.isHealthy)
        #expect(report.affected.contains { $0.hasSuffix(": Big.ba2") }, "\(report.affected)")
    }
}

@Suite("format versions")
struct FormatVersionTests {
    /// Rewrites the repository's config with another version, sealed under the same key.
    static func setConfigVersion(_ version: Int, in ws: Workspace) throws {
        var config = ws.repository.config
        config.version = version
        let sealed = ws.repository.cipher.seal(Array(try JSONEncoder().encode(config)), associatedData: Array("config".utf8))
        try Data(sealed).write(to: URL(fileURLWithPath: ws.repository.path + "/config"))
    }

    @Test func newRepositoriesAreVersionTwo() throws {
        #expect(try Workspace().repository.config.version == 2)
    }

    @Test func aVersionOneRepositoryIsReadAndWritten() async throws {
        let ws = try Workspace(chunker: ContentListArchiveTests.smallChunks)
        try Self.setConfigVersion(1, in: ws)
        let repo = try Repository.open(at: ws.repository.path, password: Array("pw".utf8))
        #expect(repo.config.version == 1)
        let src = ws.root + "/src"
        try ContentListArchiveTests.write(src + "/a.bin", bytes: 200 << 10, seed: 9)
        let result = try await Archiver(repository: repo).snapshot(source: src)
        _ = try await Restorer(repository: repo).restore(result.record.snapshot, options: RestoreOptions(target: ws.root + "/out"))
        #expect(FileManager.default.contentsEqual(atPath: ws.root + "/out/a.bin", andPath: src + "/a.bin"))
    }

    @Test func anUnknownVersionIsRefusedByName() throws {
        let ws = try Workspace()
        try Self.setConfigVersion(3, in: ws)
        let error = #expect(throws: StoreError.self) { try Repository.open(at: ws.repository.path, password: Array("pw".utf8)) }
        #expect(error?.description.contains("/config") == true)
    }
}
