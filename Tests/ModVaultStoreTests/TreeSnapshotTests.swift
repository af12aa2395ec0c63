import Foundation
import Testing
import ModVaultCore
import ModVaultCrypto
import ModVaultStore

@Suite("Trees")
struct TreeTests {
    static let nodes: [TreeNode] = [
        TreeNode(name: "Skyrim.esm", type: .regular, mode: 0o644, mtimeNanos: 1_700_000_000_123_456_789,
                 ctimeNanos: 1_700_000_001_000_000_000, inode: 123_456_789, device: 2049, size: 3 << 20,
                 content: .inline([randomID(), randomID(), randomID()].map { BlobHandle(id: $0, type: .data) })),
        TreeNode(name: "meshes", type: .directory, mode: 0o755, mtimeNanos: -5, inode: 42, device: 2049, size: 4096,
                 subtree: randomID()),
        TreeNode(name: "latest.esp", type: .symlink, mode: 0o777, mtimeNanos: 0, size: 10, linkTarget: "../mods/ünïcödé.esp"),
        TreeNode(name: "empty.txt", type: .regular, mode: 0o600, mtimeNanos: 12, inode: UInt64.max, device: UInt64.max, size: 0),
        TreeNode(name: "fifo", type: .other, mode: 0o644, mtimeNanos: Int64.min, ctimeNanos: Int64.max, size: 0),
    ]

    @Test func encodeDecodeRoundTrip() throws {
        let tree = Tree(nodes: Self.nodes)
        let decoded = try Tree.decode(tree.encoded())
        #expect(decoded == tree)
        let file = try #require(decoded.nodes.first { $0.name == "Skyrim.esm" })
        #expect(file.content == Self.nodes[0].content)
        #expect(file.inode == 123_456_789)
        let dir = try #require(decoded.nodes.first { $0.name == "meshes" })
        #expect(dir.subtree == Self.nodes[1].subtree)
        let link = try #require(decoded.nodes.first { $0.name == "latest.esp" })
        #expect(link.linkTarget == "../mods/ünïcödé.esp")
        #expect(link.type == .symlink)

        let empty = Tree(nodes: [])
        #expect(try Tree.decode(empty.encoded()) == empty)
        // Trees without stream content stay at version 1, so their IDs never change.
        #expect(empty.encoded() == [1, 0])
    }

    @Test func streamContentIsTypedInVersionTwo() throws {
        var nodes = Self.nodes
        var handles = try #require(nodes[0].content.inlineHandles)
        handles.insert(BlobHandle(id: randomID(), type: .stream), at: 1)
        nodes[0].content = .inline(handles)
        let typed = Tree(nodes: nodes)
        let bytes = typed.encoded()
        #expect(bytes.first == 2)
        #expect(Tree(nodes: Self.nodes).encoded().first == 1)
        let decoded = try Tree.decode(bytes)
        #expect(decoded == typed)
        #expect(decoded.nodes.first { $0.name == "Skyrim.esm" }?.content.inlineHandles?.map(\.type) == [.data, .stream, .data, .data])
    }

    @Test(arguments: [UInt8(1), 9]) func contentTypesOtherThanDataAndStreamAreRefused(type: UInt8) throws {
        let node = TreeNode(name: "a", type: .regular, mode: 0o644, mtimeNanos: 0, size: 1,
                            content: .inline([BlobHandle(id: randomID(), type: .stream)]))
        var bytes = Tree(nodes: [node]).encoded()
        // The type byte sits right before the last 32-byte ID.
        bytes[bytes.count - 33] = type
        #expect(throws: ByteReader.Malformed.self) { try Tree.decode(bytes) }
    }

    @Test func nodesAreSortedByNameBytes() {
        let tree = Tree(nodes: Self.nodes)
        #expect(tree.nodes.map(\.name) == ["Skyrim.esm", "empty.txt", "fifo", "latest.esp", "meshes"])
    }

    @Test func encodingIsIndependentOfInputOrder() {
        let reference = Tree(nodes: Self.nodes).encoded()
        var g = LCG(state: 99)
        for _ in 0..<10 {
            let shuffled = Self.nodes.shuffled(using: &g)
            #expect(Tree(nodes: shuffled).encoded() == reference)
        }
        #expect(Tree(nodes: Self.nodes.reversed()).encoded() == reference)
    }

