import Testing
import Foundation
import ModVaultCore
@testable import ModVaultFormats

@Suite("Format-aware diff")
struct DiffTests {
    static func archive(_ path: String) throws -> (BA2Archive, MemoryRangeReader) {
        let r = try PublicFixtures.reader(path)
        return (try BA2Archive.parse(r), r)
    }

    @Test func zlibLevelRepackIsNotAContentChange() throws {
        let (normal, nr) = try Self.archive("bsa-rs/fo4_compression_test/normal.ba2")
        let (xbox, xr) = try Self.archive("bsa-rs/fo4_compression_test/xbox.ba2")
        let content = FormatDiff.ba2(old: normal, new: xbox,
                                     oldFingerprints: try ContentFingerprint.ba2Members(normal, reader: nr),
                                     newFingerprints: try ContentFingerprint.ba2Members(xbox, reader: xr))
        #expect(content.contentCompared)
        #expect(content.unchanged == 19)
        #expect(content.added.isEmpty && content.removed.isEmpty && content.changed.isEmpty && content.repacked.isEmpty)
        // Fingerprinting the stored bytes instead sees every stream as different.
        let stored = FormatDiff.ba2(old: normal, new: xbox,
                                    oldFingerprints: try ContentFingerprint.ba2Members(normal, reader: nr, decompress: false),
                                    newFingerprints: try ContentFingerprint.ba2Members(xbox, reader: xr, decompress: false))
        #expect(stored.changed.count == 19)
        #expect(stored.changed.allSatisfy { $0.changes.map(\.field) == ["content"] })
    }

    @Test func rawVersusCompressedTextureIsARepack() throws {
        let (raw, rr) = try Self.archive("bsa-rs/fo4_dds_test/in.ba2")
        let (packed, pr) = try Self.archive("bsa-rs/fo4_next_gen_test/dx10_v7.ba2")
        let d = FormatDiff.ba2(old: raw, new: packed,
                               oldFingerprints: try ContentFingerprint.ba2Members(raw, reader: rr),
                               newFingerprints: try ContentFingerprint.ba2Members(packed, reader: pr))
        #expect(d.archive == [FieldChange(field: "version", old: "1", new: "7")])
        #expect(d.changed.isEmpty)
        #expect(d.repacked.count == 1)
        #expect(Set(d.repacked[0].changes.map(\.field)) == ["stored_size", "compressed"])
        #expect(d.repacked[0].new.texture == BA2TextureSummary(width: 1024, height: 1024, mipCount: 11, format: "BC7_UNORM", cubemap: false))
    }

    @Test func looseTextureFingerprintsLikeTheArchivedOne() throws {
        let dds = try PublicFixtures.bytes("bsa-rs/fo4_dds_test/Fence006_1K_Roughness.dds")
        let (packed, pr) = try Self.archive("bsa-rs/fo4_next_gen_test/dx10_v8.ba2")
        let member = try ContentFingerprint.ba2Members(packed, reader: pr)[0]
        #expect(ContentFingerprint.of(Array(dds[148...])) == member)
        #expect(ContentFingerprint.of(Array(dds[147...])) != member)
    }

    @Test func membersAddedRemovedAndChangedByNormalisedPath() throws {
        let old = TestBA2.general([("Meshes/A.nif", TestData.text(900, seed: 1), .pcDefault), ("meshes/b.nif", TestData.text(800, seed: 2), nil),
                                   ("c.txt", TestData.text(100, seed: 3), nil)]).build()
        let new = TestBA2.general([("MESHES\\a.nif", TestData.text(900, seed: 1), nil), ("c.txt", TestData.text(100, seed: 4), nil),
                                   ("d.txt", TestData.text(50, seed: 5), nil)], version: 8).build()
        let a = try BA2Archive.parse(MemoryRangeReader(old)), b = try BA2Archive.parse(MemoryRangeReader(new))
        let d = FormatDiff.ba2(old: a, new: b, oldFingerprints: try ContentFingerprint.ba2Members(a, reader: MemoryRangeReader(old)),
                               newFingerprints: try ContentFingerprint.ba2Members(b, reader: MemoryRangeReader(new)))
        #expect(d.added.map(\.path) == ["d.txt"])
        #expect(d.removed.map(\.path) == ["meshes/b.nif"])
        #expect(d.changed.map(\.path) == ["c.txt"])
        #expect(d.changed[0].changes.map(\.field) == ["content"])
        #expect(d.unchanged == 0)
        // a.nif is now stored raw: same content, different stored bytes.
        #expect(d.repacked.map(\.path) == ["MESHES\\a.nif"])
        #expect(d.archive.map(\.field) == ["version"])

        // Without fingerprints only sizes can speak: c.txt keeps its size, so it looks unchanged.
        let blind = FormatDiff.ba2(old: a, new: b)
        #expect(!blind.contentCompared)
        #expect(blind.changed.map(\.path) == ["MESHES\\a.nif"])
        #expect(blind.unchanged == 1)
    }

    @Test func duplicateNamesAreKeptApart() throws {
        let bytes = TestBA2.general([("x.txt", [1], nil), ("X.TXT", [2], nil)]).build()
        let a = try BA2Archive.parse(MemoryRangeReader(bytes))
        let d = FormatDiff.ba2(old: a, new: a)
        #expect(d.unchanged == 2)
        let single = try BA2Archive.parse(MemoryRangeReader(TestBA2.general([("x.txt", [1], nil)]).build()))
        #expect(FormatDiff.ba2(old: single, new: a).added.map(\.key) == ["x.txt#2"])
    }

    static func plugin(masters: [String] = ["Fallout4.esm"], flags: UInt32 = 0, records: [TestPlugin.Node]) -> PluginFile {
        try! PluginFile.parse(MemoryRangeReader(TestPlugin.file(header: TestPlugin.header(flags: flags, masters: masters), [.group(label: "MISC", children: records)])))
    }

