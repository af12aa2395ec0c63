public import ModVaultCore

/// One field that differs between two versions, as text so every diff shares one JSON shape.
public struct FieldChange: Sendable, Equatable, Codable {
    /// Field name, snake_case (`width`, `content`, `stored_size`, …).
    public var field: String
    /// Value in the old version.
    public var old: String
    /// Value in the new version.
    public var new: String

    /// Creates a change.
    public init(field: String, old: String, new: String) {
        self.field = field
        self.old = old
        self.new = new
    }
}

// MARK: - BA2

/// Texture facts of a DX10 member.
public struct BA2TextureSummary: Sendable, Equatable, Codable {
    /// Width in pixels.
    public var width: Int
    /// Height in pixels.
    public var height: Int
    /// Mip levels.
    public var mipCount: Int
    /// DXGI format name.
    public var format: String
    /// True for a cubemap.
    public var cubemap: Bool

    private enum CodingKeys: String, CodingKey {
        case width, height, format, cubemap
        case mipCount = "mip_count"
    }
}

/// One BA2 member as a diff reports it.
public struct BA2MemberSummary: Sendable, Equatable, Codable {
    /// The name as stored (or the hash key when the archive has no names).
    public var path: String
    /// The normalised name the member is matched by.
    public var key: String
    /// Original size.
    public var unpackedSize: UInt64
    /// Bytes occupied in the archive.
    public var storedSize: UInt64
    /// True when any chunk is compressed.
    public var compressed: Bool
    /// Number of chunks.
    public var chunks: Int
    /// Texture facts of a DX10 member.
    public var texture: BA2TextureSummary?
    /// Content fingerprint (hex), when the caller supplied one.
    public var fingerprint: String?

    private enum CodingKeys: String, CodingKey {
        case path, key, compressed, chunks, texture, fingerprint
        case unpackedSize = "unpacked_size"
        case storedSize = "stored_size"
    }
}

/// A member present in both versions whose content or storage differs.
public struct BA2MemberChange: Sendable, Equatable, Codable {
    /// The member's path in the new version.
    public var path: String
    /// What differs.
    public var changes: [FieldChange]
    /// The old member.
    public var old: BA2MemberSummary
    /// The new member.
    public var new: BA2MemberSummary
}

/// Members added, removed and changed between two versions of one BA2, matched by normalised name.
public struct BA2Diff: Sendable, Equatable, Codable {
    /// Version of this JSON shape.
    public var schemaVersion = 1
    /// Archive-level changes (version, type, compression, member count).
    public var archive: [FieldChange]
    /// Members only in the new version, by key.
    public var added: [BA2MemberSummary]
    /// Members only in the old version, by key.
    public var removed: [BA2MemberSummary]
    /// Members whose content (or, without fingerprints, size or texture header) differs.
    public var changed: [BA2MemberChange]
    /// Members with equal content stored differently (another zlib level, raw vs compressed, another chunk split).
    public var repacked: [BA2MemberChange]
    /// Members equal in every compared respect.
    public var unchanged: Int
    /// True when content fingerprints were compared; false means only sizes and headers were.
    public var contentCompared: Bool

    private enum CodingKeys: String, CodingKey {
        case archive, added, removed, changed, repacked, unchanged
        case schemaVersion = "schema_version"
        case contentCompared = "content_compared"
    }
}

// MARK: - Plugins

/// One plugin record as a diff reports it.
public struct PluginRecordSummary: Sendable, Equatable, Codable {
    /// File-local FormID, e.g. `0x01000ABC`.
    public var formID: String
    /// The plugin that defines the form: a master's name, or empty for this plugin itself.
    public var origin: String
    /// Record type, e.g. `NPC_`.
    public var type: String
    /// EditorID, if any.
    public var editorID: String?

    private enum CodingKeys: String, CodingKey {
        case origin, type
        case formID = "form_id"
        case editorID = "editor_id"
    }
}

