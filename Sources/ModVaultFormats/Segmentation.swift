/// The format a file was recognised as.
public enum FileFormat: String, Sendable, Codable, CaseIterable {
    /// BA2 with general files.
    case ba2General = "ba2-gnrl"
    /// BA2 with textures.
    case ba2Textures = "ba2-dx10"
    /// DDS texture.
    case dds
    /// Fallout 4 plugin (ESP/ESM/ESL).
    case plugin
    /// Anything else, or a recognised file that failed to parse.
    case opaque
}

/// What a segment holds.
public enum SegmentKind: String, Sendable, Codable, CaseIterable {
    /// BA2 file header.
    case ba2Header = "ba2-header"
    /// BA2 entry table.
    case ba2EntryTable = "ba2-entry-table"
    /// The stored bytes of one GNRL member.
    case ba2Member = "ba2-member"
    /// The stored bytes of one DX10 chunk.
    case ba2DX10Chunk = "ba2-dx10-chunk"
    /// BA2 name table.
    case ba2NameTable = "ba2-name-table"
    /// Bytes of a BA2 that no table points at.
    case ba2Gap = "ba2-gap"
    /// The part of a BA2 blob that overlaps an earlier one (hostile or unusual layouts only).
    case ba2Overlap = "ba2-overlap"
    /// DDS header (128 bytes, 148 with the DX10 extension).
    case ddsHeader = "dds-header"
    /// One DDS surface: one mip of one face or slice.
    case ddsMip = "dds-mip"
    /// Bytes after the last DDS surface.
    case ddsTrailer = "dds-trailer"
    /// The TES4 header record.
    case pluginTES4 = "plugin-tes4"
    /// One 24-byte GRUP header.
    case pluginGroupHeader = "plugin-group-header"
    /// Whole uncompressed records, grouped.
    case pluginRecords = "plugin-records"
    /// One compressed record.
    case pluginRecordCompressed = "plugin-record-compressed"
    /// A whole file without format-aware cuts.
    case opaque
}

/// Codec of a compressed stream inside a segment.
public enum StreamCodec: String, Sendable, Codable {
    /// One complete zlib (RFC 1950) stream.
    case zlib
    /// LZ4 block format (Starfield v3 BA2).
    case lz4Block = "lz4-block"
}

/// Where a compressed stream lies and what it should decompress to.
public struct CompressedStream: Sendable, Equatable, Codable {
    /// The codec.
    public var codec: StreamCodec
    /// Absolute file offset of the stream's first byte.
    public var offset: UInt64
    /// Length of the stream.
    public var length: UInt64
    /// Declared decompressed size.
    public var rawSize: UInt64

    /// Creates a stream description.
    public init(codec: StreamCodec, offset: UInt64, length: UInt64, rawSize: UInt64) {
        self.codec = codec
        self.offset = offset
        self.length = length
        self.rawSize = rawSize
    }

    private enum CodingKeys: String, CodingKey {
        case codec, offset, length
        case rawSize = "raw_size"
    }
}

/// A BA2 entry index and chunk index.
public struct BA2ChunkRef: Sendable, Hashable, Codable {
    /// Index into `BA2Archive.entries`.
    public var entry: Int
    /// Index into that entry's chunks.
    public var chunk: Int

    /// Creates a reference.
    public init(entry: Int, chunk: Int) {
        self.entry = entry
        self.chunk = chunk
    }
}

/// One contiguous byte range of a file, cut where the format has a natural boundary.
public struct Segment: Sendable, Equatable, Codable {
    /// What the bytes are.
    public var kind: SegmentKind
    /// Absolute offset in the file.
    public var offset: UInt64
    /// Length in bytes (never 0).
    public var length: UInt64
    /// For compressed data: where the stream lies (inside this segment) and its declared raw size.
    public var stream: CompressedStream?
    /// Extra cut points inside the segment's content (the decompressed stream when `stream` is set,
    /// else the segment's bytes), relative to its start: DDS surface boundaries inside a DX10 chunk.
    public var contentCuts: [UInt64]?
    /// The BA2 chunks whose stored bytes these are (more than one when a blob is shared).
    public var refs: [BA2ChunkRef]?
    /// The BA2 member name (of the first ref), when the archive has names.
    public var name: String?
    /// DDS face or array slice.
    public var face: Int?
    /// DDS mip level.
    public var mip: Int?
    /// Number of records in a plugin segment.
    public var recordCount: Int?
    /// FormID of a compressed plugin record.
    public var formID: UInt32?

