// The `flat-data` layout: a game Data folder with every mod installed straight into it, so one folder holds
// hundreds of archives with 100,000+ members beside hundreds of plugins. The MO2 corpus spreads the same
// kinds of files over mod folders of a few dozen files each and never shows what a small edit costs when
// the folder around it is huge; this layout, with one plugin edited, measures exactly that.

/// Shape of the `flat-data` layout (`modvault-fixtures --flat-base` and `--scenario flat-data`).
///
/// Its bytes follow ``FixtureOptions/scaleBytes`` (about 5 % plugins, the rest archive members), except that
/// every member keeps a floor of about 1 KB, so a small scale with many members comes out larger than asked.
public struct FlatDataOptions: Sendable, Hashable {
    /// Archive members over all BA2s of the folder (GNRL only: meshes, materials, scripts, voice files).
    public var members: Int
    /// Plugins beside the archives; about half of them ship a `- Main.ba2`, a few a `- Voices_en.ba2`.
    public var plugins: Int

    /// Creates options; the defaults are the benchmark's 100,000 members and 200 plugins.
    public init(members: Int = 100_000, plugins: Int = 200) {
        self.members = members
        self.plugins = plugins
    }

    /// Allowed member counts: the upper bound only rejects typos.
    public static let memberRange = 1...10_000_000
    /// Allowed plugin counts: plugin names are drawn from a vocabulary of about 50,000 combinations.
    public static let pluginRange = 1...10_000
}

/// Every file of a flat Data tree, and which plugin its edit targets.
struct FlatDataPlan {
    var files: [PlannedFile]
    /// Path of the plugin the edited tree changes (the same in base and edited plans).
    var editedPlugin: String
}

enum FlatDataPlanner {
    /// Records edited in the target plugin: as many as the MO2 `plugin` scenario edits.
    static let edits = 40
    static let root = "Data/"

    /// Record mixes of the plugins, after the MO2 planner's weapon, armour, quest, settlement and framework mods.
    static let mixes: [[(String, Double)]] = [
        [("KYWD", 0.05), ("GLOB", 0.03), ("MISC", 0.1), ("WEAP", 0.12), ("AMMO", 0.04), ("OMOD", 0.36), ("COBJ", 0.25), ("LVLI", 0.05)],
        [("KYWD", 0.05), ("GLOB", 0.02), ("MISC", 0.08), ("ARMO", 0.35), ("OMOD", 0.2), ("COBJ", 0.25), ("LVLI", 0.05)],
        [("KYWD", 0.03), ("GLOB", 0.05), ("MISC", 0.12), ("STAT", 0.1), ("SCOL", 0.03), ("WEAP", 0.04), ("ARMO", 0.04), ("NPC_", 0.2), ("LVLI", 0.1), ("COBJ", 0.09), ("OMOD", 0.2)],
        [("KYWD", 0.05), ("MISC", 0.25), ("STAT", 0.4), ("SCOL", 0.1), ("COBJ", 0.2)],
        [("KYWD", 0.3), ("GLOB", 0.3), ("MISC", 0.2), ("LVLI", 0.2)],
    ]
    static let meshFolders = ["Weapons", "Armor", "Clutter", "Architecture", "Furniture", "Actors", "SetDressing"]
    static let voiceTypes = ["MaleEvenToned", "FemaleBoston", "MaleRough", "FemaleRough", "RobotMrHandy"]

    enum MemberKind { case mesh, material, script, voice }

    /// A member before its size is known: sizes are shared out once every member of every archive exists.
    struct DraftMember {
        var path: String
        var kind: MemberKind
        var content: ContentKind
        var seed: UInt64
        /// Relative size; materials ignore it (their size is fixed by their content).
        var weight: Int
    }

    struct DraftArchive {
        var path: String
        var version: BA2Version
        var voices: Bool
        var members: [DraftMember] = []
    }

