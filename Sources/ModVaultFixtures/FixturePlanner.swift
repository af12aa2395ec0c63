// Chooses the mods of a fixture tree and their byte budgets, and fixes the targets of the next version.

enum FixturePlanner {
    /// Number of mods for a scale: 10 at 2 MiB, +4 per doubling, at most 60.
    static func modCount(scale: Int64) -> Int {
        let doublings = max(0, Int64.bitWidth - 1 - (scale / (2 << 20)).leadingZeroBitCount)
        return min(60, 10 + 4 * doublings)
    }

    /// Relative share of the total each role gets (before a per-mod random factor).
    static func weight(_ role: ModRole) -> Double {
        switch role {
        case .quest: 3
        case .weapons, .armor: 2.5
        case .textureArchive: 4
        case .looseTextures: 3
        case .looseAssets: 2
        case .framework: 0.15
        case .patch: 0.02
        case .looseOptional, .separator: 0
        }
    }

    /// Real plugins beyond a few MiB are rare, and a plugin is built in memory, so plugins stay below this.
    static let maximumPluginBytes: Int64 = 4 << 20

    static let coreRoles: [ModRole] = [.framework, .quest, .weapons, .textureArchive, .looseTextures, .looseAssets, .armor]
    static let extraRoles: [ModRole] = [.weapons, .armor, .textureArchive, .looseTextures, .looseAssets, .quest, .framework, .patch, .separator]
    static let extraRoleOdds: [Double] = [2.5, 2.5, 3, 3, 2, 2, 0.5, 1, 0.6]

