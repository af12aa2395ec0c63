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
