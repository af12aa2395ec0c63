// Scenario trees: the base plan with one kind of change applied alone (or all of them), so a benchmark can
// measure how much each kind of edit grows a repository, against a stated ideal.

/// A single change applied to the base tree, named as on the `modvault-fixtures --scenario` command line.
///
/// Ideal new bytes per scenario: `texture` the replaced texture's unpacked surface bytes; `script-front` the new
/// script's unpacked size; `plugin` the serialized edited and inserted records; `repack`, `reorder` and `rename`
/// 0 (no content changes); `loose-dds` the DDS headers only (128 or 148 bytes per file: the pixels are already
/// in the archive); `new-mod` the new mod's file bytes; `all` the sum.
public enum FixtureScenario: String, Sendable, Codable, CaseIterable {
    /// One texture of a DX10 archive re-authored (the next version's texture change).
    case texture
    /// A new PEX script inserted as the first member of a GNRL archive, so every other member moves.
    case scriptFront = "script-front"
    /// 40 records edited and 50 inserted in one plugin (the next version's plugin change).
    case plugin
    /// Every BA2 rewritten with its zlib members recompressed at level 9, windowBits 15 (level 6 where an
    /// archive already uses 9/15); raw members stay raw; names, order and contents unchanged.
    case repack
    /// The largest GNRL archive with its members in reverse order, stored bytes unchanged.
    case reorder
    /// Every texture of one DX10 archive also written as a loose DDS beside it (the archive stays).
    case looseDDS = "loose-dds"
    /// The next version's five moved loose files.
    case rename
    /// The next version's added mod (archives, plugin, loose files), named in the profile's lists.
    case newMod = "new-mod"
    /// All of the above. Repack skips the archives the other changes touch; the others apply as alone.
    case all

    /// The single changes `all` applies, in this order.
    public static let singles: [FixtureScenario] = [.texture, .scriptFront, .plugin, .reorder, .looseDDS, .rename, .repack, .newMod]
}

/// A change decided on the plan, turned into a ``ScenarioChange`` once the files are written.
enum PendingScenarioChange {
    case texture(archive: String, member: Int)
    case scriptFront(archive: String)
    case plugin(path: String)
    case repack(archives: [String])
    case reorder(archive: String)
    case looseDDS(archive: String, files: [String], headerBytes: Int64)
    case rename([FixtureRename])
    case newMod(root: String, profiles: [String])
}

/// The archives scenario changes target beyond those the next version already fixes (`NextTargets`).
struct ScenarioTargets {
    /// Largest GNRL archive with compressed members: reversed by `reorder`.
    var reorderArchive: String
    /// Second largest: gets the new first member of `script-front`.
    var scriptArchive: String
    /// Largest DX10 archive other than the texture target and the two sharing a member: extracted by `loose-dds`.
    var looseArchive: String

    init(_ plan: FixturePlan) {
        var general: [(bytes: Int, path: String)] = []
        var textures: [(bytes: Int, path: String)] = []
        let shared = Set(plan.claims.filter { $0.kind == .memberInTwoArchives }.flatMap { [$0.path, $0.otherPath].compactMap { $0 } })
        for file in plan.allFiles() {
            guard case .archive(let spec) = file.spec else { continue }
            switch spec.type {
            case .general where spec.members.contains(where: { $0.storage != .raw }):
                general.append((spec.members.reduce(0) { if case .content(let c) = $1.body { $0 + c.size } else { $0 } }, file.path))
            case .textures where file.path != plan.targets.textureArchive && !shared.contains(file.path):
                textures.append((spec.members.reduce(0) { if case .texture(let t) = $1.body { $0 + t.info.surfaceBytes } else { $0 } }, file.path))
            default:
                break
            }
        }
        let largestFirst = { (a: (bytes: Int, path: String), b: (bytes: Int, path: String)) in (b.bytes, a.path) < (a.bytes, b.path) }
        general.sort(by: largestFirst)
        textures.sort(by: largestFirst)
        precondition(general.count >= 2 && !textures.isEmpty, "every plan has the core mods' archives")
        reorderArchive = general[0].path
        scriptArchive = general[1].path
        looseArchive = textures[0].path
    }
}