/// A record present in both versions whose type, flags, EditorID or content differs.
public struct PluginRecordChange: Sendable, Equatable, Codable {
    /// The record in the new version.
    public var record: PluginRecordSummary
    /// What differs (`type`, `flags`, `compressed`, `editor_id`, `content`, `form_version`).
    public var changes: [FieldChange]
}

/// Header, master-list and record changes between two versions of one plugin.
public struct PluginDiff: Sendable, Equatable, Codable {
    /// Version of this JSON shape.
    public var schemaVersion = 1
    /// HEDR and TES4 field changes other than flags and masters.
    public var header: [FieldChange]
    /// TES4 flags change (hex values and the names of bits added and removed), if any.
    public var flags: FlagsChange?
    /// Master list change, if any.
    public var masters: MastersChange?
    /// Records only in the new version.
    public var added: [PluginRecordSummary]
    /// Records only in the old version.
    public var removed: [PluginRecordSummary]
    /// Records in both that differ.
    public var changed: [PluginRecordChange]
    /// Records in both that are equal.
    public var unchanged: Int

    /// A change of the TES4 flags.
    public struct FlagsChange: Sendable, Equatable, Codable {
        /// Old flags, hex.
        public var old: String
        /// New flags, hex.
        public var new: String
        /// Names of flags set only in the new version.
        public var added: [String]
        /// Names of flags set only in the old version.
        public var removed: [String]
    }

    /// A change of the master list.
    public struct MastersChange: Sendable, Equatable, Codable {
        /// Old masters, in order.
        public var old: [String]
        /// New masters, in order.
        public var new: [String]
    }

    private enum CodingKeys: String, CodingKey {
        case header, flags, masters, added, removed, changed, unchanged
        case schemaVersion = "schema_version"
    }
}

// MARK: - DDS

/// Dimension, format and mip-count changes between two versions of one DDS file.
public struct DDSDiff: Sendable, Equatable, Codable {
    /// Version of this JSON shape.
    public var schemaVersion = 1
    /// What differs (`width`, `height`, `format`, `mip_count`, `array_size`, `cubemap`).
    public var changes: [FieldChange]

    private enum CodingKeys: String, CodingKey {
        case changes
        case schemaVersion = "schema_version"
    }
}

/// Format-aware comparisons of two parsed versions of one file. Pure: no I/O, no repository.
public enum FormatDiff {
    /// Compares two BA2 archives member by member, matched by normalised name.
    ///
    /// `oldFingerprints`/`newFingerprints` (one per entry, e.g. from `ContentFingerprint.ba2Members`,
    /// or chunk IDs the caller already has) decide whether content changed; without them, members
    /// are compared by unpacked size, chunk layout and texture header only.
    public static func ba2(old: BA2Archive, new: BA2Archive, oldFingerprints: [ObjectID]? = nil, newFingerprints: [ObjectID]? = nil) -> BA2Diff {
        var archive: [FieldChange] = []
        func note(_ field: String, _ a: String, _ b: String) {
            if a != b { archive.append(FieldChange(field: field, old: a, new: b)) }
        }
        note("version", String(old.version), String(new.version))
        note("type", old.type.rawValue, new.type.rawValue)
        note("compression", old.compression.rawValue, new.compression.rawValue)
        note("member_count", String(old.entries.count), String(new.entries.count))
        note("has_names", String(old.nameTableRange != nil), String(new.nameTableRange != nil))

        let compareContent = oldFingerprints?.count == old.entries.count && newFingerprints?.count == new.entries.count
        let oldMembers = summaries(old, compareContent ? oldFingerprints : nil)
        let newMembers = summaries(new, compareContent ? newFingerprints : nil)
        let oldByKey = Dictionary(oldMembers.map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a })

