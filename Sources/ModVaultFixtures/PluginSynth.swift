// Synthetic Fallout 4 plugins: which records a plugin holds and what their fields look like.

/// Recipe for one plugin. The same spec always gives the same bytes.
struct PluginSpec: Hashable, Sendable {
    var fileName: String
    var seed: UInt64
    var masters: [String]
    var flags: UInt32
    /// EditorID prefix, e.g. "WWP_".
    var prefix: String
    /// New records per top-level group, in group order.
    var counts: [RecordCount]
    /// Records overriding forms of the first master.
    var overrides: Int
    /// SCOL records whose DATA exceeds 65,535 bytes (written with XXXX).
    var oversizeRecords: Int
    /// Applied for the "next version": edits and insertions.
    var edit: PluginEdit?

    struct RecordCount: Hashable, Sendable {
        var signature: String
        var count: Int
    }

    var totalNewRecords: Int { counts.reduce(0) { $0 + $1.count } + oversizeRecords }
}

/// Changes applied to a plugin for the next version.
struct PluginEdit: Hashable, Sendable {
    var seed: UInt64
    var edits: Int
    var inserts: Int
}

/// What applying a `PluginEdit` produced, for the summary's ideal-new-bytes figure.
struct PluginEditReport: Sendable {
    var editedRecordBytes = 0
    var insertedRecordBytes = 0
    var editedFormIDs: [UInt32] = []
    var insertedFormIDs: [UInt32] = []
}

enum PluginSynth {
    /// Top-level group order of Fallout4.esm, restricted to the types generated here.
    static let groupOrder = ["KYWD", "GLOB", "ARMO", "MISC", "STAT", "SCOL", "WEAP", "AMMO", "NPC_", "LVLI", "COBJ", "OMOD"]
    static let firstObjectID: UInt32 = 0x800

    // Vanilla FormIDs that mod records point at (keywords, races, sound descriptors…). A shared pool makes
    // references repeat across plugins as they do in real load orders.
    static let vanillaPool: [UInt32] = {
        var rng = FixtureRNG(seed: 0xF0_4E5A)
        return (0..<96).map { _ in UInt32(rng.int(0x0000_1000...0x0024_FFFF)) }
    }()