    @Test func treeIDsAreContentAddressed() throws {
        let mac = ContentMAC(key: .random())
        let a = mac.id(Tree(nodes: Self.nodes).encoded())
        let b = mac.id(Tree(nodes: Self.nodes.reversed()).encoded())
        var changed = Self.nodes
        changed[0].mtimeNanos += 1
        let c = mac.id(Tree(nodes: changed).encoded())
        #expect(a == b)
        #expect(a != c)
    }

    @Test func everyTruncationThrows() {
        let bytes = Tree(nodes: Self.nodes).encoded()
        for keep in 0..<bytes.count {
            #expect(throws: ByteReader.Malformed.self, "keep \(keep)") { try Tree.decode(Array(bytes[0..<keep])) }
        }
    }

    @Test func malformedTreesThrow() {
        let bytes = Tree(nodes: [Self.nodes[2]]).encoded()
        var badVersion = bytes
        badVersion[0] = 4
        #expect(throws: ByteReader.Malformed.self) { try Tree.decode(badVersion) }
        #expect(throws: ByteReader.Malformed.self) { try Tree.decode(bytes + [0]) }
        // The node type byte follows the version, the count and the name.
        var badType = bytes
        let typeOffset = 2 + 1 + Self.nodes[2].name.utf8.count
        #expect(badType[typeOffset] == FileType.symlink.rawValue)
        badType[typeOffset] = 7
        #expect(throws: ByteReader.Malformed.self) { try Tree.decode(badType) }
        // A name that is not UTF-8.
        var badName = bytes
        badName[3] = 0xFF
        #expect(throws: ByteReader.Malformed.self) { try Tree.decode(badName) }
        // A count far beyond the input.
        #expect(throws: ByteReader.Malformed.self) { try Tree.decode([Tree.version, 0xFF, 0xFF, 0xFF, 0x7F]) }
        #expect(throws: ByteReader.Malformed.self) { try Tree.decode([]) }
    }

    @Test func randomGarbageNeverTraps() {
        var g: UInt64 = 7
        for length in [1, 2, 5, 30, 64, 200, 1000] {
            for _ in 0..<10 {
                var bytes = (0..<length).map { _ -> UInt8 in
                    g = g &* 6364136223846793005 &+ 1442695040888963407
                    return UInt8(truncatingIfNeeded: g >> 56)
                }
                bytes[0] = Tree.version
                #expect(throws: ByteReader.Malformed.self) { try Tree.decode(bytes) }
            }
        }
    }

    // Small nodes encode to fewer than 30 bytes each (the minimum is 22); such valid trees must still decode.
    // Each case is checked on its own so every failure is reported.
    static let smallNodeTrees: [(String, Tree)] = [
        ("one empty file named a", Tree(nodes: [TreeNode(name: "a", type: .regular, mode: 0o644, mtimeNanos: 0, size: 0)])),
        // Realistic: twenty empty files with short names and real inode/device numbers (29 bytes per node).
        ("twenty empty files", Tree(nodes: (0..<20).map {
            TreeNode(name: "f\($0)", type: .regular, mode: 0o644, mtimeNanos: 1_700_000_000_000_000_000,
                     inode: 1_000_000 + UInt64($0), device: 2049, size: 0)
        })),
        ("one short symlink", Tree(nodes: [TreeNode(name: "l", type: .symlink, mode: 0o777, mtimeNanos: 0, size: 1, linkTarget: "x")])),
        ("one fifo", Tree(nodes: [TreeNode(name: "p", type: .other, mode: 0o644, mtimeNanos: 0, size: 0)])),
    ]

    @Test(arguments: 0..<smallNodeTrees.count)
    func treesOfSmallNodesRoundTrip(index: Int) {
        let (name, tree) = Self.smallNodeTrees[index]
        let bytes = tree.encoded()
        #expect(bytes.count < 2 + 30 * tree.nodes.count, "\(name): \(bytes.count) bytes")
        do {
            #expect(try Tree.decode(bytes) == tree, "\(name)")
        } catch {
            Issue.record("\(name) (\(bytes.count) bytes): \(error)")
        }
    }
}