    static func plan(seed: UInt64, scale: Int64, layout: FlatDataOptions, edited: Bool) -> FlatDataPlan {
        var rng = FixtureRNG(seed: Seed.derive(seed, "flat-data"))

        // Plugins: names, kinds and relative sizes first, since each budget is a share of the total.
        var builders: [ModBuilder] = []
        var kinds: [Int] = []  // 0 esm, 1 esl, 2 esp
        var weights: [Int] = []
        var identifiers = Set<String>()
        while builders.count < layout.plugins {
            let name = "\(rng.pick(Words.adjectives)) \(rng.pick(Words.nouns)) \(rng.pick(Words.modSubjects))"
            guard identifiers.insert(Words.identifier(name).lowercased()).inserted else { continue }
            var b = ModBuilder(name: name, role: .weapons, seed: Seed.derive(seed, "flat-plugin\(builders.count)"))
            kinds.append(b.rng.weighted([0.06, 0.2, 0.74]))
            weights.append(b.rng.logUniform(1...512))
            builders.append(b)
        }
        let pluginTotal = scale / 20
        let weightSum = Double(weights.reduce(0, +))
        var plugins: [(path: String, spec: PluginSpec, estimate: Int64, light: Bool)] = []
        var esms: [String] = []
        for i in builders.indices {
            let light = kinds[i] == 1
            let fileName = builders[i].base + [".esm", ".esl", ".esp"][kinds[i]]
            var masters = builders[i].masters()
            // Flat load orders chain: a plugin often needs one of the masters installed before it.
            if !esms.isEmpty && builders[i].rng.chance(0.4) { masters.append(builders[i].rng.pick(esms)) }
            var budget = max(4_000, Int64(Double(pluginTotal) * Double(weights[i]) / weightSum))
            if light { budget = min(budget, 128 << 10) }  // light plugins hold at most 4,096 new records
            let flags = kinds[i] == 0 ? PluginHeader.esmFlag : light ? PluginHeader.lightFlag | PluginHeader.esmFlag : 0
            let spec = builders[i].plugin(
                fileName: fileName, budget: budget, mix: builders[i].rng.pick(mixes), masters: masters, flags: flags,
                overrides: builders[i].rng.int(0...30))
            plugins.append((root + fileName, spec, Estimator.plugin(spec), light))
            if kinds[i] == 0 { esms.append(fileName) }
        }

        // The edit goes to a mid-sized plugin with room for all its edits, as a typical mod update would.
        let editable = plugins.indices.filter { !plugins[$0].light && plugins[$0].spec.totalNewRecords >= edits * 4 }
            .sorted { (plugins[$0].estimate, plugins[$0].path) < (plugins[$1].estimate, plugins[$1].path) }
        let target = editable.isEmpty
            ? plugins.indices.max { (plugins[$0].spec.totalNewRecords, plugins[$1].path) < (plugins[$1].spec.totalNewRecords, plugins[$0].path) }!
            : editable[editable.count / 2]
        if edited {
            let records = plugins[target].spec.totalNewRecords
            plugins[target].spec.edit = PluginEdit(seed: Seed.derive(seed, "flat-plugin-edit"), edits: min(edits, max(1, records / 4)), inserts: 0)
        }

        let archives = drafts(&builders, plugins: plugins.map(\.spec.fileName), seed: seed, members: layout.members)
        let pluginBytes = plugins.reduce(Int64(0)) { $0 + $1.estimate }
        let files = plugins.map { PlannedFile(path: $0.path, spec: .plugin($0.spec)) } + sized(archives, budget: scale - pluginBytes)
        return FlatDataPlan(files: files, editedPlugin: plugins[target].path)
    }

