import Testing
import ModVaultCore
@testable import ModVaultFormats

/// A small plugin model for merge tests: records by FormID, placed in the groups the game expects.
struct MergeFixture {
    var masters = ["Fallout4.esm"]
    var flags: UInt32 = 0
    var nextID: UInt32 = 0x900
    /// Top-level records: signature → [(formID, fields, compressed)].
    var records: [String: [(UInt32, [(String, [UInt8])], Bool)]] = [:]
    /// Interior cell 0x01000900 with persistent placements.
    var cellRefs: [(UInt32, [(String, [UInt8])])] = []

    func build() -> [UInt8] {
        var nodes: [TestPlugin.Node] = []
        for sig in records.keys.sorted() {
            let children = records[sig]!.sorted { $0.0 < $1.0 }.map { r in
                TestPlugin.Node.record(sig: sig, formID: r.0, fields: r.1, compress: r.2 ? .pcDefault : nil)
            }
            nodes.append(.group(label: sig, children: children))
        }
        if !cellRefs.isEmpty {
            let cellID = UInt32(masters.count) << 24 | 0x900
            let refs = cellRefs.map { TestPlugin.Node.record(sig: "REFR", formID: $0.0, fields: $0.1) }
            nodes.append(.group(label: "CELL", children: [
                .groupID(label: 0, type: 2, children: [
                    .groupID(label: 0, type: 3, children: [
                        .record(sig: "CELL", formID: cellID, fields: [("EDID", TestPlugin.zstring("TestCell"))]),
                        .groupID(label: cellID, type: 6, children: [.groupID(label: cellID, type: 8, children: refs)]),
                    ]),
                ]),
            ]))
        }
        let header = TestPlugin.header(flags: flags, masters: masters, nextID: nextID)
        return TestPlugin.file(header: header, nodes)
    }

    /// A base with two GMSTs, a GLOB, a compressed NPC_ and a cell with two placements.
    static func base() -> MergeFixture {
        var f = MergeFixture()
        let me = UInt32(1) << 24
        f.records["GMST"] = [(me | 0x800, [("EDID", TestPlugin.zstring("fOne")), ("DATA", u32(1))], false),
                             (me | 0x801, [("EDID", TestPlugin.zstring("fTwo")), ("DATA", u32(2))], false)]
        f.records["GLOB"] = [(me | 0x802, [("EDID", TestPlugin.zstring("gVal")), ("FNAM", [0x66]), ("FLTV", u32(10))], false)]
        f.records["NPC_"] = [(me | 0x803, [("EDID", TestPlugin.zstring("Npc")), ("FULL", TestPlugin.zstring("Bob")),
                                           ("DATA", TestData.text(3000, seed: 1))], true),
                             (0x0001_2345, [("EDID", TestPlugin.zstring("Override")), ("DATA", TestData.text(200, seed: 2))], false)]
        f.cellRefs = [(me | 0x901, [("NAME", u32(0x0001_0000)), ("DATA", TestData.text(24, seed: 3))]),
                      (me | 0x902, [("NAME", u32(0x0001_0001)), ("DATA", TestData.text(24, seed: 4))])]
        return f
    }

    static func u32(_ v: UInt32) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }

    mutating func set(_ sig: String, _ formID: UInt32, field: String, to value: [UInt8]) {
        guard let i = records[sig]?.firstIndex(where: { $0.0 == formID }) else { return }
        var fields = records[sig]![i].1
        if let j = fields.firstIndex(where: { $0.0 == field }) { fields[j].1 = value } else { fields.append((field, value)) }
        records[sig]![i].1 = fields
    }

    mutating func remove(_ sig: String, _ formID: UInt32) { records[sig]?.removeAll { $0.0 == formID } }

    mutating func add(_ sig: String, _ formID: UInt32, _ fields: [(String, [UInt8])]) { records[sig, default: []].append((formID, fields, false)) }
}

