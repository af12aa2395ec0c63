/// Options of a fixture tree: the seed and the approximate total size.
public struct FixtureOptions: Sendable {
    /// Seed of every random choice; the same seed and scale give byte-identical trees.
    public var seed: UInt64
    /// Approximate total bytes of the base tree (the result lands within ±10 %); at least 1 MiB.
    public var scaleBytes: Int64

    /// Files written in parallel; output bytes do not depend on it. Each job holds one file's working set.
    public var jobs: Int = 1

    /// Creates options; the defaults give a 64 MiB tree for seed 1.
    public init(seed: UInt64 = 1, scaleBytes: Int64 = 64 << 20) {
        self.seed = seed
        self.scaleBytes = scaleBytes
    }

    /// Smallest supported scale: below it the mandatory mods no longer fit their budgets.
    public static let minimumScale: Int64 = 1 << 20
    /// Largest supported scale (1 TiB); far beyond any benchmark, it only rejects typos.
    public static let maximumScale: Int64 = 1 << 40

    /// Parses a size such as "64M", "1.5G", "512K", "12345" or "64MiB" (binary units); nil if malformed.
    public static func parseSize(_ text: String) -> Int64? {
        var body = Substring(text.uppercased())
        for suffix in ["IB", "B"] where body.hasSuffix(suffix) && body.count > suffix.count {
            body = body.dropLast(suffix.count)
            break
        }
        var shift = 0
        if let unit = body.last, let index = "KMGT".firstIndex(of: unit) {
            shift = 10 * ("KMGT".distance(from: "KMGT".startIndex, to: index) + 1)
            body = body.dropLast()
        }
        let parts = body.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), let whole = Int64(parts[0].isEmpty ? "0" : parts[0]),
              parts[0].allSatisfy(\.isASCII), whole >= 0 else { return nil }
        guard whole < Int64.max >> shift else { return nil }
        var bytes = whole << shift
        if parts.count == 2 {
            // Decimal fraction of the unit, exact in integers: "1.5G" is 1.5 × 2^30 bytes.
            let digits = parts[1]
            guard !digits.isEmpty, digits.count <= 9, digits.allSatisfy({ $0.isASCII && $0.isNumber }), let fraction = Int64(digits) else { return nil }
            var scale: Int64 = 1
            for _ in 0..<digits.count { scale *= 10 }
            bytes += (fraction << shift) / scale
        }
        return bytes > 0 ? bytes : nil
    }
}

/// File count and bytes of one kind of file.
public struct KindTotal: Sendable, Codable, Hashable {
    /// Number of files.
    public var files: Int
    /// Total bytes of those files.
    public var bytes: Int64

    /// Creates a total.
    public init(files: Int = 0, bytes: Int64 = 0) {
        self.files = files
        self.bytes = bytes
    }
}

/// Content the generator placed in more than one spot; paths are relative to the output directory.
public struct SharedContent: Sendable, Codable, Hashable {
    /// How the two places relate.
    public enum Kind: String, Sendable, Codable {
        /// `path` and `otherPath` are byte-identical files.
        case identicalFile = "identical-file"
        /// The surface bytes of loose DDS `path` (after its header) equal the concatenated, inflated chunks of `member` in `archive`.
        case textureInArchive = "texture-in-archive"
        /// Loose file `path` equals the inflated GNRL `member` of `archive`.
        case fileInArchive = "file-in-archive"
        /// `member` of archive `path` and `otherMember` of archive `otherPath` have identical stored bytes.
        case memberInTwoArchives = "member-in-two-archives"
    }

    /// Relation between the places.
    public var kind: Kind
    /// A loose file, or the first archive for `memberInTwoArchives`.
    public var path: String
    /// Archive holding `member` (texture-in-archive, file-in-archive).
    public var archive: String?
    /// Member path inside the archive, as stored in its name table.
    public var member: String?
    /// The second file or archive.
    public var otherPath: String?
    /// Member path inside `otherPath`.
    public var otherMember: String?

    /// Creates a claim.
    public init(kind: Kind, path: String, archive: String? = nil, member: String? = nil, otherPath: String? = nil, otherMember: String? = nil) {
        self.kind = kind
        self.path = path
        self.archive = archive
        self.member = member
        self.otherPath = otherPath
        self.otherMember = otherMember
    }
}

/// A file moved to a new path with unchanged content.
public struct FixtureRename: Sendable, Codable, Hashable {
    /// Path in the base tree.
    public var from: String
    /// Path in the next tree.
    public var to: String
}

/// Content that is genuinely new in the next version, in bytes.
///
/// Counted: the replaced texture's surface bytes (all mips, decompressed), the serialized bytes of edited and
/// inserted plugin records (as written, so compressed records count compressed), the new BA2 member's
/// decompressed size, and every byte of the added mod's files. Not counted: renames, the removed mod, and
/// the small metadata edits that follow from the changes (BA2 entry tables and offsets, GRUP sizes, HEDR
/// counters, profile lines).
public struct IdealNewBytes: Sendable, Codable, Hashable {
    /// Decompressed surface bytes of the replaced texture.
    public var replacedTexture: Int64 = 0
    /// Bytes of the edited plugin records.
    public var editedRecords: Int64 = 0
    /// Bytes of the inserted plugin records.
    public var insertedRecords: Int64 = 0
    /// Decompressed bytes of the member added to the repacked archive.
    public var newMember: Int64 = 0
    /// On-disk bytes of the added mod.
    public var addedMod: Int64 = 0
    /// Sum of the above.
    public var total: Int64 { replacedTexture + editedRecords + insertedRecords + newMember + addedMod }
    /// Same, but counting the texture and new member as stored in their archives (zlib-compressed).
    public var storedTotal: Int64 = 0

