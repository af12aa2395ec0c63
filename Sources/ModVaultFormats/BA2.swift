/// A parsed BA2 archive (magic `BTDX`): header, entry table and name table. Member data is not read.
public struct BA2Archive: Sendable, Equatable, Codable {
    /// What the archive holds.
    public enum ArchiveType: String, Sendable, Codable {
        /// General files (`GNRL`): one stream per member.
        case general = "GNRL"
        /// Textures (`DX10`): DDS surfaces in 1–4 chunks per member, no DDS header stored.
        case textures = "DX10"
    }

    /// How compressed blobs are encoded.
    public enum Compression: String, Sendable, Codable {
        /// One complete zlib (RFC 1950) stream per blob: every version except v3 with method 3.
        case zlib
        /// LZ4 block format, no frame (Starfield v3, method 3).
        case lz4Block = "lz4-block"
    }

    /// Header version: 1, 7 or 8 for Fallout 4; 2 or 3 for Starfield.
    public var version: UInt32
    /// GNRL or DX10.
    public var type: ArchiveType
    /// 24 for v1/v7/v8, 32 for v2, 36 for v3.
    public var headerLength: Int
    /// Codec of every compressed blob.
    public var compression: Compression
    /// The header's name-table offset; 0 means the archive has no names.
    public var nameTableOffset: UInt64
    /// Where the entry table lies in the file.
    public var entryTableRange: Range<UInt64>
    /// Where the name table lies, or nil when there is none.
    public var nameTableRange: Range<UInt64>?
    /// One entry per member, in table order.
    public var entries: [BA2Entry]
    /// Size of the file that was parsed.
    public var fileSize: UInt64

    /// Versions this parser accepts.
    public static let supportedVersions: Set<UInt32> = [1, 2, 3, 7, 8]

