public import ModVaultCore
import ModVaultCrypto

/// A parsed Fallout 4 plugin (.esp/.esm/.esl): the TES4 header, every group and every record.
public struct PluginFile: Sendable, Equatable, Codable {
    /// The TES4 header record.
    public var header: PluginHeader
    /// Every GRUP, in file order (parents before children).
    public var groups: [PluginGroup]
    /// Every record except TES4, in file order.
    public var records: [PluginRecord]
    /// Size of the file that was parsed.
    public var fileSize: UInt64

    /// Parses the whole plugin behind `reader`, reading it front to back once.
    ///
    /// Compressed records are inflated (bounded by their declared size and `limits`) to read their
    /// EditorID and to fingerprint their content. Groups are walked by size only.
    /// Without `digests`, records carry a zero `contentDigest`: listing a plugin's records needs no
    /// hashing of their content, comparing two plugins does.
    public static func parse(_ reader: some RangeReader, path: String = "", limits: FormatLimits = .default,
                             digests: Bool = true) throws(FormatError) -> PluginFile {
        var header: PluginHeader?
        var groups: [PluginGroup] = []
        var records: [PluginRecord] = []
        var open: [Int] = []  // indices into `groups` of the groups enclosing the current position
        let engine = RecipeEngine()
        try PluginWalker.walk(reader, path: path, limits: limits, readData: true) { (event) throws(FormatError) in
            switch event {
            case .tes4(let h, let data):
                header = try PluginHeader(record: h, data: data!, path: path)
            case .groupStart(let g):
                open.append(groups.count)
                groups.append(PluginGroup(offset: g.offset, size: g.size, label: g.label, type: g.type, depth: g.depth,
                                          parent: open.count >= 2 ? open[open.count - 2] : nil))
            case .groupEnd:
                open.removeLast()
            case .record(let h, let data):
                var fields = data!
                var inflated: [UInt8] = []
                if h.isCompressed {
                    let declared = UInt64(h.decompressedSize ?? 0)
                    guard declared <= limits.maxDecompressedRecord else {
                        throw FormatError(path: path, cause: .limitExceeded(what: "decompressed size of record 0x\(PluginHex.formID(h.formID))",
                                                                            value: declared, limit: limits.maxDecompressedRecord))
                    }
                    var failure: FormatError?
                    inflated = data!.dropFirst(4).withUnsafeBytes { s in
                        do throws(FormatError) { return try engine.inflate(s, rawSize: declared) } catch { failure = error; return [] }
                    }
                    if let failure {
                        throw FormatError(path: path, cause: .decompression("record \(h.signatureText) 0x\(PluginHex.formID(h.formID)) at offset \(h.offset): \(failure.cause)"))
                    }
                    fields = inflated[...]
                }
                var editorID: String?
                try PluginFields.forEach(fields, path: path, owner: h) { (sig, payload) throws(FormatError) in
                    if sig == PluginSignature.EDID, editorID == nil { editorID = PluginFields.zstring(payload) }
                }
                records.append(PluginRecord(signature: h.signatureText, formID: h.formID, flags: h.flags, offset: h.offset,
                                            dataSize: h.dataSize, formVersion: h.formVersion, editorID: editorID,
                                            decompressedSize: h.decompressedSize, group: open.last,
                                            contentDigest: digests ? fields.withUnsafeBytes { SHA256Digest.hash($0) } : ObjectID.zero))
            }
        }
        return PluginFile(header: header!, groups: groups, records: records, fileSize: reader.size)
    }
}

/// The TES4 record: version counters, author, description, masters and file flags.
public struct PluginHeader: Sendable, Equatable, Codable {
    /// ESM (master) flag.
    public static let esmFlag: UInt32 = 0x1
    /// Localized flag: string fields are IDs into STRINGS files.
    public static let localizedFlag: UInt32 = 0x80
    /// ESL (light) flag in Fallout 4.
    public static let lightFlag: UInt32 = 0x200

    /// Record flags of TES4 (file flags).
    public var flags: UInt32
    /// Form version of the TES4 record (131 for the current Creation Kit).
    public var formVersion: UInt16
    /// HEDR version (1.0 or 0.95).
    public var version: Float
    /// HEDR number of records and groups.
    public var recordCount: UInt32
    /// HEDR next object ID.
    public var nextObjectID: UInt32
    /// CNAM author.
    public var author: String?
    /// SNAM description.
    public var description: String?
    /// MAST file names, in order.
    public var masters: [String]
    /// Size of the whole TES4 record, header included.
    public var size: UInt64