/// A linear congruential generator for `shuffled(using:)`.
struct LCG: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return state ^ (state >> 29)
    }
}

@Suite("Snapshots")
struct SnapshotTests {
    static func snapshot(time: Double, tags: [String] = [], parents: [ObjectID] = []) -> Snapshot {
        Snapshot(time: Date(timeIntervalSince1970: time), host: "host", username: "user", device: String(repeating: "a", count: 32),
                 paths: ["/games/Skyrim/Data"], tags: tags, parents: parents, tree: randomID(),
                 summary: SnapshotSummary(filesNew: 1, filesChanged: 2, filesUnchanged: 3, directories: 4, bytesRead: 5,
                                          bytesTotal: 6, bytesAdded: 7, blobsAdded: 8, errors: 9, seconds: 1.25))
    }

    @Test func saveLoadRoundTrip() throws {
        let dir = try TemporaryFolder()
        defer { dir.remove() }
        let repo = try Fixture.makeRepository(in: dir)
        let parent = randomID()
        let original = Self.snapshot(time: 1_700_000_000.5, tags: ["before-update", "ä"], parents: [parent])
        let id = try repo.saveSnapshot(original)
        #expect(try repo.list(.snapshot) == [id])
        let loaded = try repo.loadSnapshot(id)
        #expect(loaded == original)
        #expect(loaded.version == 1)
        #expect(loaded.parents == [parent])

        var noSummary = Self.snapshot(time: 1_600_000_000)
        noSummary.summary = nil
        let id2 = try repo.saveSnapshot(noSummary)
        #expect(try repo.loadSnapshot(id2) == noSummary)

        // Sub-microsecond times survive to within a microsecond.
        let precise = Self.snapshot(time: 1_712_345_678.987654)
        let loadedPrecise = try repo.loadSnapshot(try repo.saveSnapshot(precise))
        #expect(abs(loadedPrecise.time.timeIntervalSince(precise.time)) < 1e-6)
    }

    @Test func snapshotsAreListedOldestFirstAndResolve() throws {
        let dir = try TemporaryFolder()
        defer { dir.remove() }
        let repo = try Fixture.makeRepository(in: dir)
        let newer = try repo.saveSnapshot(Self.snapshot(time: 1_700_000_100))
        let older = try repo.saveSnapshot(Self.snapshot(time: 1_700_000_000))
        let records = try repo.snapshots()
        #expect(records.map(\.id) == [older, newer])

        #expect(try repo.resolveSnapshot("latest").id == newer)
        #expect(try repo.resolveSnapshot(newer.hex).id == newer)
        #expect(try repo.resolveSnapshot(older.hex.uppercased()).id == older)

        // The shortest unique prefixes resolve.
        let common = zip(older.hex, newer.hex).prefix { $0 == $1 }.count
        let olderPrefix = String(older.hex.prefix(common + 1))
        let newerPrefix = String(newer.hex.prefix(common + 1))
        #expect(try repo.resolveSnapshot(olderPrefix).id == older)
        #expect(try repo.resolveSnapshot(newerPrefix).id == newer)
        #expect(try repo.resolveSnapshot(String(newer.hex.prefix(8))).id == newer)

        if common > 0 {
            // Both IDs share a prefix: it is ambiguous.
            let shared = String(older.hex.prefix(common))
            let error = #expect(throws: StoreError.self) { try repo.resolveSnapshot(shared) }
            guard case .ambiguousSnapshot(let reference, let candidates)? = error else {
                Issue.record("expected ambiguousSnapshot, got \(String(describing: error))")
                return
            }
            #expect(reference == shared)
            #expect(Set(candidates) == [older.short, newer.short])
        } else {
            // First digits differ: a first digit used by neither matches nothing.
            let unused = try #require("0123456789abcdef".first { $0 != older.hex.first && $0 != newer.hex.first })
            let error = #expect(throws: StoreError.self) { try repo.resolveSnapshot(String(unused)) }
            if case .snapshotNotFound? = error {} else { Issue.record("expected snapshotNotFound, got \(String(describing: error))") }
        }
    }