    static func plan(seed: UInt64, scale: Int64) -> FixturePlan {
        var rng = FixtureRNG(seed: Seed.derive(seed, "plan"))
        let count = modCount(scale: scale)
        var roles = coreRoles
        while roles.count < count - 3 { roles.append(extraRoles[rng.weighted(extraRoleOdds)]) }
        var names = Set<String>()
        func uniqueName(_ role: ModRole) -> String {
            while true {
                let name: String
                switch role {
                case .separator: name = rng.pick(["Weapons", "Armor", "Textures", "Gameplay", "Settlements", "Patches", "Frameworks", "Visuals"]) + "_separator"
                case .framework: name = rng.pick(Words.adjectives) + " " + rng.pick(["Framework", "Library", "Extender Plugins", "Settings Menu"])
                case .patch: name = "\(rng.pick(Words.adjectives)) \(rng.pick(Words.nouns)) - Compatibility Patch"
                case .textureArchive, .looseTextures, .looseOptional: name = "\(rng.pick(Words.adjectives)) \(rng.pick(["Wasteland", "Vault", "Settlement", "Weapon", "Armor", "Creature", "Landscape"])) \(rng.pick(["Textures", "Retexture", "HD Overhaul", "2K Textures"]))"
                case .weapons: name = "\(rng.pick(Words.adjectives)) \(rng.pick(Words.nouns)) \(rng.pick(["Weapon Pack", "Rifle", "Pistol", "Arsenal", "Weapon Mods"]))"
                case .armor: name = "\(rng.pick(Words.adjectives)) \(rng.pick(Words.nouns)) \(rng.pick(["Armor", "Outfits", "Clothing", "Power Armor"]))"
                case .quest: name = "\(rng.pick(Words.places)) \(rng.pick(["Quest Expansion", "Stories", "Questline", "Encounters", "Companions"]))"
                case .looseAssets: name = "\(rng.pick(Words.adjectives)) \(rng.pick(["Settlement Objects", "Workshop Additions", "Clutter Pack", "Interiors", "Road Signs"]))"
                }
                if names.insert(name).inserted { return name }
            }
        }
        let optionalBudget = scale * 4 / 100
        let overhead: Int64 = 4_000 + Int64(count) * 2_500
        var weights = roles.map { weight($0) * (0.35 + rng.unit() * 1.3) }
        let totalWeight = weights.reduce(0, +)
        let available = Double(scale - optionalBudget - overhead)
        weights = weights.map { $0 / totalWeight * available }

        var mods: [ModPlan] = []
        var carry: Int64 = 0
        var frameworkMaster: String?
        var builders: [ModRole: ModBuilder] = [:]
        for (index, role) in roles.enumerated() {
            let name = uniqueName(role)
            var builder = ModBuilder(name: name, role: role, seed: Seed.derive(seed, "mod\(index)"))
            // Overshoot (mandatory content) and undershoot carry over to the next mod, even past zero.
            let share = Int64(weights[index]) + carry
            build(&builder, budget: max(0, share), core: index < coreRoles.count, frameworkMaster: frameworkMaster, otherPlugins: [])
            carry = share - builder.estimate
            if role == .framework && frameworkMaster == nil { frameworkMaster = builder.plugins.first?.fileName }
            if index < coreRoles.count { builders[role] = builder }
            mods.append(builder.finish(core: index < coreRoles.count))
        }
        var claims = shareArchivedTexture(&mods)
        // Patches need the plugins they patch, so they come last.
        let patchable = mods.filter { $0.role == .weapons || $0.role == .armor || $0.role == .quest }.flatMap(\.plugins).map(\.fileName)
        var patch = ModBuilder(name: uniqueName(.patch), role: .patch, seed: Seed.derive(seed, "patch"))
        build(&patch, budget: max(8_000, carry / 2), core: true, frameworkMaster: nil, otherPlugins: patchable)
        carry -= patch.estimate
        let optionalName = (builders[.textureArchive].map { $0.name } ?? uniqueName(.looseOptional)) + " - Loose Files"
        var optional = ModBuilder(name: optionalName, role: .looseOptional, seed: Seed.derive(seed, "optional"))
        claims += buildOptional(&optional, budget: optionalBudget + carry, builders: builders)
        var separator = ModBuilder(name: uniqueName(.separator), role: .separator, seed: Seed.derive(seed, "separator"))
        separator.metaIni()

        // modlist.txt order: patches and optional overrides win conflicts, frameworks sit at the bottom.
        var middle = mods.filter { $0.role != .framework }
        rng.shuffle(&middle)
        let separatorAt = rng.int(0...middle.count)
        middle.insert(separator.finish(core: true), at: separatorAt)
        let ordered = [patch.finish(core: true), optional.finish(core: true)] + middle + mods.filter { $0.role == .framework }
        let plan = FixturePlan(mods: ordered, claims: claims, targets: targets(ordered, claims: claims, rng: &rng))
        return plan
    }