    @Test func pluginRecordsAddedRemovedAndChanged() throws {
        let base: [TestPlugin.Node] = (0..<6).map { TestPlugin.simple("MISC", 0x0100_0800 + UInt32($0), "Item\($0)") }
        var next = base
        next[1] = TestPlugin.simple("MISC", 0x0100_0801, "Item1", seed: 77)  // content edit
        next[2] = TestPlugin.simple("MISC", 0x0100_0802, "Renamed")  // EditorID edit (EDID is part of the fields)
        next[3] = TestPlugin.simple("MISC", 0x0100_0803, "Item3", compress: .pcDefault)  // compressed, same content
        next.remove(at: 4)
        next.append(TestPlugin.simple("MISC", 0x0100_0900, "Brand"))
        next.append(TestPlugin.simple("GLOB", 0x0000_0100, "VanillaOverride"))
        let d = FormatDiff.plugin(old: Self.plugin(records: base), new: Self.plugin(flags: 0x200, records: next))
        #expect(d.added == [PluginRecordSummary(formID: "0x01000900", origin: "", type: "MISC", editorID: "Brand"),
                            PluginRecordSummary(formID: "0x00000100", origin: "Fallout4.esm", type: "GLOB", editorID: "VanillaOverride")])
        #expect(d.removed.map(\.editorID) == ["Item4"])
        #expect(d.changed.map(\.record.formID) == ["0x01000801", "0x01000802", "0x01000803"])
        #expect(d.changed[0].changes.map(\.field) == ["content"])
        #expect(d.changed[1].changes.map(\.field) == ["editor_id", "content"])
        #expect(d.changed[2].changes.map(\.field) == ["compressed"])
        #expect(d.unchanged == 2)
        #expect(d.flags == PluginDiff.FlagsChange(old: "0x00000000", new: "0x00000200", added: ["light"], removed: []))
        #expect(d.masters == nil)
    }

    @Test func masterReorderIsResolvedThroughNames() throws {
        // Record 0x00000ABC of A.esm and 0x01000DEF of B.esm; then the masters swap, and so do the high bytes.
        func record(_ formID: UInt32, _ edid: String) -> TestPlugin.Node {
            .record(sig: "MISC", formID: formID, fields: [("EDID", TestPlugin.zstring(edid)), ("DATA", Array(edid.utf8))])
        }
        let before = Self.plugin(masters: ["A.esm", "B.esm"], records: [record(0x0000_0ABC, "FromA"), record(0x0100_0DEF, "FromB"), record(0x0200_0800, "Own")])
        let after = Self.plugin(masters: ["B.esm", "A.esm"], records: [record(0x0100_0ABC, "FromA"), record(0x0000_0DEF, "FromB"), record(0x0200_0800, "Own")])
        let d = FormatDiff.plugin(old: before, new: after)
        #expect(d.masters == PluginDiff.MastersChange(old: ["A.esm", "B.esm"], new: ["B.esm", "A.esm"]))
        #expect(d.added.isEmpty && d.removed.isEmpty)
        #expect(d.unchanged == 3)
    }

    @Test func pluginHeaderFieldChanges() throws {
        let a = Self.plugin(records: [])
        var bytes = TestPlugin.file(header: TestPlugin.header(flags: 0x81, masters: [], author: "Me", description: "v2", records: 5, nextID: 0x900), [])
        let b = try PluginFile.parse(MemoryRangeReader(bytes))
        let d = FormatDiff.plugin(old: a, new: b)
        #expect(d.header.map(\.field) == ["author", "description", "record_count", "next_object_id"])
        #expect(d.flags?.added == ["esm", "localized"])
        #expect(d.masters?.new == [])
        bytes = []
    }

    @Test func ddsDimensionFormatAndMipChanges() throws {
        let fence = try DDSTexture.parse(try PublicFixtures.reader("bsa-rs/fo4_dds_test/Fence006_1K_Roughness.dds"))
        let blank = try DDSTexture.parse(try PublicFixtures.reader("testing-plugins/Blank.dds"))
        let d = FormatDiff.dds(old: fence, new: blank)
        #expect(d.changes == [FieldChange(field: "width", old: "1024", new: "800"), FieldChange(field: "height", old: "1024", new: "600"),
                              FieldChange(field: "format", old: "BC7_UNORM", new: "BC1_UNORM"), FieldChange(field: "mip_count", old: "11", new: "10")])
        #expect(FormatDiff.dds(old: fence, new: fence).changes.isEmpty)
    }

    @Test func jsonSchemaIsStable() throws {
        let (normal, _) = try Self.archive("bsa-rs/fo4_compression_test/normal.ba2")
        let (xbox, _) = try Self.archive("bsa-rs/fo4_compression_test/xbox.ba2")
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let ba2 = String(decoding: try encoder.encode(FormatDiff.ba2(old: normal, new: xbox)), as: UTF8.self)
        #expect(ba2 == #"{"added":[],"archive":[],"changed":[],"content_compared":false,"removed":[],"repacked":[],"schema_version":1,"unchanged":19}"#)
        let p = FormatDiff.plugin(old: Self.plugin(records: []), new: Self.plugin(records: [TestPlugin.simple("MISC", 0x0100_0800, "A")]))
        let json = String(decoding: try encoder.encode(p), as: UTF8.self)
        #expect(json == #"{"added":[{"editor_id":"A","form_id":"0x01000800","origin":"","type":"MISC"}],"changed":[],"header":[],"removed":[],"schema_version":1,"unchanged":0}"#)
        #expect(try JSONDecoder().decode(PluginDiff.self, from: try encoder.encode(p)) == p)
    }
}
