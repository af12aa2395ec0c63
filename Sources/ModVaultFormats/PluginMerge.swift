public import ModVaultCore

/// Three-way merge of one plugin edited on two sides, record by record (Docs/PLUGIN-MERGE.md).
///
/// Records are matched by normalised FormID (the master that owns the form, or the plugin itself,
/// plus the 24-bit object ID). A record changed on one side is taken from it; the same change on both
/// is taken once; additions are kept and deletions applied. Different changes to one record, a change
/// against a deletion, two new records with one object ID, placements changed in one cell on both
/// sides, and master lists that cannot be reconciled are conflicts. The output keeps the bytes of every
/// record neither side touched; groups, HEDR and ONAM are rebuilt, and the result is parsed again
/// before it is returned.
public enum PluginMerge {
    /// One record (or cell, or the master list) the merge could not settle.
    public struct Conflict: Codable, Sendable, Equatable {
        /// Normalised FormID: `Master.esm:00ABCD`, or `Foo.esp:000800` for the plugin's own forms (`self:` when
        /// its name is unknown; `-` for the master list).
        public var formID: String
        /// Record signature (`CELL` for a whole-cell conflict, `TES4` for masters).
        public var type: String
        /// The record's EditorID, when it has one.
        public var editorID: String?
        /// `both_changed`, `changed_deleted`, `same_new_id`, `cell_both_changed`, `masters_changed`, `localized_both_changed` or `esl_range`.
        public var kind: String
        /// What this side did: `changed`, `deleted`, `added` or `unchanged`.
        public var ours: String
        /// What the other side did.
        public var theirs: String
    }

    /// What the merge took from where.
    public struct Counts: Codable, Sendable, Equatable {
        /// Records changed on this side only.
        public var takenOurs = 0
        /// Records changed on the other side only.
        public var takenTheirs = 0
        /// Records changed the same way on both sides.
        public var sameBoth = 0
        /// Records added (on either side).
        public var added = 0
        /// Records deleted (on either side).
        public var removed = 0
        /// Records merged field by field.
        public var fieldMerged = 0
    }

    /// A side of the merge, chosen for one conflicting record or cell.
    public enum Side: String, Codable, Sendable, CaseIterable {
        /// This side's record (or its deletion).
        case ours
        /// The other side's record (or its deletion).
        case theirs
    }

    /// The outcome.
    public struct Outcome: Sendable {
        /// The merged plugin, or, with conflicts, the partial result (ours kept for each conflicting record) when asked for.
        public var output: [UInt8]?
        /// Conflicts left.
        public var conflicts: [Conflict]
        /// Counts.
        public var counts: Counts
        /// True when there is no conflict.
        public var merged: Bool { conflicts.isEmpty }
    }

    /// Record types whose fields are unordered and unique, so two sides' changes to different fields combine.
    static let fieldMergeable: Set<String> = ["GMST", "GLOB", "KYWD"]
    /// Placed objects: changes on both sides inside one cell conflict as a whole.
    static let placements: Set<String> = ["REFR", "ACHR", "NAVM", "PGRE", "PHZD", "PMIS", "PARW", "PBAR", "PBEA", "PCON", "PFLA"]
    /// Record types the Creation Kit lists in ONAM when they override a master's form.
    static let onamTypes: Set<String> = ["ACHR", "LAND", "NAVM", "REFR", "PGRE", "PHZD", "PMIS", "PARW", "PBAR", "PBEA", "PCON", "PFLA"]

    /// Merges `ours` and `theirs`, both derived from `base`. With `partial`, a merge with conflicts
    /// still returns an output holding ours for each conflicting record.
    /// `resolutions` settles conflicts by the `Conflict.formID` a merge without them reported: that
    /// side's record (or deletion) is taken, and for a `cell_both_changed` cell, that side's placements
    /// in the cell. Master-list and localized-string conflicts cannot be settled per record.
    /// Errors name `path` and the side (`Foo.esp (theirs)`), or `labels` (base, ours, theirs: the three
    /// files' own paths) when given.
    public static func merge(base: [UInt8], ours: [UInt8], theirs: [UInt8], path: String = "", partial: Bool = false,
                             resolutions: [String: Side] = [:],
                             labels: (base: String, ours: String, theirs: String)? = nil,
                             limits: FormatLimits = .default) throws(FormatError) -> Outcome {
        let names = labels ?? (path + " (base)", path + " (ours)", path + " (theirs)")
        // Whole-file shortcuts keep the bytes exactly.
        if ours == theirs || theirs == base {
            _ = try PluginFile.parse(MemoryRangeReader(ours), path: names.ours, limits: limits)
            return Outcome(output: ours, conflicts: [], counts: Counts())
        }
        if ours == base {
            _ = try PluginFile.parse(MemoryRangeReader(theirs), path: names.theirs, limits: limits)
            return Outcome(output: theirs, conflicts: [], counts: Counts())
        }
        let b = try Parsed(base, path: names.base, limits: limits)
        let o = try Parsed(ours, path: names.ours, limits: limits)
        let t = try Parsed(theirs, path: names.theirs, limits: limits)
        var merger = Merger(base: b, ours: o, theirs: t, path: path)
        merger.resolutions = resolutions
        try merger.unifyMasters(limits: limits)
        return try merger.run(partial: partial, limits: limits)
    }
}

