import Foundation
import Testing
import ModVaultCore
import ModVaultCrypto
import ModVaultStore
import ModVaultArchive
import ModVaultFixtures
import ModVaultFormats

/// Compressed streams stored decompressed with a recipe: restore, reuse, prune, check and tampering.
@Suite("compressed streams")
struct StreamTests {
    static func corpus(_ ws: Workspace, seed: UInt64 = 11) throws -> String {
        let base = ws.root + "/base"
        _ = try FixtureGenerator.writeBase(FixtureOptions(seed: seed, scaleBytes: 3 << 20), to: base)
        return base
    }

    static func options(_ policy: NormalizePolicy, forceRead: Bool = false) -> SnapshotOptions {
        var o = SnapshotOptions()
        o.normalize = policy
        o.forceRead = forceRead
        return o
    }

    static func expectIdentical(_ a: String, _ b: String) throws {
        let files = try FileManager.default.subpathsOfDirectory(atPath: a).sorted()
        #expect(try FileManager.default.subpathsOfDirectory(atPath: b).sorted() == files)
        for path in files where !FileSystem.isDirectory(a + "/" + path) {
            #expect(FileManager.default.contentsEqual(atPath: a + "/" + path, andPath: b + "/" + path), "\(path)")
        }
    }

    /// The handles of every file in a snapshot, by path.
    static func contents(_ ws: Workspace, _ snapshot: Snapshot) throws -> [String: [BlobHandle]] {
        var out: [String: [BlobHandle]] = [:]
        try TreeWalker(repository: ws.repository).walk(snapshot.tree) { entry in
            if entry.node.type == .regular { out[entry.path] = try ws.repository.contentHandles(entry.node, path: entry.path) }
            return true
        }
        return out
    }

    @Test func normalizedStreamsRestoreByteIdenticalAndAreNeverProcessedTwice() async throws {
        let ws = try Workspace()
        let base = try Self.corpus(ws)
        let archiver = Archiver(repository: ws.repository)
        let first = try await archiver.snapshot(source: base, options: Self.options(.all))
        #expect(first.streams.normalized > 20)
        #expect(first.streams.kept == 0)
        let files = try Self.contents(ws, first.record.snapshot)
        #expect(files.values.contains { $0.contains { $0.type == .stream } })

        let out = ws.root + "/out"
        _ = try await Restorer(repository: ws.repository).restore(first.record.snapshot, options: RestoreOptions(target: out))
        try Self.expectIdentical(base, out)
        let report = try Checker(repository: ws.repository).check(readData: true)
        #expect(report.isHealthy, "\(report.errors)")

        // Read everything again: each stream is found by its ID, none is decompressed or searched again.
        let second = try await archiver.snapshot(source: base, options: Self.options(.all, forceRead: true))
        #expect(second.streams.total == first.streams.total)
        #expect(second.streams.reused == second.streams.total)
        #expect(second.streams.recipeSeconds == 0)
        #expect(second.record.snapshot.tree == first.record.snapshot.tree)
    }

    @Test func defaultFirstSnapshotKeepsStreamsCompressedAndLaterSnapshotsReuseThem() async throws {
        let ws = try Workspace()
        let base = try Self.corpus(ws)
        let archiver = Archiver(repository: ws.repository)
        let first = try await archiver.snapshot(source: base)
        #expect(first.streams.kept > 20)
        #expect(first.streams.normalized == 0)
        #expect(try Self.contents(ws, first.record.snapshot).values.allSatisfy { $0.allSatisfy { $0.type == .data } })

        // With a parent, `.auto` may normalise, but the bytes are already stored as they are: all reused.
        let second = try await archiver.snapshot(source: base, options: Self.options(.auto, forceRead: true))
        #expect(second.streams.reused == second.streams.total)
        #expect(second.streams.normalized == 0)
        let summary = try #require(second.record.snapshot.summary)
        #expect(summary.bytesAdded < 64 << 10)
    }

