import FuzzSupport
import ModVaultFormats
import Glibc

/// The plugin merger on three plugins cut from one input: the first two bytes say where the second
/// and third start (as fractions of the rest), so single mutations move records between sides. A
/// merge must never crash, and any output it returns must parse again; a plugin merged with itself
/// must come back byte for byte.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzMerge(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = FuzzChecks.bytes(data, size)
    guard bytes.count >= 2 else { return 0 }
    let rest = Array(bytes.dropFirst(2))
    let a = rest.count * Int(bytes[0]) / 255, b = a + (rest.count - a) * Int(bytes[1]) / 255
    let base = Array(rest[0..<a]), ours = Array(rest[a..<b]), theirs = Array(rest[b...])
    for (x, y, z) in [(base, ours, theirs), (ours, ours, ours), (base, ours, base), (base, theirs, ours)] {
        guard let outcome = try? PluginMerge.merge(base: x, ours: y, theirs: z, path: "fuzz", partial: true) else { continue }
        if let output = outcome.output {
            precondition((try? PluginFile.parse(MemoryRangeReader(output), path: "fuzz")) != nil, "merged output does not parse")
        }
        if x == y, y == z { precondition(outcome.output == y, "a plugin merged with itself changed") }
    }
    return 0
}

@main
struct FuzzMergeMain {
    static func main() {
        exit(runFuzzer(fuzzMerge))
    }
}