enum Scenarios {
    /// The base plan with `scenario` applied, and what was changed.
    static func apply(
        _ scenario: FixtureScenario, to base: FixturePlan, seed: UInt64, scale: Int64
    ) -> (FixturePlan, [PendingScenarioChange]) {
        var plan = base
        let targets = ScenarioTargets(base)
        var pending: [PendingScenarioChange] = []
        for single in scenario == .all ? FixtureScenario.singles : [scenario] {
            switch single {
            case .texture:
                NextVersion.replaceTexture(&plan, seed: seed)
                pending.append(.texture(archive: base.targets.textureArchive, member: base.targets.replacedMember))
            case .scriptFront:
                insertScript(&plan, archive: targets.scriptArchive, seed: seed, scale: scale)
                pending.append(.scriptFront(archive: targets.scriptArchive))
            case .plugin:
                _ = NextVersion.editPlugin(&plan, seed: seed)
                pending.append(.plugin(path: base.targets.plugin))
            case .repack:
                let touched: Set<String> = scenario == .all
                    ? [base.targets.textureArchive, targets.scriptArchive, targets.reorderArchive, targets.looseArchive] : []
                pending.append(.repack(archives: repack(&plan, skipping: touched)))
            case .reorder:
                var spec = plan.archive(targets.reorderArchive)
                spec.members.reverse()
                plan.setArchive(targets.reorderArchive, spec)
                pending.append(.reorder(archive: targets.reorderArchive))
            case .looseDDS:
                pending.append(extractTextures(&plan, archive: targets.looseArchive))
            case .rename:
                pending.append(.rename(NextVersion.applyRenames(&plan)))
            case .newMod:
                let before = Dictionary(uniqueKeysWithValues: plan.rootFiles().map { ($0.path, "\($0.spec)") })
                let name = NextVersion.addMod(&plan, seed: seed, scale: scale)
                let profiles = plan.rootFiles().filter { before[$0.path] != "\($0.spec)" }.map(\.path)
                pending.append(.newMod(root: "mods/\(name)/", profiles: profiles))
            case .all:
                preconditionFailure("`all` is not a single change")
            }
        }
        return (plan, pending)
    }

    /// A new script at entry 0 of `archive`, in the folder of its scripts, stored like its other members.
    static func insertScript(_ plan: inout FixturePlan, archive: String, seed: UInt64, scale: Int64) {
        var spec = plan.archive(archive)
        let template = spec.members.first { if case .content(let c) = $0.body { c.category == "pex" } else { false } } ?? spec.members[0]
        let templateName = NextVersion.lastComponent(template.path)
        // Scripts carry their mod's tag ("WWA_…Script.pex"); keep it when the template is a script.
        let prefix = templateName.lowercased().hasSuffix(".pex") ? String(templateName.prefix { $0 != "_" }) + "_" : ""
        var rng = FixtureRNG(seed: Seed.derive(seed, "front-script"))
        let existing = Set(spec.members.map { $0.path.lowercased() })
        var script: String, path: String
        repeat {
            script = prefix + rng.pick(Words.scriptVerbs) + rng.pick(Words.nouns) + "QuestScript"
            path = NextVersion.siblingPath(of: template.path, fileName: script + ".pex")
        } while existing.contains(path.lowercased())
        let author = rng.pick(Words.nouns).lowercased() + "modder"
        let size = Int(min(100_000, max(8_000, scale / 2_500)))
        let content = ContentSpec(kind: .pex(script: script, author: author), seed: Seed.derive(seed, "front-script-content"), size: size)
        let storage = spec.members.first { $0.storage != .raw }?.storage ?? .zlibIfSmaller(.creationKit)
        spec.members.insert(MemberSpec(path: path, storage: storage, body: .content(content)), at: 0)
        plan.setArchive(archive, spec)
    }

    /// Settings a repack uses instead of `original`: level 9 with a full window, or level 6 if it already was that.
    static func repackSettings(_ original: ZlibSettings) -> ZlibSettings { original == .best ? .creationKit : .best }

    /// Recompresses every archive with zlib members except `skipping`; returns the paths of those rewritten.
    static func repack(_ plan: inout FixturePlan, skipping: Set<String>) -> [String] {
        var rewritten: [String] = []
        for file in plan.allFiles() where !skipping.contains(file.path) {
            guard case .archive(var spec) = file.spec, spec.members.contains(where: { $0.storage != .raw }) else { continue }
            for i in spec.members.indices {
                switch spec.members[i].storage {
                case .raw: break
                case .zlib(let s): spec.members[i].storage = .zlib(repackSettings(s))
                case .zlibIfSmaller(let s): spec.members[i].storage = .recompressed(original: s, settings: repackSettings(s))
                case .recompressed(let original, let s): spec.members[i].storage = .recompressed(original: original, settings: repackSettings(s))
                }
            }
            plan.setArchive(file.path, spec)
            rewritten.append(file.path)
        }
        return rewritten
    }