/// Records of a plugin by normalised FormID, with their decompressed fields: what "the same records" means.
func recordSet(_ bytes: [UInt8]) throws -> [String: [UInt8]] {
    let parsed = try Parsed(bytes, path: "test", limits: .default)
    var out: [String: [UInt8]] = [:]
    let engine = RecipeEngine()
    for (id, entry) in parsed.records {
        out[id.text(masters: parsed.header.masters)] = Array(try entry.node.fields(engine: engine, path: "test", limits: .default))
    }
    return out
}

@Suite("plugin merge")
struct PluginMergeTests {
    static let me = UInt32(1) << 24

    static func variants() -> [MergeFixture] {
        var a = MergeFixture.base(); a.set("GMST", me | 0x800, field: "DATA", to: MergeFixture.u32(7))
        var b = MergeFixture.base(); b.remove("GMST", me | 0x801)
        var c = MergeFixture.base(); c.add("KYWD", me | 0x810, [("EDID", TestPlugin.zstring("NewKeyword"))])
        var d = MergeFixture.base(); d.set("NPC_", me | 0x803, field: "FULL", to: TestPlugin.zstring("Robert"))
        var e = MergeFixture.base(); e.cellRefs[0].1[1].1 = TestData.text(24, seed: 99)
        return [a, b, c, d, e]
    }

    /// Two sides with one conflict of each record kind against the base: both_changed (0x803),
    /// changed_deleted (0x801), same_new_id (0x806) and cell_both_changed (the cell's placements).
    static func everyKindOfConflict() -> (base: MergeFixture, ours: MergeFixture, theirs: MergeFixture) {
        let base = MergeFixture.base()
        var ours = base, theirs = base
        ours.set("NPC_", me | 0x803, field: "FULL", to: TestPlugin.zstring("Ours"))
        theirs.set("NPC_", me | 0x803, field: "FULL", to: TestPlugin.zstring("Theirs"))
        ours.remove("GMST", me | 0x801)
        theirs.set("GMST", me | 0x801, field: "DATA", to: MergeFixture.u32(42))
        ours.add("KYWD", me | 0x806, [("EDID", TestPlugin.zstring("A"))])
        theirs.add("KYWD", me | 0x806, [("EDID", TestPlugin.zstring("B"))])
        ours.cellRefs[0].1[1].1 = TestData.text(24, seed: 50)
        theirs.cellRefs[1].1[1].1 = TestData.text(24, seed: 51)
        return (base, ours, theirs)
    }

    @Test func mergingAPluginWithItselfIsByteIdentical() throws {
        for bytes in [MergeFixture.base().build(), try PublicFixtures.bytes("testing-plugins/Blank.esp")] {
            let out = try PluginMerge.merge(base: bytes, ours: bytes, theirs: bytes)
            #expect(out.merged && out.output == bytes)
        }
    }

    @Test func properties() throws {
        let base = MergeFixture.base().build()
        let xs = Self.variants().map { $0.build() }
        for (i, x) in xs.enumerated() {
            #expect(try PluginMerge.merge(base: base, ours: x, theirs: base).output == x, "merge(base, x, base) == x for variant \(i)")
            #expect(try PluginMerge.merge(base: base, ours: x, theirs: x).output == x, "merge(base, x, x) == x for variant \(i)")
            for (j, y) in xs.enumerated() where j != i {
                let xy = try PluginMerge.merge(base: base, ours: x, theirs: y), yx = try PluginMerge.merge(base: base, ours: y, theirs: x)
                #expect(xy.merged == yx.merged)
                if let a = xy.output, let b = yx.output {
                    #expect(try recordSet(a) == recordSet(b), "variants \(i) and \(j) merge to the same records either way")
                }
            }
        }
    }