extension PluginMerge {
    /// One field of a record, for showing sides next to each other.
    public struct FieldView: Codable, Sendable, Equatable {
        /// The four-character signature.
        public var signature: String
        /// Text for a NUL-terminated printable string, otherwise hex of the first 32 bytes and the length.
        public var value: String
    }

    /// The fields (decompressed) of the records of `bytes` named by `formIDs`, in the texts
    /// `Conflict.formID` uses, for the plugin at `path`. A FormID the plugin lacks is absent from the answer.
    public static func fields(of formIDs: Set<String>, in bytes: [UInt8], path: String,
                              limits: FormatLimits = .default) throws(FormatError) -> [String: [FieldView]] {
        let parsed = try Parsed(bytes, path: path, limits: limits)
        let engine = RecipeEngine()
        var out: [String: [FieldView]] = [:]
        for (id, entry) in parsed.records {
            let text = id.text(masters: parsed.header.masters, selfName: Merger.selfName(path))
            guard formIDs.contains(text) else { continue }
            out[text] = try entry.node.fieldList(engine: engine, path: path, limits: limits).map { sig, payload in
                FieldView(signature: PluginSignature.text(sig), value: Self.show(payload))
            }
        }
        return out
    }

    static func show(_ payload: ArraySlice<UInt8>) -> String {
        if payload.count > 1, payload.last == 0, payload.dropLast().allSatisfy({ (0x20..<0x7F).contains($0) }) {
            return "\"" + String(decoding: payload.dropLast(), as: UTF8.self) + "\""
        }
        let hex = payload.prefix(32).map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined(separator: " ")
        return payload.count > 32 ? hex + " … (\(payload.count) bytes)" : hex
    }
}

// MARK: - Parsed plugins

/// A form's identity independent of any one master list: the owning file (lowercased; empty for the
/// plugin itself) and the object ID.
struct NormalizedID: Hashable, Comparable {
    var owner: String
    var object: UInt32

    static func < (a: NormalizedID, b: NormalizedID) -> Bool { (a.owner, a.object) < (b.owner, b.object) }

    /// `Master.esm:00ABCD`, or for the plugin's own forms `selfName:000800` (its file name when known).
    func text(masters: [String], selfName: String = "self") -> String {
        let name = owner.isEmpty ? selfName : (masters.first { $0.lowercased() == owner } ?? owner)
        let hex = String(object, radix: 16, uppercase: true)
        return name + ":" + String(repeating: "0", count: max(0, 6 - hex.count)) + hex
    }
}

/// A record or group of a parsed plugin, with its bytes.
final class PluginNode {
    /// The 24-byte header (records and groups).
    var header: [UInt8]
    /// A record's data as stored (compressed or not); empty for groups.
    var data: ArraySlice<UInt8>
    var children: [PluginNode] = []
    let isGroup: Bool

    init(header: [UInt8], data: ArraySlice<UInt8>, isGroup: Bool) {
        self.header = header
        self.data = data
        self.isGroup = isGroup
    }

    var signature: String { PluginSignature.text(header.u32(0)) }
    var formID: UInt32 { header.u32(12) }
    var flags: UInt32 { header.u32(8) }
    var groupType: Int32 { Int32(bitPattern: header.u32(12)) }
    var label: UInt32 { header.u32(8) }

    /// The record's fields (decompressed) as (signature, payload) pairs, `XXXX` sizes applied.
    func fieldList(engine: RecipeEngine, path: String, limits: FormatLimits) throws(FormatError) -> [(UInt32, ArraySlice<UInt8>)] {
        var out: [(UInt32, ArraySlice<UInt8>)] = []
        try PluginFields.forEach(try fields(engine: engine, path: path, limits: limits), path: path, owner: PluginWalker.RecordHeader(
            signature: header.u32(0), dataSize: UInt32(data.count), flags: flags, formID: formID, formVersion: 0, offset: 0)) {
            (sig, payload) throws(FormatError) in out.append((sig, payload))
        }
        return out
    }

    func copy() -> PluginNode {
        let n = PluginNode(header: header, data: data, isGroup: isGroup)
        n.children = children.map { $0.copy() }
        return n
    }

    /// The record's fields, decompressed.
    func fields(engine: RecipeEngine, path: String, limits: FormatLimits) throws(FormatError) -> ArraySlice<UInt8> {
        guard flags & PluginRecord.compressedFlag != 0 else { return data }
        guard data.count >= 4 else { throw FormatError(path: path, cause: .malformed("compressed record without a size")) }
        let size = UInt64(Array(data.prefix(4)).u32(0))
        guard size <= limits.maxDecompressedRecord else {
            throw FormatError(path: path, cause: .limitExceeded(what: "decompressed record", value: size, limit: limits.maxDecompressedRecord))
        }
        var failure: FormatError?
        let out = data.dropFirst(4).withUnsafeBytes { s -> [UInt8] in
            do throws(FormatError) { return try engine.inflate(s, rawSize: size) } catch { failure = error; return [] }
        }
        if let failure { throw failure }
        return out[...]
    }
}

