import Testing
import Foundation
import ModVaultCore
import ModVaultCrypto
@testable import ModVaultFormats

@Suite("Segmentation")
struct SegmentationTests {
    @Test("every public sample is covered exactly", arguments: PublicFixtures.all)
    func publicSamplesAreCovered(_ path: String) throws {
        let reader = try PublicFixtures.reader(path)
        let s = FormatSegmenter.segments(of: reader, path: path)
        expectExactCover(s, size: reader.size)
        if PublicFixtures.invalidArchives.contains(path) {
            #expect(s.format == .opaque)
            #expect(s.segments.map(\.kind) == [.opaque])
            // Only the file with the wrong magic is not recognised as a BA2 at all.
            if path.hasSuffix("invalid_magic.ba2") {
                #expect(s.warning == nil)
            } else {
                #expect(s.warning?.contains(path) == true)
                #expect(s.fallbackError != nil)
            }
        } else {
            #expect(s.format != .opaque, "\(s.warning ?? "")")
            #expect(s.warning == nil)
        }
    }

    @Test func generalArchiveSegments() throws {
        let reader = try PublicFixtures.reader("bsa-rs/fo4_compression_test/normal.ba2")
        let s = FormatSegmenter.segments(of: reader, path: "normal.ba2")
        #expect(s.format == .ba2General)
        #expect(s.segments.first?.kind == .ba2Header && s.segments.first?.length == 24)
        #expect(s.segments[1].kind == .ba2EntryTable && s.segments[1].length == 19 * 36)
        let members = s.segments.filter { $0.kind == .ba2Member }
        #expect(members.count == 19)
        #expect(members.allSatisfy { $0.stream?.codec == .zlib && $0.stream?.offset == $0.offset && $0.stream?.length == $0.length })
        #expect(members.map { $0.refs?.first?.entry } == Array(0..<19))
        #expect(s.segments.last?.kind == .ba2NameTable)
        #expect(!s.segments.contains { $0.kind == .ba2Gap || $0.kind == .ba2Overlap })
        let a = try BA2Archive.parse(reader)
        #expect(members.map { $0.stream!.rawSize } == a.entries.map { UInt64($0.chunks[0].unpackedSize) })
    }

    @Test func textureArchiveSegmentsCarryMipCuts() throws {
        let s = FormatSegmenter.segments(of: try PublicFixtures.reader("bsa-rs/fo4_next_gen_test/dx10_v7.ba2"), path: "")
        #expect(s.format == .ba2Textures)
        let chunks = s.segments.filter { $0.kind == .ba2DX10Chunk }
        #expect(chunks.count == 3)
        #expect(chunks.map { $0.stream?.rawSize } == [1_048_576, 262_144, 87_408])
        #expect(chunks[0].contentCuts == nil && chunks[1].contentCuts == nil)
        #expect(chunks[2].contentCuts == [65_536, 81_920, 86_016, 87_040, 87_296, 87_360, 87_376, 87_392])
        #expect(chunks[2].name == "Fence006_1K_Roughness.dds")
        let raw = FormatSegmenter.segments(of: try PublicFixtures.reader("bsa-rs/fo4_dds_test/in.ba2"), path: "")
        #expect(raw.segments.filter { $0.kind == .ba2DX10Chunk }.allSatisfy { $0.stream == nil })
    }

    @Test func missingNameTableHasNoNameSegment() throws {
        let s = FormatSegmenter.segments(of: try PublicFixtures.reader("bsa-rs/fo4_missing_string_table_test/in.ba2"), path: "")
        #expect(s.segments.map(\.kind) == [.ba2Header, .ba2EntryTable, .ba2Member])
        #expect(s.segments[2].length == 14 && s.segments[2].stream == nil)
    }

    static func files() -> [(String, [UInt8], ZlibParameters?)] {
        [("a.txt", TestData.text(3000, seed: 1), .pcDefault), ("b.txt", TestData.text(2000, seed: 2), nil),
         ("c/d.txt", TestData.text(5000, seed: 3), .xbox), ("e.bin", TestData.random(700, seed: 4), nil)]
    }

