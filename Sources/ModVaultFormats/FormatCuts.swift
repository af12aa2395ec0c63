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
    public static let pluginScale = 256

    /// Streams shorter than this are left inside their neighbours' chunks: a stream blob, its index
    /// entry and its tree reference cost about 250 bytes, more than a tiny member could save.
    public static let minimumStreamLength = 1024
    /// Streams whose content is larger than this are kept as they are, bounding a worker's memory.
    public static let maximumStreamContent: UInt64 = 256 << 20

    /// How to chunk one file: its format, the chunker to use, the forced cut points and the
    /// compressed streams that may be stored decompressed.
    ///
    /// Snapshots and mirror seeds both call this, so the same file is always cut the same way.
    public static func plan(for file: OpenFile, path: String, chunker: FastCDC) -> FormatPlan {
        guard let reader = try? FileRangeReader(file: file) else { return FormatPlan(chunker: chunker) }
        return plan(for: reader, path: path, chunker: chunker)
    }

    /// The same plan for a file behind any reader (a file stored in a snapshot, for `optimize`).
    public static func plan(for reader: some RangeReader, path: String, chunker: FastCDC) -> FormatPlan {
        let p = chunker.parameters
        guard reader.size > UInt64(p.minSize) / UInt64(pluginScale) else { return FormatPlan(chunker: chunker) }
        let detected = FormatSegmenter.detect(reader)
        let effective = detectedChunker(detected, chunker: chunker)
        let e = effective.parameters
        // A file within one chunk has nothing to cut, except an archive, whose streams may be stored
        // decompressed (small mods ship small archives, and they are repacked too), and a texture, whose
        // header must stand apart for its pixels to match the same texture inside an archive.
        let cutsSmallFiles = detected == .ba2General || detected == .ba2Textures || detected == .dds
        guard reader.size > UInt64(cutsSmallFiles ? 2 * minimumStreamLength : e.minSize) else { return FormatPlan(chunker: effective) }
        let segmentation = FormatSegmenter.segments(of: reader, path: path, options: SegmentationOptions(pluginTargetSize: e.averageSize))
        guard segmentation.format != .opaque, segmentation.segments.count > 1 else {
            return FormatPlan(format: segmentation.format, chunker: effective)
        }
        var cuts: [Int64]
        var surfaces: [Int64] = []
        if segmentation.format == .dds, let header = segmentation.segments.first, header.kind == .ddsHeader {
            let mips = segmentation.segments.filter { $0.kind == .ddsMip }
            surfaces = mips.map { Int64($0.offset) } + (mips.last.map { [Int64($0.end)] } ?? [])
            // The header always stands alone and the surfaces are cut exactly as a DX10 chunk's
            // decompressed content is, so a loose texture dedupes against the same texture in an archive.
            let surfaces = segmentation.segments.dropFirst().map { (Int64($0.offset) - Int64(header.end), Int64($0.length)) }
            cuts = [Int64(header.end)] + boundaries(Array(surfaces), minSize: Int64(e.minSize)).map { $0 + Int64(header.end) }
        } else {
            cuts = boundaries(segmentation.segments.map { (Int64($0.offset), Int64($0.length)) }, minSize: Int64(e.minSize))
        }
        let streams = segmentation.segments.compactMap(StreamSpan.init)
        // Every stream starts and ends a chunk whatever its size, so its stored bytes are the same
        // whether it is kept as it is or stored decompressed, and either form dedupes later. Archive
        // members stored uncompressed are kept apart the same way, so a reorder moves them whole.
        let members = segmentation.segments.filter { s in
            (s.kind == .ba2Member || s.kind == .ba2DX10Chunk) && s.length >= UInt64(minimumStreamLength)
        }
        if !streams.isEmpty || !members.isEmpty {
            var all = Set(cuts)
            for s in streams {
                all.insert(s.offset)
                all.insert(s.offset + Int64(s.length))
            }
            for m in members {
                all.insert(Int64(m.offset))
                all.insert(Int64(m.end))
            }
            all.remove(0)
            all.remove(Int64(reader.size))
            cuts = all.sorted()
        }
        return FormatPlan(format: segmentation.format, chunker: effective, cuts: cuts, streams: streams, surfaces: surfaces)
    }

    /// The chunker for a file of `format`: plugins use one `pluginScale` times smaller.
    public static func detectedChunker(_ format: FileFormat, chunker: FastCDC) -> FastCDC {
        let p = chunker.parameters
        guard format == .plugin,
              let small = try? FastCDC(parameters: ChunkerParameters(minSize: max(256, p.minSize / pluginScale),
                                                                     averageSize: max(512, p.averageSize / pluginScale),
                                                                     maxSize: max(1024, p.maxSize / pluginScale)),
                                       gear: chunker.gear) else { return chunker }
        return small
    }

    /// Where chunks of a stream's decompressed content must end: its surface boundaries (DX10 mips),
    /// merged like file segments so the same mips cut the same way as in a loose DDS.
    public static func contentCuts(_ stream: StreamSpan, minSize: Int) -> [Int64] {
        guard !stream.contentCuts.isEmpty else { return [] }
        var segments: [(offset: Int64, length: Int64)] = []
        var previous: Int64 = 0
        for c in stream.contentCuts.map(Int64.init) + [Int64(stream.rawSize)] where c > previous {
            segments.append((previous, c - previous))
            previous = c
        }
        return boundaries(segments, minSize: Int64(minSize))
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

/// A compressed stream a snapshot may store decompressed: where it lies and what it decodes to.
public struct StreamSpan: Sendable, Equatable {
    /// Absolute offset of the stream's first byte.
    public var offset: Int64
    /// Length of the stream.
    public var length: Int
    /// Declared decompressed size.
    public var rawSize: UInt64
    /// Surface boundaries inside the decompressed content (DX10 chunks), relative to its start.
    public var contentCuts: [UInt64]

    /// The zlib stream of `segment`, when it has one worth storing decompressed.
    public init?(_ segment: Segment) {
        guard let stream = segment.stream, stream.codec == .zlib, stream.length >= UInt64(FormatCuts.minimumStreamLength),
              stream.rawSize > 0, stream.rawSize <= FormatCuts.maximumStreamContent,
              stream.offset >= segment.offset, stream.offset + stream.length <= segment.end else { return nil }
        offset = Int64(stream.offset)
        length = Int(stream.length)
        rawSize = stream.rawSize
        contentCuts = segment.contentCuts ?? []
    }
}

/// How one file is chunked: `FormatCuts.plan`'s answer.
public struct FormatPlan: Sendable {
    /// The format detected.
    public var format: FileFormat
    /// The chunker for this file.
    public var chunker: FastCDC
    /// Absolute offsets where a chunk must end, ascending (stream starts and ends included).
    public var cuts: [Int64]
    /// Compressed streams, in file order.
    public var streams: [StreamSpan]
    /// For a loose texture, where its surfaces (mips) start and where the last one ends, ascending:
    /// the places where an archived texture chunk's content may begin and end.
    public var surfaces: [Int64]

    /// Creates a plan.
    public init(format: FileFormat = .opaque, chunker: FastCDC, cuts: [Int64] = [], streams: [StreamSpan] = [], surfaces: [Int64] = []) {
        self.format = format
        self.chunker = chunker
        self.cuts = cuts
        self.streams = streams
        self.surfaces = surfaces
    }
}