/// One side of the merge: its TES4, its tree of groups and records, and an index of records by normalised FormID.
struct Parsed {
    var tes4Header: [UInt8]
    var tes4Data: ArraySlice<UInt8>
    var header: PluginHeader
    var roots: [PluginNode] = []
    /// Each record, and the chain of groups above it (outermost first).
    var records: [NormalizedID: (node: PluginNode, groups: [PluginNode])] = [:]
    var order: [NormalizedID] = []
    /// The file as read.
    let bytes: [UInt8]

    init(_ bytes: [UInt8], path: String, limits: FormatLimits) throws(FormatError) {
        self.bytes = bytes
        var tes4: (PluginWalker.RecordHeader, ArraySlice<UInt8>)?
        var stack: [PluginNode] = []
        var roots: [PluginNode] = []
        var found: [(PluginNode, [PluginNode])] = []
        // Record data is sliced from `bytes` (the walker only checks bounds), so nothing is copied.
        try PluginWalker.walk(MemoryRangeReader(bytes), path: path, limits: limits, readData: false) { (event) throws(FormatError) in
            switch event {
            case .tes4(let h, let data): tes4 = (h, data ?? [])
            case .groupStart(let g):
                let start = Int(g.offset)
                let node = PluginNode(header: Array(bytes[start..<(start + 24)]), data: [], isGroup: true)
                if let top = stack.last { top.children.append(node) } else { roots.append(node) }
                stack.append(node)
            case .groupEnd:
                stack.removeLast()
            case .record(let h, _):
                let start = Int(h.offset)
                let node = PluginNode(header: Array(bytes[start..<(start + 24)]), data: bytes[(start + 24)..<(start + 24 + Int(h.dataSize))], isGroup: false)
                if let top = stack.last { top.children.append(node) } else { roots.append(node) }
                found.append((node, stack))
            }
        }
        guard let (h, data) = tes4 else { throw FormatError(path: path, cause: .malformed("no TES4 record")) }
        tes4Header = Array(bytes[0..<24])
        tes4Data = data
        header = try PluginHeader(record: h, data: data, path: path)
        self.roots = roots
        for (node, groups) in found {
            let id = Self.normalize(node.formID, masters: header.masters)
            guard records[id] == nil else {
                throw FormatError(path: path, cause: .malformed("FormID \(PluginHex.formID(node.formID)) appears twice"))
            }
            records[id] = (node, groups)
            order.append(id)
        }
    }

    /// Fields that hold text (or a localized string ID), never a FormID: not searched for references.
    static let textFields: Set<UInt32> = Set(["EDID", "FULL", "DESC", "MODL", "MOD2", "MOD3", "MOD4", "MOD5", "ICON", "MICO"]
        .map { PluginSignature.value($0) })

    /// Moves this side into the index space of `union` (a list that starts with this side's masters'
    /// shared prefix and holds every one of them): record FormIDs and FormID group labels exactly, and
    /// references inside fields by search, since no table of every record type's FormID fields exists here.
    ///
    /// A four-byte value in a non-text field is a reference to move when its top byte is an index that
    /// moves and either it names the plugin itself and its object is one of `ownForms` (at any offset,
    /// so script properties after variable-length strings are found), or it names a master, its object
    /// is at least 0x800 (where a master's own forms start) and it sits on a four-byte boundary of its
    /// field, where every fixed-layout FormID of Fallout 4 sits. A value that names a moved master but
    /// off that boundary may or may not be a reference: its record is returned, so that the merge
    /// reports it instead of guessing. Moved records are stored uncompressed.
    mutating func rebase(to union: [String], ownForms: Set<UInt32>, engine: RecipeEngine, path: String,
                         limits: FormatLimits) throws(FormatError) -> Set<NormalizedID> {
        let old = header.masters
        guard old != union else { return [] }
        guard union.count < 0xFF else { throw FormatError(path: path, cause: .malformed("\(union.count) masters leave no index for the plugin's own forms")) }
        let selfOld = old.count
        var map = [UInt32](repeating: UInt32(union.count), count: 256)
        for (i, m) in old.enumerated() {
            map[i] = UInt32(union.firstIndex { $0.lowercased() == m.lowercased() } ?? union.count)
        }
        for i in 0..<selfOld where map[i] == UInt32(union.count) {
            throw FormatError(path: path, cause: .malformed("master \(old[i]) is missing from the merged master list"))
        }
        func move(_ v: UInt32) -> UInt32 { map[Int(v >> 24)] << 24 | v & 0xFF_FFFF }
        // The indices whose references inside fields move: moved masters and the plugin's own.
        var table = [Bool](repeating: false, count: 256)
        for i in 0...selfOld where map[i] != UInt32(i) { table[i] = true }
        let moves = table
        var unsure = Set<NormalizedID>()
        func visit(_ nodes: [PluginNode]) throws(FormatError) {
            for n in nodes {
                if n.isGroup {
                    if [1, 6, 7, 8, 9].contains(n.groupType) { n.header.setU32(8, move(n.label)) }
                    try visit(n.children)
                    continue
                }
                let id = Self.normalize(n.formID, masters: old)
                n.header.setU32(12, move(n.formID))
                let fields = try n.fields(engine: engine, path: path, limits: limits)
                var patches: [Int] = []
                var doubtful = false
                try PluginFields.forEach(fields, path: path, owner: PluginWalker.RecordHeader(
                    signature: n.header.u32(0), dataSize: UInt32(n.data.count), flags: n.flags, formID: n.formID, formVersion: 0, offset: 0)) {
                    (sig, payload) throws(FormatError) in
                    guard !Self.textFields.contains(sig) else { return }
                    let base = payload.startIndex - fields.startIndex
                    payload.withUnsafeBytes { p in moves.withUnsafeBufferPointer { moves in
                        guard p.count >= 4 else { return }
                        var i = 0
                        while i + 4 <= p.count {
                            // Most bytes are not an index that moves: one table lookup rejects them.
                            let index = Int(p[i + 3])
                            guard moves[index] else { i += 1; continue }
                            let object = UInt32(p[i]) | UInt32(p[i + 1]) << 8 | UInt32(p[i + 2]) << 16
                            if index == selfOld {
                                if ownForms.contains(object) { patches.append(base + i); i += 4; continue }
                            } else if object >= 0x800 {
                                if i % 4 == 0 { patches.append(base + i); i += 4; continue }
                                doubtful = true
                            }
                            i += 1
                        }
                    } }
                }
                if doubtful { unsure.insert(id) }
                guard !patches.isEmpty else { continue }
                var moved = Array(fields)
                for at in patches { moved.setU32(at, move(moved.u32(at))) }
                n.data = moved[...]
                n.header.setU32(8, n.flags & ~PluginRecord.compressedFlag)
                n.header.setU32(4, UInt32(moved.count))
            }
        }
        try visit(roots)
        header.masters = union
        return unsure
    }