    /// True when the ESM flag is set.
    public var isMaster: Bool { flags & Self.esmFlag != 0 }
    /// True when the localized flag is set.
    public var isLocalized: Bool { flags & Self.localizedFlag != 0 }
    /// True when the ESL flag is set.
    public var isLight: Bool { flags & Self.lightFlag != 0 }

    /// Names of the set flags this layer knows (`esm`, `localized`, `light`, `optimized`), then any others in hex.
    public static func flagNames(_ flags: UInt32) -> [String] {
        var names: [String] = []
        var rest = flags
        for (bit, name) in [(esmFlag, "esm"), (UInt32(0x10), "optimized"), (localizedFlag, "localized"), (lightFlag, "light")] where flags & bit != 0 {
            names.append(name)
            rest &= ~bit
        }
        var bit: UInt32 = 1
        while rest != 0 {
            if rest & bit != 0 { names.append("0x" + String(bit, radix: 16)); rest &= ~bit }
            bit <<= 1
        }
        return names
    }

    init(record h: PluginWalker.RecordHeader, data: ArraySlice<UInt8>, path: String) throws(FormatError) {
        flags = h.flags
        formVersion = h.formVersion
        version = 0
        recordCount = 0
        nextObjectID = 0
        masters = []
        size = 24 + UInt64(h.dataSize)
        guard !h.isCompressed else { throw FormatError(path: path, cause: .unsupported("compressed TES4 record")) }
        var sawHEDR = false
        var author: String?, description: String?, masters: [String] = []
        var hedr: ArraySlice<UInt8> = []
        try PluginFields.forEach(data, path: path, owner: h) { (sig, payload) throws(FormatError) in
            switch sig {
            case PluginSignature.HEDR where !sawHEDR:
                guard payload.count >= 12 else { throw FormatError(path: path, cause: .malformed("HEDR of \(payload.count) bytes, expected 12")) }
                sawHEDR = true
                hedr = payload
            case PluginSignature.CNAM: author = PluginFields.zstring(payload)
            case PluginSignature.SNAM: description = PluginFields.zstring(payload)
            case PluginSignature.MAST: masters.append(PluginFields.zstring(payload))
            default: break
            }
        }
        guard sawHEDR else { throw FormatError(path: path, cause: .malformed("TES4 record has no HEDR field")) }
        version = Float(bitPattern: hedr.u32(0))
        recordCount = hedr.u32(4)
        nextObjectID = hedr.u32(8)
        self.author = author
        self.description = description
        self.masters = masters
    }
}

/// One GRUP.
public struct PluginGroup: Sendable, Equatable, Codable {
    /// Absolute offset of the group header.
    public var offset: UInt64
    /// Size including the 24-byte header.
    public var size: UInt32
    /// The raw label (a signature, FormID or block number depending on `type`).
    public var label: UInt32
    /// Group type (0 = top level).
    public var type: Int32
    /// Nesting depth, 0 for top-level groups.
    public var depth: Int
    /// Index of the enclosing group in `PluginFile.groups`.
    public var parent: Int?

    /// The label as a record signature (meaningful for top-level groups).
    public var labelSignature: String { PluginSignature.text(label) }
}

/// One record (not TES4, not GRUP).
public struct PluginRecord: Sendable, Equatable, Codable {
    /// The record flag that marks zlib-compressed data.
    public static let compressedFlag: UInt32 = 0x0004_0000
    /// The record flag that marks a deleted record.
    public static let deletedFlag: UInt32 = 0x20

    /// Record type, e.g. `NPC_`.
    public var signature: String
    /// File-local FormID (high byte = master index).
    public var formID: UInt32
    /// Record flags.
    public var flags: UInt32
    /// Absolute offset of the record header.
    public var offset: UInt64
    /// Data size as stored (for compressed records: 4 + compressed length).
    public var dataSize: UInt32
    /// Form version.
    public var formVersion: UInt16
    /// The EDID field, if the record has one.
    public var editorID: String?
    /// Declared decompressed size of a compressed record.
    public var decompressedSize: UInt32?
    /// Index of the enclosing group in `PluginFile.groups`.
    public var group: Int?
    /// SHA-256 of the (decompressed) field bytes: equal for equal content whatever the compression,
    /// the flags or the version-control stamps, which are compared separately.
    public var contentDigest: ObjectID

