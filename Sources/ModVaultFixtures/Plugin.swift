/// One field (subrecord) of a plugin record.
public struct PluginField: Sendable, Hashable {
    /// Four-character type, e.g. `EDID`.
    public var signature: String
    /// Field data; more than 65,535 bytes is written with an `XXXX` size field in front.
    public var data: [UInt8]

    /// Creates a field.
    public init(_ signature: String, _ data: [UInt8]) {
        self.signature = signature
        self.data = data
    }
}

/// One record of a Fallout 4 plugin (form version 131 unless set otherwise).
public struct PluginRecord: Sendable, Hashable {
    /// Record flag 0x00040000: data is a u32 decompressed size followed by a zlib stream.
    public static let compressedFlag: UInt32 = 0x0004_0000

    /// Four-character record type, e.g. `WEAP`.
    public var signature: String
    /// Record flags; set `compressedFlag` to have the writer compress the fields.
    public var flags: UInt32
    /// File-local FormID (high byte = master index).
    public var formID: UInt32
    /// Version-control timestamp.
    public var timestamp: UInt16
    /// Version-control user information.
    public var versionControl: UInt16
    /// Form version; the current Creation Kit writes 131.
    public var formVersion: UInt16
    /// Fields in order.
    public var fields: [PluginField]

    /// Creates a record.
    public init(
        _ signature: String, formID: UInt32, flags: UInt32 = 0, timestamp: UInt16 = 0, versionControl: UInt16 = 0,
        formVersion: UInt16 = 131, fields: [PluginField]
    ) {
        self.signature = signature
        self.formID = formID
        self.flags = flags
        self.timestamp = timestamp
        self.versionControl = versionControl
        self.formVersion = formVersion
        self.fields = fields
    }

    /// Whether the record is written compressed.
    public var isCompressed: Bool { flags & Self.compressedFlag != 0 }
}

/// A top-level group (type 0) holding records of one signature.
public struct PluginGroup: Sendable, Hashable {
    /// Label: the record signature of the group's records.
    public var label: String
    /// Records in file order.
    public var records: [PluginRecord]
    /// Version-control timestamp of the group header.
    public var timestamp: UInt16

    /// Creates a top-level group.
    public init(_ label: String, records: [PluginRecord], timestamp: UInt16 = 0) {
        self.label = label
        self.records = records
        self.timestamp = timestamp
    }
}

/// Contents of the `TES4` header record.
public struct PluginHeader: Sendable, Hashable {
    /// TES4 flag: master file.
    public static let esmFlag: UInt32 = 0x1
    /// TES4 flag: light (ESL) plugin.
    public static let lightFlag: UInt32 = 0x200

    /// HEDR version: 1.0 for current Fallout 4.
    public var version: Float
    /// HEDR next object ID.
    public var nextObjectID: UInt32
    /// CNAM author; the Creation Kit writes "DEFAULT".
    public var author: String
    /// SNAM description, omitted when nil.
    public var description: String?
    /// Master file names in MAST order.
    public var masters: [String]
    /// TES4 record flags (ESM, light, localized…).
    public var flags: UInt32
    /// INTV value; the Creation Kit writes 1.
    public var intv: UInt32

    /// Creates a header.
    public init(
        version: Float = 1.0, nextObjectID: UInt32, author: String = "DEFAULT", description: String? = nil,
        masters: [String] = ["Fallout4.esm"], flags: UInt32 = 0, intv: UInt32 = 1
    ) {
        self.version = version
        self.nextObjectID = nextObjectID
        self.author = author
        self.description = description
        self.masters = masters
        self.flags = flags
        self.intv = intv
    }
}

/// Serialises plugins: TES4, then top-level GRUPs whose sizes and HEDR counts are computed, not trusted.
public enum PluginWriter {
    /// The zlib settings used for compressed records (the Creation Kit's exact choice is unknown; zlib's default).
    public static let recordZlib = ZlibSettings.creationKit

    /// Serialised fields, with `XXXX` in front of any field longer than 65,535 bytes.
    public static func fieldBytes(_ fields: [PluginField]) -> [UInt8] {
        var b = ByteBuilder(capacity: fields.reduce(0) { $0 + $1.data.count + 6 })
        for field in fields {
            if field.data.count > 0xFFFF {
                b.fourCC("XXXX")
                b.u16(4)
                b.u32(UInt32(field.data.count))
                b.fourCC(field.signature)
                b.u16(0)
            } else {
                b.fourCC(field.signature)
                b.u16(UInt16(field.data.count))
            }
            b.raw(field.data)
        }
        return b.bytes
    }