    /// Every texture of `archive` as a loose DDS at its member path under the mod folder. The header style is
    /// the one a mod of that archive's generation ships: DX10 for next-gen archives and BC7, legacy otherwise.
    static func extractTextures(_ plan: inout FixturePlan, archive: String) -> PendingScenarioChange {
        let spec = plan.archive(archive)
        let (m, _) = plan.locate(archive)
        let modRoot = String(archive[...archive.lastIndex(of: "/")!])
        var files: [String] = []
        var headers: Int64 = 0
        for member in spec.members {
            guard case .texture(let t) = member.body else { continue }
            let style: DDSHeaderStyle = spec.version != .v1 || t.info.format == .bc7 ? .dx10 : .legacy
            let path = modRoot + member.path.replacing("\\", with: "/")
            plan.mods[m].files.append(PlannedFile(path: path, spec: .dds(t, style)))
            plan.claims.append(SharedContent(kind: .textureInArchive, path: path, archive: archive, member: member.path))
            files.append(path)
            headers += Int64(DDSWriter.headerSize(t.info, style: style))
        }
        return .looseDDS(archive: archive, files: files, headerBytes: headers)
    }

    /// The written form of the changes, with their ideal new bytes.
    static func describe(_ pending: [PendingScenarioChange], plan: FixturePlan, results: [FixtureGenerator.FileResult]) -> [ScenarioChange] {
        let byPath = Dictionary(uniqueKeysWithValues: results.map { ($0.path, $0) })
        func unpacked(_ archive: String, _ member: Int) -> Int64 {
            byPath[archive]!.archive!.members[member].reduce(0) { $0 + Int64($1.unpackedSize) }
        }
        return pending.map { change in
            switch change {
            case let .texture(archive, member):
                return ScenarioChange(
                    scenario: .texture, changed: [archive], member: plan.archive(archive).members[member].path,
                    idealNewBytes: unpacked(archive, member))
            case let .scriptFront(archive):
                return ScenarioChange(
                    scenario: .scriptFront, changed: [archive], member: plan.archive(archive).members[0].path,
                    idealNewBytes: unpacked(archive, 0))
            case let .plugin(path):
                let edit = byPath[path]!.pluginEdit!
                return ScenarioChange(
                    scenario: .plugin, changed: [path], editedFormIDs: edit.editedFormIDs, insertedFormIDs: edit.insertedFormIDs,
                    idealNewBytes: Int64(edit.editedRecordBytes + edit.insertedRecordBytes))
            case let .repack(archives):
                return ScenarioChange(scenario: .repack, changed: archives)
            case let .reorder(archive):
                return ScenarioChange(scenario: .reorder, changed: [archive])
            case let .looseDDS(_, files, headerBytes):
                return ScenarioChange(scenario: .looseDDS, added: files, idealNewBytes: headerBytes)
            case let .rename(renames):
                return ScenarioChange(scenario: .rename, renamed: renames)
            case let .newMod(root, profiles):
                let files = results.filter { $0.path.hasPrefix(root) }
                return ScenarioChange(scenario: .newMod, changed: profiles, added: files.map(\.path).sorted(),
                                      idealNewBytes: files.reduce(0) { $0 + Int64($1.bytes) })
            }
        }
    }
}

extension FixtureGenerator {
    /// Writes the base tree with only `scenario`'s change(s) applied into `directory`.
    ///
    /// Like ``writeNext(_:to:)``, writing over the base tree of the same options turns it into the scenario tree:
    /// files the scenario moves away are deleted, all others are rewritten. The summary's `idealNewBytes` is the
    /// sum of the changes' ideal bytes, see ``FixtureScenario``.
    public static func writeScenario(_ scenario: FixtureScenario, _ options: FixtureOptions, to directory: String) throws -> FixtureSummary {
        try validate(options)
        let base = FixturePlanner.plan(seed: options.seed, scale: options.scaleBytes)
        let (plan, pending) = Scenarios.apply(scenario, to: base, seed: options.seed, scale: options.scaleBytes)
        let files = plan.allFiles()
        try removeStale(base.allFiles(), keeping: files, in: directory)
        let results = try write(files, to: directory, jobs: options.jobs)
        let changes = Scenarios.describe(pending, plan: plan, results: results)
        var summary = summarize(plan, results, options: options, version: "scenario", changes: nil)
        summary.scenario = scenario.rawValue
        summary.scenarioChanges = changes
        summary.idealNewBytes = changes.reduce(0) { $0 + $1.idealNewBytes }
        return summary
    }
}