    /// Parses the header and tables of the archive behind `reader`.
    ///
    /// Throws `FormatError` for anything the format does not allow, including every data range that
    /// runs past the end of the file, so callers can fall back to treating the file as opaque.
    public static func parse(_ reader: some RangeReader, path: String = "", limits: FormatLimits = .default) throws(FormatError) -> BA2Archive {
        let size = reader.size
        let fixed = try checkedRead(reader, offset: 0, count: min(size, 36), what: "BA2 header", path: path)[...]
        guard fixed.count >= 4, fixed.fourCC(0) == "BTDX" else {
            throw FormatError(path: path, cause: .badMagic(expected: "BTDX", found: Array(fixed.prefix(4))))
        }
        guard fixed.count >= 24 else {
            throw FormatError(path: path, cause: .endOfData(what: "BA2 header", offset: 0, needed: 24, available: size))
        }
        let version = fixed.u32(4)
        guard supportedVersions.contains(version) else { throw FormatError(path: path, cause: .unsupportedVersion(version)) }
        let typeText = fixed.fourCC(8)
        guard let type = ArchiveType(rawValue: typeText) else {
            throw FormatError(path: path, cause: .unknownArchiveType(typeText))
        }
        let headerLength = version == 2 ? 32 : (version == 3 ? 36 : 24)
        guard fixed.count >= headerLength else {
            throw FormatError(path: path, cause: .endOfData(what: "BA2 v\(version) header", offset: 0,
                                                            needed: UInt64(headerLength), available: size))
        }
        var compression = Compression.zlib
        if version == 3 {
            switch fixed.u32(32) {
            case 0: compression = .zlib
            case 3: compression = .lz4Block
            case let other: throw FormatError(path: path, cause: .unsupportedCompression(other))
            }
        }
        let count = Int(fixed.u32(12))
        let nameTableOffset = fixed.u64(16)
        guard count <= limits.maxEntries else {
            throw FormatError(path: path, cause: .limitExceeded(what: "BA2 entry count", value: UInt64(count),
                                                                limit: UInt64(limits.maxEntries)))
        }
        // The smallest entry (GNRL 36 bytes, DX10 24) bounds the count by the file before anything is allocated.
        let minimumEntry: UInt64 = type == .general ? 36 : 24
        let tableStart = UInt64(headerLength)
        guard UInt64(count) * minimumEntry <= size - tableStart else {
            throw FormatError(path: path, cause: .endOfData(what: "BA2 entry table", offset: tableStart,
                                                            needed: UInt64(count) * minimumEntry, available: size - tableStart))
        }

        // The table's end is known (GNRL) or bounded (DX10: at most 255 chunks per entry), so its
        // read-ahead never strays into member data.
        let maximumEntry: UInt64 = type == .general ? 36 : 24 + 255 * 24
        var table = SequentialReader(reader, path: path, from: tableStart, end: tableStart + UInt64(count) * maximumEntry)
        var entries: [BA2Entry] = []
        entries.reserveCapacity(count)
        for index in 0..<count {
            let head = try table.take(16, what: "BA2 entry \(index)")
            var entry = BA2Entry(nameHash: head.u32(0), extensionBytes: Array(head[(head.startIndex + 4)..<(head.startIndex + 8)]),
                                 directoryHash: head.u32(8), chunks: [], texture: nil)
            let chunkCount = Int(head.u8(13))
            let recordSize = head.u16(14)
            switch type {
            case .general:
                guard recordSize == 0x10 else {
                    throw FormatError(path: path, cause: .badChunkRecordSize(entry: index, found: recordSize, expected: 0x10))
                }
                let c = try table.take(20, what: "BA2 entry \(index)")
                guard c.u32(16) == BA2Chunk.sentinel else {
                    throw FormatError(path: path, cause: .badSentinel(entry: index, chunk: 0, found: c.u32(16)))
                }
                entry.chunks = [BA2Chunk(offset: c.u64(0), packedSize: c.u32(8), unpackedSize: c.u32(12), firstMip: 0, lastMip: 0)]
            case .textures:
                guard recordSize == 0x18 else {
                    throw FormatError(path: path, cause: .badChunkRecordSize(entry: index, found: recordSize, expected: 0x18))
                }
                let t = try table.take(8, what: "BA2 texture header \(index)")
                entry.texture = BA2TextureInfo(height: t.u16(0), width: t.u16(2), mipCount: t.u8(4), dxgiFormat: t.u8(5),
                                               flags: t.u8(6), tileMode: t.u8(7))
                entry.chunks.reserveCapacity(chunkCount)
                for chunkIndex in 0..<chunkCount {
                    let c = try table.take(24, what: "BA2 entry \(index) chunk \(chunkIndex)")
                    guard c.u32(20) == BA2Chunk.sentinel else {
                        throw FormatError(path: path, cause: .badSentinel(entry: index, chunk: chunkIndex, found: c.u32(20)))
                    }
                    entry.chunks.append(BA2Chunk(offset: c.u64(0), packedSize: c.u32(8), unpackedSize: c.u32(12),
                                                 firstMip: c.u16(16), lastMip: c.u16(18)))
                }
            }
            for (chunkIndex, chunk) in entry.chunks.enumerated() {
                let stored = UInt64(chunk.storedSize)
                guard chunk.offset <= size, stored <= size - chunk.offset else {
                    throw FormatError(path: path, cause: .outOfBounds(what: "data of entry \(index) chunk \(chunkIndex)",
                                                                      offset: chunk.offset, length: stored, size: size))
                }
            }
            entries.append(entry)
        }
        let tableEnd = table.position

        var nameRange: Range<UInt64>?
        if nameTableOffset != 0 {
            guard nameTableOffset <= size else {
                throw FormatError(path: path, cause: .endOfData(what: "BA2 name table", offset: nameTableOffset, needed: 2, available: 0))
            }
            var names = SequentialReader(reader, path: path, from: nameTableOffset, windowSize: 1 << 16)
            for index in 0..<count {
                let length = try names.take(2, what: "BA2 name \(index) length").u16(0)
                let bytes = try names.take(UInt64(length), what: "BA2 name \(index)")
                entries[index].nameBytes = Array(bytes)
            }
            nameRange = nameTableOffset..<names.position
        }
        return BA2Archive(version: version, type: type, headerLength: headerLength, compression: compression,
                          nameTableOffset: nameTableOffset, entryTableRange: tableStart..<tableEnd, nameTableRange: nameRange,
                          entries: entries, fileSize: size)
    }
}

/// One member of a BA2 archive.
public struct BA2Entry: Sendable, Equatable, Codable {
    /// Path hash (§1.3) of the file name without its extension.
    public var nameHash: UInt32
    /// The four extension bytes as stored (lowercase ASCII, NUL-padded).
    public var extensionBytes: [UInt8]
    /// Path hash of the directory.
    public var directoryHash: UInt32
    /// Stored blobs: exactly one for GNRL, any number for DX10.
    public var chunks: [BA2Chunk]
    /// The texture header of a DX10 entry.
    public var texture: BA2TextureInfo?
    /// The raw name-table bytes, or nil when the archive has no name table.
    public var nameBytes: [UInt8]?

