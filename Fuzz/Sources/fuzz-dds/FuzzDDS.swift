import FuzzSupport
import ModVaultFormats
import Glibc

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDDS(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let reader = MemoryRangeReader(FuzzChecks.bytes(data, size))
    if let t = try? DDSTexture.parse(reader, path: "fuzz") {
        var end = UInt64(t.headerLength)
        for s in t.surfaces {
            precondition(s.offset == end, "surfaces not contiguous")
            end += s.length
        }
        precondition(end + t.trailingBytes == reader.size, "surfaces and trailer do not fill the file")
        precondition(FormatDiff.dds(old: t, new: t).changes.isEmpty)
    }
    FuzzChecks.segmentation(reader)
    return 0
}

@main
struct FuzzDDSMain {
    static func main() {
        exit(runFuzzer(fuzzDDS))
    }
}