    static func build(_ spec: PluginSpec) -> (PluginHeader, [PluginGroup], PluginEditReport?) {
        var rng = FixtureRNG(seed: Seed.derive(spec.seed, "layout"))
        let highByte = UInt32(spec.masters.count) << 24
        // Object IDs are handed out in creation order across all types; within a group records sort by FormID.
        var creation: [String] = []
        for c in spec.counts { creation.append(contentsOf: repeatElement(c.signature, count: c.count)) }
        creation.append(contentsOf: repeatElement("SCOL", count: spec.oversizeRecords))
        rng.shuffle(&creation)
        var byGroup: [String: [PluginRecord]] = [:]
        var usedEditorIDs = Set<String>()
        var context = RecordContext(prefix: spec.prefix, highByte: highByte, ownKeywords: [], ownMisc: [])
        var oversizeLeft = spec.oversizeRecords
        // Keywords first so later records can reference them.
        for (i, sig) in creation.enumerated() where sig == "KYWD" {
            context.ownKeywords.append(highByte | (firstObjectID + UInt32(i)))
        }
        for (i, sig) in creation.enumerated() where sig == "MISC" {
            context.ownMisc.append(highByte | (firstObjectID + UInt32(i)))
        }
        for (i, sig) in creation.enumerated() {
            let formID = highByte | (firstObjectID + UInt32(i))
            var recordRNG = FixtureRNG(seed: Seed.derive(spec.seed, Int(formID)))
            let oversize = sig == "SCOL" && oversizeLeft > 0
            if oversize { oversizeLeft -= 1 }
            let record = makeRecord(sig, formID: formID, rng: &recordRNG, context: context, used: &usedEditorIDs, oversize: oversize)
            byGroup[sig, default: []].append(record)
        }
        // Overrides keep the master's FormID, so their high byte is the master's index and they sort first.
        var overridden = Set<UInt32>()
        for o in 0..<spec.overrides {
            var recordRNG = FixtureRNG(seed: Seed.derive(spec.seed, "override\(o)"))
            let sig = recordRNG.pick(["WEAP", "ARMO", "MISC", "NPC_", "LVLI", "COBJ"])
            let master = o % max(1, spec.masters.count)
            var formID = master == 0
                ? recordRNG.pick(vanillaPool)
                : UInt32(master) << 24 | (firstObjectID + UInt32(recordRNG.int(0...600)))
            while overridden.contains(formID) { formID += 1 }
            overridden.insert(formID)
            let record = makeRecord(sig, formID: formID, rng: &recordRNG, context: context, used: &usedEditorIDs, oversize: false)
            byGroup[sig, default: []].append(record)
        }
        var nextObjectID = firstObjectID + UInt32(creation.count)
        var report: PluginEditReport?
        if let edit = spec.edit {
            var r = PluginEditReport()
            var editRNG = FixtureRNG(seed: edit.seed)
            // Edit records spread over the whole file, not clustered in one group.
            var candidates: [(String, Int)] = []
            for sig in groupOrder { for i in byGroup[sig, default: []].indices { candidates.append((sig, i)) } }
            editRNG.shuffle(&candidates)
            for (sig, i) in candidates.prefix(edit.edits).sorted(by: { ($0.0, $0.1) < ($1.0, $1.1) }) {
                mutate(&byGroup[sig]![i], rng: &editRNG)
                r.editedFormIDs.append(byGroup[sig]![i].formID)
                r.editedRecordBytes += PluginWriter.recordBytes(byGroup[sig]![i]).count
            }
            let insertable = groupOrder.filter { byGroup[$0] != nil && $0 != "SCOL" }
            for _ in 0..<edit.inserts {
                let sig = editRNG.pick(insertable)
                let formID = highByte | nextObjectID
                nextObjectID += 1
                var recordRNG = FixtureRNG(seed: Seed.derive(edit.seed, Int(formID)))
                let record = makeRecord(sig, formID: formID, rng: &recordRNG, context: context, used: &usedEditorIDs, oversize: false)
                byGroup[sig]!.append(record)
                r.insertedFormIDs.append(formID)
                r.insertedRecordBytes += PluginWriter.recordBytes(record).count
            }
            report = r
        }
        let groups = groupOrder.compactMap { sig -> PluginGroup? in
            guard var records = byGroup[sig], !records.isEmpty else { return nil }
            records.sort { $0.formID < $1.formID }
            return PluginGroup(sig, records: records, timestamp: UInt16(rng.int(0x2000...0x7FFF)))
        }
        let header = PluginHeader(
            nextObjectID: nextObjectID, author: rng.chance(0.7) ? "DEFAULT" : rng.pick(Words.nouns) + "Modder",
            description: rng.chance(0.4) ? Words.sentence(&rng, words: rng.int(5...15)) : nil,
            masters: spec.masters, flags: spec.flags)
        return (header, groups, report)
    }

    struct RecordContext {
        var prefix: String
        var highByte: UInt32
        var ownKeywords: [UInt32]
        var ownMisc: [UInt32]

        func keyword(_ rng: inout FixtureRNG) -> UInt32 {
            !ownKeywords.isEmpty && rng.chance(0.5) ? rng.pick(ownKeywords) : rng.pick(PluginSynth.vanillaPool)
        }
        func reference(_ rng: inout FixtureRNG) -> UInt32 {
            !ownMisc.isEmpty && rng.chance(0.4) ? rng.pick(ownMisc) : rng.pick(PluginSynth.vanillaPool)
        }
    }

