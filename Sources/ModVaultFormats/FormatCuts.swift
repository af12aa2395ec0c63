public import ModVaultCore
public import ModVaultChunking

/// Where a file's chunks must end so that they follow its format: the ends of its segments.
///
/// Segments smaller than the minimum chunk size are merged with their neighbours (a chunk never
/// splits a segment), because thousands of tiny blobs would cost more metadata than they save;
/// a segment at least that large always starts and ends a chunk, so the same member, mip or
/// record run dedupes wherever it moves.
public enum FormatCuts {
    /// Plugin chunks are this many times smaller than the repository's: plugins change a few records
    /// at a time, scattered through the file, so record-sized chunks store about the records changed.
    public static let pluginScale = 32

    /// How to chunk one file: its format, the chunker to use and the forced cut points.
    ///
    /// Snapshots and mirror seeds both call this, so the same file is always cut the same way.
    public static func plan(for file: OpenFile, path: String, chunker: FastCDC) -> (format: FileFormat, chunker: FastCDC, cuts: [Int64]) {
        let p = chunker.parameters
        let reader = try? FileRangeReader(file: file)
        guard let reader, reader.size > UInt64(p.minSize) / UInt64(pluginScale) else { return (.opaque, chunker, []) }
        var effective = chunker
        if FormatSegmenter.detect(reader) == .plugin,
           let small = try? FastCDC(parameters: ChunkerParameters(minSize: max(256, p.minSize / pluginScale),
                                                                  averageSize: max(512, p.averageSize / pluginScale),
                                                                  maxSize: max(1024, p.maxSize / pluginScale)),
                                    gear: chunker.gear) {
            effective = small
        }
        let e = effective.parameters
        let (format, cuts) = boundaries(for: file, path: path, minSize: e.minSize, pluginTarget: e.averageSize)
        return (format, effective, cuts)
    }

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
