import Foundation
import Testing
import ModVaultFixtures

/// The base and every scenario tree at 4 MiB, each generated once per test run.
enum ScenarioTrees {
    static let options = FixtureOptions(seed: 7, scaleBytes: 4 << 20)
    static let base: Tree = Trees.make("scenario-base") { try FixtureGenerator.writeBase(options, to: $0) }
    static let trees: [FixtureScenario: Tree] = Dictionary(uniqueKeysWithValues: FixtureScenario.allCases.map { scenario in
        (scenario, Trees.make("scenario-\(scenario.rawValue)") { try FixtureGenerator.writeScenario(scenario, options, to: $0) })
    })
}

func summaryJSON(_ summary: FixtureSummary) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    return String(decoding: try encoder.encode(summary), as: UTF8.self)
}

@Test("A scenario tree is the same on every run", arguments: FixtureScenario.allCases)
func scenarioIsDeterministic(_ scenario: FixtureScenario) throws {
    let reference = try #require(ScenarioTrees.trees[scenario])
    let again = Trees.make("again-\(scenario.rawValue)") { try FixtureGenerator.writeScenario(scenario, ScenarioTrees.options, to: $0) }
    defer { try? FileManager.default.removeItem(atPath: again.root) }
    try expectSameTree(again.root, as: reference)
    #expect(try summaryJSON(again.summary) == summaryJSON(reference.summary))
}