    static func build(_ b: inout ModBuilder, budget: Int64, core: Bool, frameworkMaster: String?, otherPlugins: [String]) {
        b.metaIni()
        let remaining = { (b: ModBuilder) in max(0, budget - b.estimate) }
        switch b.role {
        case .weapons, .armor:
            let weapons = b.role == .weapons
            let mix: [(String, Double)] = weapons
                ? [("KYWD", 0.05), ("GLOB", 0.03), ("MISC", 0.1), ("WEAP", 0.12), ("AMMO", 0.04), ("OMOD", 0.36), ("COBJ", 0.25), ("LVLI", 0.05)]
                : [("KYWD", 0.05), ("GLOB", 0.02), ("MISC", 0.08), ("ARMO", 0.35), ("OMOD", 0.2), ("COBJ", 0.25), ("LVLI", 0.05)]
            _ = b.plugin(fileName: b.base + ".esp", budget: max(6_000, budget * 4 / 100), mix: mix, masters: b.masters())
            let category = weapons ? "Weapons" : "Armor"
            let textures = b.textures(budget: budget * 70 / 100, category: category, archived: true, minimum: 3)
            var main = b.meshes(budget: budget * 20 / 100, category: category, textures: textures)
            main += b.materials(for: textures, category: category)
            main += b.scripts(budget: budget / 100, sources: false)
            if weapons { main += b.sounds(budget: budget * 3 / 100, voices: false, pluginName: b.base + ".esp") }
            b.generalArchive(b.base + " - Main.ba2", main)
            b.textureArchive(b.base + " - Textures.ba2", textures)
            if b.rng.chance(0.5) { b.readme(b.name) }
        case .quest:
            let masters = b.masters() + (frameworkMaster.map { [$0] } ?? [])
            let mix: [(String, Double)] = [("KYWD", 0.03), ("GLOB", 0.05), ("MISC", 0.12), ("STAT", 0.1), ("SCOL", 0.03), ("WEAP", 0.04), ("ARMO", 0.04), ("NPC_", 0.2), ("LVLI", 0.1), ("COBJ", 0.09), ("OMOD", 0.2)]
            _ = b.plugin(
                fileName: b.base + ".esp", budget: max(20_000, budget / 10), mix: mix, masters: masters,
                minimumRecords: core ? 600 : 0, oversize: core || budget > 4 << 20 ? 1 : 0, overrides: b.rng.int(0...30))
            let textures = b.textures(budget: budget * 55 / 100, category: "Quest", archived: true, minimum: 3)
            var main = b.meshes(budget: budget * 10 / 100, category: "Quest", textures: textures)
            main += b.materials(for: textures, category: "Quest")
            main += b.scripts(budget: budget * 4 / 100, sources: false)
            b.generalArchive(b.base + " - Main.ba2", main)
            b.generalArchive(b.base + " - Voices_en.ba2", b.sounds(budget: budget * 12 / 100, voices: true, pluginName: b.base + ".esp"), forceRaw: true)
            b.textureArchive(b.base + " - Textures.ba2", textures)
            b.readme(b.name)
        case .textureArchive:
            // A header-only light plugin whose only job is to make the game load the archives.
            let esl = b.rng.chance(0.5)
            _ = b.plugin(fileName: b.base + (esl ? ".esl" : ".esp"), budget: 0, mix: [], masters: ["Fallout4.esm"], flags: PluginHeader.lightFlag | (esl ? PluginHeader.esmFlag : 0))
            let category = b.rng.pick(["Landscape", "Architecture", "Clutter", "Creatures", "Interiors"])
            let textures = b.textures(budget: budget * 97 / 100, category: category, archived: true, minimum: 3)
            // The Xbox-style zlib of §1.6 shows up in ported mods; one archive uses it.
            let settings: ZlibSettings = b.rng.chance(0.25) ? .xbox : .creationKit
            b.generalArchive(b.base + " - Main.ba2", b.materials(for: textures, category: category), zlib: settings)
            b.textureArchive(b.base + " - Textures.ba2", textures)
        case .looseTextures:
            let category = b.rng.pick(["Landscape", "Architecture", "Clutter", "Actors", "Interface"])
            b.readme(b.name)
            if b.rng.chance(0.5) {
                b.looseContent([ModBuilder.ContentFile(spec: ContentSpec(kind: .xml(name: b.name), seed: b.contentSeed("fomod"), size: 600), path: "fomod/info.xml")])
            }
            b.looseTextures(b.textures(budget: remaining(b), category: category, archived: false, minimum: 1))
        case .looseAssets, .looseOptional:
            let category = b.rng.pick(["Settlement", "Furniture", "Clutter", "Signs"])
            _ = b.plugin(fileName: b.base + ".esp", budget: max(6_000, budget * 3 / 100), mix: [("KYWD", 0.05), ("MISC", 0.25), ("STAT", 0.4), ("SCOL", 0.1), ("COBJ", 0.2)], masters: b.masters())
            let textures = b.textures(budget: budget * 65 / 100, category: category, archived: false, minimum: 3)
            b.looseContent(b.meshes(budget: budget * 25 / 100, category: category, textures: textures, minimum: 2))
            b.looseContent(b.materials(for: textures, category: category))
            b.looseContent(b.scripts(budget: budget * 2 / 100, sources: b.rng.chance(0.5)))
            b.looseTextures(textures)
        case .framework:
            let flags = frameworkMaster == nil ? PluginHeader.esmFlag : 0
            _ = b.plugin(fileName: b.base + (flags != 0 ? ".esm" : ".esp"), budget: max(4_000, budget / 10), mix: [("KYWD", 0.3), ("GLOB", 0.3), ("MISC", 0.2), ("LVLI", 0.2)], masters: ["Fallout4.esm"], flags: flags)
            b.looseContent(b.scripts(budget: budget * 55 / 100, sources: true, minimum: 3))
            let dllSize = Int(max(24_000, budget / 4))
            b.looseContent([
                ModBuilder.ContentFile(spec: ContentSpec(kind: .dll(name: b.base), seed: b.contentSeed("dll"), size: dllSize), path: "F4SE/Plugins/\(b.base).dll"),
                ModBuilder.ContentFile(spec: ContentSpec(kind: .ini(name: b.name), seed: b.contentSeed("ini"), size: 1_200), path: "F4SE/Plugins/\(b.base).ini"),
                ModBuilder.ContentFile(spec: ContentSpec(kind: .json(name: b.base), seed: b.contentSeed("mcm"), size: Int(max(2_000, budget / 30))), path: "MCM/Config/\(b.base)/config.json"),
            ])
            b.readme(b.name)
        case .patch:
            var masters = ["Fallout4.esm"]
            for _ in 0..<min(2, otherPlugins.count) {
                let m = b.rng.pick(otherPlugins)
                if !masters.contains(m) { masters.append(m) }
            }
            _ = b.plugin(fileName: b.base + ".esp", budget: max(4_000, budget), mix: [("KYWD", 0.2), ("COBJ", 0.5), ("LVLI", 0.3)], masters: masters, overrides: b.rng.int(20...120))
        case .separator:
            break
        }
    }

