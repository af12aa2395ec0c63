import Testing
import ModVaultCore
@testable import ModVaultFormats

@Suite("Plugin parser")
struct PluginTests {
    @Test func blankCreationKitPlugin() throws {
        let p = try PluginFile.parse(try PublicFixtures.reader("testing-plugins/Blank.esp"))
        #expect(p.header.version == 1.0)
        #expect(p.header.recordCount == 0)
        #expect(p.header.nextObjectID == 0xF99)
        #expect(p.header.author == "DEFAULT")
        #expect(p.header.description == nil)
        #expect(p.header.masters == ["Fallout4.esm"])
        #expect(p.header.formVersion == 131)
        #expect(p.header.flags == 0)
        #expect(!p.header.isMaster && !p.header.isLight && !p.header.isLocalized)
        #expect(p.header.size == 99)
        #expect(p.records.isEmpty && p.groups.isEmpty)
    }

    static func sample(compress: ZlibParameters? = .pcDefault) -> [UInt8] {
        let npcs: [TestPlugin.Node] = (0..<5).map { TestPlugin.simple("NPC_", 0x0100_0800 + UInt32($0), "Npc\($0)", payload: 300, compress: compress) }
        let big = TestPlugin.Node.record(sig: "LAND", formID: 0x0100_0900, fields: [("VHGT", TestData.text(70_000, seed: 4))])
        let cell = TestPlugin.Node.record(sig: "CELL", formID: 0x0100_0A00, fields: [("EDID", TestPlugin.zstring("TestCell"))])
        let refr = TestPlugin.Node.record(sig: "REFR", formID: 0x0100_0A01, fields: [("NAME", [1, 2, 3, 4])], flags: 0x400)
        return TestPlugin.file(header: TestPlugin.header(flags: 0x201, masters: ["Fallout4.esm"], description: "A test"), [
            .group(label: "GLOB", children: [TestPlugin.simple("GLOB", 0x0000_0123, "Vanilla"), TestPlugin.simple("GLOB", 0x0100_0801, "Mine")]),
            .group(label: "NPC_", children: npcs),
            .group(label: "CELL", children: [
                .group(label: "\0\0\0\0", type: 2, children: [
                    .group(label: "\0\0\0\0", type: 3, children: [cell, .group(label: "\u{0}\u{0A}\u{0}\u{1}", type: 6, children: [.group(label: "\u{0}\u{0A}\u{0}\u{1}", type: 9, children: [refr])])]),
                ]),
            ]),
            .group(label: "LAND", children: [big]),
        ])
    }

    @Test func generatedPluginWithGroupsCompressionAndOversizeFields() throws {
        let bytes = Self.sample()
        let p = try PluginFile.parse(MemoryRangeReader(bytes))
        #expect(p.header.isMaster && p.header.isLight)
        #expect(PluginHeader.flagNames(p.header.flags) == ["esm", "light"])
        #expect(p.header.description == "A test")
        #expect(p.records.map(\.signature) == ["GLOB", "GLOB", "NPC_", "NPC_", "NPC_", "NPC_", "NPC_", "CELL", "REFR", "LAND"])
        #expect(p.records.map(\.editorID) == ["Vanilla", "Mine", "Npc0", "Npc1", "Npc2", "Npc3", "Npc4", "TestCell", nil, nil])
        #expect(p.records.filter(\.isCompressed).count == 5)
        let npcFields: UInt32 = 6 + 5 + 6 + 300  // EDID "Npc0\0" and a 300-byte DATA
        #expect(p.records[2].decompressedSize == npcFields)
        #expect(p.groups.count == 8)
        #expect(p.groups.map(\.depth) == [0, 0, 0, 1, 2, 3, 4, 0])
        #expect(p.groups.map(\.type) == [0, 0, 0, 2, 3, 6, 9, 0])
        #expect(p.groups[6].parent == 5 && p.groups[3].parent == 2 && p.groups[0].parent == nil)
        #expect(p.groups[0].labelSignature == "GLOB")
        #expect(p.records[8].group == 6)
        #expect(p.records[9].dataSize > 70_000)
        // The last record ends the file; sizes add up.
        #expect(p.records.last!.offset + p.records.last!.size == UInt64(bytes.count))
    }

