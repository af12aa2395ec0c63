/// BA2 archive type (bytes 8–11 of the header).
public enum BA2ArchiveType: String, Sendable, Codable, CaseIterable {
    /// `GNRL`: general files, one chunk per entry.
    case general = "GNRL"
    /// `DX10`: textures stored without DDS header, split into mip chunks.
    case textures = "DX10"
}

/// BA2 format version. 1 is original Fallout 4; 7 and 8 are the next-gen update with the same layout.
public enum BA2Version: UInt32, Sendable, Codable, CaseIterable {
    /// Original Fallout 4.
    case v1 = 1
    /// Next-gen update, written by the new Creation Kit for DX10 archives.
    case v7 = 7
    /// Next-gen update, written by the new Creation Kit for GNRL archives.
    case v8 = 8
}

/// How a member (or each DX10 chunk) is stored.
public enum BA2Storage: Sendable, Hashable, Codable {
    /// Stored as is (packed size 0).
    case raw
    /// One zlib stream with these settings.
    case zlib(ZlibSettings)
    /// zlib with `settings` unless that saves fewer than 32 bytes, then raw (xEdit's rule for GNRL members).
    case zlibIfSmaller(ZlibSettings)
    /// The member of a `.zlibIfSmaller(original)` archive after a repack at another level: raw where `original`
    /// stored it raw, otherwise one zlib stream with `settings`. Same members compressed, new streams.
    case recompressed(original: ZlibSettings, settings: ZlibSettings)
}

/// The BA2 path hash of §1.3: CRC-32 (reflected 0xEDB88320), initial value 0, no final XOR, over a normalised path.
public enum BA2PathHash {
    private static let table: [UInt32] = (0..<256).map { n in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    /// Hash of `text` after the §1.3 transform (bytes > 0x7F skipped, `/` → `\`, ASCII lowercase).
    public static func hash(_ text: String) -> UInt32 { hash(bytes: Array(text.utf8)) }

    /// Hash of raw name bytes after the §1.3 transform.
    public static func hash(bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0
        for var b in bytes {
            if b > 0x7F { continue }
            if b == UInt8(ascii: "/") { b = UInt8(ascii: "\\") }
            if b >= 0x41 && b <= 0x5A { b += 0x20 }
            crc = table[Int((crc ^ UInt32(b)) & 0xFF)] ^ (crc >> 8)
        }
        return crc
    }

    /// The (name hash, extension, directory hash) triple a BA2 entry stores for archive path `path`.
    public static func entryKey(for path: String) -> BA2EntryKey {
        let bytes = Array(path.utf8)
        let lastSeparator = bytes.lastIndex { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "\\") }
        let dir = lastSeparator.map { Array(bytes[..<$0]) } ?? []
        let file = lastSeparator.map { Array(bytes[($0 + 1)...]) } ?? bytes
        let dot = file.lastIndex(of: UInt8(ascii: "."))
        let stem = dot.map { Array(file[..<$0]) } ?? file
        let extBytes = dot.map { Array(file[($0 + 1)...]) } ?? []
        var ext: [UInt8] = [0, 0, 0, 0]
        for (i, b) in extBytes.prefix(4).enumerated() {
            ext[i] = (b >= 0x41 && b <= 0x5A) ? b + 0x20 : b
        }
        return BA2EntryKey(nameHash: hash(bytes: stem), ext: ext, directoryHash: hash(bytes: dir))
    }
}

/// The lookup triple stored at the start of every BA2 entry.
public struct BA2EntryKey: Sendable, Hashable {
    /// Hash of the file name without extension.
    public var nameHash: UInt32
    /// Lowercase extension, NUL-padded to 4 bytes.
    public var ext: [UInt8]
    /// Hash of the directory path without trailing separator (0 at the root).
    public var directoryHash: UInt32
}

/// One file to put in a BA2. Payloads are produced lazily, one member at a time, so archives of any size stream.
public struct BA2Member: Sendable {
    /// Content of a member.
    public enum Payload: Sendable {
        /// A GNRL file; the closure returns its bytes.
        case file(@Sendable () throws -> [UInt8])
        /// A DX10 texture; the closure returns the surface bytes of one mip (no DDS header).
        case texture(TextureInfo, @Sendable (Int) throws -> [UInt8])
    }

    /// Path inside the archive, stored verbatim in the name table (separators and case as given).
    public var path: String
    /// Storage of the member, or of each of its chunks for textures.
    public var storage: BA2Storage
    /// The member's content.
    public var payload: Payload