    /// The optional "loose files" mod: copies of archived textures and meshes, and of one loose texture.
    /// Every copy is recorded as a claim that the tests (and benchmarks) can rely on.
    static func buildOptional(_ b: inout ModBuilder, budget: Int64, builders: [ModRole: ModBuilder]) -> [SharedContent] {
        b.metaIni()
        var claims: [SharedContent] = []
        var remaining = budget
        if let weapons = builders[.weapons], let archive = weapons.files.first(where: { $0.path.hasSuffix(" - Main.ba2") }),
           case .archive(let spec) = archive.spec,
           let member = spec.members.first(where: { if case .content(let c) = $0.body { c.category == "nif" } else { false } }),
           case .content(let c) = member.body {
            let path = member.path.replacing("\\", with: "/")
            b.add(path, .content(c), estimate: Int64(c.size))
            remaining -= Int64(c.size)
            claims.append(SharedContent(kind: .fileInArchive, path: b.root + path, archive: archive.path, member: member.path))
        }
        if let assets = builders[.looseAssets], let dds = assets.files.first(where: { $0.path.hasSuffix("_d.dds") }) {
            let relative = String(dds.path.dropFirst(assets.root.count))
            if case .dds(let t, let style) = dds.spec {
                b.add(relative, dds.spec, estimate: Estimator.looseTexture(t, style: style))
                remaining -= Estimator.looseTexture(t, style: style)
            }
            claims.append(SharedContent(kind: .identicalFile, path: b.root + relative, otherPath: dds.path))
        }
        if let tex = builders[.textureArchive], let archive = tex.files.first(where: { $0.path.hasSuffix(" - Textures.ba2") }),
           case .archive(let spec) = archive.spec {
            // Copy the first textures, except the one the next version replaces; skip those that do not fit.
            let replaced = replacedMemberIndex(spec)
            var copied = 0
            for (i, member) in spec.members.enumerated() where i != replaced {
                guard case .texture(let t) = member.body else { continue }
                let cost = Estimator.looseTexture(t, style: .dx10)
                if copied > 0 && cost > remaining { continue }
                let path = member.path.replacing("\\", with: "/")
                b.add(path, .dds(t, i % 2 == 0 ? .dx10 : .legacy), estimate: cost)
                remaining -= cost
                claims.append(SharedContent(kind: .textureInArchive, path: b.root + path, archive: archive.path, member: member.path))
                copied += 1
                if copied == 4 { break }
            }
        }
        return claims
    }