    @Test func contentDigestIgnoresCompression() throws {
        let packed = try PluginFile.parse(MemoryRangeReader(Self.sample(compress: .pcDefault)))
        let plain = try PluginFile.parse(MemoryRangeReader(Self.sample(compress: nil)))
        #expect(packed.records.map(\.contentDigest) == plain.records.map(\.contentDigest))
        #expect(packed.records.map(\.editorID) == plain.records.map(\.editorID))
    }

    @Test func oversizeFieldInTES4() throws {
        var data = TestPlugin.field("HEDR", { var b = Bytes(); b.u32(Float(0.95).bitPattern); b.u32(1); b.u32(2); return b.b }())
        data += TestPlugin.field("ONAM", [UInt8](repeating: 7, count: 0x10000 * 4 / 4 + 12))
        data += TestPlugin.field("MAST", TestPlugin.zstring("A.esm")) + TestPlugin.field("MAST", TestPlugin.zstring("B.esm"))
        var w = Bytes(); w.ascii("TES4"); w.u32(UInt32(data.count)); w.u32(0x80); w.u32(0); w.u32(0); w.u16(131); w.u16(0); w.raw(data)
        let p = try PluginFile.parse(MemoryRangeReader(w.b))
        #expect(p.header.version == 0.95)
        #expect(p.header.masters == ["A.esm", "B.esm"])
        #expect(p.header.isLocalized)
    }

    @Test func groupLargerThanItsParentIsRejected() throws {
        var bytes = Self.sample(compress: nil)
        let header = TestPlugin.header(flags: 0x201, masters: ["Fallout4.esm"], description: "A test").count
        // The first GRUP's size field, made to run past the file.
        var w = Bytes(b: bytes)
        w.patch32(at: header + 4, UInt32(bytes.count))
        bytes = w.b
        let e = try #require(throws: FormatError.self) { try PluginFile.parse(MemoryRangeReader(bytes)) }
        guard case .outOfBounds(let what, _, _, _) = e.cause else { Issue.record("\(e)"); return }
        #expect(what.hasPrefix("group"))
    }

    @Test func malformedPluginsAreRejected() throws {
        let h = TestPlugin.header()
        func parse(_ b: [UInt8]) throws -> FormatError {
            try #require(throws: FormatError.self) { try PluginFile.parse(MemoryRangeReader(b), path: "bad.esp") }
        }
        // Not a plugin.
        guard case .badMagic = try parse(Array("TES3xxxx".utf8)).cause else { Issue.record("magic"); return }
        // Group of size < 24.
        var tiny = Bytes(b: h); tiny.ascii("GRUP"); tiny.u32(10); tiny.ascii("GLOB"); tiny.u32(0); tiny.u32(0); tiny.u32(0)
        guard case .malformed = try parse(tiny.b).cause else { Issue.record("tiny group"); return }
        // Record data running past its group.
        var rec = TestPlugin.bytes(.group(label: "GLOB", children: [TestPlugin.simple("GLOB", 1, "A")]))
        var r = Bytes(b: rec); r.patch32(at: 24 + 4, 0xFFFF); rec = r.b
        guard case .endOfData = try parse(h + rec).cause else { Issue.record("record overrun"); return }
        // Fields that do not fill the record.
        var bad = TestPlugin.bytes(.record(sig: "GLOB", formID: 1, fields: [("EDID", TestPlugin.zstring("A"))]))
        bad += [0, 0]
        var bw = Bytes(b: bad); bw.patch32(at: 4, UInt32(bad.count - 24)); bad = bw.b
        guard case .endOfData = try parse(h + bad).cause else { Issue.record("field overrun"); return }
        // XXXX as the last field.
        let x = TestPlugin.bytes(.record(sig: "GLOB", formID: 1, fields: [("XXXX", [1, 0, 0, 0])]))
        guard case .malformed = try parse(h + x).cause else { Issue.record("dangling XXXX"); return }
        // Compressed record whose stream is garbage, or whose declared size is absurd.
        var garbage = Bytes(); garbage.ascii("NPC_"); garbage.u32(10); garbage.u32(PluginRecord.compressedFlag); garbage.u32(5)
        garbage.u32(0); garbage.u16(131); garbage.u16(0); garbage.u32(100); garbage.raw([1, 2, 3, 4, 5, 6])
        let e = try parse(h + garbage.b)
        guard case .decompression = e.cause else { Issue.record("garbage stream \(e)"); return }
        #expect(e.kind == .invalidInput)
        var absurd = Bytes(b: TestPlugin.bytes(TestPlugin.simple("NPC_", 5, "X", compress: .pcDefault)))
        absurd.patch32(at: 24, 0xFFFF_FFF0)
        guard case .limitExceeded = try parse(h + absurd.b).cause else { Issue.record("absurd size"); return }
        // Compressed record with fewer than 4 data bytes.
        var short = Bytes(); short.ascii("NPC_"); short.u32(2); short.u32(PluginRecord.compressedFlag); short.u32(5)
        short.u32(0); short.u16(131); short.u16(0); short.raw([0, 0])
        guard case .malformed = try parse(h + short.b).cause else { Issue.record("short compressed"); return }
        // No HEDR.
        var noHedr = Bytes(); noHedr.ascii("TES4"); noHedr.u32(0); noHedr.u32(0); noHedr.u32(0); noHedr.u32(0); noHedr.u16(131); noHedr.u16(0)
        guard case .malformed = try parse(noHedr.b).cause else { Issue.record("no HEDR"); return }
    }

