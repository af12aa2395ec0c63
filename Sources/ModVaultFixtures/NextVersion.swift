// The "next version" of a fixture tree: the base plan plus the edits a mod-list update typically brings.

struct NextChanges: Sendable {
    var textureArchive: String
    var replacedMember: Int
    var plugin: String
    var pluginBefore: PluginSpec
    var repackArchive: String
    var newMemberIndex: Int
    var addedMod: String
    var removedMod: String
    var renames: [FixtureRename]
}

enum NextVersion {
    static func apply(_ base: FixturePlan, seed: UInt64, scale: Int64) -> (FixturePlan, NextChanges) {
        var plan = base
        let t = base.targets
        func locate(_ path: String) -> (Int, Int) {
            for (m, mod) in plan.mods.enumerated() {
                if let f = mod.files.firstIndex(where: { $0.path == path }) { return (m, f) }
            }
            preconditionFailure("planned file \(path) not found")
        }

        // A texture re-authored inside its archive: same path, size and format, new pixels.
        let (tm, tf) = locate(t.textureArchive)
        guard case .archive(var textures) = plan.mods[tm].files[tf].spec,
              case .texture(var texture) = textures.members[t.replacedMember].body else { preconditionFailure("texture target") }
        texture.seed = Seed.derive(seed, "replaced-texture")
        textures.members[t.replacedMember].body = .texture(texture)
        plan.mods[tm].files[tf].spec = .archive(textures)

        // Records edited and inserted in the Creation Kit.
        let (pm, pf) = locate(t.plugin)
        guard case .plugin(var plugin) = plan.mods[pm].files[pf].spec else { preconditionFailure("plugin target") }
        let pluginBefore = plugin
        plugin.edit = PluginEdit(seed: Seed.derive(seed, "plugin-edit"), edits: min(40, plugin.totalNewRecords / 4), inserts: 50)
        plan.mods[pm].files[pf].spec = .plugin(plugin)

        // The archive is repacked with a new mesh as its second entry, so every later blob moves.
        let (rm, rf) = locate(t.repackArchive)
        guard case .archive(var repack) = plan.mods[rm].files[rf].spec else { preconditionFailure("archive target") }
        let template = repack.members.first { if case .content(let c) = $0.body { c.category == "nif" } else { false } } ?? repack.members[0]
        let separator: Character = template.path.contains("\\") ? "\\" : "/"
        let directory = template.path.split(separator: separator).dropLast().joined(separator: String(separator))
        var nameRNG = FixtureRNG(seed: Seed.derive(seed, "new-member"))
        var fileName = Words.identifier(Words.itemName(&nameRNG)) + "Attachment.nif"
        if template.path == template.path.lowercased() { fileName = fileName.lowercased() }
        let memberPath = directory.isEmpty ? fileName : directory + String(separator) + fileName
        let size = Int(min(1 << 20, max(16 << 10, scale / 400)))
        let mesh = ContentSpec(kind: .nif(name: fileName, textures: []), seed: Seed.derive(seed, "new-member-content"), size: size)
        let newIndex = min(1, repack.members.count)
        repack.members.insert(MemberSpec(path: memberPath, storage: .zlibIfSmaller(.creationKit), body: .content(mesh)), at: newIndex)
        plan.mods[rm].files[rf].spec = .archive(repack)

        // Files reorganised by the mod author.
        for rename in t.renames {
            let (m, f) = locate(rename.from)
            plan.mods[m].files[f].path = rename.to
        }

        plan.mods.removeAll { $0.name == t.removedMod }

        var added = ModBuilder(name: addedName(plan, seed: seed), role: .armor, seed: Seed.derive(seed, "added-mod"))
        FixturePlanner.build(&added, budget: max(200_000, scale * 3 / 100), core: false, frameworkMaster: nil, otherPlugins: [])
        plan.mods.insert(added.finish(core: false), at: min(2, plan.mods.count))

        let changes = NextChanges(
            textureArchive: t.textureArchive, replacedMember: t.replacedMember, plugin: t.plugin, pluginBefore: pluginBefore,
            repackArchive: t.repackArchive, newMemberIndex: newIndex, addedMod: added.name, removedMod: t.removedMod,
            renames: t.renames.map { FixtureRename(from: $0.from, to: $0.to) })
        return (plan, changes)
    }

    static func addedName(_ plan: FixturePlan, seed: UInt64) -> String {
        var rng = FixtureRNG(seed: Seed.derive(seed, "added-name"))
        let names = Set(plan.mods.map(\.name))
        while true {
            let name = "\(rng.pick(Words.adjectives)) \(rng.pick(Words.nouns)) Outfits"
            if !names.contains(name) { return name }
        }
    }
}