    /// True when the record's data is compressed.
    public var isCompressed: Bool { flags & Self.compressedFlag != 0 }
    /// Size of the whole record, header included.
    public var size: UInt64 { 24 + UInt64(dataSize) }
}

/// Iteration over the fields (subrecords) of one record's data.
enum PluginFields {
    /// Calls `body` with each field's signature and payload, honouring `XXXX` oversize fields;
    /// throws unless the fields exactly fill `data`.
    static func forEach(_ data: ArraySlice<UInt8>, path: String, owner: PluginWalker.RecordHeader,
                        _ body: (UInt32, ArraySlice<UInt8>) throws(FormatError) -> Void) throws(FormatError) {
        var i = data.startIndex
        var oversize: UInt32?
        while i < data.endIndex {
            guard data.endIndex - i >= 6 else {
                throw FormatError(path: path, cause: .endOfData(what: "field header in record \(owner.signatureText) at offset \(owner.offset)",
                                                                offset: UInt64(i - data.startIndex), needed: 6, available: UInt64(data.endIndex - i)))
            }
            let header = data[i..<(i + 6)]
            let sig = header.u32(0)
            let length = Int(oversize ?? UInt32(header.u16(4)))
            oversize = nil
            i += 6
            guard data.endIndex - i >= length else {
                throw FormatError(path: path, cause: .endOfData(what: "field \(PluginSignature.text(sig)) in record \(owner.signatureText) at offset \(owner.offset)",
                                                                offset: UInt64(i - data.startIndex), needed: UInt64(length), available: UInt64(data.endIndex - i)))
            }
            let payload = data[i..<(i + length)]
            i += length
            if sig == PluginSignature.XXXX {
                guard length == 4 else { throw FormatError(path: path, cause: .malformed("XXXX field of \(length) bytes")) }
                oversize = payload.u32(0)
                continue
            }
            try body(sig, payload)
        }
        if oversize != nil { throw FormatError(path: path, cause: .malformed("XXXX field is the last field of its record")) }
    }

    /// A NUL-terminated 8-bit string (Latin-1), without its terminator.
    static func zstring(_ payload: ArraySlice<UInt8>) -> String {
        BA2Path.decode(payload.prefix { $0 != 0 })
    }
}

/// Four-character signatures as little-endian integers.
enum PluginSignature {
    static func value(_ s: StaticString) -> UInt32 {
        let p = s.utf8Start
        return UInt32(p[0]) | UInt32(p[1]) << 8 | UInt32(p[2]) << 16 | UInt32(p[3]) << 24
    }
    static let TES4 = value("TES4"), GRUP = value("GRUP"), XXXX = value("XXXX"), EDID = value("EDID")
    static let HEDR = value("HEDR"), CNAM = value("CNAM"), SNAM = value("SNAM"), MAST = value("MAST")

    static func text(_ v: UInt32) -> String {
        let bytes = withUnsafeBytes(of: v.littleEndian) { Array($0) }
        return String(decoding: bytes.map { (0x20...0x7E).contains($0) ? $0 : 0x3F }, as: UTF8.self)
    }
}

enum PluginHex {
    static func formID(_ v: UInt32) -> String {
        let s = String(v, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, 8 - s.count)) + s
    }
}

/// Walks a plugin's framing (TES4, GRUPs by size, record headers) with every bound checked.
///
/// Shared by the parser (which reads record data) and the segmenter (which only needs headers).
enum PluginWalker {
    struct RecordHeader {
        var signature: UInt32
        var dataSize: UInt32
        var flags: UInt32
        var formID: UInt32
        var formVersion: UInt16
        var offset: UInt64
        /// The u32 size prefix of a compressed record's data.
        var decompressedSize: UInt32?

        var isCompressed: Bool { flags & PluginRecord.compressedFlag != 0 }
        var signatureText: String { PluginSignature.text(signature) }
        var size: UInt64 { 24 + UInt64(dataSize) }
    }

    struct GroupHeader {
        var offset: UInt64
        var size: UInt32
        var label: UInt32
        var type: Int32
        var depth: Int
        var end: UInt64 { offset + UInt64(size) }
    }