    /// Creates a member from a lazy payload.
    public init(path: String, storage: BA2Storage, payload: Payload) {
        self.path = path
        self.storage = storage
        self.payload = payload
    }

    /// A GNRL member from bytes in memory.
    public static func file(_ path: String, _ data: [UInt8], storage: BA2Storage = .zlib(.creationKit)) -> BA2Member {
        BA2Member(path: path, storage: storage, payload: .file { data })
    }

    /// A DX10 member from its mip surfaces in memory (`surfaces[m]` = mip m).
    public static func texture(
        _ path: String, _ info: TextureInfo, surfaces: [[UInt8]], storage: BA2Storage = .zlib(.creationKit)
    ) -> BA2Member {
        BA2Member(path: path, storage: storage, payload: .texture(info) { surfaces[$0] })
    }
}

/// Where one stored blob of a written archive ended up.
public struct BA2ChunkReport: Sendable, Hashable, Codable {
    /// Absolute offset of the stored bytes.
    public var offset: UInt64
    /// Stored (zlib) size, or 0 when raw.
    public var packedSize: UInt32
    /// Size after decompression.
    public var unpackedSize: UInt32
    /// First mip in this chunk (0 for GNRL).
    public var firstMip: Int
    /// Last mip in this chunk, inclusive (0 for GNRL).
    public var lastMip: Int

    /// Bytes this chunk occupies in the file.
    public var storedSize: UInt32 { packedSize == 0 ? unpackedSize : packedSize }
}

/// Layout of a written archive, for callers that need offsets or stored sizes without re-parsing.
public struct BA2WriteReport: Sendable, Codable {
    /// Total archive size.
    public var fileSize: UInt64
    /// Offset of the name table, 0 if none was written.
    public var nameTableOffset: UInt64
    /// Per member, in entry order, its chunks.
    public var members: [[BA2ChunkReport]]
}

/// Writes Fallout 4 BA2 archives (GNRL and DX10; versions 1, 7, 8) with contiguous, entry-ordered blobs.
public enum BA2Writer {
    static let sentinel: UInt32 = 0xBAAD_F00D

    /// The mip ranges of the DX10 chunks the Creation Kit, xEdit and the `ba2` crate produce (§1.5).
    public static func chunkMipRanges(for info: TextureInfo) -> [ClosedRange<Int>] {
        var chunks = 1
        var width = info.width, height = info.height
        while chunks < info.mipCount && chunks < 4 && width >= 512 && height >= 512 {
            chunks += 1
            width /= 2
            height /= 2
        }
        return (0..<chunks).map { j in j == chunks - 1 ? j...(info.mipCount - 1) : j...j }
    }

    /// Writes an archive to `path`, producing and compressing one member (or chunk) at a time.
    @discardableResult
    public static func write(
        _ members: [BA2Member], type: BA2ArchiveType, version: BA2Version = .v1, nameTable: Bool = true,
        to path: String
    ) throws -> BA2WriteReport {
        let file = try OutputFile(path: path)
        let report = try write(members, type: type, version: version, nameTable: nameTable, into: file)
        try file.close()
        return report
    }

    /// Builds an archive in memory.
    public static func bytes(
        _ members: [BA2Member], type: BA2ArchiveType, version: BA2Version = .v1, nameTable: Bool = true
    ) throws -> [UInt8] {
        let sink = MemorySink()
        _ = try write(members, type: type, version: version, nameTable: nameTable, into: sink)
        return sink.data
    }