        var diff = BA2Diff(archive: archive, added: [], removed: [], changed: [], repacked: [], unchanged: 0, contentCompared: compareContent)
        var seen = Set<String>()
        for n in newMembers {
            seen.insert(n.key)
            guard let o = oldByKey[n.key] else { diff.added.append(n); continue }
            var content: [FieldChange] = []
            var storage: [FieldChange] = []
            func check(_ field: String, _ a: String, _ b: String, storageOnly: Bool = false) {
                guard a != b else { return }
                if storageOnly { storage.append(FieldChange(field: field, old: a, new: b)) } else { content.append(FieldChange(field: field, old: a, new: b)) }
            }
            check("unpacked_size", String(o.unpackedSize), String(n.unpackedSize))
            if let ot = o.texture, let nt = n.texture {
                check("width", String(ot.width), String(nt.width))
                check("height", String(ot.height), String(nt.height))
                check("mip_count", String(ot.mipCount), String(nt.mipCount))
                check("format", ot.format, nt.format)
                check("cubemap", String(ot.cubemap), String(nt.cubemap))
            }
            if compareContent {
                check("content", o.fingerprint ?? "", n.fingerprint ?? "")
            }
            // Without fingerprints a different stored size may be new content, so it counts as a change.
            check("stored_size", String(o.storedSize), String(n.storedSize), storageOnly: compareContent)
            check("compressed", String(o.compressed), String(n.compressed), storageOnly: true)
            check("chunks", String(o.chunks), String(n.chunks), storageOnly: compareContent)
            if !content.isEmpty {
                diff.changed.append(BA2MemberChange(path: n.path, changes: content + storage, old: o, new: n))
            } else if !storage.isEmpty {
                diff.repacked.append(BA2MemberChange(path: n.path, changes: storage, old: o, new: n))
            } else {
                diff.unchanged += 1
            }
        }
        diff.removed = oldMembers.filter { !seen.contains($0.key) }
        diff.added.sort { $0.key < $1.key }
        diff.removed.sort { $0.key < $1.key }
        diff.changed.sort { $0.new.key < $1.new.key }
        diff.repacked.sort { $0.new.key < $1.new.key }
        return diff
    }

    private static func summaries(_ archive: BA2Archive, _ fingerprints: [ObjectID]?) -> [BA2MemberSummary] {
        var counts: [String: Int] = [:]
        return archive.entries.enumerated().map { i, e in
            // A second member with the same name is kept apart by an occurrence suffix, not merged.
            var key = e.key
            let n = counts[key, default: 0]
            counts[key] = n + 1
            if n > 0 { key += "#\(n + 1)" }
            let texture = e.texture.map {
                BA2TextureSummary(width: Int($0.width), height: Int($0.height), mipCount: Int($0.mipCount),
                                  format: DXGI.name(UInt32($0.dxgiFormat)), cubemap: $0.isCubemap)
            }
            return BA2MemberSummary(path: e.name ?? e.key, key: key, unpackedSize: e.unpackedSize, storedSize: e.storedSize,
                                    compressed: e.chunks.contains { $0.isCompressed }, chunks: e.chunks.count, texture: texture,
                                    fingerprint: fingerprints?[i].hex)
        }
    }

    /// Compares two plugins record by record, keyed by FormID resolved through each file's master
    /// list (so reordering masters does not turn every record into a removal and an addition).
    public static func plugin(old: PluginFile, new: PluginFile) -> PluginDiff {
        var header: [FieldChange] = []
        func note(_ field: String, _ a: String, _ b: String) {
            if a != b { header.append(FieldChange(field: field, old: a, new: b)) }
        }
        note("version", String(old.header.version), String(new.header.version))
        note("form_version", String(old.header.formVersion), String(new.header.formVersion))
        note("author", old.header.author ?? "", new.header.author ?? "")
        note("description", old.header.description ?? "", new.header.description ?? "")
        note("record_count", String(old.header.recordCount), String(new.header.recordCount))
        note("next_object_id", hex(old.header.nextObjectID), hex(new.header.nextObjectID))

        var flags: PluginDiff.FlagsChange?
        if old.header.flags != new.header.flags {
            let a = Set(PluginHeader.flagNames(old.header.flags)), b = Set(PluginHeader.flagNames(new.header.flags))
            flags = PluginDiff.FlagsChange(old: hex(old.header.flags), new: hex(new.header.flags),
                                           added: b.subtracting(a).sorted(), removed: a.subtracting(b).sorted())
        }
        let masters = old.header.masters == new.header.masters ? nil
            : PluginDiff.MastersChange(old: old.header.masters, new: new.header.masters)

        let oldKeyed = keyed(old)
        let oldByKey = Dictionary(oldKeyed.map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a })
        var diff = PluginDiff(header: header, flags: flags, masters: masters, added: [], removed: [], changed: [], unchanged: 0)
        var seen = Set<String>()
        for n in keyed(new) {
            seen.insert(n.key)
            guard let o = oldByKey[n.key] else { diff.added.append(n.summary); continue }
            var changes: [FieldChange] = []
            let a = o.record, b = n.record
            if a.signature != b.signature { changes.append(FieldChange(field: "type", old: a.signature, new: b.signature)) }
            let mask = ~PluginRecord.compressedFlag
            if a.flags & mask != b.flags & mask { changes.append(FieldChange(field: "flags", old: hex(a.flags & mask), new: hex(b.flags & mask))) }
            if a.isCompressed != b.isCompressed {
                changes.append(FieldChange(field: "compressed", old: String(a.isCompressed), new: String(b.isCompressed)))
            }
            if a.editorID != b.editorID { changes.append(FieldChange(field: "editor_id", old: a.editorID ?? "", new: b.editorID ?? "")) }
            if a.formVersion != b.formVersion {
                changes.append(FieldChange(field: "form_version", old: String(a.formVersion), new: String(b.formVersion)))
            }
            if a.contentDigest != b.contentDigest {
                changes.append(FieldChange(field: "content", old: a.contentDigest.short, new: b.contentDigest.short))
            }
            if changes.isEmpty { diff.unchanged += 1 } else { diff.changed.append(PluginRecordChange(record: n.summary, changes: changes)) }
        }
        diff.removed = oldKeyed.filter { !seen.contains($0.key) }.map(\.summary)
        return diff
    }

    private struct KeyedRecord {
        var key: String
        var record: PluginRecord
        var summary: PluginRecordSummary
    }

    private static func keyed(_ file: PluginFile) -> [KeyedRecord] {
        let masters = file.header.masters
        var counts: [String: Int] = [:]
        return file.records.map { r in
            let index = Int(r.formID >> 24)
            let origin = index < masters.count ? masters[index] : (index == masters.count ? "" : "#\(index)")
            var key = origin.lowercased() + ":" + hex(r.formID & 0x00FF_FFFF)
            let n = counts[key, default: 0]
            counts[key] = n + 1
            if n > 0 { key += "#\(n + 1)" }
            return KeyedRecord(key: key, record: r,
                               summary: PluginRecordSummary(formID: hex(r.formID), origin: origin, type: r.signature, editorID: r.editorID))
        }
    }

    /// Compares two DDS headers: dimensions, format, mip count, array size and cubemap flag.
    public static func dds(old: DDSTexture, new: DDSTexture) -> DDSDiff {
        var changes: [FieldChange] = []
        func note(_ field: String, _ a: String, _ b: String) {
            if a != b { changes.append(FieldChange(field: field, old: a, new: b)) }
        }
        note("width", String(old.width), String(new.width))
        note("height", String(old.height), String(new.height))
        note("format", old.formatName, new.formatName)
        note("mip_count", String(old.mipCount), String(new.mipCount))
        note("array_size", String(old.arraySize), String(new.arraySize))
        note("cubemap", String(old.isCubemap), String(new.isCubemap))
        return DDSDiff(changes: changes)
    }

    static func hex(_ v: UInt32) -> String { "0x" + PluginHex.formID(v) }
}