    static func normalize(_ formID: UInt32, masters: [String]) -> NormalizedID {
        let index = Int(formID >> 24)
        let owner = index < masters.count ? masters[index].lowercased() : ""
        return NormalizedID(owner: owner, object: formID & 0x00FF_FFFF)
    }

    /// A group's identity for matching across sides: type and label, with FormID labels normalised.
    func groupKey(_ g: PluginNode) -> String {
        switch g.groupType {
        case 1, 6, 7, 8, 9:
            let id = Self.normalize(g.label, masters: header.masters)
            return "\(g.groupType):\(id.owner):\(id.object)"
        default:
            return "\(g.groupType):\(g.label)"
        }
    }

    /// The cell a placement belongs to (its nearest cell-children group), if any.
    func cell(of groups: [PluginNode]) -> NormalizedID? {
        guard let g = groups.last(where: { [6, 8, 9].contains($0.groupType) }) else { return nil }
        return Self.normalize(g.label, masters: header.masters)
    }

    func editorID(_ node: PluginNode, engine: RecipeEngine, path: String, limits: FormatLimits) -> String? {
        guard let fields = try? node.fieldList(engine: engine, path: path, limits: limits),
              let edid = fields.first(where: { $0.0 == PluginSignature.EDID }) else { return nil }
        return PluginFields.zstring(edid.1)
    }
}

// MARK: - The merge

struct Merger {
    var base: Parsed, ours: Parsed, theirs: Parsed
    let path: String
    /// How conflicts name the plugin's own forms: its file name, or `self` when unknown.
    var selfName: String { Self.selfName(path) }

    /// The name of the plugin at `path` in FormID texts: its file name, or `self` when unknown.
    static func selfName(_ path: String) -> String {
        let name = path.split(separator: "/").last.map(String.init) ?? ""
        return name.lowercased().hasSuffix(".esp") || name.lowercased().hasSuffix(".esm") || name.lowercased().hasSuffix(".esl") ? name : "self"
    }
    let engine = RecipeEngine()
    /// Sides chosen for conflicts, by their reported FormID text (`PluginMerge.merge`).
    var resolutions: [String: PluginMerge.Side] = [:]
    /// Why the three master lists could not be brought to one (a master removed or reordered), if so.
    var mastersConflict: String?
    /// Records holding a value that may or may not refer to a moved master (`Parsed.rebase`), per side.
    var ambiguous: (ours: Set<NormalizedID>, theirs: Set<NormalizedID>) = ([], [])

    init(base: Parsed, ours: Parsed, theirs: Parsed, path: String) {
        self.base = base
        self.ours = ours
        self.theirs = theirs
        self.path = path
    }

