import Foundation
import Testing
import ModVaultCore
import ModVaultStore
import ModVaultArchive
import ModVaultFixtures
import ModVaultFormats
import ModVaultCrypto

/// Archives repacked at another zlib level, stored as one archive blob against their previous version.
@Suite("repacked archives")
struct RepackTests {
    /// The base corpus and the same corpus with every BA2 repacked (level 9, or 6 where 9 was used).
    static func corpora(_ ws: Workspace) throws -> (base: String, repacked: String) {
        let options = FixtureOptions(seed: 5, scaleBytes: 4 << 20)
        let base = ws.root + "/base", repacked = ws.root + "/repacked"
        _ = try FixtureGenerator.writeBase(options, to: base)
        _ = try FixtureGenerator.writeScenario(.repack, options, to: repacked)
        return (base, repacked)
    }

    static func archives(in folder: String) throws -> [String] {
        try FileManager.default.subpathsOfDirectory(atPath: folder).filter { $0.hasSuffix(".ba2") }.sorted()
    }

    @Test func everyFixtureArchiveIsARepackOfItsBaseAndRebuildsExactly() throws {
        let ws = try Workspace()
        let (base, repacked) = try Self.corpora(ws)
        let engine = RecipeEngine()
        var derived = 0
        // Archives of raw members only (voices) come out of a repack unchanged.
        for path in try Self.archives(in: base) where try FileSystem.readFile(base + "/" + path) != FileSystem.readFile(repacked + "/" + path) {
            let a = try FileRangeReader(path: base + "/" + path), b = try FileRangeReader(path: repacked + "/" + path)
            let plan = try BA2Repack.derive(base: a, new: b, engine: engine, path: path)
            guard let plan else {
                Issue.record("\(path) not derived")
                continue
            }
            derived += 1
            var out = [UInt8](repeating: 0, count: Int(b.size))
            let size = try BA2Repack.rebuild(base: a, plan: plan.encoded(), engine: engine, path: path) { offset, bytes in
                out.replaceSubrange(Int(offset)..<Int(offset) + bytes.count, with: bytes)
            }
            #expect(size == b.size)
            #expect(out == (try FileSystem.readFile(repacked + "/" + path)), "\(path)")
        }
        #expect(derived > 3)
    }
}

extension RepackTests {
    /// Plan bytes: `u8 1 ‖ "zlib" ‖ version ‖ u8 2 ‖ 9 15 8 0 ‖ 6 15 8 0 ‖ varint 3 runs ‖ (3, 1) (1, 0) (1, 2)`.
    @Test func planEncodingIsFixed() throws {
        let plan = BA2RepackPlan(recipes: [ZlibParameters(level: 9, windowBits: 15), .pcDefault], choices: [1, 1, 1, 0, 2],
                                 implementation: "zlib", implementationVersion: "1.2.13")
        let expected: [UInt8] = [1, 4] + Array("zlib".utf8) + [6] + Array("1.2.13".utf8)
            + [2, 9, 15, 8, 0, 6, 15, 8, 0] + [3, 3, 1, 1, 0, 1, 2]
        #expect(plan.encoded() == expected)
        #expect(try BA2RepackPlan.decode(expected, chunkLimit: 5) == plan)
    }

    /// A plan from a hostile repository may claim anything: each of these is refused, none allocates.
    @Test(arguments: [
        ("runs past the base's chunks", [3, 6, 1], 5),
        ("a run of length 0", [2, 0, 1, 5, 1], 5),
        ("a choice beyond the parameter sets", [1, 5, 3], 5),
        ("a huge run", [1, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 1], 1 << 20),
        ("two runs of one choice", [2, 2, 1, 3, 1], 5),
    ] as [(String, [UInt8], Int)])
    func hostilePlansAreRefused(_ why: String, runs: [UInt8], limit: Int) {
        let head: [UInt8] = [1, 4] + Array("zlib".utf8) + [6] + Array("1.2.13".utf8) + [2, 9, 15, 8, 0, 6, 15, 8, 0]
        #expect(throws: FormatError.self, "\(why)") { _ = try BA2RepackPlan.decode(head + runs, chunkLimit: limit) }
    }

    /// Archive blob bytes, and the rule that its base names only data and stream blobs.
    @Test func archiveBlobEncodingIsFixed() throws {
        let a = ObjectID(bytes: [UInt8](repeating: 0xAA, count: 32))!, d = ObjectID(bytes: [UInt8](repeating: 0xDD, count: 32))!
        let blob = ArchiveBlob(kind: .ba2Repack, base: .inline([BlobHandle(id: a, type: .data)]), baseSize: 300, size: 290,
                               digest: d, plan: [7, 8])
        let expected: [UInt8] = [1, 1, 0, 1, 0] + [UInt8](repeating: 0xAA, count: 32) + [0xAC, 0x02, 0xA2, 0x02]
            + [UInt8](repeating: 0xDD, count: 32) + [2, 7, 8]
        #expect(blob.encoded() == expected)
        #expect(try ArchiveBlob.decode(expected) == blob)
        var chained = expected
        chained[4] = BlobType.archive.rawValue
        #expect(throws: ByteReader.Malformed.self) { _ = try ArchiveBlob.decode(chained) }
        let listed = ArchiveBlob(kind: .ba2Repack, base: .list(a, count: 9), baseSize: 300, size: 290, digest: d, plan: [])
        #expect(try ArchiveBlob.decode(listed.encoded()) == listed)
    }

