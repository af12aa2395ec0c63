import Foundation
import Testing
import ModVaultFixtures

/// A generated tree on disk with its summary.
struct Tree: Sendable {
    var root: String
    var summary: FixtureSummary

    func read(_ path: String) throws -> [UInt8] { try Paths.read(root + "/" + path) }
    var files: [String] { Paths.files(under: root) }
}

/// Trees shared by the tests below; each is generated once per test run (2 MiB keeps the suite fast).
enum Trees {
    static let options = FixtureOptions(seed: 7, scaleBytes: 2 << 20)
    static let base: Tree = make("base") { try FixtureGenerator.writeBase(options, to: $0) }
    static let next: Tree = make("next") { try FixtureGenerator.writeNext(options, to: $0) }

    static func make(_ label: String, _ write: (String) throws -> FixtureSummary) -> Tree {
        let root = Paths.temporaryDirectory(label)
        do {
            return Tree(root: root, summary: try write(root))
        } catch {
            fatalError("generating the \(label) tree failed: \(error)")
        }
    }
}

@Test func sameSeedAndScaleGiveIdenticalTrees() throws {
    let again = Trees.make("again") { try FixtureGenerator.writeBase(Trees.options, to: $0) }
    defer { try? FileManager.default.removeItem(atPath: again.root) }
    try expectSameTree(again.root, as: Trees.base)
    #expect(again.summary.bytes == Trees.base.summary.bytes && again.summary.files == Trees.base.files.count)
}

@Test func differentSeedsGiveDifferentTrees() throws {
    var options = Trees.options
    options.seed = 8
    let other = Trees.make("seed8") { try FixtureGenerator.writeBase(options, to: $0) }
    defer { try? FileManager.default.removeItem(atPath: other.root) }
    let common = Set(Trees.base.files).intersection(other.files).filter { !$0.hasPrefix("ModOrganizer") }
    #expect(Set(Trees.base.files) != Set(other.files))
    for file in common where file.hasSuffix(".dds") || file.hasSuffix(".ba2") || file.hasSuffix(".esp") {
        #expect(try Trees.base.read(file) != other.read(file))
    }
}

@Test("Requested scale is met within ±10 %", arguments: [Int64(4 << 20)])
func scaleIsMet(_ scale: Int64) throws {
    let tree = Trees.make("scale") { try FixtureGenerator.writeBase(FixtureOptions(seed: 3, scaleBytes: scale), to: $0) }
    defer { try? FileManager.default.removeItem(atPath: tree.root) }
    let onDisk = try tree.files.reduce(Int64(0)) { $0 + Int64(try tree.read($1).count) }
    #expect(onDisk == tree.summary.bytes)
    let ratio = Double(onDisk) / Double(scale)
    #expect(ratio > 0.9 && ratio < 1.1, "\(onDisk) bytes for a scale of \(scale)")
    #expect(Trees.base.summary.bytes > Int64(Double(Trees.options.scaleBytes) * 0.9) && Trees.base.summary.bytes < Int64(Double(Trees.options.scaleBytes) * 1.1))
}

@Test func tooSmallScaleIsRejected() {
    #expect(throws: FixtureError.self) { try FixtureGenerator.writeBase(FixtureOptions(seed: 1, scaleBytes: 100_000), to: Paths.temporaryDirectory("small")) }
}