    /// Creates an entry.
    public init(nameHash: UInt32, extensionBytes: [UInt8], directoryHash: UInt32, chunks: [BA2Chunk],
                texture: BA2TextureInfo?, nameBytes: [UInt8]? = nil) {
        self.nameHash = nameHash
        self.extensionBytes = extensionBytes
        self.directoryHash = directoryHash
        self.chunks = chunks
        self.texture = texture
        self.nameBytes = nameBytes
    }

    /// The extension without padding, e.g. `dds`.
    public var fileExtension: String { BA2Path.decode(extensionBytes.prefix { $0 != 0 }) }

    /// The stored name decoded as 8-bit text, separators and case as the writer left them.
    public var name: String? { nameBytes.map { BA2Path.decode($0) } }

    /// The name as the game compares it: ASCII only, lowercase, `\` separators.
    public var normalizedName: String? { nameBytes.map { BA2Path.normalize($0) } }

    /// A stable key for diffs: the normalised name, or the hash triple when the archive has no names.
    public var key: String {
        if let n = normalizedName { return n }
        return "<hash:\(BA2Path.hex(directoryHash))/\(BA2Path.hex(nameHash)).\(fileExtension)>"
    }

    /// Sum of the members' original (unpacked) sizes.
    public var unpackedSize: UInt64 { chunks.reduce(0) { $0 + UInt64($1.unpackedSize) } }

    /// Sum of the bytes the chunks occupy in the archive.
    public var storedSize: UInt64 { chunks.reduce(0) { $0 + UInt64($1.storedSize) } }

    /// Whether the name's hashes and extension match the entry's fields; nil without a name.
    public var hashesMatchName: Bool? {
        guard let bytes = nameBytes else { return nil }
        let parts = BA2Path.split(bytes)
        return BA2Path.hash(parts.directory) == directoryHash && BA2Path.hash(parts.stem) == nameHash
            && Array(parts.ext.prefix(4)) == Array(extensionBytes.prefix { $0 != 0 }.map { BA2Path.lower($0) })
    }

    /// Offsets inside chunk `index`'s decompressed data where one DDS surface ends and the next begins.
    ///
    /// Nil when the entry is not a texture, the pixel format is unknown, or the chunk's size does
    /// not match the surfaces its mip range implies (another writer's layout: cut nothing).
    public func surfaceCuts(chunk index: Int) -> [UInt64]? {
        guard let tex = texture, chunks.indices.contains(index), let layout = DXGI.layout(UInt32(tex.dxgiFormat)) else { return nil }
        let chunk = chunks[index]
        let mips = Int(tex.mipCount)
        guard chunk.firstMip <= chunk.lastMip, Int(chunk.lastMip) < max(mips, 1) else { return nil }
        let faces = tex.isCubemap ? 6 : 1
        var cuts: [UInt64] = []
        var offset: UInt64 = 0
        for _ in 0..<faces {
            for mip in Int(chunk.firstMip)...Int(chunk.lastMip) {
                guard let s = layout.surfaceSize(width: UInt64(tex.width), height: UInt64(tex.height), mip: mip) else { return nil }
                if offset > 0 { cuts.append(offset) }
                offset += s
            }
        }
        return offset == UInt64(chunk.unpackedSize) ? cuts : nil
    }
}

/// One stored blob of a BA2 entry: a GNRL member's data or one DX10 mip range.
public struct BA2Chunk: Sendable, Equatable, Codable {
    /// The value every chunk record ends with.
    public static let sentinel: UInt32 = 0xBAAD_F00D

    /// Absolute file offset of the stored bytes.
    public var offset: UInt64
    /// Length of the compressed stream, or 0 when the data is stored raw.
    public var packedSize: UInt32
    /// Length of the original data.
    public var unpackedSize: UInt32
    /// First mip level held (DX10; 0 for GNRL).
    public var firstMip: UInt16
    /// Last mip level held, inclusive (DX10; 0 for GNRL).
    public var lastMip: UInt16