    /// An archive blob is a file's only handle: a tree naming it beside other blobs is refused.
    @Test func aTreeNamesAnArchiveBlobOnlyAlone() throws {
        let a = ObjectID(bytes: [UInt8](repeating: 1, count: 32))!
        var node = TreeNode(name: "x.ba2", type: .regular, mode: 0o644, mtimeNanos: 1, size: 10, content: .inline([BlobHandle(id: a, type: .archive)]))
        let alone = Tree(nodes: [node])
        #expect(alone.encodingVersion == 3)
        #expect(try Tree.decode(alone.encoded()) == alone)
        node.content = .inline([BlobHandle(id: a, type: .archive), BlobHandle(id: a, type: .data)])
        #expect(throws: ByteReader.Malformed.self) { _ = try Tree.decode(Tree(nodes: [node]).encoded()) }
    }

    /// Snapshot of a repacked corpus: each changed archive is one archive blob, growth is a few KiB,
    /// restore and check rebuild every byte, and reading the folder again changes nothing.
    @Test func aRepackedCorpusCostsAFewKiBAndRestoresExactly() async throws {
        let ws = try Workspace()
        let (base, repacked) = try Self.corpora(ws)
        let archiver = Archiver(repository: ws.repository)
        let first = try await archiver.snapshot(source: base)
        var options = SnapshotOptions()
        options.parent = first.record.id.hex
        let second = try await archiver.snapshot(source: repacked, options: options)
        let changed = try Self.archives(in: base).filter { try FileSystem.readFile(base + "/" + $0) != FileSystem.readFile(repacked + "/" + $0) }
        #expect(second.streams.repacked == changed.count, "\(second.streams)")
        // Each archive costs one small blob, whatever its member count; the rest of the growth is the
        // trees (every file of the second folder has a new mtime).
        let archiveBytes = try ws.repository.index.allBlobs().filter { $0.0.type == .archive }.map(\.1.length)
        #expect(archiveBytes.count == changed.count && archiveBytes.allSatisfy { $0 < 512 }, "\(archiveBytes)")
        let added = try #require(second.record.snapshot.summary).bytesAdded
        #expect(added < 48 << 10, "added \(added) bytes for \(changed.count) repacked archives")

        let out = ws.root + "/out"
        _ = try await Restorer(repository: ws.repository).restore(second.record.snapshot, options: RestoreOptions(target: out))
        try StreamTests.expectIdentical(repacked, out)
        let report = try Checker(repository: ws.repository).check(readData: true, rebuildStreams: true)
        #expect(report.isHealthy, "\(report.errors)")
        #expect(report.streamsRebuilt >= changed.count)

        var again = SnapshotOptions()
        again.forceRead = true
        let third = try await archiver.snapshot(source: repacked, options: again)
        #expect(third.record.snapshot.tree == second.record.snapshot.tree)
        #expect(third.streams.repacked == 0 && third.streams.recipeSeconds == 0, "\(third.streams)")

        // Pruning the base snapshot keeps the base content the archive blobs name.
        try FileSystem.remove(ws.repository.filePath(ObjectName(kind: .snapshot, id: first.record.id)))
        _ = try Pruner(repository: ws.repository).prune(maxUnused: 0)
        #expect(try Checker(repository: ws.repository).check(readData: true, rebuildStreams: true).isHealthy)
        try FileManager.default.removeItem(atPath: out)
        _ = try await Restorer(repository: ws.repository).restore(second.record.snapshot, options: RestoreOptions(target: out))
        try StreamTests.expectIdentical(repacked, out)
    }

    enum Tamper: CaseIterable { case digest, size, baseSize, plan }

    /// An archive blob that does not rebuild to its recorded bytes is refused with the file's path.
    @Test(arguments: Tamper.allCases) func aBlobThatDoesNotRebuildIsRefused(tamper: Tamper) throws {
        let ws = try Workspace()
        let (base, repacked) = try Self.corpora(ws)
        let path = try #require(try Self.archives(in: base).first { try FileSystem.readFile(base + "/" + $0) != FileSystem.readFile(repacked + "/" + $0) })
        let a = try FileRangeReader(path: base + "/" + path), b = try FileRangeReader(path: repacked + "/" + path)
        let plan = try #require(try BA2Repack.derive(base: a, new: b, engine: RecipeEngine()))
        let digest = SHA256Digest.hash(try FileSystem.readFile(repacked + "/" + path))
        var blob = ArchiveBlob(kind: .ba2Repack, base: .empty, baseSize: a.size, size: b.size, digest: digest, plan: plan.encoded())
        switch tamper {
        case .digest: blob.digest = SHA256Digest.hash([1])
        case .size: blob.size -= 1
        case .baseSize: blob.baseSize += 1
        case .plan: blob.plan = BA2RepackPlan(recipes: [ZlibParameters(level: 1, windowBits: 15)], choices: plan.choices.map { $0 == 0 ? 0 : 1 }).encoded()
        }
        let out = try OpenFile.anonymous(in: ws.root)
        let error = #expect(throws: StoreError.self) {
            _ = try ArchiveFiles.write(blob, base: a, into: out, readBack: out, engine: RecipeEngine(), label: "target/" + path)
        }
        guard case .corruptObject(let where_, _)? = error else {
            Issue.record("got \(String(describing: error))")
            return
        }
        #expect(where_ == "target/" + path)
    }
}