    @Test(arguments: [30.0, 0]) func autoStoresAStreamDecompressedWhenItsContentIsAlreadyStored(budget: Double) async throws {
        let ws = try Workspace()
        let base = try Self.corpus(ws)
        let archiver = Archiver(repository: ws.repository)
        _ = try await archiver.snapshot(source: base, options: Self.options(.all))
        // The same members under another zlib level: new stream IDs, known content.
        let (ba2, repacked) = try StreamFixture.repackFirstGeneralArchive(in: base)
        var auto = Self.options(.auto)
        auto.normalizeBudget = budget
        let second = try await archiver.snapshot(source: base, options: auto)
        let out = ws.root + "/out"
        _ = try await Restorer(repository: ws.repository).restore(second.record.snapshot, options: RestoreOptions(target: out))
        try Self.expectIdentical(base, out)
        guard budget > 0 else {
            // No time to spend: the repacked streams are kept as they are.
            #expect(second.streams.normalized == 0 && second.streams.kept > 0, "\(second.streams)")
            return
        }
        // The repacked archive is stored as one archive blob against its previous version.
        #expect(second.streams.repacked == 1, "\(second.streams) in \(ba2)")
        let summary = try #require(second.record.snapshot.summary)
        // Only metadata: the repacked archive's content is stored already.
        #expect(summary.bytesAdded < Int64(repacked.count) / 10, "added \(summary.bytesAdded) for a \(repacked.count)-byte repack")
    }

    @Test func optimizeConvertsAKeptSnapshotSoLaterRepacksDedupe() async throws {
        let ws = try Workspace()
        let base = try Self.corpus(ws)
        let archiver = Archiver(repository: ws.repository)
        let first = try await archiver.snapshot(source: base)
        #expect(first.streams.kept > 20 && first.streams.normalized == 0)

        // No time at all: nothing changes, and the streams are counted as left for later.
        var none = OptimizeOptions()
        none.budget = 0
        let idle = try await Optimizer(repository: ws.repository).optimize(first.record, options: none)
        #expect(idle.replacement == nil && idle.streamsLeft > 20)
        #expect(try ws.repository.snapshots().map(\.id) == [first.record.id])

        let report = try await Optimizer(repository: ws.repository).optimize(first.record)
        let replacement = try #require(report.replacement)
        #expect(report.streams.normalized > 20 && report.filesRewritten > 0)
        let records = try ws.repository.snapshots()
        #expect(records.map(\.id) == [replacement])
        let optimized = try #require(records.first)
        #expect(optimized.snapshot.paths == first.record.snapshot.paths)
        // Stored with nanoseconds in text, so compare at the microsecond.
        #expect(abs(optimized.snapshot.time.timeIntervalSince(first.record.snapshot.time)) < 1e-6)
        #expect(try Self.contents(ws, optimized.snapshot).values.contains { $0.contains { $0.type == .stream } })
        let pruned = try Pruner(repository: ws.repository).prune(maxUnused: 0)
        #expect(pruned.bytesFreed > 0)
        #expect(try Checker(repository: ws.repository).check(readData: true, rebuildStreams: true).isHealthy)
        let out = ws.root + "/out"
        _ = try await Restorer(repository: ws.repository).restore(optimized.snapshot, options: RestoreOptions(target: out))
        try Self.expectIdentical(base, out)

        // The optimised snapshot is the parent now: a repack of an archive stores little.
        let (ba2, repacked) = try StreamFixture.repackFirstGeneralArchive(in: base)
        let after = try await archiver.snapshot(source: base)
        #expect(after.record.snapshot.parents == [replacement])
        #expect(after.streams.repacked == 1, "\(after.streams)")
        let summary = try #require(after.record.snapshot.summary)
        #expect(summary.bytesAdded < Int64(repacked.count) / 10, "added \(summary.bytesAdded) for a \(repacked.count)-byte repack")

        // The structural diff sees a repack, reading both versions' members from their stored content.
        let old = try #require(try Self.node(ws, optimized.snapshot, ba2)), new = try #require(try Self.node(ws, after.record.snapshot, ba2))
        guard case .ba2(let d)? = try FormatDiffer.diff(path: ba2, old: old, new: new, repository: ws.repository) else {
            Issue.record("no BA2 diff for \(ba2)")
            return
        }
        #expect(d.contentCompared && d.changed.isEmpty && d.added.isEmpty && d.removed.isEmpty && !d.repacked.isEmpty)
    }

    static func node(_ ws: Workspace, _ snapshot: Snapshot, _ path: String) throws -> TreeNode? {
        var found: TreeNode?
        try TreeWalker(repository: ws.repository).walk(snapshot.tree) { entry in
            if entry.path == path { found = entry.node }
            return true
        }
        return found
    }

