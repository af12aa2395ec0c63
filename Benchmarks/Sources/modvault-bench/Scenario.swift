import Foundation
import ModVaultCore
import ModVaultFormats
import ModVaultFixtures

/// Rewrites one GNRL BA2 of a corpus as a variant, for format scenarios whose ideal growth is zero:
/// `reorder` (same members, reversed order, same compression) and `repack` (same members,
/// recompressed at zlib level 9 / windowBits 12, as console tools write them).
func runScenario(_ args: ArraySlice<String>) {
    guard args.count == 3, let kind = args.first, ["reorder", "repack"].contains(kind) else {
        fail("usage: modvault-bench scenario reorder|repack INPUT.ba2 OUTPUT.ba2")
    }
    let input = args[args.startIndex + 1], output = args[args.startIndex + 2]
    do {
        let reader = try FileRangeReader(path: input)
        let archive = try BA2Archive.parse(reader, path: input)
        guard archive.type == .general else { fail("\(input) is not a GNRL archive") }
        var members: [BA2Member] = []
        for entry in archive.entries {
            guard let chunk = entry.chunks.first, let name = entry.name else { fail("\(input): entry without data or name") }
            let stored = try reader.read(offset: chunk.offset, count: Int(chunk.packedSize == 0 ? chunk.unpackedSize : chunk.packedSize))
            let compressed = chunk.packedSize != 0
            let content = compressed ? try FixtureZlib.inflate(stored, expectedSize: Int(chunk.unpackedSize)) : stored
            let storage: BA2Storage = !compressed ? .raw : (kind == "repack" ? .zlib(.xbox) : .zlib(.creationKit))
            members.append(.file(name, content, storage: storage))
        }
        if kind == "reorder" { members.reverse() }
        let report = try BA2Writer.write(members, type: .general, version: BA2Version(rawValue: archive.version) ?? .v1, to: output)
        print("{\"scenario\": \"\(kind)\", \"members\": \(members.count), \"bytes\": \(report.fileSize)}")
    } catch {
        fail("\(error)")
    }
}
