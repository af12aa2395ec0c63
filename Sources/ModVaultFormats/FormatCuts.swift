public import ModVaultCore

/// Where a file's chunks must end so that they follow its format: the ends of its segments.
///
/// Segments smaller than the minimum chunk size are merged with their neighbours (a chunk never
/// splits a segment), because thousands of tiny blobs would cost more metadata than they save;
/// a segment at least that large always starts and ends a chunk, so the same member, mip or
/// record run dedupes wherever it moves.
public enum FormatCuts {
    /// The cut points for an open file, with its detected format.
    public static func boundaries(for file: OpenFile, path: String, minSize: Int, pluginTarget: Int) -> (FileFormat, [Int64]) {
        guard let reader = try? FileRangeReader(file: file), reader.size > UInt64(minSize) else { return (.opaque, []) }
        let segmentation = FormatSegmenter.segments(of: reader, path: path, options: SegmentationOptions(pluginTargetSize: pluginTarget))
        guard segmentation.format != .opaque, segmentation.segments.count > 1 else { return (segmentation.format, []) }
        return (segmentation.format, boundaries(segmentation.segments.map { (Int64($0.offset), Int64($0.length)) }, minSize: Int64(minSize)))
    }

    /// The cut points for segments given as (offset, length), in order and covering the file.
    public static func boundaries(_ segments: [(offset: Int64, length: Int64)], minSize: Int64) -> [Int64] {
        var cuts: [Int64] = []
        var runStart: Int64 = 0
        for (i, segment) in segments.enumerated() {
            let end = segment.offset + segment.length
            let nextIsLarge = i + 1 < segments.count && segments[i + 1].length >= minSize
            if end - runStart >= minSize || nextIsLarge || segment.length >= minSize {
                cuts.append(end)
                runStart = end
            }
        }
        // The last cut is the end of the file, which needs no marking.
        if let last = cuts.last, let final = segments.last, last == final.offset + final.length { cuts.removeLast() }
        return cuts
    }
}