    /// The loose copies of an archive's textures cost little more than their DDS headers, whether the
    /// archive's streams were stored decompressed (`all`) or kept compressed (`auto`, the default): then
    /// each surface run is a stream blob that inflates the archived stream.
    @Test(arguments: [NormalizePolicy.all, .auto]) func looseTexturesDedupeAgainstTheArchive(base policy: NormalizePolicy) async throws {
        let ws = try Workspace()
        let base = try Self.corpus(ws)
        let archiver = Archiver(repository: ws.repository)
        _ = try await archiver.snapshot(source: base, options: Self.options(policy))
        let before = try FileManager.default.subpathsOfDirectory(atPath: base)
        let summary = try FixtureGenerator.writeScenario(.looseDDS, FixtureOptions(seed: 11, scaleBytes: 3 << 20), to: base)
        let loose = try FileManager.default.subpathsOfDirectory(atPath: base).filter { $0.hasSuffix(".dds") && !before.contains($0) }
        let looseBytes = try loose.reduce(Int64(0)) { $0 + Int64(try FileSystem.readFile(base + "/" + $1).count) }
        #expect(loose.count > 2 && looseBytes > 50_000)
        let after = try await archiver.snapshot(source: base)
        let added = try #require(after.record.snapshot.summary).bytesAdded
        #expect(added < summary.idealNewBytes + 64 << 10, "added \(added) for \(looseBytes) bytes of loose textures")
        if policy == .auto {
            // Textures the archive stores uncompressed dedupe as plain chunks; the others are linked.
            #expect(after.streams.linked > 0, "\(after.streams)")
            let files = try Self.contents(ws, after.record.snapshot)
            let linked = try loose.flatMap { files[$0] ?? [] }.filter { $0.type == .stream }.map { try ws.repository.loadStream($0.id) }
            #expect(!linked.isEmpty && linked.allSatisfy { $0.form == .inflate })
        }
        let out = ws.root + "/out"
        _ = try await Restorer(repository: ws.repository).restore(after.record.snapshot, options: RestoreOptions(target: out))
        try Self.expectIdentical(base, out)
        #expect(try Checker(repository: ws.repository).check(readData: true).isHealthy)
    }