    /// Creates a segment.
    public init(kind: SegmentKind, offset: UInt64, length: UInt64, stream: CompressedStream? = nil) {
        self.kind = kind
        self.offset = offset
        self.length = length
        self.stream = stream
    }

    /// The first offset after the segment.
    public var end: UInt64 { offset + length }

    private enum CodingKeys: String, CodingKey {
        case kind, offset, length, stream, refs, name, face, mip
        case contentCuts = "content_cuts"
        case recordCount = "record_count"
        case formID = "form_id"
    }
}

/// How one file is cut: its format and segments that cover it exactly, in order.
public struct Segmentation: Sendable, Equatable, Codable {
    /// The format detected.
    public var format: FileFormat
    /// Segments in file order; no gaps, no overlaps, none empty.
    public var segments: [Segment]
    /// Why a file that looked like a known format is treated as opaque (for `--verbose`).
    public var warning: String?
    /// The parse error behind `warning`.
    public var fallbackError: FormatError?

    /// Creates a segmentation.
    public init(format: FileFormat, segments: [Segment], warning: String? = nil, fallbackError: FormatError? = nil) {
        self.format = format
        self.segments = segments
        self.warning = warning
        self.fallbackError = fallbackError
    }

    /// True when the segments are non-empty, in order and cover `0..<size` with no gap or overlap.
    public func covers(size: UInt64) -> Bool {
        var cursor: UInt64 = 0
        for s in segments {
            guard s.offset == cursor, s.length > 0 else { return false }
            cursor = s.end
        }
        return cursor == size
    }

    private enum CodingKeys: String, CodingKey {
        case format, segments, warning
    }
}

/// Tuning of `FormatSegmenter`.
public struct SegmentationOptions: Sendable, Equatable {
    /// Largest group of consecutive small plugin records (a single larger record still forms one segment).
    public var pluginTargetSize: Int
    /// Safety limits for the parsers.
    public var limits: FormatLimits

    /// Creates options; the target size is at least 1 KiB.
    public init(pluginTargetSize: Int = 64 << 10, limits: FormatLimits = .default) {
        self.pluginTargetSize = max(1 << 10, pluginTargetSize)
        self.limits = limits
    }
}

/// Cuts files at format boundaries: BA2 tables and blobs, DDS surfaces, plugin groups and records.
public enum FormatSegmenter {
    /// The format a file claims by its first four bytes, without parsing further.
    public static func detect(_ reader: some RangeReader) -> FileFormat {
        guard reader.size >= 4, let magic = try? reader.read(offset: 0, count: 4) else { return .opaque }
        switch magic {
        case Array("BTDX".utf8):
            guard reader.size >= 12, let t = try? reader.read(offset: 8, count: 4) else { return .opaque }
            if t == Array("GNRL".utf8) { return .ba2General }
            if t == Array("DX10".utf8) { return .ba2Textures }
            return .opaque
        case Array("DDS ".utf8): return .dds
        case Array("TES4".utf8): return .plugin
        default: return .opaque
        }
    }

    /// Segments the file behind `reader`. Never throws: a file that fails to parse becomes one
    /// opaque segment, with the reason in `warning` and `fallbackError`.
    public static func segments(of reader: some RangeReader, path: String, options: SegmentationOptions = .init()) -> Segmentation {
        let size = reader.size
        let opaque = size == 0 ? [] : [Segment(kind: .opaque, offset: 0, length: size)]
        // A BTDX file of an unknown archive type is still parsed, so the caller learns why it is opaque.
        var format = detect(reader)
        if format == .opaque, reader.size >= 4, (try? reader.read(offset: 0, count: 4)) == Array("BTDX".utf8) { format = .ba2General }
        do throws(FormatError) {
            switch format {
            case .ba2General, .ba2Textures:
                let archive = try BA2Archive.parse(reader, path: path, limits: options.limits)
                return Segmentation(format: archive.type == .general ? .ba2General : .ba2Textures, segments: ba2Segments(archive))
            case .dds:
                return Segmentation(format: .dds, segments: ddsSegments(try DDSTexture.parse(reader, path: path, limits: options.limits)))
            case .plugin:
                return Segmentation(format: .plugin, segments: try pluginSegments(reader, path: path, options: options))
            case .opaque:
                return Segmentation(format: .opaque, segments: opaque)
            }
        } catch {
            return Segmentation(format: .opaque, segments: opaque, warning: error.description, fallbackError: error)
        }
    }

