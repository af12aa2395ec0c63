public import ModVaultCore

/// The plaintext of an `archive` blob: a file stored as another file's content plus a plan that
/// rebuilds it (today a BA2 repacked at another zlib level: `ModVaultFormats.BA2RepackPlan`).
///
/// A repack rewrites every compressed stream of an archive but no member's content; stored this way
/// it costs one small blob instead of a stream blob, index entry and list entry per stream. The file's
/// tree node names this blob alone. Its ID is the content MAC of the plaintext, like a list's; restore
/// accepts the rebuilt bytes only if their SHA-256 equals `digest` (Docs/FORMAT.md §8b).
public struct ArchiveBlob: Sendable, Equatable {
    /// How the plan is to be read.
    public enum Kind: UInt8, Sendable {
        /// A BA2 archive with the base's members, some chunks recompressed.
        case ba2Repack = 1
    }

    /// Encoding version.
    public static let version: UInt8 = 1
    /// Longest plan accepted (a run per chunk of an archive with 100,000 members, and room to spare).
    public static let maximumPlanLength = 4 << 20

    /// What `plan` encodes.
    public var kind: Kind
    /// The content of the file this one is rebuilt from: data and stream blobs, inline or as a list.
    /// Never another archive blob, so rebuilding one file reads exactly one other.
    public var base: FileContent
    /// The base file's size in bytes.
    public var baseSize: UInt64
    /// This file's size in bytes.
    public var size: UInt64
    /// SHA-256 of this file's bytes.
    public var digest: ObjectID
    /// The encoded plan.
    public var plan: [UInt8]

    /// Creates an archive blob.
    public init(kind: Kind, base: FileContent, baseSize: UInt64, size: UInt64, digest: ObjectID, plan: [UInt8]) {
        self.kind = kind
        self.base = base
        self.baseSize = baseSize
        self.size = size
        self.digest = digest
        self.plan = plan
    }

    /// `u8 version ‖ u8 kind ‖ base (u8 form ‖ form 0: varint count ‖ count × (u8 type ‖ ID);
    /// form 1: list root ID ‖ varint count) ‖ varint base size ‖ varint size ‖ SHA-256 (32)
    /// ‖ varint plan length ‖ plan`.
    public func encoded() -> [UInt8] {
        var w = ByteWriter(capacity: 96 + plan.count)
        w.u8(Self.version)
        w.u8(kind.rawValue)
        base.encode(into: &w)
        w.varint(baseSize)
        w.varint(size)
        w.id(digest)
        w.varint(UInt64(plan.count))
        w.raw(plan)
        return w.bytes
    }

    /// Parses `encoded()` output; anything else throws. The base may name only data and stream blobs.
    public static func decode(_ bytes: [UInt8]) throws(ByteReader.Malformed) -> ArchiveBlob {
        var r = ByteReader(bytes)
        do {
            guard try r.u8() == version else { throw ByteReader.Malformed(what: "archive blob version") }
            let kindByte = try r.u8()
            guard let kind = Kind(rawValue: kindByte) else { throw ByteReader.Malformed(what: "archive blob kind \(kindByte)") }
            let base = try FileContent.decode(from: &r, allowed: [.data, .stream])
            let baseSize = try r.varint()
            let size = try r.varint()
            let digest = try r.id()
            let planLength = try r.count(limit: min(r.remaining, maximumPlanLength))
            let plan = Array(try r.raw(planLength))
            guard r.isAtEnd else { throw ByteReader.Malformed(what: "trailing bytes in archive blob") }
            guard baseSize <= UInt64(Int64.max), size <= UInt64(Int64.max) else { throw ByteReader.Malformed(what: "archive blob sizes") }
            return ArchiveBlob(kind: kind, base: base, baseSize: baseSize, size: size, digest: digest, plan: plan)
        } catch let e as ByteReader.Malformed {
            throw e
        } catch {
            throw ByteReader.Malformed(what: "\(error)")
        }
    }
}