    /// One record: 24-byte header plus fields, compressed when the record's flag says so.
    public static func recordBytes(_ record: PluginRecord) -> [UInt8] {
        var body = fieldBytes(record.fields)
        if record.isCompressed {
            var packed = ByteBuilder(capacity: body.count / 2 + 16)
            packed.u32(UInt32(body.count))
            packed.raw(FixtureZlib.deflate(body, settings: recordZlib))
            body = packed.bytes
        }
        var b = ByteBuilder(capacity: body.count + 24)
        b.fourCC(record.signature)
        b.u32(UInt32(body.count))
        b.u32(record.flags)
        b.u32(record.formID)
        b.u16(record.timestamp)
        b.u16(record.versionControl)
        b.u16(record.formVersion)
        b.u16(0)
        b.raw(body)
        return b.bytes
    }

    /// The TES4 record, with HEDR "number of records" = `recordCount`.
    public static func headerRecord(_ header: PluginHeader, recordCount: Int) -> [UInt8] {
        var hedr = ByteBuilder(capacity: 12)
        hedr.f32(header.version)
        hedr.u32(UInt32(recordCount))
        hedr.u32(header.nextObjectID)
        var fields = [PluginField("HEDR", hedr.bytes)]
        var author = ByteBuilder()
        author.zstring(header.author)
        fields.append(PluginField("CNAM", author.bytes))
        if let description = header.description {
            var snam = ByteBuilder()
            snam.zstring(description)
            fields.append(PluginField("SNAM", snam.bytes))
        }
        for master in header.masters {
            var mast = ByteBuilder()
            mast.zstring(master)
            fields.append(PluginField("MAST", mast.bytes))
            fields.append(PluginField("DATA", [UInt8](repeating: 0, count: 8)))
        }
        var intv = ByteBuilder(capacity: 4)
        intv.u32(header.intv)
        fields.append(PluginField("INTV", intv.bytes))
        return recordBytes(PluginRecord("TES4", formID: 0, flags: header.flags, fields: fields))
    }

    /// HEDR's record count: every record and group after TES4 (empty groups are not written).
    public static func recordCount(_ groups: [PluginGroup]) -> Int {
        groups.reduce(0) { $0 + ($1.records.isEmpty ? 0 : 1 + $1.records.count) }
    }

    /// A whole plugin in memory.
    public static func bytes(header: PluginHeader, groups: [PluginGroup]) -> [UInt8] {
        let sink = MemorySink()
        try! write(header: header, groups: groups, into: sink)  // a memory sink cannot fail
        return sink.data
    }

    /// A group header followed by its records; the size field covers the header itself.
    public static func groupBytes(_ group: PluginGroup) -> [UInt8] {
        let sink = MemorySink()
        try! writeGroup(group, into: sink)
        return sink.data
    }

    /// Writes a plugin to `path`, one record at a time; returns its size.
    @discardableResult
    public static func write(header: PluginHeader, groups: [PluginGroup], to path: String) throws -> UInt64 {
        let file = try OutputFile(path: path)
        try write(header: header, groups: groups, into: file)
        return try file.close()
    }

    static func write(header: PluginHeader, groups: [PluginGroup], into sink: ByteSink) throws {
        try sink.write(headerRecord(header, recordCount: recordCount(groups)))
        for group in groups where !group.records.isEmpty { try writeGroup(group, into: sink) }
    }

    /// Streams a group: header with a placeholder size, the records, then the size patched in.
    static func writeGroup(_ group: PluginGroup, into sink: ByteSink) throws {
        let start = sink.position
        var b = ByteBuilder(capacity: 24)
        b.fourCC("GRUP")
        b.u32(0)
        b.fourCC(group.label)
        b.i32(0)
        b.u16(group.timestamp)
        b.u16(0)
        b.u32(0)
        try sink.write(b.bytes)
        for record in group.records { try sink.write(recordBytes(record)) }
        var size = ByteBuilder(capacity: 4)
        size.u32(UInt32(sink.position - start))
        try sink.patch(at: start + 4, size.bytes)
    }
}