@Test("Every generated file parses", arguments: ["base", "next"])
func everyFileParses(_ which: String) throws {
    let tree = which == "base" ? Trees.base : Trees.next
    var seen: [String: Int] = [:]
    var compressedRecords = 0, oversize = 0, zlibMembers = 0, rawMembers = 0
    for file in tree.files {
        let bytes = try tree.read(file)
        let ext = (file as NSString).pathExtension.lowercased()
        seen[ext, default: 0] += 1
        switch ext {
        case "ba2":
            let archive = try readBA2(bytes)
            // This writer packs like the Creation Kit: blobs right after the entry table, in entry order.
            var expectedOffset = UInt64(24 + archive.entries.reduce(0) { $0 + (archive.type == "GNRL" ? 36 : 24 + 24 * $1.chunks.count) })
            for entry in archive.entries {
                let name = try #require(entry.name)
                let key = referenceKey(name)
                #expect(key.name == entry.nameHash && key.dir == entry.dirHash && key.ext == entry.ext, "\(file): \(name)")
                for chunk in entry.chunks {
                    #expect(chunk.offset == expectedOffset)
                    expectedOffset += UInt64(chunk.stored)
                    if chunk.packed == 0 { rawMembers += 1 } else { zlibMembers += 1 }
                }
                let content = try archive.content(entry)
                if archive.type == "DX10" {
                    #expect(entry.chunks.map { Int($0.firstMip)...Int($0.lastMip) } == referenceChunkRanges(width: entry.width, height: entry.height, mips: entry.mips))
                    #expect(content.count == (0..<entry.mips).reduce(0) { $0 + referenceMipSize(dxgi: entry.dxgi, width: entry.width, height: entry.height, mip: $1) })
                } else if name.lowercased().hasSuffix(".nif") {
                    _ = try checkNIF(content)
                }
            }
            #expect(archive.nameTableOffset == expectedOffset)
        case "dds":
            _ = try readDDS(bytes)
        case "esp", "esm", "esl":
            let walk = try walkPlugin(bytes)
            #expect(walk.hedrRecords == walk.records.count + walk.groups.count, "\(file)")
            #expect(walk.masters.first == "Fallout4.esm")
            #expect(Set(walk.records.map(\.formID)).count == walk.records.count, "duplicate FormIDs in \(file)")
            compressedRecords += walk.compressed
            oversize += walk.oversizeFields
        case "nif":
            _ = try checkNIF(bytes)
        case "pex":
            #expect(Array(bytes.prefix(4)) == [0xDE, 0xC0, 0x57, 0xFA])
        default:
            break
        }
    }
    #expect(compressedRecords > 0 && oversize > 0 && zlibMembers > 0 && rawMembers > 0)
    for ext in ["ba2", "dds", "esp", "nif", "pex", "bgsm", "ini", "txt"] {
        #expect(seen[ext, default: 0] > 0, "no .\(ext) files")
    }
    let summary = tree.summary
    #expect(summary.files == tree.files.count)
    let heavy = summary.byKind["ba2", default: KindTotal()].bytes + summary.byKind["dds", default: KindTotal()].bytes
    // At this tiny scale plugins weigh more than in a real setup; at 256 MiB archives and textures are ~95 %.
    #expect(Double(heavy) > 0.66 * Double(summary.bytes), "most bytes should be archives and textures")
}

@Test func sharedContentClaimsHold() throws {
    let tree = Trees.base
    let kinds = Set(tree.summary.shared.map(\.kind))
    #expect(kinds == [.identicalFile, .textureInArchive, .fileInArchive, .memberInTwoArchives])
    try expectClaimsHold(tree)
}