    /// A repack after a default first snapshot (streams kept compressed) is stored as one archive blob
    /// naming the previous version's content, restores byte for byte, and is found again next time.
    @Test func aRepackAfterADefaultSnapshotIsOneArchiveBlob() async throws {
        let ws = try Workspace()
        let base = try Self.corpus(ws)
        let archiver = Archiver(repository: ws.repository)
        let first = try await archiver.snapshot(source: base)
        #expect(first.streams.kept > 20 && first.streams.normalized == 0)
        let (ba2, repacked) = try StreamFixture.repackFirstGeneralArchive(in: base)
        let second = try await archiver.snapshot(source: base)
        #expect(second.streams.repacked == 1 && second.streams.normalized == 0, "\(second.streams)")
        let added = try #require(second.record.snapshot.summary).bytesAdded
        // One archive blob and the changed trees, whatever the number of streams.
        #expect(added < 4096, "added \(added) for a \(repacked.count)-byte repack")
        let handles = try #require(Self.contents(ws, second.record.snapshot)[ba2])
        #expect(handles.count == 1 && handles.first?.type == .archive)
        let blob = try ws.repository.loadArchive(try #require(handles.first).id)
        let old = try #require(try Self.node(ws, first.record.snapshot, ba2))
        #expect(blob.base == old.content && blob.size == UInt64(repacked.count))

        let out = ws.root + "/out"
        _ = try await Restorer(repository: ws.repository).restore(second.record.snapshot, options: RestoreOptions(target: out))
        try Self.expectIdentical(base, out)
        #expect(try Checker(repository: ws.repository).check(readData: true).isHealthy)

        // Read again: every stream is found by its ID; nothing is inflated or searched.
        let third = try await archiver.snapshot(source: base, options: Self.options(.auto, forceRead: true))
        #expect(third.streams.reused == third.streams.total && third.streams.recipeSeconds == 0, "\(third.streams)")
        #expect(third.record.snapshot.tree == second.record.snapshot.tree)
    }

    /// With `--normalize none` nothing is looked up: loose copies of archived textures are stored in full.
    @Test func normalizeNoneNeverLinks() async throws {
        let ws = try Workspace()
        let base = try Self.corpus(ws)
        let archiver = Archiver(repository: ws.repository)
        _ = try await archiver.snapshot(source: base)
        _ = try FixtureGenerator.writeScenario(.looseDDS, FixtureOptions(seed: 11, scaleBytes: 3 << 20), to: base)
        let after = try await archiver.snapshot(source: base, options: Self.options(.none))
        #expect(after.streams.linked == 0)
    }

    @Test func pruneKeepsTheDataOfStreamsStillReferenced() async throws {
        let ws = try Workspace()
        let base = try Self.corpus(ws)
        let other = ws.root + "/other"
        try FileManager.default.createDirectory(atPath: other, withIntermediateDirectories: true)
        var rng = SplitMix64(seed: 5)
        try FileSystem.writeAtomically(other + "/noise.bin", bytes: rng.bytes(3 << 20))
        let archiver = Archiver(repository: ws.repository)
        let kept = try await archiver.snapshot(source: base, options: Self.options(.all))
        let dropped = try await archiver.snapshot(source: other, options: Self.options(.all))
        try ws.repository.removeSnapshot(dropped.record.id)
        let report = try Pruner(repository: ws.repository).prune(maxUnused: 0)
        #expect(report.bytesFreed > 1 << 20)
        #expect(try Checker(repository: ws.repository).check(readData: true).isHealthy)
        let out = ws.root + "/out"
        _ = try await Restorer(repository: ws.repository).restore(kept.record.snapshot, options: RestoreOptions(target: out))
        try Self.expectIdentical(base, out)
    }

    @Test func aStreamBlobWithMissingDataIsNeverReferenced() async throws {
        let ws = try Workspace()
        let base = try Self.corpus(ws)
        // A stream blob as a killed run could leave it: indexed, but listing a data blob that never landed.
        let archive = try #require(FileManager.default.subpathsOfDirectory(atPath: base).sorted().first { path in
            guard path.hasSuffix(".ba2"), let file = try? OpenFile.openForReading(base + "/" + path) else { return false }
            return !FormatCuts.plan(for: file, path: path, chunker: ws.repository.chunker).streams.isEmpty
        })
        let file = try OpenFile.openForReading(base + "/" + archive)
        let span = try #require(FormatCuts.plan(for: file, path: archive, chunker: ws.repository.chunker).streams.first)
        let bytes = try file.read(count: span.length, at: span.offset)
        let broken = BlobHandle(id: ws.repository.contentMAC.id(bytes), type: .stream)
        let stream = StreamBlob(form: .verbatim, originalLength: UInt64(bytes.count), contentLength: UInt64(bytes.count),
                                content: [ws.repository.contentMAC.id(Array("lost".utf8))])
        let writer = BlobWriter(repository: ws.repository)
        try stream.encoded().withUnsafeBytes { _ = try writer.store(broken, plaintext: $0, sealer: writer.makeSealer()) }
        try writer.flush()