    @Test func nestingDepthIsCapped() throws {
        var node = TestPlugin.Node.group(label: "GLOB", children: [TestPlugin.simple("GLOB", 1, "A")])
        for _ in 0..<40 { node = .group(label: "GLOB", type: 1, children: [node]) }
        let bytes = TestPlugin.file([node])
        let e = try #require(throws: FormatError.self) { try PluginFile.parse(MemoryRangeReader(bytes)) }
        guard case .limitExceeded(let what, _, let limit) = e.cause else { Issue.record("\(e)"); return }
        #expect(what == "group nesting depth" && limit == 32)
        // With a higher limit the same file parses.
        var limits = FormatLimits()
        limits.maxGroupDepth = 64
        #expect(try PluginFile.parse(MemoryRangeReader(bytes), limits: limits).groups.count == 41)
    }

    @Test func everyTruncationFailsCleanly() throws {
        let bytes = Self.sample()
        let full = try PluginFile.parse(MemoryRangeReader(bytes))
        // A prefix that ends exactly after TES4 or a top-level group is itself a valid plugin.
        let boundaries = Set([full.header.size] + full.groups.filter { $0.depth == 0 }.map { $0.offset + UInt64($0.size) })
        var failures = 0
        for n in stride(from: 0, to: bytes.count, by: 7) {
            do {
                _ = try PluginFile.parse(MemoryRangeReader(Array(bytes.prefix(n))))
                #expect(boundaries.contains(UInt64(n)), "prefix of \(n) bytes parsed")
            } catch {
                failures += 1
            }
        }
        #expect(failures > bytes.count / 7 - 3)
        let blank = try PublicFixtures.bytes("testing-plugins/Blank.esp")
        for n in 0..<blank.count {
            #expect(throws: FormatError.self) { try PluginFile.parse(MemoryRangeReader(Array(blank.prefix(n)))) }
        }
    }

    @Test func readsThroughSmallWindowsTheSameWay() throws {
        // A reader over a file on disk, parsed with a window smaller than several records.
        let bytes = Self.sample()
        let path = "/tmp/modvault-formats-\(UInt32.random(in: 0...UInt32.max)).esm"
        try FileSystem.writeAtomically(path, bytes: bytes)
        defer { try? FileSystem.remove(path) }
        let fromFile = try PluginFile.parse(try FileRangeReader(path: path))
        #expect(fromFile == (try PluginFile.parse(MemoryRangeReader(bytes))))
        var seq = SequentialReader(MemoryRangeReader(bytes), path: "", windowSize: 5)
        let a = try seq.take(3, what: "a")
        let b = try seq.take(9, what: "b")
        #expect(Array(a) == Array(bytes[0..<3]) && Array(b) == Array(bytes[3..<12]))
        #expect(throws: FormatError.self) { try seq.skip(UInt64(bytes.count), what: "past end") }
    }
}