    /// The core armor mod ships the first texture of the core weapons mod in its own archive (same author,
    /// shared asset), so identical DX10 members exist in two archives.
    static func shareArchivedTexture(_ mods: inout [ModPlan]) -> [SharedContent] {
        func texturesArchive(_ role: ModRole) -> (Int, Int)? {
            guard let m = mods.firstIndex(where: { $0.role == role && $0.isCore }),
                  let f = mods[m].files.firstIndex(where: { $0.path.hasSuffix(" - Textures.ba2") }) else { return nil }
            return (m, f)
        }
        guard let (wm, wf) = texturesArchive(.weapons), let (am, af) = texturesArchive(.armor),
              case .archive(let source) = mods[wm].files[wf].spec, let shared = source.members.first,
              case .archive(var target) = mods[am].files[af].spec else { return [] }
        target.members.insert(shared, at: 0)
        mods[am].files[af].spec = .archive(target)
        return [SharedContent(kind: .memberInTwoArchives, path: mods[wm].files[wf].path, member: shared.path, otherPath: mods[am].files[af].path, otherMember: shared.path)]
    }

    /// The texture the next version replaces: the largest in the archive, so the change is a real re-export.
    static func replacedMemberIndex(_ archive: ArchiveSpec) -> Int {
        var best = 0, bestSize = -1
        for (i, member) in archive.members.enumerated() {
            if case .texture(let t) = member.body, t.info.surfaceBytes > bestSize { best = i; bestSize = t.info.surfaceBytes }
        }
        return best
    }

    static func targets(_ mods: [ModPlan], claims: [SharedContent], rng: inout FixtureRNG) -> NextTargets {
        let claimed = Set(claims.flatMap { [$0.path, $0.otherPath, $0.archive].compactMap { $0 } })
        let textures = mods.first { $0.role == .textureArchive && $0.isCore }!.files.first { $0.path.hasSuffix(" - Textures.ba2") }!
        guard case .archive(let spec) = textures.spec else { preconditionFailure("texture archive expected") }
        let quest = mods.first { $0.role == .quest && $0.isCore }!
        let weapons = mods.first { $0.role == .weapons && $0.isCore }!
        let assets = mods.first { $0.role == .looseAssets && $0.isCore }!
        // Remove a mod nothing depends on and no other change touches: a mid-sized extra if there is one.
        let masters = Set(mods.flatMap(\.plugins).flatMap(\.masters))
        let removable = mods.filter { m in
            !m.isCore && m.role != .separator && m.role != .framework && !m.plugins.contains { masters.contains($0.fileName) }
                && !m.files.contains { claimed.contains($0.path) }
        }
        let bySize = removable.sorted { ($0.estimate, $0.name) < ($1.estimate, $1.name) }
        let removed = bySize.isEmpty ? mods.first { $0.role == .looseTextures && $0.isCore }! : bySize[bySize.count / 2]
        // The author moves some loose files into a subfolder: content unchanged, paths new.
        var movable = assets.files.filter { file in
            guard !claimed.contains(file.path), !file.path.hasSuffix("/meta.ini") else { return false }
            switch file.spec {
            case .dds, .content: return true
            default: return false
            }
        }
        rng.shuffle(&movable)
        let renames = movable.prefix(5).map { file in
            let slash = file.path.lastIndex(of: "/")!
            return (file.path, String(file.path[..<slash]) + "/Legacy" + String(file.path[slash...]))
        }
        return NextTargets(
            textureArchive: textures.path, replacedMember: replacedMemberIndex(spec),
            plugin: quest.files.first { if case .plugin = $0.spec { true } else { false } }!.path,
            repackArchive: weapons.files.first { $0.path.hasSuffix(" - Main.ba2") }!.path,
            removedMod: removed.name, renames: renames)
    }
}