    /// BA2 segments: header, entry table, name table and one segment per distinct stored blob.
    ///
    /// The header and tables always stay whole. Bytes nothing points at become gaps; a blob shared
    /// by several entries is emitted once; a blob contained in a longer one is absorbed by it; and the
    /// part of a blob that overlaps a table or an earlier blob becomes an overlap segment without
    /// stream information (such layouts only come from unusual or hostile writers).
    public static func ba2Segments(_ archive: BA2Archive) -> [Segment] {
        // Tables first, each clipped to what earlier tables left, so they never overlap one another.
        var tables: [Segment] = []
        var tableCursor: UInt64 = 0
        var candidates = [Segment(kind: .ba2Header, offset: 0, length: UInt64(archive.headerLength)),
                          Segment(kind: .ba2EntryTable, offset: archive.entryTableRange.lowerBound, length: UInt64(archive.entryTableRange.count))]
        if let names = archive.nameTableRange { candidates.append(Segment(kind: .ba2NameTable, offset: names.lowerBound, length: UInt64(names.count))) }
        for var t in candidates.sorted(by: { $0.offset < $1.offset }) where t.end > tableCursor && t.length > 0 {
            if t.offset < tableCursor {
                t.length = t.end - tableCursor
                t.offset = tableCursor
            }
            tables.append(t)
            tableCursor = t.end
        }

        // Blobs, minus any bytes a table already claims.
        var blobs: [Segment] = []
        var shared: [Range<UInt64>: Int] = [:]
        let codec: StreamCodec = archive.compression == .zlib ? .zlib : .lz4Block
        for (e, entry) in archive.entries.enumerated() {
            for (c, chunk) in entry.chunks.enumerated() where chunk.storedSize > 0 {
                let range = chunk.storedRange
                let ref = BA2ChunkRef(entry: e, chunk: c)
                if let i = shared[range] {
                    blobs[i].refs!.append(ref)
                    continue
                }
                let clashes = tables.filter { $0.offset < range.upperBound && range.lowerBound < $0.end }
                if !clashes.isEmpty {
                    var cursor = range.lowerBound
                    for t in clashes + [Segment(kind: .ba2Gap, offset: range.upperBound, length: 0)] {
                        if t.offset > cursor {
                            var piece = Segment(kind: .ba2Overlap, offset: cursor, length: t.offset - cursor)
                            piece.refs = [ref]
                            blobs.append(piece)
                        }
                        cursor = max(cursor, t.end)
                    }
                    continue
                }
                var s = Segment(kind: archive.type == .general ? .ba2Member : .ba2DX10Chunk, offset: range.lowerBound, length: UInt64(range.count))
                if chunk.isCompressed {
                    s.stream = CompressedStream(codec: codec, offset: range.lowerBound, length: UInt64(range.count), rawSize: UInt64(chunk.unpackedSize))
                }
                s.refs = [ref]
                s.name = entry.name
                if let cuts = entry.surfaceCuts(chunk: c), !cuts.isEmpty { s.contentCuts = cuts }
                shared[range] = blobs.count
                blobs.append(s)
            }
        }
        // Longest first among equal starts, so a blob absorbs the ones it contains rather than the reverse.
        let items = (tables + blobs).sorted { ($0.offset, $1.end) < ($1.offset, $0.end) }

        var out: [Segment] = []
        out.reserveCapacity(items.count * 2 + 1)
        var cursor: UInt64 = 0
        for item in items {
            if item.end <= cursor { continue }
            if item.offset >= cursor {
                if item.offset > cursor { out.append(Segment(kind: .ba2Gap, offset: cursor, length: item.offset - cursor)) }
                out.append(item)
            } else {
                var s = Segment(kind: .ba2Overlap, offset: cursor, length: item.end - cursor)
                s.refs = item.refs
                out.append(s)
            }
            cursor = item.end
        }
        if cursor < archive.fileSize { out.append(Segment(kind: .ba2Gap, offset: cursor, length: archive.fileSize - cursor)) }
        return out
    }