    /// Brings base, ours and theirs to one master list when theirs differ: base's masters, then those ours
    /// added, then those theirs added that ours did not. A side that removed or reordered one of base's
    /// masters leaves the lists apart, which the merge reports as `masters_changed`.
    mutating func unifyMasters(limits: FormatLimits) throws(FormatError) {
        let baseList = base.header.masters.map { $0.lowercased() }
        guard ours.header.masters != base.header.masters || theirs.header.masters != base.header.masters else { return }
        guard ours.header.masters.map({ $0.lowercased() }).starts(with: baseList),
              theirs.header.masters.map({ $0.lowercased() }).starts(with: baseList) else {
            mastersConflict = "a master of the base was removed or reordered"
            return
        }
        var union = ours.header.masters
        for m in theirs.header.masters where !union.contains(where: { $0.lowercased() == m.lowercased() }) { union.append(m) }
        // The plugin's own forms take the index after the last master, which must fit in the top byte.
        guard union.count < 0xFF else {
            mastersConflict = "the merged list would hold \(union.count) masters"
            return
        }
        var own = Set<UInt32>()
        for side in [base, ours, theirs] { for id in side.records.keys where id.owner.isEmpty { own.insert(id.object) } }
        _ = try base.rebase(to: union, ownForms: own, engine: engine, path: path + " (base)", limits: limits)
        ambiguous.ours = try ours.rebase(to: union, ownForms: own, engine: engine, path: path + " (ours)", limits: limits)
        ambiguous.theirs = try theirs.rebase(to: union, ownForms: own, engine: engine, path: path + " (theirs)", limits: limits)
    }

    /// Whether two records hold the same thing: signature, flags (compression aside), form version and
    /// decompressed fields. Version-control stamps differ with every save and are ignored.
    func same(_ a: PluginNode?, _ b: PluginNode?, limits: FormatLimits) throws(FormatError) -> Bool {
        guard let a, let b else { return a == nil && b == nil }
        guard a.header.u32(0) == b.header.u32(0), a.flags & ~PluginRecord.compressedFlag == b.flags & ~PluginRecord.compressedFlag,
              a.header[20..<24] == b.header[20..<24] else { return false }
        if a.flags == b.flags, a.data == b.data { return true }
        return try a.fields(engine: engine, path: path, limits: limits) == b.fields(engine: engine, path: path, limits: limits)
    }

    enum Decision { case ours, theirs(PluginNode?), merged([UInt8]), conflict }