        let result = try await Archiver(repository: ws.repository).snapshot(source: base, options: Self.options(.all))
        #expect(try Self.contents(ws, result.record.snapshot)[archive]?.contains(broken) == false)
        #expect(try Checker(repository: ws.repository).check(readData: true).isHealthy)
        let out = ws.root + "/out"
        _ = try await Restorer(repository: ws.repository).restore(result.record.snapshot, options: RestoreOptions(target: out))
        try Self.expectIdentical(base, out)
    }

    enum Tamper: String, CaseIterable { case wrongID, wrongRecipe, notAZlibSource }

    @Test(arguments: Tamper.allCases) func restoreRefusesAStreamThatDoesNotRebuildToItsID(tamper: Tamper) async throws {
        let ws = try Workspace()
        let base = try Self.corpus(ws)
        let first = try await Archiver(repository: ws.repository).snapshot(source: base, options: Self.options(.all))
        let (path, content) = try #require(Self.contents(ws, first.record.snapshot).first { $0.value.contains { $0.type == .stream } })
        let real = try #require(content.first { $0.type == .stream })
        var stream = try ws.repository.loadStream(real.id)
        guard case .recipe(let encoded) = stream.form else { Issue.record("\(path): first stream has no recipe"); return }
        if tamper == .wrongRecipe {
            var recipe = try Recipe(decoding: encoded)
            recipe.parameters.level = recipe.parameters.level == 1 ? 2 : 1
            stream.form = .recipe(recipe.encoded())
        }
        // An inflate form over data blobs that hold decompressed content, not a zlib stream.
        if tamper == .notAZlibSource { stream.form = .inflateThenRecipe(encoded) }
        // Stored under an ID it does not rebuild to: the AEAD accepts it, only the rebuild can tell.
        let fake = BlobHandle(id: ws.repository.contentMAC.id(Array("not this stream".utf8)), type: .stream)
        let writer = BlobWriter(repository: ws.repository)
        try stream.encoded().withUnsafeBytes { _ = try writer.store(fake, plaintext: $0, sealer: writer.makeSealer()) }
        let node = TreeNode(name: "member.ba2", type: .regular, mode: 0o644, mtimeNanos: 0, size: Int64(stream.originalLength), content: .inline([fake]))
        let bytes = Tree(nodes: [node]).encoded()
        let treeID = ws.repository.contentMAC.id(bytes)
        try bytes.withUnsafeBytes { _ = try writer.store(BlobHandle(id: treeID, type: .tree), plaintext: $0, sealer: writer.makeSealer()) }
        try writer.flush()
        let crafted = Snapshot(time: Date(), host: "h", username: "u", device: "d", paths: ["/x"], tags: [], parents: [], tree: treeID, summary: nil)
        let out = ws.root + "/out"
        await #expect {
            _ = try await Restorer(repository: ws.repository).restore(crafted, options: RestoreOptions(target: out))
        } throws: { error in
            let text = "\(error)"
            let cause = switch tamper {
            case .wrongID: text.contains("do not match")
            case .wrongRecipe: text.contains("rebuild")
            case .notAZlibSource: text.contains("does not inflate")
            }
            return text.contains("stream \(fake.id.short)") && cause
        }
        #expect(!FileSystem.exists(out + "/member.ba2"))
    }
}

/// Test archives derived from fixture ones.
enum StreamFixture {
    /// Rewrites the first GNRL archive over 20 KB in `base` with its members recompressed at zlib level 1.
    static func repackFirstGeneralArchive(in base: String) throws -> (path: String, bytes: [UInt8]) {
        let ba2 = try #require(FileManager.default.subpathsOfDirectory(atPath: base).sorted().first { path in
            guard path.hasSuffix(".ba2"), let bytes = try? FileSystem.readFile(base + "/" + path) else { return false }
            return bytes.count > 20_000 && Array(bytes[8..<12]) == Array("GNRL".utf8)
        })
        let original = try FileSystem.readFile(base + "/" + ba2)
        let repacked = try recompressed(original, path: ba2, settings: ZlibSettings(level: 1, windowBits: 15))
        #expect(repacked != original)
        try FileSystem.writeAtomically(base + "/" + ba2, bytes: repacked)
        return (ba2, repacked)
    }

    /// A GNRL BA2 with the same members in the same order, each compressed member recompressed with `settings`.
    static func recompressed(_ bytes: [UInt8], path: String, settings: ZlibSettings) throws -> [UInt8] {
        let reader = MemoryRangeReader(bytes)
        let archive = try BA2Archive.parse(reader, path: path)
        var members: [BA2Member] = []
        for entry in archive.entries {
            let chunk = try #require(entry.chunks.first)
            let name = try #require(entry.name)
            let stored = try reader.read(offset: chunk.offset, count: Int(chunk.packedSize == 0 ? chunk.unpackedSize : chunk.packedSize))
            let compressed = chunk.packedSize != 0
            let content = compressed ? try FixtureZlib.inflate(stored, expectedSize: Int(chunk.unpackedSize)) : stored
            members.append(.file(name, content, storage: compressed ? .zlib(settings) : .raw))
        }
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("modvault-repack-\(UUID().uuidString).ba2").path
        defer { try? FileManager.default.removeItem(atPath: out) }
        _ = try BA2Writer.write(members, type: .general, version: BA2Version(rawValue: archive.version) ?? .v1, to: out)
        return try FileSystem.readFile(out)
    }
}