    @Test func resolveAmongCraftedRecords() throws {
        func record(_ prefix: String, time: Double) throws -> SnapshotRecord {
            let id = try #require(ObjectID(hex: prefix + String(repeating: "0", count: 64 - prefix.count)))
            return SnapshotRecord(id: id, snapshot: Self.snapshot(time: time))
        }
        let records = [try record("abc1", time: 1), try record("abc2", time: 2), try record("f00d", time: 3)]
        let dir = try TemporaryFolder()
        defer { dir.remove() }
        let repo = try Fixture.makeRepository(in: dir)

        #expect(try repo.resolveSnapshot("latest", among: records).id == records[2].id)
        #expect(try repo.resolveSnapshot("abc1", among: records).id == records[0].id)
        #expect(try repo.resolveSnapshot("ABC2", among: records).id == records[1].id)
        #expect(try repo.resolveSnapshot("f", among: records).id == records[2].id)

        for prefix in ["a", "ab", "abc", "ABC"] {
            let error = #expect(throws: StoreError.self) { try repo.resolveSnapshot(prefix, among: records) }
            guard case .ambiguousSnapshot(let reference, let candidates)? = error else {
                Issue.record("\(prefix): expected ambiguousSnapshot, got \(String(describing: error))")
                continue
            }
            #expect(reference == prefix)
            #expect(candidates == [records[0].id.short, records[1].id.short])
            #expect(error?.kind == .notFound)
        }

        for reference in ["0", "abc3", "f00e", "", "xyz", "abc-", "latest2", "g", " abc1", String(repeating: "a", count: 65)] {
            let error = #expect(throws: StoreError.self) { try repo.resolveSnapshot(reference, among: records) }
            guard case .snapshotNotFound(let r)? = error else {
                Issue.record("'\(reference)': expected snapshotNotFound, got \(String(describing: error))")
                continue
            }
            #expect(r == reference)
        }

        let none = #expect(throws: StoreError.self) { try repo.resolveSnapshot("latest", among: []) }
        if case .snapshotNotFound? = none {} else { Issue.record("expected snapshotNotFound, got \(String(describing: none))") }
        // The repository itself has no snapshots yet.
        #expect(throws: StoreError.self) { try repo.resolveSnapshot("latest") }
    }

    @Test func damagedSnapshotIsCorrupt() throws {
        let dir = try TemporaryFolder()
        defer { dir.remove() }
        let repo = try Fixture.makeRepository(in: dir)
        let id = try repo.saveSnapshot(Self.snapshot(time: 1))
        // Valid box, invalid JSON: still a corrupt object, not a crash.
        let junk = try repo.saveFile(.snapshot, plaintext: Array("{\"version\": 1}".utf8))
        let error = #expect(throws: StoreError.self) { try repo.loadSnapshot(junk) }
        if case .corruptObject? = error {} else { Issue.record("expected corruptObject, got \(String(describing: error))") }
        #expect(try repo.loadSnapshot(id).time == Date(timeIntervalSince1970: 1))
    }
}

@Suite("Timestamps")
struct TimestampTests {
    @Test(arguments: [0.0, 1.0, 0.5, 1_700_000_000.123456, 1_712_345_678.999_999_4, 951_782_400.000_001, 4_102_444_799.75, -1.5])
    func formatParseRoundTrip(seconds: Double) throws {
        let date = Date(timeIntervalSince1970: seconds)
        let text = Timestamp.format(date)
        #expect(text.count == 30)
        #expect(text.hasSuffix("Z"))
        let parsed = try #require(Timestamp.parse(text))
        #expect(abs(parsed.timeIntervalSince(date)) < 1e-6, "\(text)")
    }

    @Test func knownValues() throws {
        #expect(Timestamp.format(Date(timeIntervalSince1970: 0)) == "1970-01-01T00:00:00.000000000Z")
        #expect(Timestamp.format(Date(timeIntervalSince1970: 951_827_696.25)) == "2000-02-29T12:34:56.250000000Z")
        #expect(Timestamp.parse("2000-02-29T12:34:56.25Z") == Date(timeIntervalSince1970: 951_827_696.25))
        #expect(Timestamp.parse("2000-02-29T12:34:56Z") == Date(timeIntervalSince1970: 951_827_696))
        #expect(Timestamp.parse("1970-01-01T00:00:00.000000000Z") == Date(timeIntervalSince1970: 0))
    }