    /// The archives with their members (paths, kinds, relative sizes): `members` in all, shared out over the
    /// archives by a log-uniform weight, so a few archives hold most members, as in real load orders.
    static func drafts(_ builders: inout [ModBuilder], plugins: [String], seed: UInt64, members: Int) -> [DraftArchive] {
        var archives: [DraftArchive] = []
        var owners: [Int] = []
        var weights: [Int] = []
        for i in builders.indices {
            let hasMain = builders[i].rng.chance(0.55)
            let hasVoices = !plugins[i].hasSuffix(".esl") && builders[i].rng.chance(0.1)
            let version: BA2Version = builders[i].modern ? .v8 : .v1
            if hasMain || (i == builders.count - 1 && archives.isEmpty) {
                archives.append(DraftArchive(path: root + builders[i].base + " - Main.ba2", version: version, voices: false))
                owners.append(i)
                weights.append(builders[i].rng.logUniform(1...16_384))
            }
            if hasVoices {
                archives.append(DraftArchive(path: root + builders[i].base + " - Voices_en.ba2", version: version, voices: true))
                owners.append(i)
                weights.append(builders[i].rng.logUniform(1...4_096))
            }
        }
        // Fewer members than archives: the first archives get one each.
        let used = min(archives.count, members)
        archives.removeLast(archives.count - used)
        weights.removeLast(weights.count - used)
        let weightSum = Double(weights.reduce(0, +))
        var counts = weights.map { max(1, Int(Double(members) * Double($0) / weightSum)) }
        // Rounding goes to (or comes from) the largest archive; with at least one member each there is room.
        func largest() -> Int { counts.indices.max { (counts[$0], $1) < (counts[$1], $0) }! }
        for _ in 0..<max(0, counts.reduce(0, +) - members) { counts[largest()] -= 1 }
        counts[largest()] += members - counts.reduce(0, +)

        for (a, count) in counts.enumerated() {
            let b = builders[owners[a]]
            var rng = FixtureRNG(seed: Seed.derive(seed, "flat-archive\(a)"))
            let style = rng.pick([ModBuilder.PathStyle.creationKit, .creationKit, .forward, .lowercase])
            let letters = b.tag.filter(\.isLetter)
            let author = rng.pick(Words.nouns).lowercased() + "modder"
            let pluginName = plugins[owners[a]]
            var seen: [String: Int] = [:]
            // Names repeat in a small vocabulary; a number keeps each path unique, as modders do.
            func unique(_ stem: String) -> String {
                let n = seen[stem.lowercased(), default: 0]
                seen[stem.lowercased()] = n + 1
                return n == 0 ? stem : stem + String(n + 1).leftPadded(2)
            }
            archives[a].members.reserveCapacity(count)
            for m in 0..<count {
                let memberSeed = Seed.derive(seed, "flat-archive\(a)-member\(m)")
                let draft: DraftMember
                if archives[a].voices {
                    let path = "Sound/Voice/\(pluginName)/\(rng.pick(voiceTypes))/\(String(0x800 + m, radix: 16, uppercase: true).leftPadded(8))_1.fuz"
                    draft = DraftMember(path: path, kind: .voice, content: .sound(fuz: true), seed: memberSeed, weight: rng.logUniform(2...32))
                } else {
                    switch rng.weighted([0.5, 0.25, 0.25]) {
                    case 0:
                        let folder = rng.pick(meshFolders)
                        let item = Words.identifier(Words.itemName(&rng))
                        let name = unique("Meshes/\(b.tag)/\(folder)/\(item)").split(separator: "/").last!
                        let textures = ["_d", "_n"].map { "textures\\\(b.tag)\\\(folder)\\\(item)\($0).dds" }
                        draft = DraftMember(
                            path: "Meshes/\(b.tag)/\(folder)/\(name).nif", kind: .mesh,
                            content: .nif(name: "\(name).nif", textures: textures), seed: memberSeed, weight: rng.logUniform(1...64))
                    case 1:
                        let folder = rng.pick(meshFolders)
                        let item = Words.identifier(Words.itemName(&rng))
                        let name = unique("Materials/\(b.tag)/\(folder)/\(item)").split(separator: "/").last!
                        let textures = ["_d", "_n", "_s"].map { "\(b.tag)\\\(folder)\\\(item)\($0).dds" }
                        draft = DraftMember(
                            path: "Materials/\(b.tag)/\(folder)/\(name).bgsm", kind: .material,
                            content: .bgsm(textures: textures), seed: memberSeed, weight: 0)
                    default:
                        let script = unique(letters + "_" + rng.pick(Words.scriptVerbs) + rng.pick(Words.nouns)) + "Script"
                        draft = DraftMember(
                            path: "Scripts/\(letters)/\(script).pex", kind: .script,
                            content: .pex(script: script, author: author), seed: memberSeed, weight: rng.logUniform(1...16))
                    }
                }
                archives[a].members.append(DraftMember(
                    path: ModBuilder.archivePath(draft.path, style), kind: draft.kind, content: draft.content,
                    seed: draft.seed, weight: draft.weight))
            }
        }
        return archives
    }