    @Test func disjointEditsMergeAndTheHeaderIsRebuilt() throws {
        let base = MergeFixture.base()
        var ours = base; ours.set("GMST", Self.me | 0x800, field: "DATA", to: MergeFixture.u32(100))
        var theirs = base
        theirs.set("GMST", Self.me | 0x801, field: "DATA", to: MergeFixture.u32(200))
        theirs.add("GMST", Self.me | 0x805, [("EDID", TestPlugin.zstring("fNew")), ("DATA", MergeFixture.u32(5))])
        theirs.nextID = 0x906
        let out = try PluginMerge.merge(base: base.build(), ours: ours.build(), theirs: theirs.build())
        #expect(out.merged)
        #expect(out.counts.takenOurs == 1 && out.counts.takenTheirs == 1 && out.counts.added == 1)
        let merged = try #require(out.output)
        let records = try recordSet(merged)
        #expect(records["self:000800"].map { Array($0.suffix(4)) } == MergeFixture.u32(100))
        #expect(records["self:000801"].map { Array($0.suffix(4)) } == MergeFixture.u32(200))
        #expect(records["self:000805"] != nil)
        let parsed = try PluginFile.parse(MemoryRangeReader(merged))
        #expect(parsed.header.recordCount == UInt32(parsed.records.count + parsed.groups.count))
        #expect(parsed.header.nextObjectID >= 0x906)
        // Merging again gives the same bytes.
        #expect(try PluginMerge.merge(base: base.build(), ours: ours.build(), theirs: theirs.build()).output == merged)
    }

    @Test func compressedRecordsCompareDecompressed() throws {
        let base = MergeFixture.base()
        var ours = base; ours.records["NPC_"]![0].2 = false  // the same record, stored uncompressed
        var theirs = base; theirs.set("GMST", Self.me | 0x800, field: "DATA", to: MergeFixture.u32(9))
        let out = try PluginMerge.merge(base: base.build(), ours: ours.build(), theirs: theirs.build())
        #expect(out.merged && out.counts.takenTheirs == 1)
    }

    @Test func conflictsOfEveryKind() throws {
        let (base, ours, theirs) = Self.everyKindOfConflict()
        let out = try PluginMerge.merge(base: base.build(), ours: ours.build(), theirs: theirs.build())
        #expect(!out.merged && out.output == nil)
        let kinds = Dictionary(grouping: out.conflicts, by: \.kind)
        #expect(kinds["both_changed"]?.first?.formID == "self:000803")
        #expect(kinds["both_changed"]?.first?.editorID == "Npc")
        #expect(kinds["changed_deleted"]?.first?.ours == "deleted" && kinds["changed_deleted"]?.first?.theirs == "changed")
        #expect(kinds["same_new_id"]?.first?.formID == "self:000806")
        #expect(kinds["cell_both_changed"]?.first?.type == "CELL")
        // --partial: ours kept for every conflicting record, the rest merged.
        let partial = try PluginMerge.merge(base: base.build(), ours: ours.build(), theirs: theirs.build(), partial: true)
        let partialOutput = try #require(partial.output)
        let records = try recordSet(partialOutput)
        #expect(records["self:000801"] == nil)
        #expect(records["self:000803"] == (try recordSet(ours.build()))["self:000803"])
    }