    mutating func run(partial: Bool, limits: FormatLimits) throws(FormatError) -> PluginMerge.Outcome {
        var counts = PluginMerge.Counts()
        var conflicts: [PluginMerge.Conflict] = []
        var decisions: [NormalizedID: Decision] = [:]
        let masters = ours.header.masters
        func describe(_ id: NormalizedID, _ node: PluginNode?, kind: String, o: String, t: String) -> PluginMerge.Conflict {
            PluginMerge.Conflict(formID: id.text(masters: masters + theirs.header.masters, selfName: selfName), type: node?.signature ?? "????",
                                 editorID: node.flatMap { ours.editorID($0, engine: engine, path: path, limits: limits) }, kind: kind, ours: o, theirs: t)
        }
        var keys = Set(base.records.keys).union(ours.records.keys).union(theirs.records.keys)
        keys.remove(NormalizedID(owner: "", object: 0))
        // What each side did to placements, per cell, for the whole-cell rule.
        var oursCells = Set<NormalizedID>(), theirsCells = Set<NormalizedID>()
        var oursContributes = false, theirsContributes = false
        for id in keys.sorted() {
            let b = base.records[id]?.node, o = ours.records[id]?.node, t = theirs.records[id]?.node
            let oChanged = try !same(b, o, limits: limits), tChanged = try !same(b, t, limits: limits)
            if oChanged, let sig = (o ?? b)?.signature, PluginMerge.placements.contains(sig),
               let cell = ours.records[id].flatMap({ ours.cell(of: $0.groups) }) ?? base.records[id].flatMap({ base.cell(of: $0.groups) }) {
                oursCells.insert(cell)
            }
            if tChanged, let sig = (t ?? b)?.signature, PluginMerge.placements.contains(sig),
               let cell = theirs.records[id].flatMap({ theirs.cell(of: $0.groups) }) ?? base.records[id].flatMap({ base.cell(of: $0.groups) }) {
                theirsCells.insert(cell)
            }
            if !oChanged && !tChanged { continue }
            if try same(o, t, limits: limits) {
                decisions[id] = .ours
                if o == nil { counts.removed += 1 } else if b == nil { counts.added += 1 } else { counts.sameBoth += 1 }
                continue
            }
            if !tChanged {
                oursContributes = true
                decisions[id] = .ours
                if o == nil { counts.removed += 1 } else if b == nil { counts.added += 1 } else { counts.takenOurs += 1 }
                continue
            }
            if !oChanged {
                theirsContributes = true
                decisions[id] = .theirs(t)
                if t == nil { counts.removed += 1 } else if b == nil { counts.added += 1 } else { counts.takenTheirs += 1 }
                continue
            }
            // Changed on both sides, differently.
            let conflict: PluginMerge.Conflict
            if b == nil {
                conflict = describe(id, o ?? t, kind: "same_new_id", o: "added", t: "added")
            } else if o == nil || t == nil {
                conflict = describe(id, o ?? t ?? b, kind: "changed_deleted", o: o == nil ? "deleted" : "changed", t: t == nil ? "deleted" : "changed")
            } else if let b, let o, let t, PluginMerge.fieldMergeable.contains(o.signature), let fields = try mergeFields(b, o, t, limits: limits) {
                decisions[id] = .merged(fields)
                counts.fieldMerged += 1
                oursContributes = true
                theirsContributes = true
                continue
            } else {
                conflict = describe(id, o, kind: "both_changed", o: "changed", t: "changed")
            }
            switch resolutions[conflict.formID] {
            case .ours?:
                decisions[id] = .ours
                counts.takenOurs += 1
                oursContributes = true
            case .theirs?:
                decisions[id] = .theirs(t)
                counts.takenTheirs += 1
                theirsContributes = true
            case nil:
                decisions[id] = .conflict
                conflicts.append(conflict)
            }
        }
        // Placements changed on both sides inside one cell conflict as a whole; a side chosen for the
        // cell gives all of its placements there, and settles their record conflicts with it.
        for cell in oursCells.intersection(theirsCells).sorted() {
            let cellText = cell.text(masters: masters, selfName: selfName)
            let chosen = resolutions[cellText]
            var differs = false
            var settled = Set<String>()
            for id in keys where decisions[id] != nil {
                let node = ours.records[id]?.node ?? theirs.records[id]?.node
                guard let node, PluginMerge.placements.contains(node.signature) else { continue }
                let inCell = ours.records[id].flatMap { ours.cell(of: $0.groups) } ?? theirs.records[id].flatMap { theirs.cell(of: $0.groups) }
                guard inCell == cell else { continue }
                if try !same(ours.records[id]?.node, theirs.records[id]?.node, limits: limits) { differs = true }
                switch chosen {
                case .theirs?:
                    decisions[id] = .theirs(theirs.records[id]?.node)
                case .ours?:
                    decisions[id] = .ours
                case nil:
                    if case .theirs? = decisions[id] { decisions[id] = .conflict }
                }
                if chosen != nil { settled.insert(id.text(masters: masters + theirs.header.masters, selfName: selfName)) }
            }
            conflicts.removeAll { settled.contains($0.formID) }
            if differs, chosen == nil {
                conflicts.append(PluginMerge.Conflict(formID: cellText, type: "CELL", editorID: nil, kind: "cell_both_changed",
                                                      ours: "changed", theirs: "changed"))
            }
        }
        // Localized plugins: string IDs from both sides could collide.
        if ours.header.isLocalized || theirs.header.isLocalized, oursContributes, theirsContributes {
            conflicts.append(PluginMerge.Conflict(formID: "-", type: "TES4", editorID: nil, kind: "localized_both_changed", ours: "changed", theirs: "changed"))
        }

        // Master lists were brought to one union before the merge (`PluginMerge.merge`); what remains
        // is a list that could not be, or a reference that could not be moved into it safely.
        if let reason = mastersConflict {
            // No record of theirs can be placed in ours' index space, so a partial result is ours whole.
            conflicts.append(PluginMerge.Conflict(formID: "-", type: "TES4", editorID: reason, kind: "masters_changed", ours: "changed", theirs: "changed"))
            return PluginMerge.Outcome(output: partial ? ours.bytes : nil, conflicts: conflicts, counts: counts)
        }
        for (side, ids) in [(0, ambiguous.ours), (1, ambiguous.theirs)] {
            for id in ids.sorted() {
                // Only a record that reaches the output from that side matters.
                let taken: Bool
                switch decisions[id] {
                case .theirs?: taken = side == 1
                case .merged?: taken = true
                case .conflict?: taken = false
                default: taken = side == 0
                }
                guard taken else { continue }
                let text = id.text(masters: masters, selfName: selfName)
                // Choosing the other side's record (or its absence) settles it; with --partial, ours stands in.
                let other: PluginMerge.Side = side == 0 ? .theirs : .ours
                if resolutions[text] == other {
                    decisions[id] = side == 0 ? .theirs(theirs.records[id]?.node) : .ours
                    continue
                }
                if side == 1 { decisions[id] = .ours }
                let node = side == 0 ? ours.records[id]?.node : theirs.records[id]?.node
                conflicts.append(PluginMerge.Conflict(formID: text, type: node?.signature ?? "????",
                                                      editorID: nil, kind: "masters_changed", ours: side == 0 ? "changed" : "unchanged",
                                                      theirs: side == 1 ? "changed" : "unchanged"))
            }
        }

        if !conflicts.isEmpty && !partial {
            return PluginMerge.Outcome(output: nil, conflicts: conflicts, counts: counts)
        }

        // Build: ours' tree, with theirs' decisions applied.
        let roots = ours.roots.map { $0.copy() }
        var byID: [NormalizedID: (node: PluginNode, parent: PluginNode?)] = [:]
        func index(_ nodes: [PluginNode], parent: PluginNode?) {
            for n in nodes {
                if n.isGroup { index(n.children, parent: n) } else { byID[Parsed.normalize(n.formID, masters: ours.header.masters)] = (n, parent) }
            }
        }
        index(roots, parent: nil)
        var top = roots
        var removed = Set<ObjectIdentifier>()

        for id in keys.sorted() {
            guard let decision = decisions[id] else { continue }
            switch decision {
            case .ours, .conflict: continue
            case .merged(let fields):
                guard let target = byID[id]?.node else { continue }
                target.data = fields[...]
                var h = target.header
                h.setU32(8, target.flags & ~PluginRecord.compressedFlag)
                h.setU32(4, UInt32(fields.count))
                target.header = h
            case .theirs(let node):
                if let node {
                    let fresh = PluginNode(header: node.header, data: node.data, isGroup: false)
                    fresh.header.setU32(12, formID(id, in: masters))
                    if let existing = byID[id]?.node {
                        existing.header = fresh.header
                        existing.data = fresh.data
                    } else {
                        // A record new from theirs: into the matching groups of ours, made where missing.
                        let chain = theirs.records[id]?.groups ?? []
                        var level = top
                        var parent: PluginNode? = nil
                        for g in chain {
                            let key = theirs.groupKey(g)
                            if let found = level.first(where: { $0.isGroup && ours.groupKey($0) == key }) {
                                parent = found
                            } else {
                                let made = PluginNode(header: g.header, data: [], isGroup: true)
                                if [1, 6, 7, 8, 9].contains(g.groupType) {
                                    made.header.setU32(8, formID(Parsed.normalize(g.label, masters: theirs.header.masters), in: masters))
                                }
                                if let parent { parent.children.append(made) } else { top.append(made) }
                                parent = made
                            }
                            level = parent!.children
                        }
                        if let parent { parent.children.append(fresh) } else { top.append(fresh) }
                        byID[id] = (fresh, parent)
                    }
                } else if let existing = byID[id]?.node {
                    removed.insert(ObjectIdentifier(existing))
                }
            }
        }
        // Drop removed records, and groups left empty by it.
        func prune(_ nodes: [PluginNode]) -> [PluginNode] {
            nodes.compactMap { n in
                if removed.contains(ObjectIdentifier(n)) { return nil }
                guard n.isGroup else { return n }
                let hadChildren = !n.children.isEmpty
                n.children = prune(n.children)
                return hadChildren && n.children.isEmpty ? nil : n
            }
        }
        top = prune(top)

        let output = try build(top, masters: masters, limits: limits)
        // Check the result before anyone writes it.
        // The full parser inflates every compressed record, so a damaged one taken from either side is found here.
        _ = try PluginFile.parse(MemoryRangeReader(output), path: path + " (merged)", limits: limits)
        let check = try Parsed(output, path: path + " (merged)", limits: limits)
        for id in check.records.keys where !id.owner.isEmpty {
            guard masters.contains(where: { $0.lowercased() == id.owner }) else {
                throw FormatError(path: path, cause: .malformed("merged record \(id.text(masters: masters)) names no master"))
            }
        }
        if check.header.isLight {
            let newVersion = check.header.version >= 1.0
            for id in check.records.keys where id.owner.isEmpty && !(newVersion ? (0x001...0xFFF) : (0x800...0xFFF)).contains(id.object) {
                conflicts.append(PluginMerge.Conflict(formID: id.text(masters: masters, selfName: selfName), type: check.records[id]!.node.signature, editorID: nil,
                                                      kind: "esl_range", ours: "added", theirs: "added"))
            }
            if !conflicts.isEmpty && !partial { return PluginMerge.Outcome(output: nil, conflicts: conflicts, counts: counts) }
        }
        return PluginMerge.Outcome(output: output, conflicts: conflicts, counts: counts)
    }

