import FuzzSupport
import ModVaultFormats
import Glibc

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzBA2(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let reader = MemoryRangeReader(FuzzChecks.bytes(data, size))
    if let archive = try? BA2Archive.parse(reader, path: "fuzz") {
        for entry in archive.entries {
            for chunk in entry.chunks { precondition(chunk.storedRange.upperBound <= reader.size, "chunk outside file") }
            for i in entry.chunks.indices { _ = entry.surfaceCuts(chunk: i) }
            _ = entry.key
            _ = entry.hashesMatchName
        }
        if let names = archive.nameTableRange { precondition(names.upperBound <= reader.size) }
        _ = FormatDiff.ba2(old: archive, new: archive)
        // A plan that keeps every chunk rebuilds the archive itself, whatever its layout, or is refused.
        let compressed = archive.entries.reduce(0) { $0 + $1.chunks.filter(\.isCompressed).count }
        if compressed > 0, compressed < 4096 {
            let plan = BA2RepackPlan(recipes: [.pcDefault], choices: [UInt8](repeating: 0, count: compressed))
            var out = [UInt8](repeating: 0, count: Int(reader.size))
            if let size = try? BA2Repack.rebuild(base: reader, plan: plan.encoded(), engine: RecipeEngine(), write: { offset, bytes in
                precondition(offset + UInt64(bytes.count) <= reader.size, "rebuild writes past the base's size")
                out.replaceSubrange(Int(offset)..<Int(offset) + bytes.count, with: bytes)
            }) {
                precondition(size == reader.size && out == reader.bytes, "an all-keep plan changes the archive")
            }
        }
        if let prints = try? ContentFingerprint.ba2Members(archive, reader: reader) {
            let d = FormatDiff.ba2(old: archive, new: archive, oldFingerprints: prints, newFingerprints: prints)
            precondition(d.changed.isEmpty && d.added.isEmpty && d.removed.isEmpty, "archive differs from itself")
        }
    }
    FuzzChecks.segmentation(reader)
    return 0
}

@main
struct FuzzBA2Main {
    static func main() {
        exit(runFuzzer(fuzzBA2))
    }
}