    /// Smallest and largest member sizes per kind: below the floor the synthesizers' fixed structure dominates.
    static func sizeRange(_ kind: MemberKind) -> ClosedRange<Int> {
        switch kind {
        case .mesh: 1_500...(8 << 20)
        case .material: 420...420
        case .script: 800...(1 << 20)
        case .voice: 1_500...(4 << 20)
        }
    }

    /// Stored bytes of a member as a line in its target size, fitted to samples of the synthesizers' output.
    /// Small meshes and scripts overshoot their target and compress worse than the MO2 planner's large
    /// samples, which put a 256M tree 23 % over its scale.
    static let storedFit: [MemberKind: (fixed: Double, perByte: Double)] = {
        func sample(_ kind: MemberKind, _ size: Int, _ seed: UInt64) -> ContentSpec {
            let textures = ["textures\\Sample\\Sample_d.dds", "textures\\Sample\\Sample_n.dds"]
            return switch kind {
            case .mesh: ContentSpec(kind: .nif(name: "Sample.nif", textures: textures), seed: seed, size: size)
            case .material: ContentSpec(kind: .bgsm(textures: textures), seed: seed, size: size)
            case .script: ContentSpec(kind: .pex(script: "SMP_SampleScript", author: "samplemodder"), seed: seed, size: size)
            case .voice: ContentSpec(kind: .sound(fuz: true), seed: seed, size: size)
            }
        }
        var fits: [MemberKind: (fixed: Double, perByte: Double)] = [:]
        for kind in [MemberKind.mesh, .material, .script, .voice] {
            var points: [(x: Double, y: Double)] = []
            for (i, size) in [1_500, 3_000, 6_000, 12_000, 24_000, 48_000].enumerated() {
                let bytes = sample(kind, size, 0xF1A7 &+ UInt64(i)).bytes()
                let packed = kind == .voice ? bytes.count : FixtureZlib.deflate(bytes).count
                points.append((Double(size), Double(packed + 32 <= bytes.count ? packed : bytes.count)))
            }
            let n = Double(points.count)
            let mx = points.reduce(0) { $0 + $1.x } / n, my = points.reduce(0) { $0 + $1.y } / n
            let sxy = points.reduce(0) { $0 + ($1.x - mx) * ($1.y - my) }, sxx = points.reduce(0) { $0 + ($1.x - mx) * ($1.x - mx) }
            let slope = max(0, sxy / sxx)
            fits[kind] = (my - slope * mx, slope)
        }
        return fits
    }()

