public import ModVaultCore
import ModVaultCrypto

/// Content fingerprints of BA2 members, for diffs that must see through repacks.
///
/// A fingerprint is SHA-256 over a domain byte and the SHA-256 of each 8 MiB piece of the member's
/// content (all chunks concatenated), so memory stays bounded for any member size and the value
/// does not depend on how a writer split a texture into chunks.
public enum ContentFingerprint {
    /// Piece size of the fingerprint tree.
    public static let pieceSize = 8 << 20

    /// One fingerprint per entry of `archive`, reading member data from `reader`.
    ///
    /// With `decompress`, zlib chunks are inflated first, so a member fingerprints the same whether it
    /// is stored raw or compressed at any level. A chunk that fails to inflate (or is LZ4) makes its
    /// member fingerprint its stored bytes instead, under a different domain byte, so it can never
    /// collide with a content fingerprint.
    public static func ba2Members(_ archive: BA2Archive, reader: some RangeReader, path: String = "",
                                  decompress: Bool = true) throws(FormatError) -> [ObjectID] {
        let engine = RecipeEngine()
        var result: [ObjectID] = []
        result.reserveCapacity(archive.entries.count)
        for entry in archive.entries {
            if decompress, let id = try decompressedFingerprint(entry, zlib: archive.compression == .zlib, reader: reader, path: path, engine: engine) {
                result.append(id)
                continue
            }
            var hasher = PieceHasher(domain: decompress ? 2 : 1)
            for chunk in entry.chunks {
                var offset = chunk.offset
                var left = UInt64(chunk.storedSize)
                while left > 0 {
                    let n = min(left, UInt64(pieceSize))
                    let bytes = try checkedRead(reader, offset: offset, count: n, what: "BA2 member data", path: path)
                    bytes.withUnsafeBytes { hasher.add($0) }
                    offset += n
                    left -= n
                }
            }
            result.append(hasher.finish())
        }
        return result
    }

    private static func decompressedFingerprint(_ entry: BA2Entry, zlib: Bool, reader: some RangeReader, path: String,
                                                engine: RecipeEngine) throws(FormatError) -> ObjectID? {
        var hasher = PieceHasher(domain: 0)
        for chunk in entry.chunks {
            if chunk.isCompressed {
                guard zlib else { return nil }
                if let content = reader.decompressedStream(offset: chunk.offset, count: Int(chunk.packedSize), rawSize: UInt64(chunk.unpackedSize)) {
                    content.withUnsafeBytes { hasher.add($0) }
                    continue
                }
                let stored = try checkedRead(reader, offset: chunk.offset, count: UInt64(chunk.packedSize), what: "BA2 member data", path: path)
                var content: [UInt8]?
                stored.withUnsafeBytes { s in content = try? engine.inflate(s, rawSize: UInt64(chunk.unpackedSize)) }
                guard let content else { return nil }
                content.withUnsafeBytes { hasher.add($0) }
            } else {
                var offset = chunk.offset
                var left = UInt64(chunk.unpackedSize)
                while left > 0 {
                    let n = min(left, UInt64(pieceSize))
                    let bytes = try checkedRead(reader, offset: offset, count: n, what: "BA2 member data", path: path)
                    bytes.withUnsafeBytes { hasher.add($0) }
                    offset += n
                    left -= n
                }
            }
        }
        return hasher.finish()
    }

    /// The fingerprint of bytes in memory (domain 0: content), equal to what `ba2Members` gives a
    /// member with this content; lets a loose file be compared with an archived one.
    public static func of(_ content: [UInt8]) -> ObjectID {
        var hasher = PieceHasher(domain: 0)
        content.withUnsafeBytes { hasher.add($0) }
        return hasher.finish()
    }
}

/// Hashes a byte stream in fixed pieces: SHA-256(domain ‖ SHA-256(piece₁) ‖ SHA-256(piece₂) ‖ …).
struct PieceHasher {
    private var buffer: [UInt8] = []
    private var digests: [UInt8]

    init(domain: UInt8) { digests = [domain] }

    mutating func add(_ bytes: UnsafeRawBufferPointer) {
        var rest = bytes[...]
        while !rest.isEmpty {
            let take = min(ContentFingerprint.pieceSize - buffer.count, rest.count)
            buffer.append(contentsOf: rest.prefix(take))
            rest = rest.dropFirst(take)
            if buffer.count == ContentFingerprint.pieceSize { emit() }
        }
    }

    private mutating func emit() {
        digests.append(contentsOf: SHA256Digest.hash(buffer).bytes)
        buffer.removeAll(keepingCapacity: true)
    }

    mutating func finish() -> ObjectID {
        if !buffer.isEmpty { emit() }
        return SHA256Digest.hash(digests)
    }
}