    private enum CodingKeys: String, CodingKey {
        case replacedTexture, editedRecords, insertedRecords, newMember, addedMod, total, storedTotal
    }

    /// Creates an empty figure.
    public init() {}

    /// Decodes a figure (the stored `total` is recomputed).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        replacedTexture = try c.decode(Int64.self, forKey: .replacedTexture)
        editedRecords = try c.decode(Int64.self, forKey: .editedRecords)
        insertedRecords = try c.decode(Int64.self, forKey: .insertedRecords)
        newMember = try c.decode(Int64.self, forKey: .newMember)
        addedMod = try c.decode(Int64.self, forKey: .addedMod)
        storedTotal = try c.decode(Int64.self, forKey: .storedTotal)
    }

    /// Encodes the figure including `total`.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(replacedTexture, forKey: .replacedTexture)
        try c.encode(editedRecords, forKey: .editedRecords)
        try c.encode(insertedRecords, forKey: .insertedRecords)
        try c.encode(newMember, forKey: .newMember)
        try c.encode(addedMod, forKey: .addedMod)
        try c.encode(total, forKey: .total)
        try c.encode(storedTotal, forKey: .storedTotal)
    }
}

/// The changes between the base and the next version, with their locations.
public struct FixtureChanges: Sendable, Codable, Hashable {
    /// DX10 archive whose texture was replaced.
    public var replacedTextureArchive: String
    /// Path of the replaced member inside that archive.
    public var replacedTextureMember: String
    /// Plugin with edited and inserted records.
    public var editedPlugin: String
    /// FormIDs of the edited records.
    public var editedFormIDs: [UInt32]
    /// FormIDs of the inserted records.
    public var insertedFormIDs: [UInt32]
    /// HEDR record count (records + groups) of the plugin in the base version.
    public var pluginRecordCountBefore: Int
    /// HEDR record count in the next version.
    public var pluginRecordCountAfter: Int
    /// GNRL archive repacked with a new member.
    public var repackedArchive: String
    /// Path of the new member.
    public var newMember: String
    /// Entry index of the new member (everything from there on moved).
    public var newMemberIndex: Int
    /// Name of the added mod (folder under `mods/`).
    public var addedMod: String
    /// Name of the removed mod.
    public var removedMod: String
    /// Files moved without content change.
    public var renamed: [FixtureRename]
    /// Genuinely new content, see `IdealNewBytes`.
    public var idealNew: IdealNewBytes
}

/// One change of a scenario tree (see ``FixtureScenario``), with where it happened and its ideal new bytes.
public struct ScenarioChange: Sendable, Codable, Hashable {
    /// The change; never ``FixtureScenario/all``, which lists its parts one by one.
    public var scenario: FixtureScenario
    /// Files rewritten with new bytes (archives, the plugin).
    public var changed: [String] = []
    /// Files the change added (loose DDS files).
    public var added: [String] = []
    /// Files moved without content change.
    public var renamed: [FixtureRename] = []
    /// The archive member concerned: the replaced texture, or the inserted script (entry 0).
    public var member: String?
    /// FormIDs of the edited plugin records.
    public var editedFormIDs: [UInt32]?
    /// FormIDs of the inserted plugin records.
    public var insertedFormIDs: [UInt32]?
    /// Genuinely new bytes of this change, as defined by ``FixtureScenario``.
    public var idealNewBytes: Int64 = 0
}

/// What a generator run wrote.
public struct FixtureSummary: Sendable, Codable {
    /// "base", "next" or "scenario" (the flat-data layout: "base", or "scenario" when edited).
    public var version: String
    /// Seed used.
    public var seed: UInt64
    /// Requested scale in bytes.
    public var scaleBytes: Int64
    /// Files written.
    public var files: Int
    /// Bytes written.
    public var bytes: Int64
    /// Mods in the tree (separators included).
    public var mods: Int
    /// Files and bytes per kind: ba2, dds, plugin, nif, pex, bgsm, text, sound, dll.
    public var byKind: [String: KindTotal]
    /// Content the generator placed in more than one spot.
    public var shared: [SharedContent]
    /// For the next version: what changed relative to the base.
    public var changes: FixtureChanges?
    /// For the next version: `changes.idealNew.total`; for a scenario the sum of its changes' ideal bytes; 0 for the base.
    public var idealNewBytes: Int64
    /// For a scenario tree: its name (``FixtureScenario`` raw value).
    public var scenario: String? = nil
    /// For a scenario tree: its changes, in the order they were applied.
    public var scenarioChanges: [ScenarioChange]? = nil
    /// "flat-data" for ``FixtureGenerator/writeFlatData(_:layout:edited:to:)``; absent for the MO2 folder.
    public var layout: String? = nil
    /// For the flat-data layout: members over all of its archives.
    public var archiveMembers: Int? = nil
}