    /// Every conflict of `conflictsOfEveryKind` settled by a chosen side: the merge completes, each
    /// record is the chosen side's, and what was settled no longer counts as a conflict.
    @Test(arguments: PluginMerge.Side.allCases)
    func resolutionsSettleConflictsRecordByRecord(_ side: PluginMerge.Side) throws {
        let (base, ours, fixture) = Self.everyKindOfConflict()
        var theirs = fixture
        // A change on one side only still merges as usual.
        theirs.set("GMST", Self.me | 0x800, field: "DATA", to: MergeFixture.u32(77))
        let (b, o, t) = (base.build(), ours.build(), theirs.build())
        let first = try PluginMerge.merge(base: b, ours: o, theirs: t)
        #expect(first.conflicts.count == 4)

        // Settling one record leaves the other three.
        let one = try PluginMerge.merge(base: b, ours: o, theirs: t, resolutions: ["self:000803": side])
        #expect(one.conflicts.map(\.formID).sorted() == first.conflicts.map(\.formID).filter { $0 != "self:000803" }.sorted())

        let all = Dictionary(uniqueKeysWithValues: first.conflicts.map { ($0.formID, side) })
        let out = try PluginMerge.merge(base: b, ours: o, theirs: t, resolutions: all)
        #expect(out.merged)
        let merged = try recordSet(try #require(out.output))
        let chosen = try recordSet(side == .ours ? o : t)
        for id in ["self:000803", "self:000801", "self:000806", "self:000901", "self:000902"] {
            #expect(merged[id] == chosen[id], "\(id) is \(side)'s")
        }
        #expect(merged["self:000800"].map { Array($0.suffix(4)) } == MergeFixture.u32(77))
        // A resolution for a record that is no conflict changes nothing.
        let clean = try PluginMerge.merge(base: b, ours: b, theirs: t, resolutions: ["self:000800": .ours])
        #expect(clean.output == t)
    }

    @Test func fieldMergeOnlyForUnorderedRecordTypes() throws {
        let base = MergeFixture.base()
        var ours = base; ours.set("GLOB", Self.me | 0x802, field: "FLTV", to: MergeFixture.u32(11))
        var theirs = base; theirs.set("GLOB", Self.me | 0x802, field: "FNAM", to: [0x73])
        let out = try PluginMerge.merge(base: base.build(), ours: ours.build(), theirs: theirs.build())
        #expect(out.merged && out.counts.fieldMerged == 1)
        let output = try #require(out.output)
        let glob = try #require(try recordSet(output)["self:000802"])
        #expect(glob.contains(0x73) && Array(glob.suffix(4)) == MergeFixture.u32(11))
        // The same two kinds of change on an NPC_ (ordered fields) conflict.
        var o2 = base; o2.set("NPC_", Self.me | 0x803, field: "FULL", to: TestPlugin.zstring("X"))
        var t2 = base; t2.set("NPC_", Self.me | 0x803, field: "DATA", to: TestData.text(3000, seed: 8))
        #expect(try !PluginMerge.merge(base: base.build(), ours: o2.build(), theirs: t2.build()).merged)
    }

    @Test func aMasterAddedOnOneSideRemapsTheOtherSidesForms() throws {
        let base = MergeFixture.base()
        var ours = base
        ours.masters = ["Fallout4.esm", "DLCRobot.esm"]
        // Ours' own forms move from index 1 to 2; the builder writes them that way, so renumber ours.
        let me2 = UInt32(2) << 24
        for sig in ours.records.keys {
            ours.records[sig] = ours.records[sig]!.map { r in ((r.0 >> 24 == 1 ? me2 | r.0 & 0xFFFFFF : r.0), r.1, r.2) }
        }
        ours.cellRefs = ours.cellRefs.map { (me2 | $0.0 & 0xFFFFFF, $0.1) }
        ours.add("KYWD", 0x0100_0F00, [("EDID", TestPlugin.zstring("RobotOverride"))])
        var theirs = base
        // A new record of theirs that refers to one of its own forms (0x01000800) inside its data.
        theirs.add("KYWD", Self.me | 0x820, [("EDID", TestPlugin.zstring("Ref")), ("KNAM", MergeFixture.u32(Self.me | 0x800))])
        let out = try PluginMerge.merge(base: base.build(), ours: ours.build(), theirs: theirs.build())
        #expect(out.merged, "\(out.conflicts)")
        let merged = try #require(out.output)
        let parsed = try PluginFile.parse(MemoryRangeReader(merged))
        #expect(parsed.header.masters == ["Fallout4.esm", "DLCRobot.esm"])
        let ref = try #require(parsed.records.first { $0.editorID == "Ref" })
        #expect(ref.formID == me2 | 0x820)
        #expect(Array(merged[Int(ref.offset)...].prefix(Int(ref.size)).suffix(4)) == MergeFixture.u32(me2 | 0x800))
    }

    /// `f` with its own forms renumbered from index 1 to `index`: what an editor writes after adding masters.
    static func renumbered(_ f: MergeFixture, selfIndex index: UInt32) -> MergeFixture {
        var f = f
        for sig in f.records.keys {
            f.records[sig] = f.records[sig]!.map { r in ((r.0 >> 24 == 1 ? index << 24 | r.0 & 0xFFFFFF : r.0), r.1, r.2) }
        }
        f.cellRefs = f.cellRefs.map { (index << 24 | $0.0 & 0xFFFFFF, $0.1) }
        return f
    }

    @Test func mastersAddedOnBothSidesMergeIntoTheirUnion() throws {
        var base = MergeFixture.base()
        // A base record that refers to one of the plugin's own forms: it moves with the master list.
        base.add("KYWD", Self.me | 0x810, [("EDID", TestPlugin.zstring("Mine")), ("KNAM", MergeFixture.u32(Self.me | 0x800))])
        let robot: UInt32 = 1 << 24, mineOurs: UInt32 = 2 << 24
        var ours = Self.renumbered(base, selfIndex: 2)
        ours.masters = ["Fallout4.esm", "DLCRobot.esm"]
        ours.set("KYWD", mineOurs | 0x810, field: "KNAM", to: MergeFixture.u32(mineOurs | 0x800))
        // Ours adds a form that names a form of DLCRobot and one of its own, and edits a GMST.
        ours.add("LVLI", mineOurs | 0x830, [("EDID", TestPlugin.zstring("RobotList")),
                                           ("LVLO", [1, 0, 0, 0] + MergeFixture.u32(robot | 0x1234) + [1, 0, 0, 0]),
                                           ("LVLO", [1, 0, 0, 0] + MergeFixture.u32(mineOurs | 0x810) + [1, 0, 0, 0])])
        ours.set("GMST", mineOurs | 0x800, field: "DATA", to: MergeFixture.u32(5))
        var theirs = Self.renumbered(base, selfIndex: 2)
        theirs.masters = ["Fallout4.esm", "DLCCoast.esm"]
        theirs.set("KYWD", mineOurs | 0x810, field: "KNAM", to: MergeFixture.u32(mineOurs | 0x800))
        // Theirs adds a form naming a form of DLCCoast (index 1 in its list) and one of its own, and
        // overrides a DLCCoast form.
        let coastTheirs: UInt32 = 1 << 24
        theirs.add("LVLI", mineOurs | 0x840, [("EDID", TestPlugin.zstring("CoastList")),
                                             ("LVLO", [1, 0, 0, 0] + MergeFixture.u32(coastTheirs | 0x2345) + [1, 0, 0, 0]),
                                             ("LVLO", [1, 0, 0, 0] + MergeFixture.u32(mineOurs | 0x802) + [1, 0, 0, 0])])
        theirs.add("KYWD", coastTheirs | 0x3456, [("EDID", TestPlugin.zstring("CoastOverride"))])
        theirs.set("GMST", mineOurs | 0x801, field: "DATA", to: MergeFixture.u32(6))

        let out = try PluginMerge.merge(base: base.build(), ours: ours.build(), theirs: theirs.build())
        #expect(out.merged, "\(out.conflicts)")
        let merged = try #require(out.output)
        let parsed = try PluginFile.parse(MemoryRangeReader(merged))
        #expect(parsed.header.masters == ["Fallout4.esm", "DLCRobot.esm", "DLCCoast.esm"])
        // In the union, DLCCoast is index 2 and the plugin's own forms index 3.
        let coast: UInt32 = 2 << 24, mine: UInt32 = 3 << 24
        let records = try recordSet(merged)
        /// The payloads of a record's fields named `sig`.
        func fields(_ id: String, _ sig: String) throws -> [[UInt8]] {
            var data = try #require(records[id])[...]
            var out: [[UInt8]] = []
            while data.count >= 6 {
                let size = Int(data[data.startIndex + 4]) | Int(data[data.startIndex + 5]) << 8
                if String(decoding: data.prefix(4), as: UTF8.self) == sig { out.append(Array(data.dropFirst(6).prefix(size))) }
                data = data.dropFirst(6 + size)
            }
            return out
        }
        #expect(parsed.records.first { $0.editorID == "RobotList" }?.formID == mine | 0x830)
        #expect(try fields("self:000830", "LVLO").map { Array($0[4..<8]) } == [MergeFixture.u32(robot | 0x1234), MergeFixture.u32(mine | 0x810)])
        #expect(parsed.records.first { $0.editorID == "CoastList" }?.formID == mine | 0x840)
        #expect(try fields("self:000840", "LVLO").map { Array($0[4..<8]) } == [MergeFixture.u32(coast | 0x2345), MergeFixture.u32(mine | 0x802)])
        #expect(parsed.records.first { $0.editorID == "CoastOverride" }?.formID == coast | 0x3456)
        #expect(records["DLCCoast.esm:003456"] != nil)
        #expect(try fields("self:000810", "KNAM") == [MergeFixture.u32(mine | 0x800)])
        // Both GMST edits are in, and the cell's placements moved with the plugin's forms.
        #expect(Array(try #require(records["self:000800"]).suffix(4)) == MergeFixture.u32(5))
        #expect(Array(try #require(records["self:000801"]).suffix(4)) == MergeFixture.u32(6))
        #expect(records["self:000901"] != nil && records["self:000902"] != nil)
        // The other order gives the same records, with the masters in its own order.
        let swapped = try #require(try PluginMerge.merge(base: base.build(), ours: theirs.build(), theirs: ours.build()).output)
        #expect(Set(try recordSet(swapped).keys) == Set(records.keys))
        #expect(try PluginFile.parse(MemoryRangeReader(swapped)).header.masters == ["Fallout4.esm", "DLCCoast.esm", "DLCRobot.esm"])
    }

    @Test func aValueThatMayNameAMovedMasterIsAConflictNotAGuess() throws {
        let base = MergeFixture.base()
        var ours = Self.renumbered(base, selfIndex: 2)
        ours.masters = ["Fallout4.esm", "DLCRobot.esm"]
        var theirs = Self.renumbered(base, selfIndex: 2)
        theirs.masters = ["Fallout4.esm", "DLCCoast.esm"]
        // DLCCoast's index (1) as the top byte of a value two bytes into a field: a reference or not.
        theirs.add("MISC", (2 << 24) | 0x850, [("EDID", TestPlugin.zstring("Odd")), ("DATA", [7, 7] + MergeFixture.u32(1 << 24 | 0x4000) + [0, 0])])
        let out = try PluginMerge.merge(base: base.build(), ours: ours.build(), theirs: theirs.build())
        #expect(out.conflicts.map(\.kind) == ["masters_changed"])
        #expect(out.conflicts.first?.formID == "self:000850")
        #expect(out.output == nil)
        // Keeping ours for that record settles it: the merge goes through without theirs' record.
        let settled = try PluginMerge.merge(base: base.build(), ours: ours.build(), theirs: theirs.build(), resolutions: ["self:000850": .ours])
        #expect(settled.merged)
        let kept = try recordSet(try #require(settled.output))
        #expect(kept["self:000850"] == nil && kept["self:000800"] != nil)
        // --partial keeps ours for it too.
        let partial = try PluginMerge.merge(base: base.build(), ours: ours.build(), theirs: theirs.build(), partial: true)
        #expect(try recordSet(try #require(partial.output))["self:000850"] == nil)
        // A base master removed on one side cannot be reconciled.
        var dropped = base
        dropped.masters = []
        dropped = Self.renumbered(dropped, selfIndex: 0)
        let removed = try PluginMerge.merge(base: base.build(), ours: ours.build(), theirs: dropped.build(), partial: true)
        #expect(removed.conflicts.map(\.kind) == ["masters_changed"])
        #expect(removed.output == ours.build())
    }

    @Test func lightPluginsKeepTheirRange() throws {
        var base = MergeFixture.base(); base.flags = PluginHeader.lightFlag
        var ours = base; ours.set("GMST", Self.me | 0x800, field: "DATA", to: MergeFixture.u32(3))
        var theirs = base; theirs.add("KYWD", Self.me | 0x1000, [("EDID", TestPlugin.zstring("TooFar"))])
        let out = try PluginMerge.merge(base: base.build(), ours: ours.build(), theirs: theirs.build())
        #expect(out.conflicts.contains { $0.kind == "esl_range" && $0.formID == "self:001000" })
    }

    @Test func localizedPluginsChangedOnBothSidesConflict() throws {
        var base = MergeFixture.base(); base.flags = PluginHeader.localizedFlag
        var ours = base; ours.set("GMST", Self.me | 0x800, field: "DATA", to: MergeFixture.u32(3))
        var theirs = base; theirs.set("GMST", Self.me | 0x801, field: "DATA", to: MergeFixture.u32(4))
        let out = try PluginMerge.merge(base: base.build(), ours: ours.build(), theirs: theirs.build())
        #expect(out.conflicts.contains { $0.kind == "localized_both_changed" })
    }

    @Test func malformedInputIsAnErrorNamingThePath() throws {
        let base = MergeFixture.base().build()
        #expect(throws: FormatError.self) { try PluginMerge.merge(base: base, ours: Array(base.prefix(30)), theirs: base, path: "Foo.esp") }
    }

    /// A reference added by theirs deep inside a world (WRLD children, exterior blocks, cell
    /// children, temporary group) lands in the same groups of the merged plugin.
    @Test func recordsAddedInsideNestedWorldGroupsFindTheirGroups() throws {
        let world: UInt32 = Self.me | 0x900, cell: UInt32 = Self.me | 0x901
        func plugin(gmst: UInt32, refs: [UInt32], extraGroupFor: UInt32? = nil) -> [UInt8] {
            let refNodes = refs.map { TestPlugin.Node.record(sig: "REFR", formID: $0, fields: [("NAME", MergeFixture.u32(0x0001_0000 | $0))]) }
            var cellChildren: [TestPlugin.Node] = [.groupID(label: cell, type: 9, children: refNodes)]
            if let extra = extraGroupFor {
                cellChildren.append(.groupID(label: cell, type: 8, children: [.record(sig: "ACHR", formID: extra, fields: [("NAME", MergeFixture.u32(7))])]))
            }
            return TestPlugin.file(header: TestPlugin.header(nextID: 0x990), [
                .group(label: "GMST", children: [.record(sig: "GMST", formID: Self.me | 0x800, fields: [("EDID", TestPlugin.zstring("fX")), ("DATA", MergeFixture.u32(gmst))])]),
                .group(label: "WRLD", children: [
                    .record(sig: "WRLD", formID: world, fields: [("EDID", TestPlugin.zstring("World"))]),
                    .groupID(label: world, type: 1, children: [
                        .groupID(label: 0x0000_0000, type: 4, children: [
                            .groupID(label: 0x0000_0000, type: 5, children: [
                                .record(sig: "CELL", formID: cell, fields: [("EDID", TestPlugin.zstring("Ext"))]),
                                .groupID(label: cell, type: 6, children: cellChildren),
                            ]),
                        ]),
                    ]),
                ]),
            ])
        }
        let base = plugin(gmst: 1, refs: [Self.me | 0x910])
        let ours = plugin(gmst: 2, refs: [Self.me | 0x910])
        let theirs = plugin(gmst: 1, refs: [Self.me | 0x910, Self.me | 0x911], extraGroupFor: Self.me | 0x912)
        let out = try PluginMerge.merge(base: base, ours: ours, theirs: theirs)
        #expect(out.merged && out.counts.added == 2 && out.counts.takenOurs == 1)
        let merged = try PluginFile.parse(MemoryRangeReader(try #require(out.output)))
        func chain(_ formID: UInt32) -> [Int32] {
            guard let r = merged.records.first(where: { $0.formID == formID }) else { return [] }
            var types: [Int32] = []
            var g = r.group
            while let i = g { types.insert(merged.groups[i].type, at: 0); g = merged.groups[i].parent }
            return types
        }
        #expect(chain(Self.me | 0x911) == [0, 1, 4, 5, 6, 9])
        #expect(chain(Self.me | 0x912) == [0, 1, 4, 5, 6, 8])
        #expect(merged.groups.filter { $0.type == 1 }.count == 1, "no second world-children group")
    }
}
