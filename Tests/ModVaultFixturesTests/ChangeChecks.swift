// Checks shared by the next-version and scenario tests: what a change must and must not do to the files it
// touches, verified with the independent readers of Readers.swift.

import Foundation
import Testing
import ModVaultFixtures

/// Expects the tree under `root` to hold exactly the files of `reference`, byte for byte.
func expectSameTree(_ root: String, as reference: Tree, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let files = Paths.files(under: root)
    #expect(files == reference.files, sourceLocation: sourceLocation)
    for file in files {
        #expect(try Paths.read(root + "/" + file) == reference.read(file), "\(file) differs", sourceLocation: sourceLocation)
    }
}

/// Expects every shared-content claim of the tree's summary to hold on disk.
func expectClaimsHold(_ tree: Tree) throws {
    for claim in tree.summary.shared {
        let other = claim.otherPath ?? "", archivePath = claim.archive ?? "", member = claim.member ?? ""
        switch claim.kind {
        case .identicalFile:
            #expect(try tree.read(claim.path) == tree.read(other))
        case .textureInArchive:
            let archive = try readBA2(try tree.read(archivePath))
            let entry = try #require(archive.entry(named: member))
            #expect(try Array(readDDS(try tree.read(claim.path)).surface) == archive.content(entry))
        case .fileInArchive:
            let archive = try readBA2(try tree.read(archivePath))
            let entry = try #require(archive.entry(named: member))
            #expect(try tree.read(claim.path) == archive.content(entry))
        case .memberInTwoArchives:
            let a = try readBA2(try tree.read(claim.path)), b = try readBA2(try tree.read(other))
            let ea = try #require(a.entry(named: member))
            let eb = try #require(b.entry(named: claim.otherMember ?? ""))
            #expect(ea.chunks.map { a.stored($0) } == eb.chunks.map { b.stored($0) })
        }
    }
}

/// One texture of a DX10 archive has new pixels and the same shape; every other member is stored identically.
/// Returns the unpacked size of the replaced texture.
func checkTextureReplaced(_ old: BA2Archive, _ new: BA2Archive, member: String) throws -> Int {
    #expect(old.entries.map(\.name) == new.entries.map(\.name))
    var replacedSize = -1
    for (o, n) in zip(old.entries, new.entries) {
        #expect((o.width, o.height, o.mips, o.dxgi) == (n.width, n.height, n.mips, n.dxgi))
        let same = o.chunks.map { old.stored($0) } == n.chunks.map { new.stored($0) }
        #expect(same == (o.name != member), "\(o.name ?? "?")")
        if o.name == member { replacedSize = try new.content(n).count }
    }
    #expect(replacedSize > 0, "\(member) not found")
    return replacedSize
}

/// Records edited in place (same FormID, new bytes) and inserted, with HEDR counters and the next object ID
/// following. Returns both walks and the serialized bytes of the edited and inserted records.
func checkPluginEdit(
    _ old: [UInt8], _ new: [UInt8], edited: [UInt32], inserted: [UInt32]
) throws -> (before: PluginWalk, after: PluginWalk, changedBytes: Int) {
    let before = try walkPlugin(old), after = try walkPlugin(new)
    #expect(after.records.count == before.records.count + inserted.count)
    #expect(after.hedrRecords == before.hedrRecords + inserted.count)
    #expect(after.nextObjectID == before.nextObjectID + UInt32(inserted.count))
    let oldRecords = before.recordsByFormID, newRecords = after.recordsByFormID
    let changed = oldRecords.keys.filter { oldRecords[$0]!.raw != newRecords[$0]?.raw }
    #expect(Set(changed) == Set(edited) && changed.count == edited.count)
    #expect(Set(newRecords.keys).subtracting(oldRecords.keys) == Set(inserted))
    let bytes = (edited + inserted).reduce(0) { $0 + (newRecords[$1]?.raw.count ?? 0) }
    return (before, after, bytes)
}