    /// Edits that a modder makes in the Creation Kit: rename, rebalance numbers, add a keyword.
    static func mutate(_ record: inout PluginRecord, rng: inout FixtureRNG) {
        var changed = false
        if let i = record.fields.firstIndex(where: { $0.signature == "FULL" }) {
            var b = ByteBuilder()
            b.zstring(Words.itemName(&rng) + " " + rng.pick(["Mk II", "Prototype", "Refit", "Deluxe", "(Modified)"]))
            record.fields[i].data = b.bytes
            changed = true
        }
        if let i = record.fields.firstIndex(where: { ["DATA", "DNAM", "FLTV", "ACBS", "CNAM"].contains($0.signature) }),
           record.fields[i].data.count >= 4 {
            // Nudge the leading number (value, damage, level…); the rest of the struct stays as it was.
            let old = UInt32(record.fields[i].data[0]) | UInt32(record.fields[i].data[1]) << 8
            let new = old &+ UInt32(rng.int(1...250))
            record.fields[i].data[0] = UInt8(truncatingIfNeeded: new)
            record.fields[i].data[1] = UInt8(truncatingIfNeeded: new >> 8)
            changed = true
        }
        if !changed {
            record.fields[record.fields.count - 1].data.append(UInt8(rng.int(1...255)))
        }
        record.timestamp &+= 0x0101
    }

    static func zstring(_ s: String) -> [UInt8] { Array(s.utf8) + [0] }
    static func u32s(_ values: [UInt32]) -> [UInt8] { var b = ByteBuilder(); for v in values { b.u32(v) }; return b.bytes }
    static func obnd(_ rng: inout FixtureRNG) -> PluginField {
        var b = ByteBuilder()
        let x = Int16(rng.int(4...60)), y = Int16(rng.int(4...60)), z = Int16(rng.int(2...90))
        b.i16(-x); b.i16(-y); b.i16(0); b.i16(x); b.i16(y); b.i16(z)
        return PluginField("OBND", b.bytes)
    }

    static func keywords(_ rng: inout FixtureRNG, _ ctx: RecordContext, _ n: Int) -> [PluginField] {
        guard n > 0 else { return [] }
        var ksiz = ByteBuilder(); ksiz.u32(UInt32(n))
        return [PluginField("KSIZ", ksiz.bytes), PluginField("KWDA", u32s((0..<n).map { _ in ctx.keyword(&rng) }))]
    }

    static func model(_ rng: inout FixtureRNG, _ ctx: RecordContext, folder: String, field: String = "MODL") -> [PluginField] {
        let path = "\(folder)\\\(Words.identifier(ctx.prefix))\\\(Words.identifier(rng.pick(Words.adjectives)))\(rng.pick(Words.nouns)).nif"
        var fields = [PluginField(field, zstring(path))]
        // MODT: texture hash triples that the Creation Kit stores next to a model path.
        var modt = ByteBuilder()
        modt.u32(2); modt.u32(UInt32(rng.int(1...4))); modt.u32(0)
        for _ in 0..<rng.int(1...4) { modt.u64(rng.next()); modt.u32(0x64_6473) }
        fields.append(PluginField(field == "MODL" ? "MODT" : "MO2T", modt.bytes))
        return fields
    }

