public import ModVaultCore
public import ModVaultCodecs

/// The blobs of one pack, as recorded in an index file.
public struct IndexedPack: Sendable, Equatable {
    /// The pack ID (SHA-256 of the pack file).
    public var id: ObjectID
    /// The pack's blobs.
    public var entries: [PackEntry]

    /// Creates a record.
    public init(id: ObjectID, entries: [PackEntry]) {
        self.id = id
        self.entries = entries
    }
}

/// An index file: which blobs each listed pack holds. Stored encrypted as `index/<sha256>`.
///
/// Index files are only ever added; `supersedes` lets a later compaction name the files
/// it replaces so that readers can ignore them once the replacement exists.
public struct IndexFile: Sendable, Equatable {
    /// Format version written by this build.
    public static let version: UInt8 = 1
    /// Packs covered.
    public var packs: [IndexedPack]
    /// Index files this one replaces.
    public var supersedes: [ObjectID]

    /// Creates an index file.
    public init(packs: [IndexedPack], supersedes: [ObjectID] = []) {
        self.packs = packs
        self.supersedes = supersedes
    }

    /// Binary encoding (before encryption).
    public func encoded() -> [UInt8] {
        var w = ByteWriter(capacity: 64 + packs.reduce(0) { $0 + 40 + $1.entries.count * 48 })
        w.u8(Self.version)
        w.varint(UInt64(supersedes.count))
        for id in supersedes { w.id(id) }
        w.varint(UInt64(packs.count))
        for pack in packs {
            w.id(pack.id)
            w.varint(UInt64(pack.entries.count))
            for e in pack.entries {
                w.u8(e.handle.type.rawValue)
                w.id(e.handle.id)
                w.u8(e.codec.rawValue)
                w.varint(UInt64(e.offset))
                w.varint(UInt64(e.length))
                w.varint(UInt64(e.rawLength))
            }
        }
        return w.bytes
    }

    /// Parses the binary encoding; malformed input throws.
    public static func decode(_ bytes: [UInt8], path: String) throws(StoreError) -> IndexFile {
        var r = ByteReader(bytes)
        do {
            let v = try r.u8()
            guard v == version else { throw StoreError.unsupportedVersion(path: path, version: Int(v)) }
            let supersededCount = try r.count(limit: bytes.count / 32)
            var supersedes: [ObjectID] = []
            for _ in 0..<supersededCount { supersedes.append(try r.id()) }
            let packCount = try r.count(limit: bytes.count / 33)
            var packs: [IndexedPack] = []
            packs.reserveCapacity(packCount)
            for _ in 0..<packCount {
                let id = try r.id()
                let n = try r.count(limit: bytes.count / 36)
                var entries: [PackEntry] = []
                entries.reserveCapacity(n)
                for _ in 0..<n {
                    guard let type = BlobType(rawValue: try r.u8()) else { throw ByteReader.Malformed(what: "blob type") }
                    let blob = try r.id()
                    guard let codec = Codec(rawValue: try r.u8()) else { throw ByteReader.Malformed(what: "codec") }
                    let offset = Int64(try r.count(limit: Int(Int64.max >> 1)))
                    // Sizes from a file anyone may have written are bounded before anything trusts them.
                    let length = Int64(try r.count(limit: PackFormat.maximumBlobLength))
                    let rawLength = Int64(try r.count(limit: PackFormat.maximumBlobLength))
                    entries.append(PackEntry(handle: BlobHandle(id: blob, type: type), codec: codec, length: length, rawLength: rawLength, offset: offset))
                }
                packs.append(IndexedPack(id: id, entries: entries))
            }
            guard r.isAtEnd else { throw ByteReader.Malformed(what: "trailing bytes") }
            return IndexFile(packs: packs, supersedes: supersedes)
        } catch let e as StoreError {
            throw e
        } catch {
            throw .corruptObject(path: path, reason: "index file: \(error)")
        }
    }
}