    @Test func outOfOrderBlobsAreSortedAndCovered() throws {
        var b = TestBA2.general(Self.files())
        b.blobOrder = [3, 1, 0, 2]
        let bytes = b.build()
        let s = FormatSegmenter.segments(of: MemoryRangeReader(bytes), path: "")
        expectExactCover(s, size: UInt64(bytes.count))
        #expect(s.segments.filter { $0.kind == .ba2Member }.map { $0.refs![0].entry } == [3, 1, 0, 2])
        #expect(!s.segments.contains { $0.kind == .ba2Gap })
    }

    @Test func sharedBlobIsEmittedOnceAndUnreferencedBytesBecomeAGap() throws {
        var b = TestBA2.general([("a.txt", TestData.text(3000, seed: 1), .pcDefault), ("b.txt", TestData.text(3000, seed: 1), .pcDefault),
                                 ("c.txt", TestData.text(100, seed: 9), nil)])
        b.shareWith = [1: 0]
        var bytes = b.build()
        var s = FormatSegmenter.segments(of: MemoryRangeReader(bytes), path: "")
        expectExactCover(s, size: UInt64(bytes.count))
        let members = s.segments.filter { $0.kind == .ba2Member }
        #expect(members.count == 2)
        #expect(members[0].refs == [BA2ChunkRef(entry: 0, chunk: 0), BA2ChunkRef(entry: 1, chunk: 0)])

        // Point entry 2 at entry 0's blob too (its sizes say 100 raw bytes): its own blob is now a gap,
        // and the 100-byte range inside entry 0's blob is swallowed by the longer blob.
        let a = try BA2Archive.parse(MemoryRangeReader(bytes))
        var w = Bytes(b: bytes)
        w.patch64(at: 24 + 2 * 36 + 16, a.entries[0].chunks[0].offset)
        bytes = w.b
        s = FormatSegmenter.segments(of: MemoryRangeReader(bytes), path: "")
        expectExactCover(s, size: UInt64(bytes.count))
        #expect(s.segments.map(\.kind) == [.ba2Header, .ba2EntryTable, .ba2Member, .ba2Gap, .ba2NameTable])
    }

    @Test func overlappingBlobsStillCoverExactly() throws {
        let bytes0 = TestBA2.general(Self.files()).build()
        let a = try BA2Archive.parse(MemoryRangeReader(bytes0))
        var w = Bytes(b: bytes0)
        // Entry 1 starts 10 bytes into entry 0's blob and runs past its end; entry 3 starts inside the header.
        w.patch64(at: 24 + 36 + 16, a.entries[0].chunks[0].offset + 10)
        w.patch64(at: 24 + 3 * 36 + 16, 4)
        w.patch32(at: 24 + 3 * 36 + 28, 100)
        let s = FormatSegmenter.segments(of: MemoryRangeReader(w.b), path: "")
        expectExactCover(s, size: UInt64(w.b.count))
        // Header and entry table stay whole and absorb entry 3 (now 100 bytes inside them); entry 1's
        // tail becomes an overlap, and the blobs nothing points at any more are gaps.
        #expect(s.segments.map(\.kind) == [.ba2Header, .ba2EntryTable, .ba2Member, .ba2Overlap, .ba2Gap, .ba2Member, .ba2Gap, .ba2NameTable])
        #expect(s.segments[1].offset == 24 && s.segments[1].length == 4 * 36)
        #expect(s.segments[3].refs == [BA2ChunkRef(entry: 1, chunk: 0)] && s.segments[3].stream == nil)
        #expect(s.segments[5].refs == [BA2ChunkRef(entry: 2, chunk: 0)] && s.segments[5].stream != nil)
    }

