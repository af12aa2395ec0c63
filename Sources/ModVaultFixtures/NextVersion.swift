// The "next version" of a fixture tree: the base plan plus the edits a mod-list update typically brings.
// Each edit is also a function of its own, so a scenario (Scenario.swift) can apply it alone.

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

extension FixturePlan {
    /// Mod and file index of a planned file.
    func locate(_ path: String) -> (mod: Int, file: Int) {
        for (m, mod) in mods.enumerated() {
            if let f = mod.files.firstIndex(where: { $0.path == path }) { return (m, f) }
        }
        preconditionFailure("planned file \(path) not found")
    }

    /// The spec of a planned archive.
    func archive(_ path: String) -> ArchiveSpec {
        let (m, f) = locate(path)
        guard case .archive(let spec) = mods[m].files[f].spec else { preconditionFailure("\(path) is not an archive") }
        return spec
    }

    /// Replaces the spec of a planned archive.
    mutating func setArchive(_ path: String, _ spec: ArchiveSpec) {
        let (m, f) = locate(path)
        mods[m].files[f].spec = .archive(spec)
    }
}

enum NextVersion {
    static func apply(_ base: FixturePlan, seed: UInt64, scale: Int64) -> (FixturePlan, NextChanges) {
        var plan = base
        let t = base.targets
        replaceTexture(&plan, seed: seed)
        let pluginBefore = editPlugin(&plan, seed: seed)

        // The archive is repacked with a new mesh as its second entry, so every later blob moves.
        var repack = plan.archive(t.repackArchive)
        let template = repack.members.first { if case .content(let c) = $0.body { c.category == "nif" } else { false } } ?? repack.members[0]
        var nameRNG = FixtureRNG(seed: Seed.derive(seed, "new-member"))
        let fileName = Words.identifier(Words.itemName(&nameRNG)) + "Attachment.nif"
        let memberPath = siblingPath(of: template.path, fileName: fileName)
        let size = Int(min(1 << 20, max(16 << 10, scale / 400)))
        let mesh = ContentSpec(kind: .nif(name: lastComponent(memberPath), textures: []), seed: Seed.derive(seed, "new-member-content"), size: size)
        let newIndex = min(1, repack.members.count)
        repack.members.insert(MemberSpec(path: memberPath, storage: .zlibIfSmaller(.creationKit), body: .content(mesh)), at: newIndex)
        plan.setArchive(t.repackArchive, repack)

        let renames = applyRenames(&plan)

        plan.mods.removeAll { $0.name == t.removedMod }

        let addedMod = addMod(&plan, seed: seed, scale: scale)

        let changes = NextChanges(
            textureArchive: t.textureArchive, replacedMember: t.replacedMember, plugin: t.plugin, pluginBefore: pluginBefore,
            repackArchive: t.repackArchive, newMemberIndex: newIndex, addedMod: addedMod, removedMod: t.removedMod,
            renames: renames)
        return (plan, changes)
    }

    /// A new armor mod (its own archives, plugin and loose files, about 3 % of the corpus) third in the
    /// mod list; returns its name. The profile's mod list and load orders name it too.
    static func addMod(_ plan: inout FixturePlan, seed: UInt64, scale: Int64) -> String {
        var added = ModBuilder(name: addedName(plan, seed: seed), role: .armor, seed: Seed.derive(seed, "added-mod"))
        FixturePlanner.build(&added, budget: max(200_000, scale * 3 / 100), core: false, frameworkMaster: nil, otherPlugins: [])
        plan.mods.insert(added.finish(core: false), at: min(2, plan.mods.count))
        return added.name
    }

    /// A texture re-authored inside its archive: same path, size and format, new pixels.
    static func replaceTexture(_ plan: inout FixturePlan, seed: UInt64) {
        let t = plan.targets
        var textures = plan.archive(t.textureArchive)
        guard case .texture(var texture) = textures.members[t.replacedMember].body else { preconditionFailure("texture target") }
        texture.seed = Seed.derive(seed, "replaced-texture")
        textures.members[t.replacedMember].body = .texture(texture)
        plan.setArchive(t.textureArchive, textures)
    }

    /// Records edited and inserted in the Creation Kit. Returns the plugin's spec before the edit.
    static func editPlugin(_ plan: inout FixturePlan, seed: UInt64) -> PluginSpec {
        let (pm, pf) = plan.locate(plan.targets.plugin)
        guard case .plugin(var plugin) = plan.mods[pm].files[pf].spec else { preconditionFailure("plugin target") }
        let before = plugin
        plugin.edit = PluginEdit(seed: Seed.derive(seed, "plugin-edit"), edits: min(40, plugin.totalNewRecords / 4), inserts: 50)
        plan.mods[pm].files[pf].spec = .plugin(plugin)
        return before
    }

    /// Files reorganised by the mod author: content unchanged, paths new.
    static func applyRenames(_ plan: inout FixturePlan) -> [FixtureRename] {
        let renames = plan.targets.renames
        for rename in renames {
            let (m, f) = plan.locate(rename.from)
            plan.mods[m].files[f].path = rename.to
        }
        return renames.map { FixtureRename(from: $0.from, to: $0.to) }
    }

    /// Archive path of a new member named `fileName` in the folder of `template`, written the way the archive
    /// writes its paths (same separator; all lowercase if the template is).
    static func siblingPath(of template: String, fileName: String) -> String {
        let separator: Character = template.contains("\\") ? "\\" : "/"
        let directory = template.split(separator: separator).dropLast().joined(separator: String(separator))
        let name = template == template.lowercased() ? fileName.lowercased() : fileName
        return directory.isEmpty ? name : directory + String(separator) + name
    }

    /// Last component of an archive path, whichever separator it uses.
    static func lastComponent(_ path: String) -> String {
        String(path.split { $0 == "\\" || $0 == "/" }.last ?? Substring(path))
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
