import Glibc
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

/// Writes one pack straight into a temporary file under `data/` as its blobs are sealed, hashing it
/// on the way, so memory holds the entries and not the pack: a 16 MiB pack no longer lives in memory
/// two or three times while it waits for its turn to be written. The file gets its name (the SHA-256
/// of its bytes) only when `BlobWriter` renames it, after it is synced; a process killed before that
/// leaves a `.tmp-` file that `removeStaleTemporaryFiles` clears.
final class PackFileBuilder {
    /// A finished pack: its temporary file, still open, and what goes into the index for it.
    struct Finished {
        var file: OpenFile
        var id: ObjectID
        var entries: [PackEntry]
        var size: Int64
    }

    private let folder: String
    private var file: OpenFile?
    private let hasher = DigestStream.sha256()
    private(set) var entries: [PackEntry] = []
    private(set) var size = 0

    /// Builds packs in temporaries under `folder` (the repository's `data/`).
    init(folder: String) { self.folder = folder }

    var isEmpty: Bool { entries.isEmpty }

    /// Appends an already sealed blob to the file.
    func append(_ handle: BlobHandle, codec: Codec, rawLength: Int, sealed: UnsafeRawBufferPointer) throws {
        let out = try open()
        do { try out.write(sealed) } catch {
            discard()
            throw error
        }
        hasher.update(sealed)
        entries.append(PackEntry(handle: handle, codec: codec, length: Int64(sealed.count), rawLength: Int64(rawLength), offset: Int64(size)))
        size += sealed.count
    }

    /// Appends the header and hands over the file; the builder starts a new pack on its next append.
    func finish(cipher: AEAD) throws -> Finished {
        guard let out = file else { throw SystemCallError(code: EINVAL, operation: "finish an empty pack", path: folder) }
        let header = PackFormat.sealedHeader(entries, cipher: cipher)
        do { try header.withUnsafeBytes { try out.write($0) } } catch {
            discard()
            throw error
        }
        header.withUnsafeBytes { hasher.update($0) }
        let finished = Finished(file: out, id: ObjectID(bytes: hasher.finish())!, entries: entries, size: Int64(size + header.count))
        file = nil
        entries = []
        size = 0
        return finished
    }

    /// Moves every blob of `other` (another builder of the same run, not yet finished) into this
    /// builder, reading them back from its temporary, and drops that temporary. Each time this pack
    /// reaches `packSize` it is finished into `finished` and the next blob starts a new one, so partial
    /// packs left by callers that stored at the same moment end as full packs and one partial pack.
    func absorb(_ other: PackFileBuilder, packSize: Int, cipher: AEAD, finished: inout [Finished]) throws {
        guard let source = other.file else { return }
        let reader = try OpenFile.openForReading(source.path, noFollow: true)
        for entry in other.entries {
            let sealed = try reader.read(count: Int(entry.length), at: entry.offset)
            guard sealed.count == Int(entry.length) else {
                throw SystemCallError(code: EIO, operation: "read back \(entry.length) bytes at \(entry.offset)", path: source.path)
            }
            try sealed.withUnsafeBytes { try append(entry.handle, codec: entry.codec, rawLength: Int(entry.rawLength), sealed: $0) }
            if size >= packSize { finished.append(try finish(cipher: cipher)) }
        }
        other.discard()
    }

    /// Drops the pack being built and its temporary (after a failed write).
    func discard() {
        if let file { unlink(file.path) }
        file = nil
        entries = []
        size = 0
        _ = hasher.finish()
    }

    private func open() throws -> OpenFile {
        if let file { return file }
        let path = "\(folder)/.tmp-pack-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        let created = try OpenFile.create(path, mode: 0o600)
        file = created
        return created
    }
}