    /// DDS segments: the header, then one per surface (per face, per mip), then any trailing bytes.
    public static func ddsSegments(_ texture: DDSTexture) -> [Segment] {
        var out = [Segment(kind: .ddsHeader, offset: 0, length: UInt64(texture.headerLength))]
        for surface in texture.surfaces where surface.length > 0 {
            var s = Segment(kind: .ddsMip, offset: surface.offset, length: surface.length)
            s.face = surface.face
            s.mip = surface.mip
            out.append(s)
        }
        if texture.trailingBytes > 0 {
            out.append(Segment(kind: .ddsTrailer, offset: texture.fileSize - texture.trailingBytes, length: texture.trailingBytes))
        }
        return out
    }

    /// Plugin segments: TES4 alone, every GRUP header alone, every compressed record alone, and the
    /// uncompressed records between them grouped up to `options.pluginTargetSize`.
    ///
    /// Group ends are content-defined: a group closes after a record whose (signature, FormID) hash
    /// falls below a threshold proportional to the record's size, once the group holds a sixteenth of
    /// the target (groups average about a third of the target). Inserting or editing records therefore moves only nearby cuts, so unchanged runs of
    /// records keep producing identical segments. A group never splits a record.
    public static func pluginSegments(_ reader: some RangeReader, path: String, options: SegmentationOptions = .init()) throws(FormatError) -> [Segment] {
        let target = UInt64(options.pluginTargetSize)
        // Natural cuts average a quarter of the target above a sixteenth, so forced cuts at the
        // target (which depend on position, not content) stay rare: about 2 % of groups.
        let minimum = target / 16
        let average = max(1, target / 4)
        var out: [Segment] = []
        var pendingStart: UInt64 = 0
        var pendingLength: UInt64 = 0
        var pendingCount = 0
        func flush() {
            guard pendingLength > 0 else { return }
            var s = Segment(kind: .pluginRecords, offset: pendingStart, length: pendingLength)
            s.recordCount = pendingCount
            out.append(s)
            pendingLength = 0
            pendingCount = 0
        }
        try PluginWalker.walk(reader, path: path, limits: options.limits, readData: false) { (event) throws(FormatError) in
            switch event {
            case .tes4(let h, _):
                out.append(Segment(kind: .pluginTES4, offset: 0, length: h.size))
            case .groupStart(let g):
                flush()
                out.append(Segment(kind: .pluginGroupHeader, offset: g.offset, length: 24))
            case .groupEnd:
                flush()
            case .record(let h, _):
                if h.isCompressed {
                    flush()
                    var s = Segment(kind: .pluginRecordCompressed, offset: h.offset, length: h.size,
                                    stream: CompressedStream(codec: .zlib, offset: h.offset + 28, length: UInt64(h.dataSize) - 4,
                                                             rawSize: UInt64(h.decompressedSize ?? 0)))
                    s.formID = h.formID
                    s.recordCount = 1
                    out.append(s)
                    return
                }
                if pendingLength > 0, pendingLength + h.size > target { flush() }
                if pendingLength == 0 { pendingStart = h.offset }
                pendingLength += h.size
                pendingCount += 1
                if pendingLength >= target || (pendingLength >= minimum && boundaryHash(h.signature, h.formID) % average < h.size) {
                    flush()
                }
            }
        }
        flush()
        return out
    }

    /// SplitMix64 finaliser over signature and FormID: a record's identity, not its content, so
    /// editing a record never moves a cut.
    static func boundaryHash(_ signature: UInt32, _ formID: UInt32) -> UInt64 {
        var z = (UInt64(signature) << 32 | UInt64(formID)) &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
