public import ModVaultFormats
internal import CFuzzDriver

/// Invariants every fuzz target checks on top of "does not crash": a violated one traps, which
/// libFuzzer reports as a crash with the input that caused it.
public enum FuzzChecks {
    /// Copies libFuzzer's input into an array.
    public static func bytes(_ data: UnsafePointer<UInt8>?, _ size: Int) -> [UInt8] {
        guard let data, size > 0 else { return [] }
        return Array(UnsafeBufferPointer(start: data, count: size))
    }

    /// Segmentation must never fail and must cover the input exactly.
    public static func segmentation(_ reader: MemoryRangeReader) {
        let s = FormatSegmenter.segments(of: reader, path: "fuzz", options: SegmentationOptions(pluginTargetSize: 1 << 10))
        precondition(s.covers(size: reader.size), "segments do not cover the input")
        for seg in s.segments {
            if let st = seg.stream { precondition(st.offset >= seg.offset && st.offset + st.length <= seg.end, "stream outside segment") }
        }
        if s.format == .opaque && s.fallbackError == nil { precondition(s.segments.count <= 1) }
    }
}

/// Hands control to libFuzzer with `callback` as the fuzz function; returns its exit code.
public func runFuzzer(_ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32) -> Int32 {
    var argc = CommandLine.argc
    var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
    return withUnsafeMutablePointer(to: &argc) { c in
        withUnsafeMutablePointer(to: &argv) { v in LLVMFuzzerRunDriver(c, v, callback) }
    }
}
