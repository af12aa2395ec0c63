import FuzzSupport
import ModVaultFormats
import Glibc

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPlugin(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let reader = MemoryRangeReader(FuzzChecks.bytes(data, size))
    if let p = try? PluginFile.parse(reader, path: "fuzz") {
        for r in p.records { precondition(r.offset + r.size <= reader.size, "record outside file") }
        for g in p.groups { precondition(g.offset + UInt64(g.size) <= reader.size, "group outside file") }
        let d = FormatDiff.plugin(old: p, new: p)
        precondition(d.changed.isEmpty && d.added.isEmpty && d.removed.isEmpty, "plugin differs from itself")
    }
    FuzzChecks.segmentation(reader)
    return 0
}

@main
struct FuzzPluginMain {
    static func main() {
        exit(runFuzzer(fuzzPlugin))
    }
}