    /// The FormID a normalised ID has under `masters`.
    func formID(_ id: NormalizedID, in masters: [String]) -> UInt32 {
        let index = id.owner.isEmpty ? masters.count : (masters.firstIndex { $0.lowercased() == id.owner } ?? masters.count)
        return UInt32(index) << 24 | id.object
    }

    /// Field-level merge of a record whose fields are unique by signature: each field three-way.
    func mergeFields(_ b: PluginNode, _ o: PluginNode, _ t: PluginNode, limits: FormatLimits) throws(FormatError) -> [UInt8]? {
        func fields(_ n: PluginNode) throws(FormatError) -> [(UInt32, ArraySlice<UInt8>)]? {
            let out = try n.fieldList(engine: engine, path: path, limits: limits)
            return Set(out.map(\.0)).count == out.count ? out : nil
        }
        guard let fb = try fields(b), let fo = try fields(o), let ft = try fields(t) else { return nil }
        let db = Dictionary(uniqueKeysWithValues: fb), dt = Dictionary(uniqueKeysWithValues: ft)
        var result: [(UInt32, ArraySlice<UInt8>)] = []
        var seen = Set<UInt32>()
        for (sig, value) in fo {
            seen.insert(sig)
            let bv = db[sig], tv = dt[sig]
            if tv == value || tv == bv { result.append((sig, value)); continue }
            if value == bv { if let tv { result.append((sig, tv)) }; continue }
            return nil
        }
        for (sig, value) in ft where !seen.contains(sig) {
            let bv = db[sig]
            if bv == nil { result.append((sig, value)); continue }  // added by theirs
            if bv != value { return nil }  // ours deleted a field theirs changed
        }
        var out: [UInt8] = []
        guard result.allSatisfy({ $0.1.count <= 0xFFFF }) else { return nil }
        for (sig, value) in result { out.appendField(sig, value) }
        return out
    }

