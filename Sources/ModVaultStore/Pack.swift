public import ModVaultCore
public import ModVaultCodecs
public import ModVaultCrypto
internal import ModVaultChunking

/// Where one blob lives and how to decode it.
public struct BlobLocation: Sendable, Equatable {
    /// The pack holding the blob.
    public var pack: ObjectID
    /// Byte offset of the sealed blob inside the pack.
    public var offset: Int64
    /// Length of the sealed blob (nonce + ciphertext + tag).
    public var length: Int64
    /// Length of the plaintext after decompression.
    public var rawLength: Int64
    /// Codec of the plaintext inside the seal.
    public var codec: Codec

    /// Creates a location.
    public init(pack: ObjectID, offset: Int64, length: Int64, rawLength: Int64, codec: Codec) {
        self.pack = pack
        self.offset = offset
        self.length = length
        self.rawLength = rawLength
        self.codec = codec
    }
}

/// One blob as listed in a pack header.
public struct PackEntry: Sendable, Equatable {
    /// Blob type and ID.
    public var handle: BlobHandle
    /// Codec of the sealed plaintext.
    public var codec: Codec
    /// Sealed length.
    public var length: Int64
    /// Decompressed length.
    public var rawLength: Int64
    /// Offset inside the pack (derived from the lengths before it).
    public var offset: Int64

    /// Creates an entry.
    public init(handle: BlobHandle, codec: Codec, length: Int64, rawLength: Int64, offset: Int64) {
        self.handle = handle
        self.codec = codec
        self.length = length
        self.rawLength = rawLength
        self.offset = offset
    }
}

/// Pack file layout: `blob* ‖ sealed header ‖ u32 header length`.
///
/// Each blob is sealed on its own (associated data: type byte ‖ blob ID) so any blob can be
/// read with one ranged request; the header is sealed too, so a pack reveals only its size.
public enum PackFormat {
    /// Header format version.
    public static let version: UInt8 = 1
    static let headerAssociatedData = Array("modvault-pack-header".utf8)

    /// The associated data binding a sealed blob to its identity.
    public static func blobAssociatedData(_ handle: BlobHandle) -> [UInt8] {
        var ad = [handle.type.rawValue]
        handle.id.withBytes { ad.append(contentsOf: $0) }
        return ad
    }

    /// Serialises and seals the header for `entries`.
    static func sealedHeader(_ entries: [PackEntry], cipher: AEAD) -> [UInt8] {
        var w = ByteWriter(capacity: 16 + entries.count * 44)
        w.u8(version)
        w.varint(UInt64(entries.count))
        for e in entries {
            w.u8(e.handle.type.rawValue)
            w.id(e.handle.id)
            w.u8(e.codec.rawValue)
            w.varint(UInt64(e.length))
            w.varint(UInt64(e.rawLength))
        }
        var out = cipher.seal(w.bytes, associatedData: headerAssociatedData)
        withUnsafeBytes(of: UInt32(out.count).littleEndian) { out.append(contentsOf: $0) }
        return out
    }

    /// The largest blob, sealed or opened, any structure may claim: four times the largest chunk
    /// (a tree or list of a huge folder or file), so a claim from a hostile index or pack header can
    /// never make a reader allocate gigabytes.
    public static let maximumBlobLength = 4 * ChunkerParameters.maximumAllowedSize + 4096

    /// Reads and verifies the header of a pack of `packSize` bytes, given a way to read ranges of it.
    public static func readHeader(packSize: Int64, cipher: AEAD, path: String,
                                  read: (Int64, Int) throws -> [UInt8]) throws -> [PackEntry] {
        guard packSize >= 4 + Int64(AEAD.overhead) else {
            throw StoreError.corruptObject(path: path, reason: "pack of \(packSize) bytes is too short")
        }
        let lengthBytes = try read(packSize - 4, 4)
        let headerLength = Int64(UInt32(lengthBytes[0]) | UInt32(lengthBytes[1]) << 8 | UInt32(lengthBytes[2]) << 16 | UInt32(lengthBytes[3]) << 24)
        guard headerLength >= Int64(AEAD.overhead), headerLength <= packSize - 4 else {
            throw StoreError.corruptObject(path: path, reason: "header length \(headerLength) does not fit the pack")
        }
        let sealed = try read(packSize - 4 - headerLength, Int(headerLength))
        let plain: [UInt8]
        do {
            plain = try cipher.open(sealed, associatedData: headerAssociatedData)
        } catch {
            throw StoreError.corruptObject(path: path, reason: "pack header \(error)")
        }
        var r = ByteReader(plain)
        do {
            let v = try r.u8()
            guard v == version else { throw StoreError.unsupportedVersion(path: path, version: Int(v)) }
            let count = try r.count(limit: plain.count / 35)
            var entries: [PackEntry] = []
            entries.reserveCapacity(count)
            var offset: Int64 = 0
            let dataEnd = packSize - 4 - headerLength
            for _ in 0..<count {
                guard let type = BlobType(rawValue: try r.u8()) else { throw ByteReader.Malformed(what: "blob type") }
                let id = try r.id()
                guard let codec = Codec(rawValue: try r.u8()) else { throw ByteReader.Malformed(what: "codec") }
                let length = Int64(try r.count(limit: min(Int(dataEnd), maximumBlobLength)))
                let rawLength = Int64(try r.count(limit: maximumBlobLength))
                guard offset + length <= dataEnd else { throw ByteReader.Malformed(what: "blob runs past the header") }
                entries.append(PackEntry(handle: BlobHandle(id: id, type: type), codec: codec, length: length, rawLength: rawLength, offset: offset))
                offset += length
            }
            guard offset == dataEnd else { throw ByteReader.Malformed(what: "blobs do not fill the pack") }
            return entries
        } catch let e as ByteReader.Malformed {
            throw StoreError.corruptObject(path: path, reason: "pack header: \(e)")
        }
    }
}

/// Accumulates sealed blobs for one pack in a buffer that is reused from pack to pack.
final class PackBuilder {
    private(set) var buffer: [UInt8] = []
    private(set) var entries: [PackEntry] = []

    init(capacity: Int) { buffer.reserveCapacity(capacity) }

    var size: Int { buffer.count }
    var isEmpty: Bool { entries.isEmpty }

    /// Appends an already sealed blob.
    func append(_ handle: BlobHandle, codec: Codec, rawLength: Int, sealed: UnsafeRawBufferPointer) {
        entries.append(PackEntry(handle: handle, codec: codec, length: Int64(sealed.count), rawLength: Int64(rawLength), offset: Int64(buffer.count)))
        buffer.append(contentsOf: sealed)
    }

    /// Appends the header and returns the finished pack bytes with its entries, continuing in
    /// `replacement` (an empty buffer, ideally one whose capacity is recycled from an earlier pack).
    func finish(cipher: AEAD, replacement: [UInt8]) -> (bytes: [UInt8], entries: [PackEntry]) {
        buffer.append(contentsOf: PackFormat.sealedHeader(entries, cipher: cipher))
        var result = (bytes: replacement, entries: [PackEntry]())
        swap(&result.bytes, &buffer)
        swap(&result.entries, &entries)
        return result
    }
}