    /// Creates a chunk record.
    public init(offset: UInt64, packedSize: UInt32, unpackedSize: UInt32, firstMip: UInt16, lastMip: UInt16) {
        self.offset = offset
        self.packedSize = packedSize
        self.unpackedSize = unpackedSize
        self.firstMip = firstMip
        self.lastMip = lastMip
    }

    /// True when the blob is a compressed stream.
    public var isCompressed: Bool { packedSize != 0 }

    /// Bytes occupied in the archive.
    public var storedSize: UInt32 { packedSize == 0 ? unpackedSize : packedSize }

    /// The stored bytes' range in the file.
    public var storedRange: Range<UInt64> { offset..<(offset + UInt64(storedSize)) }
}

/// The 8-byte texture header of a DX10 entry.
public struct BA2TextureInfo: Sendable, Equatable, Codable {
    /// Height in pixels.
    public var height: UInt16
    /// Width in pixels.
    public var width: UInt16
    /// Number of mip levels.
    public var mipCount: UInt8
    /// DXGI_FORMAT value (71 BC1, 77 BC3, 83 BC5, 98 BC7, …).
    public var dxgiFormat: UInt8
    /// Bit 0: cubemap.
    public var flags: UInt8
    /// Tile mode; 8 in every PC archive.
    public var tileMode: UInt8

    /// Creates a texture header.
    public init(height: UInt16, width: UInt16, mipCount: UInt8, dxgiFormat: UInt8, flags: UInt8, tileMode: UInt8) {
        self.height = height
        self.width = width
        self.mipCount = mipCount
        self.dxgiFormat = dxgiFormat
        self.flags = flags
        self.tileMode = tileMode
    }

    /// True for a cubemap (six faces in one chunk).
    public var isCubemap: Bool { flags & 1 != 0 }
}

/// BA2 path rules: the hash the game looks files up by, and name normalisation.
public enum BA2Path {
    private static let table: [UInt32] = (0..<256).map { n -> UInt32 in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    /// The BA2 path hash: reflected CRC-32 with initial value 0 and no final XOR, over the normalised bytes.
    public static func hash<C: Collection>(_ bytes: C) -> UInt32 where C.Element == UInt8 {
        var crc: UInt32 = 0
        for b in bytes where b <= 0x7F {
            let n = b == UInt8(ascii: "/") ? UInt8(ascii: "\\") : lower(b)
            crc = table[Int((crc ^ UInt32(n)) & 0xFF)] ^ (crc >> 8)
        }
        return crc
    }

    /// The hash of a string's UTF-8 bytes.
    public static func hash(_ text: String) -> UInt32 { hash(Array(text.utf8)) }

    /// ASCII lowercase of one byte.
    public static func lower(_ b: UInt8) -> UInt8 { (0x41...0x5A).contains(b) ? b + 0x20 : b }

    /// Lowercase, `\` separators, bytes above 0x7F dropped: how the game compares names.
    public static func normalize<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        let mapped = bytes.lazy.filter { $0 <= 0x7F }.map { $0 == UInt8(ascii: "/") ? UInt8(ascii: "\\") : lower($0) }
        return String(decoding: Array(mapped), as: UTF8.self)
    }

    /// Decodes 8-bit name bytes; bytes above 0x7F are read as Latin-1 so no byte is ever lost.
    public static func decode<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        var s = String.UnicodeScalarView()
        for b in bytes { s.append(Unicode.Scalar(b)) }
        return String(s)
    }

    /// Splits a name into directory, stem and lowercase extension bytes, after normalisation.
    public static func split<C: Collection>(_ bytes: C) -> (directory: [UInt8], stem: [UInt8], ext: [UInt8]) where C.Element == UInt8 {
        let n = bytes.filter { $0 <= 0x7F }.map { $0 == UInt8(ascii: "/") ? UInt8(ascii: "\\") : lower($0) }
        let slash = n.lastIndex(of: UInt8(ascii: "\\"))
        let directory = slash.map { Array(n[..<$0]) } ?? []
        let file = slash.map { Array(n[($0 + 1)...]) } ?? n
        guard let dot = file.lastIndex(of: UInt8(ascii: ".")) else { return (directory, file, []) }
        return (directory, Array(file[..<dot]), Array(file[(dot + 1)...]))
    }

    static func hex(_ v: UInt32) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: 8 - s.count) + s
    }
}