    static func makeRecord(
        _ sig: String, formID: UInt32, rng: inout FixtureRNG, context ctx: RecordContext, used: inout Set<String>,
        oversize: Bool
    ) -> PluginRecord {
        let name = Words.itemName(&rng)
        var editorID = ctx.prefix + Words.identifier(name) + (sig == "OMOD" ? "_Mod" : sig == "COBJ" ? "_Recipe" : "")
        var suffix = 2
        while used.contains(editorID) {
            editorID = ctx.prefix + Words.identifier(name) + "\(suffix)"
            suffix += 1
        }
        used.insert(editorID)
        var fields = [PluginField("EDID", zstring(editorID))]
        var flags: UInt32 = 0
        switch sig {
        case "KYWD":
            var cnam = ByteBuilder(); cnam.u32(UInt32(truncatingIfNeeded: rng.next() & 0x00FF_FFFF))
            fields.append(PluginField("CNAM", cnam.bytes))
            if rng.chance(0.3) { fields.append(PluginField("TNAM", [UInt8(rng.int(0...19)), 0, 0, 0])) }
        case "GLOB":
            fields.append(PluginField("FNAM", [UInt8(ascii: rng.pick(["f", "s", "l"]))]))
            var v = ByteBuilder(); v.f32(Float(rng.int(0...100)))
            fields.append(PluginField("FLTV", v.bytes))
        case "MISC":
            fields.append(obnd(&rng))
            fields.append(PluginField("FULL", zstring(name)))
            fields += model(&rng, ctx, folder: "Props")
            fields += keywords(&rng, ctx, rng.int(0...3))
            var data = ByteBuilder(); data.u32(UInt32(rng.int(1...400))); data.f32(Float(rng.int(1...40)) / 10)
            fields.append(PluginField("DATA", data.bytes))
            let components = rng.int(1...5)
            var cvpa = ByteBuilder()
            for _ in 0..<components { cvpa.u32(rng.pick(vanillaPool)); cvpa.u32(UInt32(rng.int(1...6))) }
            fields.append(PluginField("CVPA", cvpa.bytes))
        case "ARMO":
            fields.append(obnd(&rng))
            fields.append(PluginField("FULL", zstring(name)))
            fields += model(&rng, ctx, folder: "Armor", field: "MOD2")
            var bod2 = ByteBuilder(); bod2.u32(UInt32(1) << UInt32(rng.int(0...20))); bod2.u32(0)
            fields.append(PluginField("BOD2", bod2.bytes))
            fields.append(PluginField("RNAM", u32s([0x0001_3746])))
            fields += keywords(&rng, ctx, rng.int(2...8))
            if rng.chance(0.5) { fields.append(PluginField("DESC", zstring(Words.sentence(&rng, words: rng.int(4...12))))) }
            var data = ByteBuilder(); data.u32(UInt32(rng.int(5...900))); data.f32(Float(rng.int(1...150)) / 10); data.u32(UInt32(rng.int(10...500)))
            fields.append(PluginField("DATA", data.bytes))
            var fnam = ByteBuilder(); fnam.u16(UInt16(rng.int(1...60))); fnam.u16(0); fnam.u32(0)
            fields.append(PluginField("FNAM", fnam.bytes))
            for i in 0..<rng.int(1...3) {
                var indx = ByteBuilder(); indx.u16(UInt16(i)); fields.append(PluginField("INDX", indx.bytes))
                fields.append(PluginField("MODL", u32s([ctx.reference(&rng)])))
            }
        case "STAT", "SCOL":
            fields.append(obnd(&rng))
            fields += model(&rng, ctx, folder: sig == "SCOL" ? "SCOL" : "Architecture")
            if sig == "SCOL" {
                // Static collections: per part, the static and its placements (position, rotation, scale).
                let parts = oversize ? 1 : rng.int(1...4)
                for _ in 0..<parts {
                    fields.append(PluginField("ONAM", u32s([ctx.reference(&rng)])))
                    let placements = oversize ? rng.int(2_400...3_000) : rng.int(2...40)
                    var data = ByteBuilder(capacity: placements * 28)
                    var x = rng.float(-2000...2000), y = rng.float(-2000...2000)
                    for _ in 0..<placements {
                        x += rng.float(-64...64); y += rng.float(-64...64)
                        data.f32(x); data.f32(y); data.f32(rng.float(0...512))
                        data.f32(0); data.f32(0); data.f32(Float(rng.int(0...3)) * 1.5707964)
                        data.f32(1)
                    }
                    fields.append(PluginField("DATA", data.bytes))
                }
            } else {
                var dnam = ByteBuilder(); dnam.f32(90); dnam.u32(0); fields.append(PluginField("DNAM", dnam.bytes))
            }
        case "WEAP":
            fields.append(obnd(&rng))
            fields.append(PluginField("FULL", zstring(name)))
            fields += model(&rng, ctx, folder: "Weapons")
            fields.append(PluginField("ETYP", u32s([0x0001_3F42])))
            fields += keywords(&rng, ctx, rng.int(3...10))
            if rng.chance(0.4) { fields.append(PluginField("DESC", zstring(Words.sentence(&rng, words: rng.int(6...14))))) }
            fields.append(PluginField("INRD", u32s([ctx.reference(&rng)])))
            var data = ByteBuilder(); data.u32(ctx.reference(&rng)); data.u32(UInt32(rng.int(1...200))); data.f32(Float(rng.int(5...200)) / 10); data.u16(UInt16(rng.int(5...300)))
            fields.append(PluginField("DATA", data.bytes))
            // DNAM: the big weapon stats struct, mostly floats with recurring defaults.
            var dnam = ByteBuilder(capacity: 140)
            for k in 0..<34 { dnam.f32(k % 5 == 0 ? 1 : Float(rng.int(0...400)) / 4) }
            dnam.u32(ctx.reference(&rng))
            fields.append(PluginField("DNAM", dnam.bytes))
            var crdt = ByteBuilder(); crdt.f32(Float(rng.int(1...4))); crdt.f32(0); crdt.u32(0)
            fields.append(PluginField("CRDT", crdt.bytes))
            fields.append(PluginField("INAM", u32s([rng.pick(vanillaPool)])))
        case "AMMO":
            fields.append(obnd(&rng))
            fields.append(PluginField("FULL", zstring(name + " Round")))
            fields += model(&rng, ctx, folder: "Ammo")
            var data = ByteBuilder(); data.u32(UInt32(rng.int(1...20))); data.f32(0)
            fields.append(PluginField("DATA", data.bytes))
            var dnam = ByteBuilder(); dnam.u32(ctx.reference(&rng)); dnam.u32(0); dnam.f32(Float(rng.int(1...30))); dnam.u32(0)
            fields.append(PluginField("DNAM", dnam.bytes))
            fields.append(PluginField("ONAM", zstring(name)))
        case "NPC_":
            flags |= PluginRecord.compressedFlag
            fields.append(obnd(&rng))
            var acbs = ByteBuilder(capacity: 20)
            acbs.u32(UInt32(rng.pick([0x1, 0x21, 0x10_0001]))); acbs.i16(0); acbs.u16(UInt16(rng.int(1...60))); acbs.u16(0); acbs.u16(0)
            acbs.u16(UInt16(rng.int(1...100))); acbs.u16(0); acbs.u16(0); acbs.u16(0)
            fields.append(PluginField("ACBS", acbs.bytes))
            for _ in 0..<rng.int(1...4) {
                var snam = ByteBuilder(); snam.u32(rng.pick(vanillaPool)); snam.u8(0); snam.zeros(3)
                fields.append(PluginField("SNAM", snam.bytes))
            }
            fields.append(PluginField("RNAM", u32s([0x0001_3746])))
            fields.append(PluginField("VTCK", u32s([rng.pick(vanillaPool)])))
            var aidt = ByteBuilder(); for _ in 0..<3 { aidt.u32(UInt32(rng.int(0...4))) }; aidt.zeros(8)
            fields.append(PluginField("AIDT", aidt.bytes))
            for _ in 0..<rng.int(0...5) { fields.append(PluginField("PKID", u32s([rng.pick(vanillaPool)]))) }
            fields += keywords(&rng, ctx, rng.int(1...6))
            fields.append(PluginField("CNAM", u32s([rng.pick(vanillaPool)])))
            fields.append(PluginField("FULL", zstring(rng.pick(Words.adjectives) + " " + rng.pick(["Settler", "Raider", "Gunner", "Trader", "Guard", "Scavenger"]))))
            fields.append(PluginField("DATA", []))
            for _ in 0..<rng.int(2...6) { fields.append(PluginField("PNAM", u32s([rng.pick(vanillaPool)]))) }
            var qnam = ByteBuilder(); for _ in 0..<4 { qnam.f32(rng.float(0...1)) }
            fields.append(PluginField("QNAM", qnam.bytes))
            // Face-morph data: the bulk of an NPC record, which is why the Creation Kit compresses NPC_.
            let morphs = rng.int(20...70)
            var msdk = ByteBuilder(), msdv = ByteBuilder()
            for _ in 0..<morphs { msdk.u32(UInt32(rng.int(0...0x200)) | 0x0F00_0000); msdv.f32(Float(rng.int(-100...100)) / 100) }
            fields.append(PluginField("MSDK", msdk.bytes))
            fields.append(PluginField("MSDV", msdv.bytes))
            for region in 0..<rng.int(4...14) {
                var fmri = ByteBuilder(); fmri.u32(UInt32(region) * 0x10 + 0x1000)
                fields.append(PluginField("FMRI", fmri.bytes))
                var fmrs = ByteBuilder(); for _ in 0..<9 { fmrs.f32(Float(rng.int(-50...50)) / 100) }; fmrs.u32(0)
                fields.append(PluginField("FMRS", fmrs.bytes))
            }
        case "LVLI":
            fields.append(obnd(&rng))
            fields.append(PluginField("LVLD", [UInt8(rng.int(0...50))]))
            fields.append(PluginField("LVLF", [UInt8(rng.int(0...7))]))
            let entries = rng.int(2...24)
            fields.append(PluginField("LLCT", [UInt8(entries)]))
            for _ in 0..<entries {
                var lvlo = ByteBuilder(); lvlo.u16(UInt16(rng.int(1...50))); lvlo.u16(0); lvlo.u32(ctx.reference(&rng)); lvlo.u16(1); lvlo.u16(0)
                fields.append(PluginField("LVLO", lvlo.bytes))
            }
        case "COBJ":
            var fvpa = ByteBuilder()
            for _ in 0..<rng.int(1...6) { fvpa.u32(ctx.reference(&rng)); fvpa.u32(UInt32(rng.int(1...10))) }
            fields.append(PluginField("FVPA", fvpa.bytes))
            fields.append(PluginField("CNAM", u32s([ctx.reference(&rng)])))
            fields.append(PluginField("BNAM", u32s([ctx.keyword(&rng)])))
            fields.append(PluginField("FNAM", u32s((0..<rng.int(1...3)).map { _ in ctx.keyword(&rng) })))
            var intv = ByteBuilder(); intv.u16(1); intv.u16(UInt16(rng.int(0...5)))
            fields.append(PluginField("INTV", intv.bytes))
        default:  // OMOD
            fields.append(PluginField("FULL", zstring(name)))
            if rng.chance(0.6) { fields.append(PluginField("DESC", zstring(Words.sentence(&rng, words: rng.int(4...16))))) }
            fields += model(&rng, ctx, folder: "Weapons")
            // DATA: attach points, then property modifiers of 24 bytes each.
            let properties = rng.int(1...40)
            var data = ByteBuilder(capacity: 40 + properties * 24)
            data.u32(0); data.u32(UInt32(properties)); data.u8(0); data.u8(1); data.u32(rng.pick(vanillaPool)); data.u32(0)
            for _ in 0..<properties {
                data.u8(UInt8(rng.pick([0, 1, 2, 4]))); data.zeros(3); data.u8(UInt8(rng.int(0...3))); data.zeros(3)
                data.u32(UInt32(rng.int(0...80))); data.f32(Float(rng.int(-50...100)) / 10); data.f32(0); data.u32(0)
            }
            fields.append(PluginField("DATA", data.bytes))
            fields.append(PluginField("LNAM", u32s([ctx.keyword(&rng)])))
            if properties > 30 && rng.chance(0.5) { flags |= PluginRecord.compressedFlag }
        }
        return PluginRecord(
            sig, formID: formID, flags: flags, timestamp: UInt16(rng.int(0x2000...0x7FFF)),
            versionControl: UInt16(rng.int(0...3)), fields: fields)
    }
}