    enum Event {
        case tes4(RecordHeader, ArraySlice<UInt8>?)
        case groupStart(GroupHeader)
        case groupEnd(GroupHeader)
        case record(RecordHeader, ArraySlice<UInt8>?)
    }

    static func walk<R: RangeReader>(_ reader: R, path: String, limits: FormatLimits, readData: Bool,
                                     _ visit: (Event) throws(FormatError) -> Void) throws(FormatError) {
        let size = reader.size
        var seq = SequentialReader(reader, path: path)
        let magic = try seq.peek(min(4, size), what: "plugin header")
        guard magic.count == 4, magic.u32(0) == PluginSignature.TES4 else {
            throw FormatError(path: path, cause: .badMagic(expected: "TES4", found: Array(magic)))
        }
        let tes4 = try recordHeader(&seq, limitEnd: size, path: path)
        let tes4Data = try tes4.dataSize == 0 ? [] : seq.take(UInt64(tes4.dataSize), what: "TES4 data")
        try visit(.tes4(tes4, tes4Data))

        var stack: [GroupHeader] = []
        var count = 0
        while true {
            while let top = stack.last, seq.position == top.end {
                stack.removeLast()
                try visit(.groupEnd(top))
            }
            if seq.position == size { break }
            let limitEnd = stack.last?.end ?? size
            let start = seq.position
            count += 1
            guard count <= limits.maxRecords else {
                throw FormatError(path: path, cause: .limitExceeded(what: "plugin record count", value: UInt64(count), limit: UInt64(limits.maxRecords)))
            }
            let sig = try seq.peek(min(4, limitEnd - start), what: "record signature")
            if sig.count == 4, sig.u32(0) == PluginSignature.GRUP {
                guard limitEnd - start >= 24 else {
                    throw FormatError(path: path, cause: .endOfData(what: "group header", offset: start, needed: 24, available: limitEnd - start))
                }
                let h = try seq.take(24, what: "group header")
                let g = GroupHeader(offset: start, size: h.u32(4), label: h.u32(8), type: Int32(bitPattern: h.u32(12)), depth: stack.count)
                guard g.size >= 24 else { throw FormatError(path: path, cause: .malformed("group at offset \(start) has size \(g.size)")) }
                guard UInt64(g.size) <= limitEnd - start else {
                    throw FormatError(path: path, cause: .outOfBounds(what: "group at offset \(start)", offset: start, length: UInt64(g.size),
                                                                      size: limitEnd))
                }
                guard stack.count < limits.maxGroupDepth else {
                    throw FormatError(path: path, cause: .limitExceeded(what: "group nesting depth", value: UInt64(stack.count + 1),
                                                                        limit: UInt64(limits.maxGroupDepth)))
                }
                try visit(.groupStart(g))
                stack.append(g)
            } else {
                var h = try recordHeader(&seq, limitEnd: limitEnd, path: path)
                var data: ArraySlice<UInt8>?
                if h.isCompressed {
                    guard h.dataSize >= 4 else {
                        throw FormatError(path: path, cause: .malformed("compressed record at offset \(start) has only \(h.dataSize) data bytes"))
                    }
                    h.decompressedSize = try seq.peek(4, what: "decompressed size").u32(0)
                }
                if readData {
                    data = try seq.take(UInt64(h.dataSize), what: "record data")
                } else {
                    try seq.skip(UInt64(h.dataSize), what: "record data")
                }
                try visit(.record(h, data))
            }
        }
    }

    private static func recordHeader<R: RangeReader>(_ seq: inout SequentialReader<R>, limitEnd: UInt64, path: String) throws(FormatError) -> RecordHeader {
        let start = seq.position
        guard limitEnd - start >= 24 else {
            throw FormatError(path: path, cause: .endOfData(what: "record header", offset: start, needed: 24, available: limitEnd - start))
        }
        let h = try seq.take(24, what: "record header")
        let r = RecordHeader(signature: h.u32(0), dataSize: h.u32(4), flags: h.u32(8), formID: h.u32(12), formVersion: h.u16(20), offset: start)
        guard UInt64(r.dataSize) <= limitEnd - seq.position else {
            throw FormatError(path: path, cause: .endOfData(what: "data of record \(r.signatureText) at offset \(start)", offset: seq.position,
                                                            needed: UInt64(r.dataSize), available: limitEnd - seq.position))
        }
        return r
    }
}