@Test("Writing a scenario over the base gives the fresh scenario tree", arguments: [FixtureScenario.rename, .all])
func scenarioWrittenOverBase(_ scenario: FixtureScenario) throws {
    let root = Paths.temporaryDirectory("over-\(scenario.rawValue)")
    defer { try? FileManager.default.removeItem(atPath: root) }
    _ = try FixtureGenerator.writeBase(ScenarioTrees.options, to: root)
    _ = try FixtureGenerator.writeScenario(scenario, ScenarioTrees.options, to: root)
    try expectSameTree(root, as: try #require(ScenarioTrees.trees[scenario]))
}

@Test("A scenario changes exactly what its summary lists", arguments: FixtureScenario.allCases)
func scenarioChangesOnlyWhatItSays(_ scenario: FixtureScenario) throws {
    let base = ScenarioTrees.base, tree = try #require(ScenarioTrees.trees[scenario])
    let summary = tree.summary
    let changes = try #require(summary.scenarioChanges)
    #expect(summary.version == "scenario" && summary.scenario == scenario.rawValue && summary.changes == nil)
    #expect(changes.map(\.scenario) == (scenario == .all ? FixtureScenario.singles : [scenario]))
    #expect(summary.idealNewBytes == changes.reduce(0) { $0 + $1.idealNewBytes })

    // Files: the base's, with renames and additions; every common file identical unless listed as changed,
    // and no file changed by two changes.
    let changed = changes.flatMap(\.changed), added = changes.flatMap(\.added), renamed = changes.flatMap(\.renamed)
    #expect(Set(changed).count == changed.count)
    let expected = Set(base.files).subtracting(renamed.map(\.from)).union(renamed.map(\.to)).union(added)
    #expect(Set(tree.files) == expected)
    for file in Set(base.files).intersection(tree.files).sorted() {
        #expect(try (base.read(file) == tree.read(file)) == !changed.contains(file), "\(file)")
    }
    #expect(summary.files == tree.files.count)
    try expectClaimsHold(tree)

    for change in changes { try checkChange(change, base: base, tree: tree) }
    if scenario == .repack {
        // Alone, repack rewrites every archive that has a compressed member.
        let compressed = try base.files.filter { $0.hasSuffix(".ba2") }.filter { path in
            try readBA2(try base.read(path)).entries.contains { $0.chunks.contains { $0.packed != 0 } }
        }
        #expect(Set(changed) == Set(compressed) && !compressed.isEmpty)
    }
}

/// The checks of one change, the same whether it is applied alone or as part of `all`.
func checkChange(_ change: ScenarioChange, base: Tree, tree: Tree) throws {
    switch change.scenario {
    case .texture:
        let archive = try #require(change.changed.first)
        let size = try checkTextureReplaced(try readBA2(try base.read(archive)), try readBA2(try tree.read(archive)), member: try #require(change.member))
        #expect(Int64(size) == change.idealNewBytes)

    case .scriptFront:
        let path = try #require(change.changed.first)
        let old = try readBA2(try base.read(path)), new = try readBA2(try tree.read(path))
        #expect(old.type == "GNRL" && new.entries.count == old.entries.count + 1)
        let script = try #require(new.entries.first)
        #expect(script.name == change.member && change.member?.lowercased().hasSuffix(".pex") == true)
        #expect(!old.entries.contains { $0.name?.lowercased() == change.member?.lowercased() })
        let content = try new.content(script)
        #expect(Array(content.prefix(4)) == [0xDE, 0xC0, 0x57, 0xFA])
        #expect(Int64(content.count) == change.idealNewBytes && (4_000...120_000).contains(content.count))
        // Every other member keeps its stored bytes, one entry later and at a later offset.
        for (o, n) in zip(old.entries, new.entries.dropFirst()) {
            #expect(o.name == n.name && old.stored(o.chunks[0]) == new.stored(n.chunks[0]))
            #expect(n.chunks[0].offset > o.chunks[0].offset)
        }

    case .plugin:
        let path = try #require(change.changed.first)
        let edited = try #require(change.editedFormIDs), inserted = try #require(change.insertedFormIDs)
        #expect(edited.count == 40 && inserted.count == 50)
        let check = try checkPluginEdit(try base.read(path), try tree.read(path), edited: edited, inserted: inserted)
        #expect(Int64(check.changedBytes) == change.idealNewBytes)

    case .repack:
        #expect(change.idealNewBytes == 0 && !change.changed.isEmpty)
        for path in change.changed {
            let old = try readBA2(try base.read(path)), new = try readBA2(try tree.read(path))
            #expect((old.version, old.type) == (new.version, new.type))
            #expect(old.entries.map(\.name) == new.entries.map(\.name))
            for (o, n) in zip(old.entries, new.entries) {
                #expect(try old.content(o) == new.content(n), "\(path): \(o.name ?? "?")")
                for (oc, nc) in zip(o.chunks, n.chunks) {
                    #expect((oc.packed == 0) == (nc.packed == 0) && oc.unpacked == nc.unpacked)
                    guard oc.packed != 0 else { continue }
                    // Level 9, full window (78 DA); an archive already at 9/15 drops to level 6 (78 9C).
                    let oldHeader = Array(old.stored(oc).prefix(2)), newHeader = Array(new.stored(nc).prefix(2))
                    #expect(newHeader == (oldHeader == [0x78, 0xDA] ? [0x78, 0x9C] : [0x78, 0xDA]), "\(path)")
                }
            }
        }

    case .reorder:
        let path = try #require(change.changed.first)
        #expect(change.idealNewBytes == 0)
        let old = try readBA2(try base.read(path)), new = try readBA2(try tree.read(path))
        #expect(old.type == "GNRL" && old.entries.count > 1)
        #expect(new.entries.map(\.name) == old.entries.reversed().map(\.name))
        // Same stored bytes per member, so the same multiset of decompressed members.
        for (o, n) in zip(old.entries.reversed(), new.entries) {
            #expect(old.stored(o.chunks[0]) == new.stored(n.chunks[0]) && o.chunks[0].packed == n.chunks[0].packed)
        }

    case .looseDDS:
        #expect(!change.added.isEmpty && change.changed.isEmpty)
        var headers = 0
        var archives = Set<String>()
        for path in change.added {
            #expect(path.hasSuffix(".dds") || path.hasSuffix(".DDS"))
            let claim = try #require(tree.summary.shared.first { $0.kind == .textureInArchive && $0.path == path })
            let archivePath = try #require(claim.archive)
            archives.insert(archivePath)
            // Beside the archive: the member path under the archive's mod folder.
            let modRoot = String(archivePath[...archivePath.lastIndex(of: "/")!])
            #expect(path == modRoot + (claim.member ?? "").replacingOccurrences(of: "\\", with: "/"))
            let archive = try readBA2(try tree.read(archivePath))
            let entry = try #require(archive.entry(named: claim.member ?? ""))
            let bytes = try tree.read(path)
            let dds = try readDDS(bytes)
            #expect(Array(dds.surface) == (try archive.content(entry)))
            let format = try #require(TextureFormat.allCases.first { Int($0.dxgiFormat) == entry.dxgi })
            let info = TextureInfo(width: entry.width, height: entry.height, format: format, mipCount: entry.mips)
            #expect([128, 148].contains(dds.headerSize))
            #expect(Array(bytes.prefix(dds.headerSize)) == DDSWriter.header(info, style: dds.headerSize == 148 ? .dx10 : .legacy))
            headers += dds.headerSize
        }
        #expect(Int64(headers) == change.idealNewBytes)
        // One archive, all of its textures.
        let archivePath = try #require(archives.first)
        let textureCount = try readBA2(try tree.read(archivePath)).entries.count
        #expect(archives.count == 1 && textureCount == change.added.count)

    case .rename:
        #expect(change.idealNewBytes == 0 && change.renamed.count == 5)
        for rename in change.renamed {
            #expect(try base.read(rename.from) == tree.read(rename.to))
            #expect(!tree.files.contains(rename.from) && !base.files.contains(rename.to))
        }

    case .newMod:
        // One new mod folder, in the mod list and the load orders; nothing else of the base changes.
        #expect(change.added.count >= 3 && !change.added.contains { base.files.contains($0) })
        let root = try #require(change.added.first.map { String($0.prefix { $0 != "/" }) + "/" + $0.split(separator: "/")[1] + "/" })
        #expect(change.added.allSatisfy { $0.hasPrefix(root) } && change.added.contains { $0.hasSuffix(".ba2") })
        #expect(Set(change.changed) == ["profiles/Default/modlist.txt", "profiles/Default/plugins.txt", "profiles/Default/loadorder.txt"])
        let bytes = try change.added.reduce(0) { $0 + Int64(try tree.read($1).count) }
        #expect(bytes == change.idealNewBytes && bytes > 100_000)

    case .all:
        Issue.record("`all` is never a single change")
    }
}

@Test func scenarioNamesMatchTheCommandLine() {
    #expect(FixtureScenario.allCases.map(\.rawValue) == ["texture", "script-front", "plugin", "repack", "reorder", "loose-dds", "rename", "new-mod", "all"])
    #expect(Set(FixtureScenario.singles) == Set(FixtureScenario.allCases).subtracting([.all]))
}
