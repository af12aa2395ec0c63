import Foundation
import Testing
import ModVaultFixtures

/// The flat-data layout at a test size (2,000 members, 12 plugins, 3 MiB), base and edited, each generated once.
enum FlatTrees {
    static let options = FixtureOptions(seed: 7, scaleBytes: 3 << 20)
    static let layout = FlatDataOptions(members: 2_000, plugins: 12)
    static let base: Tree = Trees.make("flat-base") { try FixtureGenerator.writeFlatData(options, layout: layout, edited: false, to: $0) }
    static let edited: Tree = Trees.make("flat-edited") { try FixtureGenerator.writeFlatData(options, layout: layout, edited: true, to: $0) }
}

@Test func flatDataDefaultsAreTheBenchmarkSize() {
    let defaults = FlatDataOptions()
    #expect(defaults.members >= 100_000 && defaults.plugins == 200)
}

@Test("Flat data: one folder of plugins and GNRL archives holding exactly the members asked for")
func flatDataHasItsMembersAndPlugins() throws {
    let tree = FlatTrees.base, summary = tree.summary
    #expect(summary.layout == "flat-data" && summary.version == "base" && summary.scenario == nil && summary.idealNewBytes == 0)
    #expect(tree.files.allSatisfy { $0.hasPrefix("Data/") && !$0.dropFirst("Data/".count).contains("/") })
    let plugins = tree.files.filter { [".esp", ".esm", ".esl"].contains(String($0.suffix(4))) }
    let archives = tree.files.filter { $0.hasSuffix(".ba2") }
    #expect(plugins.count == FlatTrees.layout.plugins && plugins.count + archives.count == tree.files.count)
    #expect(summary.files == tree.files.count && summary.byKind["plugin"]?.files == plugins.count)

    var members = 0
    for path in archives {
        let archive = try readBA2(try tree.read(path))
        #expect(archive.type == "GNRL", "\(path)")
        let names = archive.entries.map { $0.name?.lowercased() ?? "" }
        #expect(Set(names).count == names.count, "\(path) repeats a member path")
        members += archive.entries.count
    }
    #expect(members == FlatTrees.layout.members && summary.archiveMembers == members)
    for path in plugins { _ = try walkPlugin(try tree.read(path)) }
    // Most of the bytes follow the scale; the member floor keeps it from being exact.
    #expect((Double(FlatTrees.options.scaleBytes) * 0.8...Double(FlatTrees.options.scaleBytes) * 1.2).contains(Double(summary.bytes)))
}

@Test("Flat data: the edited tree differs from the base in one plugin, by the records it lists")
func flatDataEditsOnePlugin() throws {
    let base = FlatTrees.base, tree = FlatTrees.edited, summary = tree.summary
    #expect(summary.layout == "flat-data" && summary.version == "scenario" && summary.scenario == "flat-data")
    let change = try #require(summary.scenarioChanges?.first)
    #expect(summary.scenarioChanges?.count == 1 && change.scenario == .plugin)
    #expect(tree.files == base.files && change.added.isEmpty && change.renamed.isEmpty)
    let differing = try base.files.filter { try base.read($0) != tree.read($0) }
    #expect(differing == change.changed && differing.count == 1)

    let path = try #require(differing.first)
    let edited = try #require(change.editedFormIDs)
    #expect(edited.count == 40 && change.insertedFormIDs == [])
    let check = try checkPluginEdit(try base.read(path), try tree.read(path), edited: edited, inserted: [])
    #expect(check.changedBytes > 0 && Int64(check.changedBytes) == change.idealNewBytes && summary.idealNewBytes == change.idealNewBytes)
}

@Test("Flat data: the same on every run, and the edited tree written over the base is the edited tree")
func flatDataIsDeterministic() throws {
    let root = Paths.temporaryDirectory("flat-again")
    defer { try? FileManager.default.removeItem(atPath: root) }
    let base = try FixtureGenerator.writeFlatData(FlatTrees.options, layout: FlatTrees.layout, edited: false, to: root)
    try expectSameTree(root, as: FlatTrees.base)
    #expect(try summaryJSON(base) == summaryJSON(FlatTrees.base.summary))
    let edited = try FixtureGenerator.writeFlatData(FlatTrees.options, layout: FlatTrees.layout, edited: true, to: root)
    try expectSameTree(root, as: FlatTrees.edited)
    #expect(try summaryJSON(edited) == summaryJSON(FlatTrees.edited.summary))
}

@Test func flatDataWithFewerMembersThanArchivesStillHasThemAll() throws {
    let root = Paths.temporaryDirectory("flat-tiny")
    defer { try? FileManager.default.removeItem(atPath: root) }
    let summary = try FixtureGenerator.writeFlatData(
        FixtureOptions(seed: 3, scaleBytes: 1 << 20), layout: FlatDataOptions(members: 3, plugins: 12), edited: true, to: root)
    #expect(summary.archiveMembers == 3 && summary.byKind["plugin"]?.files == 12 && summary.idealNewBytes > 0)
    #expect(throws: FixtureError.self) {
        try FixtureGenerator.writeFlatData(FixtureOptions(), layout: FlatDataOptions(members: 0), edited: false, to: root)
    }
}