    @Test func ddsSegmentsPerMip() throws {
        let s = FormatSegmenter.segments(of: try PublicFixtures.reader("bsa-rs/fo4_dds_test/Fence006_1K_Roughness.dds"), path: "")
        #expect(s.format == .dds)
        #expect(s.segments.map(\.kind) == [.ddsHeader] + Array(repeating: .ddsMip, count: 11))
        #expect(s.segments[0].length == 148)
        #expect(s.segments.dropFirst().map(\.mip) == Array(0..<11))
        let cube = TestDDS.legacy(width: 8, height: 8, mips: 2, fourCC: "DXT1", cubemap: true, trailing: 5)
        let c = FormatSegmenter.segments(of: MemoryRangeReader(cube), path: "")
        expectExactCover(c, size: UInt64(cube.count))
        #expect(c.segments.count == 1 + 12 + 1)
        #expect(c.segments.last?.kind == .ddsTrailer && c.segments.last?.length == 5)
        #expect(c.segments[3].face == 1 && c.segments[3].mip == 0)
    }

    @Test func pluginSegmentsKeepTES4GroupsAndCompressedRecordsApart() throws {
        let bytes = PluginTests.sample()
        let s = FormatSegmenter.segments(of: MemoryRangeReader(bytes), path: "")
        #expect(s.format == .plugin)
        expectExactCover(s, size: UInt64(bytes.count))
        let p = try PluginFile.parse(MemoryRangeReader(bytes))
        #expect(s.segments[0].kind == .pluginTES4 && s.segments[0].length == p.header.size)
        #expect(s.segments.filter { $0.kind == .pluginGroupHeader }.map(\.offset) == p.groups.map(\.offset))
        let compressed = s.segments.filter { $0.kind == .pluginRecordCompressed }
        #expect(compressed.map(\.offset) == p.records.filter(\.isCompressed).map(\.offset))
        #expect(compressed.allSatisfy { $0.stream!.offset == $0.offset + 28 && $0.stream!.length == $0.length - 28 && $0.stream!.rawSize == 317 })
        #expect(s.segments.map(\.kind) == [.pluginTES4, .pluginGroupHeader, .pluginRecords, .pluginGroupHeader]
            + Array(repeating: .pluginRecordCompressed, count: 5)
            + [.pluginGroupHeader, .pluginGroupHeader, .pluginGroupHeader, .pluginRecords, .pluginGroupHeader, .pluginGroupHeader, .pluginRecords,
               .pluginGroupHeader, .pluginRecords])
        // The big LAND record forms one segment on its own, larger than the target: records are never split.
        #expect(s.segments.last!.recordCount == 1 && s.segments.last!.length > 70_000)
    }

    static func bigPlugin(count: Int, insertAt: Int? = nil, inserted: Int = 0, edit: Int? = nil) -> [UInt8] {
        var records: [TestPlugin.Node] = []
        for i in 0..<count {
            if i == insertAt {
                for j in 0..<inserted { records.append(TestPlugin.simple("MISC", 0x0100_F000 + UInt32(j), "New\(j)", payload: 150 + j % 100)) }
            }
            let payload = 100 + (i * 37) % 400
            records.append(TestPlugin.simple("MISC", 0x0100_0800 + UInt32(i), "Item\(i)", payload: payload, seed: i == edit ? 99 : 0))
        }
        return TestPlugin.file([.group(label: "MISC", children: records)])
    }

    /// The bytes of segments of `new` whose content does not occur among the segments of `old`.
    static func newBytes(_ old: [UInt8], _ new: [UInt8], target: Int = 64 << 10) -> (bytes: UInt64, segments: Int) {
        let options = SegmentationOptions(pluginTargetSize: target)
        func digests(_ b: [UInt8]) -> [(ObjectID, UInt64)] {
            FormatSegmenter.segments(of: MemoryRangeReader(b), path: "", options: options).segments.map {
                (SHA256Digest.hash(Array(b[Int($0.offset)..<Int($0.end)])), $0.length)
            }
        }
        let known = Set(digests(old).map(\.0))
        let fresh = digests(new).filter { !known.contains($0.0) }
        return (fresh.reduce(0) { $0 + $1.1 }, fresh.count)
    }

    @Test func recordGroupsHonourTheTargetAndNeverSplitRecords() throws {
        let bytes = Self.bigPlugin(count: 3000)
        for target in [4 << 10, 16 << 10, 64 << 10] {
            let s = FormatSegmenter.segments(of: MemoryRangeReader(bytes), path: "", options: SegmentationOptions(pluginTargetSize: target))
            expectExactCover(s, size: UInt64(bytes.count))
            let groups = s.segments.filter { $0.kind == .pluginRecords }
            #expect(groups.allSatisfy { $0.length <= UInt64(target) })
            #expect(groups.reduce(0) { $0 + $1.recordCount! } == 3000)
            // Content-defined cuts land well between the minimum and the target on average.
            let mean = groups.reduce(0) { $0 + $1.length } / UInt64(groups.count)
            #expect(mean > UInt64(target / 8) && mean < UInt64(target))
            let p = try PluginFile.parse(MemoryRangeReader(bytes))
            let starts = Set(p.records.map(\.offset))
            #expect(groups.allSatisfy { starts.contains($0.offset) && (starts.contains($0.end) || $0.end == UInt64(bytes.count)) })
        }
    }

    @Test func insertingAndEditingRecordsChangesOnlyNearbySegments() throws {
        let base = Self.bigPlugin(count: 3000)
        let inserted = Self.bigPlugin(count: 3000, insertAt: 1500, inserted: 50)
        let insertedBytes = UInt64(inserted.count - base.count)
        let ins = Self.newBytes(base, inserted)
        // New: the GRUP header (its size grew) and the record groups around the insertion point.
        #expect(ins.bytes < insertedBytes + (64 << 10))
        #expect(ins.segments <= 4)
        let edited = Self.bigPlugin(count: 3000, edit: 2000)
        let ed = Self.newBytes(base, edited)
        #expect(ed.segments == 1)
        #expect(ed.bytes <= 64 << 10)
    }

    @Test func unknownAndBrokenFilesAreOpaque() throws {
        let random = TestData.random(10_000, seed: 5)
        let r = FormatSegmenter.segments(of: MemoryRangeReader(random), path: "x.bin")
        #expect(r.format == .opaque && r.segments.map(\.kind) == [.opaque] && r.warning == nil)
        expectExactCover(r, size: 10_000)

        let empty = FormatSegmenter.segments(of: MemoryRangeReader([]), path: "empty")
        #expect(empty.format == .opaque && empty.segments.isEmpty && empty.covers(size: 0))

        let plugin = PluginTests.sample()
        let broken = Array(plugin.prefix(plugin.count - 1))
        let b = FormatSegmenter.segments(of: MemoryRangeReader(broken), path: "Broken.esp")
        #expect(b.format == .opaque)
        #expect(b.warning?.hasPrefix("Broken.esp: ") == true)
        expectExactCover(b, size: UInt64(broken.count))
        #expect(FormatSegmenter.detect(MemoryRangeReader(Array("BTDX".utf8))) == .opaque)
        #expect(FormatSegmenter.detect(MemoryRangeReader(plugin)) == .plugin)
    }

    @Test func jsonShapeForTheChunksCommand() throws {
        let s = FormatSegmenter.segments(of: try PublicFixtures.reader("testing-plugins/Blank - Textures.ba2"), path: "")
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = String(decoding: try encoder.encode(s), as: UTF8.self)
        #expect(json.hasPrefix(#"{"format":"ba2-dx10","segments":[{"kind":"ba2-header","length":24,"offset":0}"#))
        #expect(json.contains(#""stream":{"codec":"zlib","length":375,"offset":96,"raw_size":240000}"#))
        #expect(json.contains(#""content_cuts":[60000,"#))
        #expect(!json.contains("fallbackError"))
        let back = try JSONDecoder().decode(Segmentation.self, from: try encoder.encode(s))
        #expect(back.segments == s.segments)
    }
}