@Test func profileFilesDescribeTheModFolders() throws {
    for tree in [Trees.base, Trees.next] {
        let header = "# This file was automatically generated by Mod Organizer."
        func lines(_ path: String) throws -> [String] {
            let text = String(decoding: try tree.read(path), as: UTF8.self)
            #expect(text.hasSuffix("\r\n") && !text.replacingOccurrences(of: "\r\n", with: "").contains("\n"), "\(path) is not CRLF")
            let lines = text.components(separatedBy: "\r\n").dropLast()
            #expect(lines.first == header)
            return Array(lines.dropFirst())
        }
        let modlist = try lines("profiles/Default/modlist.txt").filter { !$0.hasPrefix("*") }
        let folders = Set(tree.files.filter { $0.hasPrefix("mods/") }.map { $0.split(separator: "/")[1] }.map(String.init))
        #expect(Set(modlist.map { String($0.dropFirst()) }) == folders)
        #expect(tree.summary.mods == folders.count)
        for folder in folders { #expect(tree.files.contains("mods/\(folder)/meta.ini")) }
        let pluginFiles = tree.files.filter { ["esp", "esm", "esl"].contains(($0 as NSString).pathExtension) }.map { ($0 as NSString).lastPathComponent }
        let plugins = try lines("profiles/Default/plugins.txt")
        #expect(Set(plugins.map { String($0.dropFirst()) }) == Set(pluginFiles))
        #expect(plugins.allSatisfy { $0.hasPrefix("*") })
        let loadorder = try lines("profiles/Default/loadorder.txt")
        #expect(loadorder.first == "Fallout4.esm" && Set(loadorder).isSuperset(of: pluginFiles))
    }
}

@Test func nextVersionContainsTheListedChanges() throws {
    let base = Trees.base, next = Trees.next
    let changes = try #require(next.summary.changes)
    #expect(base.summary.changes == nil && base.summary.idealNewBytes == 0)

    // Removed and added mods.
    #expect(base.files.contains { $0.hasPrefix("mods/\(changes.removedMod)/") })
    #expect(!next.files.contains { $0.hasPrefix("mods/\(changes.removedMod)/") })
    #expect(!base.files.contains { $0.hasPrefix("mods/\(changes.addedMod)/") })
    let addedFiles = next.files.filter { $0.hasPrefix("mods/\(changes.addedMod)/") }
    #expect(addedFiles.contains { $0.hasSuffix(".esp") } && addedFiles.contains { $0.hasSuffix(".ba2") })
    let addedBytes = try addedFiles.reduce(Int64(0)) { $0 + Int64(try next.read($1).count) }
    #expect(changes.idealNew.addedMod == addedBytes)

    // Renamed files keep their bytes.
    #expect(changes.renamed.count == 5)
    for rename in changes.renamed {
        #expect(try base.read(rename.from) == next.read(rename.to))
        #expect(!next.files.contains(rename.from) && !base.files.contains(rename.to))
    }

    // One texture in the archive has new pixels, same shape; every other member is stored identically.
    let replaced = try checkTextureReplaced(
        try readBA2(try base.read(changes.replacedTextureArchive)), try readBA2(try next.read(changes.replacedTextureArchive)),
        member: changes.replacedTextureMember)
    #expect(Int64(replaced) == changes.idealNew.replacedTexture)

    // Records: 40 edited in place (same FormID, new bytes), 50 inserted, counters and group sizes consistent.
    let plugin = try checkPluginEdit(
        try base.read(changes.editedPlugin), try next.read(changes.editedPlugin),
        edited: changes.editedFormIDs, inserted: changes.insertedFormIDs)
    #expect(changes.editedFormIDs.count == 40 && changes.insertedFormIDs.count == 50)
    #expect(plugin.before.hedrRecords == changes.pluginRecordCountBefore && plugin.after.hedrRecords == changes.pluginRecordCountAfter)
    #expect(Int64(plugin.changedBytes) == changes.idealNew.editedRecords + changes.idealNew.insertedRecords)

    // Repack: a new member near the front; every other member has the same stored bytes at a later offset.
    let oldMain = try readBA2(try base.read(changes.repackedArchive))
    let newMain = try readBA2(try next.read(changes.repackedArchive))
    #expect(newMain.entries.count == oldMain.entries.count + 1)
    #expect(newMain.entries[changes.newMemberIndex].name == changes.newMember)
    var shifted = newMain.entries
    let added = shifted.remove(at: changes.newMemberIndex)
    #expect(Int64(try newMain.content(added).count) == changes.idealNew.newMember)
    for (o, n) in zip(oldMain.entries, shifted) {
        #expect(o.name == n.name && oldMain.stored(o.chunks[0]) == newMain.stored(n.chunks[0]))
        #expect(n.chunks[0].offset > o.chunks[0].offset)
    }

    // Everything else is byte-identical.
    let changed: Set<String> = [changes.replacedTextureArchive, changes.editedPlugin, changes.repackedArchive,
                                "profiles/Default/modlist.txt", "profiles/Default/plugins.txt", "profiles/Default/loadorder.txt"]
    let common = Set(base.files).intersection(next.files)
    var identical = 0
    for file in common.sorted() {
        let same = try base.read(file) == next.read(file)
        #expect(same == !changed.contains(file), "\(file)")
        if same { identical += 1 }
    }
    #expect(Double(identical) > 0.9 * Double(common.count))
    let gone = Set(base.files).subtracting(next.files)
    #expect(gone == Set(base.files.filter { $0.hasPrefix("mods/\(changes.removedMod)/") } + changes.renamed.map(\.from)))
    #expect(Set(next.files).subtracting(base.files) == Set(addedFiles + changes.renamed.map(\.to)))
    #expect(changes.idealNew.total == next.summary.idealNewBytes)
    #expect(changes.idealNew.total < next.summary.bytes / 4)
}

@Test func nextWrittenOverBaseEqualsFreshNext() throws {
    let root = Paths.temporaryDirectory("inplace")
    defer { try? FileManager.default.removeItem(atPath: root) }
    _ = try FixtureGenerator.writeBase(Trees.options, to: root)
    _ = try FixtureGenerator.writeNext(Trees.options, to: root)
    try expectSameTree(root, as: Trees.next)
    var isDirectory: ObjCBool = false
    #expect(!FileManager.default.fileExists(atPath: root + "/mods/" + Trees.next.summary.changes!.removedMod, isDirectory: &isDirectory))
}

@Test func parallelJobsDoNotChangeTheOutput() throws {
    var options = Trees.options
    options.jobs = 3
    let tree = Trees.make("jobs") { try FixtureGenerator.writeBase(options, to: $0) }
    defer { try? FileManager.default.removeItem(atPath: tree.root) }
    try expectSameTree(tree.root, as: Trees.base)
}