    /// Turns relative weights into sizes so the archives' estimated stored bytes come to `budget`, then the
    /// archive specs. The sizes are `weight × unit` within each kind's range; the unit is found by bisection,
    /// since the floors and ceilings make the total piecewise linear in it.
    static func sized(_ archives: [DraftArchive], budget: Int64) -> [PlannedFile] {
        func size(_ m: DraftMember, _ unit: Double) -> Int {
            let range = sizeRange(m.kind)
            return min(range.upperBound, max(range.lowerBound, Int(Double(m.weight) * unit)))
        }
        // Headers, entries and names, which no unit changes.
        var metadata = Double(24 * archives.count)
        for archive in archives { for m in archive.members { metadata += Double(36 + 2 + m.path.utf8.count) } }
        func total(_ unit: Double) -> Double {
            var sum = metadata
            for archive in archives {
                for m in archive.members {
                    let fit = storedFit[m.kind]!
                    sum += fit.fixed + fit.perByte * Double(size(m, unit))
                }
            }
            return sum
        }
        var low = 0.0, high = 1.0
        while total(high) < Double(budget) && high < 1e12 { high *= 2 }
        for _ in 0..<50 {
            let middle = (low + high) / 2
            if total(middle) < Double(budget) { low = middle } else { high = middle }
        }
        return archives.map { archive in
            let members = archive.members.map { m -> MemberSpec in
                // Archive2 leaves audio uncompressed and zlib-compresses the rest unless it saves nothing.
                let storage: BA2Storage = archive.voices ? .raw : .zlibIfSmaller(.creationKit)
                return MemberSpec(path: m.path, storage: storage, body: .content(ContentSpec(kind: m.content, seed: m.seed, size: size(m, low))))
            }
            return PlannedFile(path: archive.path, spec: .archive(ArchiveSpec(type: .general, version: archive.version, members: members)))
        }
    }
}

extension FixtureGenerator {
    /// Writes the `flat-data` layout into `directory`: `Data/` holding `layout.plugins` plugins and GNRL BA2s
    /// with `layout.members` members in all; with `edited`, 40 records of one plugin edited.
    ///
    /// Writing the edited tree over the base tree of the same options turns it into the edited tree (the file
    /// set is the same). The summary has `layout` "flat-data" and `archiveMembers`; the edited tree's also has
    /// `scenario` "flat-data", one `plugin` change, and `idealNewBytes` = the edited records' serialized bytes.
    public static func writeFlatData(
        _ options: FixtureOptions, layout: FlatDataOptions = FlatDataOptions(), edited: Bool, to directory: String
    ) throws -> FixtureSummary {
        try validate(options)
        guard FlatDataOptions.memberRange.contains(layout.members) else {
            throw FixtureError.invalidArgument("flat-data members must be in \(FlatDataOptions.memberRange), got \(layout.members)")
        }
        guard FlatDataOptions.pluginRange.contains(layout.plugins) else {
            throw FixtureError.invalidArgument("flat-data plugins must be in \(FlatDataOptions.pluginRange), got \(layout.plugins)")
        }
        let plan = FlatDataPlanner.plan(seed: options.seed, scale: options.scaleBytes, layout: layout, edited: edited)
        let results = try write(plan.files, to: directory, jobs: options.jobs)
        var summary = FixtureSummary(
            version: edited ? "scenario" : "base", seed: options.seed, scaleBytes: options.scaleBytes, files: results.count,
            bytes: results.reduce(0) { $0 + Int64($1.bytes) }, mods: 0, byKind: kindTotals(results), shared: [],
            changes: nil, idealNewBytes: 0)
        summary.layout = "flat-data"
        summary.archiveMembers = results.reduce(0) { $0 + ($1.archive?.members.count ?? 0) }
        if edited {
            let edit = results.first { $0.path == plan.editedPlugin }!.pluginEdit!
            let change = ScenarioChange(
                scenario: .plugin, changed: [plan.editedPlugin], editedFormIDs: edit.editedFormIDs,
                insertedFormIDs: edit.insertedFormIDs, idealNewBytes: Int64(edit.editedRecordBytes + edit.insertedRecordBytes))
            summary.scenario = "flat-data"
            summary.scenarioChanges = [change]
            summary.idealNewBytes = change.idealNewBytes
        }
        return summary
    }
}