    static func write(
        _ members: [BA2Member], type: BA2ArchiveType, version: BA2Version, nameTable: Bool, into sink: ByteSink
    ) throws -> BA2WriteReport {
        // The entry table precedes the data, so its size must be known before any blob is produced.
        var tableSize = 0
        for member in members {
            switch (type, member.payload) {
            case (.general, .file): tableSize += 36
            case (.textures, .texture(let info, _)): tableSize += 24 + 24 * chunkMipRanges(for: info).count
            default:
                throw FixtureError.invalidArgument("member \(member.path) does not fit a \(type.rawValue) archive")
            }
        }
        // Blob offsets are absolute, so the archive must start at offset 0 of its sink.
        precondition(sink.position == 0, "BA2 archives are written from the start of a file")
        var header = ByteBuilder(capacity: 24)
        header.fourCC("BTDX")
        header.u32(version.rawValue)
        header.fourCC(type.rawValue)
        header.u32(UInt32(members.count))
        header.u64(0)  // name-table offset, patched at the end
        try sink.write(header.bytes)
        try sink.write([UInt8](repeating: 0, count: tableSize))

        var table = ByteBuilder(capacity: tableSize)
        var reports: [[BA2ChunkReport]] = []
        reports.reserveCapacity(members.count)
        for member in members {
            let key = BA2PathHash.entryKey(for: member.path)
            table.u32(key.nameHash)
            table.raw(key.ext)
            table.u32(key.directoryHash)
            table.u8(0)
            switch member.payload {
            case .file(let produce):
                table.u8(1)
                table.u16(0x10)
                let chunk = try storeBlob(try produce(), storage: member.storage, mips: 0...0, into: sink)
                appendChunk(chunk, dx10: false, to: &table)
                reports.append([chunk])
            case .texture(let info, let surface):
                let ranges = chunkMipRanges(for: info)
                table.u8(UInt8(ranges.count))
                table.u16(0x18)
                table.u16(UInt16(info.height))
                table.u16(UInt16(info.width))
                table.u8(UInt8(info.mipCount))
                table.u8(UInt8(info.format.dxgiFormat))
                table.u8(0)  // not a cubemap
                table.u8(8)  // tile mode of every PC sample
                var chunks: [BA2ChunkReport] = []
                for range in ranges {
                    // A one-mip chunk is the surface itself; skipping the copy halves peak memory for 4K mips.
                    var data = try surface(range.lowerBound)
                    if range.count > 1 {
                        data.reserveCapacity(range.reduce(0) { $0 + info.mipSize($1) })
                        for mip in range.dropFirst() { data.append(contentsOf: try surface(mip)) }
                    }
                    let chunk = try storeBlob(data, storage: member.storage, mips: range, into: sink)
                    appendChunk(chunk, dx10: true, to: &table)
                    chunks.append(chunk)
                }
                reports.append(chunks)
            }
        }
        var nameTableOffset: UInt64 = 0
        if nameTable {
            nameTableOffset = sink.position
            var names = ByteBuilder()
            for member in members {
                let bytes = Array(member.path.utf8)
                names.u16(UInt16(bytes.count))
                names.raw(bytes)
            }
            try sink.write(names.bytes)
        }
        let end = sink.position
        var offsetField = ByteBuilder(capacity: 8)
        offsetField.u64(nameTableOffset)
        try sink.patch(at: 16, offsetField.bytes)
        try sink.patch(at: 24, table.bytes)
        return BA2WriteReport(fileSize: end, nameTableOffset: nameTableOffset, members: reports)
    }

    private static func storeBlob(
        _ data: [UInt8], storage: BA2Storage, mips: ClosedRange<Int>, into sink: ByteSink
    ) throws -> BA2ChunkReport {
        guard data.count <= Int(UInt32.max) else {
            throw FixtureError.invalidArgument("BA2 blob of \(data.count) bytes exceeds the u32 size field")
        }
        var chunk = BA2ChunkReport(
            offset: sink.position, packedSize: 0, unpackedSize: UInt32(data.count),
            firstMip: mips.lowerBound, lastMip: mips.upperBound)
        switch storage {
        case .raw:
            try sink.write(data)
        case .zlib(let settings):
            let packed = FixtureZlib.deflate(data, settings: settings)
            chunk.packedSize = UInt32(packed.count)
            try sink.write(packed)
        case .zlibIfSmaller(let settings):
            let packed = FixtureZlib.deflate(data, settings: settings)
            if worthCompressing(packed, data) {
                chunk.packedSize = UInt32(packed.count)
                try sink.write(packed)
            } else {
                try sink.write(data)
            }
        case .recompressed(let original, let settings):
            if worthCompressing(FixtureZlib.deflate(data, settings: original), data) {
                let packed = FixtureZlib.deflate(data, settings: settings)
                chunk.packedSize = UInt32(packed.count)
                try sink.write(packed)
            } else {
                try sink.write(data)
            }
        }
        return chunk
    }

    /// xEdit's rule: compression must save at least 32 bytes.
    private static func worthCompressing(_ packed: [UInt8], _ data: [UInt8]) -> Bool { packed.count + 32 <= data.count }

    private static func appendChunk(_ chunk: BA2ChunkReport, dx10: Bool, to table: inout ByteBuilder) {
        table.u64(chunk.offset)
        table.u32(chunk.packedSize)
        table.u32(chunk.unpackedSize)
        if dx10 {
            table.u16(UInt16(chunk.firstMip))
            table.u16(UInt16(chunk.lastMip))
        }
        table.u32(sentinel)
    }
}