    /// Serialises TES4 and the tree: group sizes, HEDR counts and next object ID, MAST list and ONAM recomputed.
    func build(_ roots: [PluginNode], masters: [String], limits: FormatLimits) throws(FormatError) -> [UInt8] {
        // First pass: counts, the highest own object ID, master overrides and the body's exact size, so the
        // output is written once into an array of the right size (no growth, no second copy).
        var count: UInt32 = 0
        var maxSelf: UInt32 = 0
        var overrides: [UInt32] = []
        var bodySize = 0
        func survey(_ n: PluginNode) {
            count += 1
            bodySize += 24
            if n.isGroup {
                for c in n.children { survey(c) }
            } else {
                bodySize += n.data.count
                let index = Int(n.formID >> 24)
                if index >= masters.count { maxSelf = max(maxSelf, n.formID & 0xFF_FFFF) }
                else if PluginMerge.onamTypes.contains(n.signature) { overrides.append(n.formID) }
            }
        }
        for r in roots { survey(r) }
        var body: [UInt8] = []
        func emit(_ n: PluginNode) {
            if n.isGroup {
                let start = body.count
                body.append(contentsOf: n.header)
                for c in n.children { emit(c) }
                body.setU32(start + 4, UInt32(body.count - start))
            } else {
                let start = body.count
                body.append(contentsOf: n.header)
                body.setU32(start + 4, UInt32(n.data.count))
                body.append(contentsOf: n.data)
            }
        }
        // TES4: ours' fields in order, with HEDR, MAST/DATA and ONAM rewritten.
        var fields: [UInt8] = []
        var wroteMasters = false, hadONAM = false
        let next = max(ours.header.nextObjectID, theirs.header.nextObjectID, maxSelf + 1)
        func writeMasters() {
            for m in masters {
                var name = Array(m.utf8)
                name.append(0)
                fields.appendField(PluginSignature.MAST, name)
                fields.appendField(PluginSignature.value("DATA"), [UInt8](repeating: 0, count: 8))
            }
            wroteMasters = true
        }
        func writeONAM() {
            var ids: [UInt8] = []
            for f in overrides.sorted() { ids.appendU32(f) }
            fields.appendField(PluginSignature.value("ONAM"), ids)
        }
        try PluginFields.forEach(ours.tes4Data, path: path, owner: PluginWalker.RecordHeader(
            signature: PluginSignature.TES4, dataSize: UInt32(ours.tes4Data.count), flags: 0, formID: 0, formVersion: 0, offset: 0)) {
            (sig, payload) throws(FormatError) in
            switch sig {
            case PluginSignature.HEDR:
                var p = Array(payload)
                p.setU32(4, count)
                p.setU32(8, next)
                fields.appendField(sig, p)
            case PluginSignature.MAST:
                if !wroteMasters { writeMasters() }
            case PluginSignature.value("DATA") where wroteMasters:
                break
            case PluginSignature.value("ONAM"):
                hadONAM = true
                writeONAM()
            default:
                if sig == PluginSignature.value("INTV") || sig == PluginSignature.value("INCC") || sig == PluginSignature.value("SCRN") || sig == PluginSignature.value("TNAM") {
                    if !wroteMasters { writeMasters() }
                    if !hadONAM, !overrides.isEmpty { hadONAM = true; writeONAM() }
                }
                fields.appendField(sig, payload)
            }
        }
        if !wroteMasters { writeMasters() }
        if !hadONAM, !overrides.isEmpty { writeONAM() }
        body.reserveCapacity(24 + fields.count + bodySize)
        body.append(contentsOf: ours.tes4Header)
        body.setU32(4, UInt32(fields.count))
        body.append(contentsOf: fields)
        for r in roots { emit(r) }
        return body
    }
}

extension Array where Element == UInt8 {
    func u32(_ offset: Int) -> UInt32 { self[...].u32(offset) }
    mutating func setU32(_ offset: Int, _ v: UInt32) {
        self[offset] = UInt8(v & 0xFF)
        self[offset + 1] = UInt8(v >> 8 & 0xFF)
        self[offset + 2] = UInt8(v >> 16 & 0xFF)
        self[offset + 3] = UInt8(v >> 24)
    }
    mutating func appendU32(_ v: UInt32) { append(contentsOf: [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v >> 16 & 0xFF), UInt8(v >> 24)]) }
    mutating func appendU16(_ v: UInt16) { append(contentsOf: [UInt8(v & 0xFF), UInt8(v >> 8)]) }
    /// A plugin field: signature, u16 size and payload, preceded by an `XXXX` field when the payload exceeds 65,535 bytes.
    mutating func appendField(_ sig: UInt32, _ payload: some Collection<UInt8>) {
        if payload.count > 0xFFFF {
            appendU32(PluginSignature.XXXX)
            appendU16(4)
            appendU32(UInt32(payload.count))
            appendU32(sig)
            appendU16(0)
        } else {
            appendU32(sig)
            appendU16(UInt16(payload.count))
        }
        append(contentsOf: payload)
    }
}