    @Test(arguments: ["hello", "2024-01-01", "2024-01-01T00:00Z", "not-a-dateTtime:x:y"])
    func malformedTextIsRejected(text: String) {
        #expect(Timestamp.parse(text) == nil)
    }

    @Test(arguments: ["", ".", ".."])
    func emptyTextIsRejectedWithoutTrapping(text: String) {
        #expect(Timestamp.parse(text) == nil)
    }
}

@Suite("Stream blobs")
struct StreamBlobTests {
    static let samples: [StreamBlob] = [
        StreamBlob(form: .verbatim, originalLength: 5000, contentLength: 5000, content: [randomID(), randomID()]),
        StreamBlob(form: .recipe([1, 1, 6, 15, 8, 0, 3, 4]), originalLength: 70_000, contentLength: 1 << 20,
                   content: (0..<5).map { _ in randomID() }),
        StreamBlob(form: .recipe([]), originalLength: 0, contentLength: 0, content: []),
        StreamBlob(form: .inflate, originalLength: 1 << 20, contentLength: 70_000, content: (0..<3).map { _ in randomID() }),
        StreamBlob(form: .inflateThenRecipe([1, 1, 9, 15, 8, 0]), originalLength: 68_000, contentLength: 70_000,
                   content: (0..<2).map { _ in randomID() }),
    ]

    /// The bytes of the two inflate forms, written out by hand from Docs/FORMAT.md §8a.
    @Test func inflateFormsByteVectors() throws {
        let id = try #require(ObjectID(bytes: [UInt8](repeating: 0x11, count: 32)))
        let inflate = StreamBlob(form: .inflate, originalLength: 300, contentLength: 129, content: [id])
        let expected: [UInt8] = [0x01, 0x02, 0xAC, 0x02, 0x81, 0x01, 0x01] + [UInt8](repeating: 0x11, count: 32)
        #expect(inflate.encoded() == expected)
        #expect(try StreamBlob.decode(expected) == inflate)
        let repack = StreamBlob(form: .inflateThenRecipe([0xAA, 0xBB]), originalLength: 5, contentLength: 7, content: [])
        let repackBytes: [UInt8] = [0x01, 0x03, 0x02, 0xAA, 0xBB, 0x05, 0x07, 0x00]
        #expect(repack.encoded() == repackBytes)
        #expect(try StreamBlob.decode(repackBytes) == repack)
        #expect(inflate.form.inflatesStoredBytes && repack.form.inflatesStoredBytes)
    }

    @Test(arguments: samples) func encodeDecodeRoundTrip(stream: StreamBlob) throws {
        #expect(try StreamBlob.decode(stream.encoded()) == stream)
    }

    @Test func malformedEncodingsAreRefused() throws {
        let good = Self.samples[1].encoded()
        var badVersion = good
        badVersion[0] = 7
        var badForm = good
        badForm[1] = 4
        let truncated = Array(good.dropLast())
        let trailing = good + [0]
        // A verbatim stream's content is the stream itself, so the two lengths must agree.
        let lying = StreamBlob(form: .verbatim, originalLength: 10, contentLength: 11, content: []).encoded()
        for bytes in [badVersion, badForm, truncated, trailing, lying, []] {
            #expect(throws: ByteReader.Malformed.self) { try StreamBlob.decode(bytes) }
        }
    }

    @Test func everyTruncationAndRandomGarbageThrows() {
        let good = Self.samples[1].encoded()
        for keep in 0..<good.count {
            #expect(throws: ByteReader.Malformed.self, "keep \(keep)") { try StreamBlob.decode(Array(good[0..<keep])) }
        }
        var rng = SplitMix64(seed: 11)
        for length in [2, 3, 10, 40, 100, 1000] {
            for form in [UInt8(0), 1, 2, 3] {
                var bytes = rng.bytes(length)
                bytes[0] = StreamBlob.version
                bytes[1] = form
                // Random bytes may by chance form a valid blob; it must then hold no more IDs than the bytes carry.
                if let decoded = try? StreamBlob.decode(bytes) { #expect(decoded.content.count * 32 <= bytes.count) }
            }
        }
    }
}
