import Foundation
import Synchronization
public import ModVaultCore
public import ModVaultCrypto
public import ModVaultCodecs
public import ModVaultChunking

/// Options for creating a repository.
public struct RepositoryOptions: Sendable {
    /// FastCDC sizes.
    public var chunker: ChunkerParameters = .default
    /// Blob codec.
    public var compression: Codec = .zstd
    /// Codec level; nil for the codec's default.
    public var compressionLevel: Int? = nil
    /// Target pack size in bytes.
    public var packSize: Int = 16 << 20
    /// Key-derivation cost for the first key slot.
    public var scrypt: ScryptParameters = .default

    /// Default options.
    public init() {}
}

/// A repository in a local folder: keys, config, packs, index files and snapshots,
/// plus the local SQLite index under `cache/` (which is not part of the format).
public final class Repository: Sendable {
    /// The repository folder.
    public let path: String
    /// The decrypted configuration.
    public let config: RepositoryConfig
    /// The master secrets.
    public let masterKey: MasterKey
    /// The key slot that opened the repository.
    public let keyID: String
    /// Key slots that could not be tried when the repository was opened (the CLI warns about them).
    public let skippedKeySlots: [SkippedKeySlot]
    /// Blob-to-pack lookups.
    public let index: LocalIndex
    /// Where streams stored as they are can be found by their content (local, a cache).
    public let streamKeys: StreamKeyCache
    /// What this machine saw of the files it snapshotted, for finding them unchanged (local, a cache).
    public let fileStats: FileStatCache
    /// The cipher for every encrypted object.
    public let cipher: AEAD
    /// Computes content IDs.
    public let contentMAC: ContentMAC
    /// The configured chunker.
    public let chunker: FastCDC
    /// The configured codec.
    public let codec: Codec

    private init(path: String, config: RepositoryConfig, masterKey: MasterKey, keyID: String, skippedKeySlots: [SkippedKeySlot] = []) throws {
        self.path = path
        self.skippedKeySlots = skippedKeySlots
        self.config = config
        self.masterKey = masterKey
        self.keyID = keyID
        cipher = masterKey.cipher
        contentMAC = ContentMAC(key: masterKey.mac)
        chunker = try FastCDC(parameters: config.chunker, gear: GearTable.derive(secret: config.chunkerSecret))
        guard let codec = Codec(name: config.compression) else {
            throw StoreError.corruptObject(path: path + "/config", reason: "unknown compression '\(config.compression)'")
        }
        self.codec = codec
        try FileSystem.makeDirectories(path + "/cache", mode: 0o700)
        index = try LocalIndex(path: path + "/cache/index.sqlite")
        streamKeys = try StreamKeyCache(path: path + "/cache/streamkeys.sqlite")
        fileStats = try FileStatCache(path: path + "/cache/files.sqlite")
    }

    /// The folders every repository has.
    static let folders = ["keys", "data", "index", "snapshots", "locks"]

    /// Creates a repository's folders at `path` (`init` and `clone`): the repository and `keys/` for
    /// the owner only, because key slots are plain files anyone who can read them may attack offline.
    public static func createFolders(at path: String) throws {
        try storeIO {
            try FileSystem.makeDirectories(path, mode: 0o700)
            for folder in folders { try FileSystem.makeDirectories("\(path)/\(folder)", mode: folder == "keys" ? 0o700 : 0o755) }
            for i in 0..<256 { try FileSystem.makeDirectories("\(path)/data/\(Hex.encode([UInt8(i)]))") }
        }
    }

    // MARK: Creating and opening

    /// Creates a new repository at `path` protected by `password`.
    public static func initialize(at rawPath: String, password: [UInt8], options: RepositoryOptions = .init()) throws -> Repository {
        let path = FileSystem.absolute(rawPath)
        if FileSystem.exists(path + "/config") { throw StoreError.repositoryExists(path: path) }
        if FileSystem.exists(path) {
            guard FileSystem.isDirectory(path) else { throw StoreError.directoryNotEmpty(path: path) }
            let existing = try FileSystem.list(path)
            guard existing.isEmpty else { throw StoreError.directoryNotEmpty(path: path) }
        }
        try options.chunker.validate()
        guard (1 << 20)...(1 << 30) ~= options.packSize else {
            throw StoreError.invalidArgument("pack size must be between 1 MiB and 1 GiB")
        }
        try createFolders(at: path)
        let master = MasterKey.random()
        let config = RepositoryConfig(
            version: RepositoryConfig.currentVersion, id: SecureRandom.objectID(), chunker: options.chunker,
            chunkerSecret: .random(), compression: options.compression.description,
            compressionLevel: options.compressionLevel ?? options.compression.defaultLevel, packSize: options.packSize)
        // Key first, config last: a repository exists once its config does, and then it can be opened.
        let keyID = try writeKeySlot(KeySlot.seal(master, password: password, parameters: options.scrypt), repository: path)
        let sealedConfig = master.cipher.seal(Array(try JSONEncoder().encode(config)), associatedData: Array("config".utf8))
        try storeIO { try FileSystem.writeAtomically(path + "/config", bytes: sealedConfig) }
        return try Repository(path: path, config: config, masterKey: master, keyID: keyID)
    }

    /// Opens the repository at `path`, trying `password` against each key slot.
    public static func open(at rawPath: String, password: [UInt8]) throws -> Repository {
        let path = FileSystem.absolute(rawPath)
        guard FileSystem.exists(path + "/config") else { throw StoreError.repositoryMissing(path: path) }
        let (master, keyID, skipped) = try unlock(path: path, password: password)
        let sealed = try storeIO { try FileSystem.readFile(path + "/config") }
        guard let plain = try? master.cipher.open(sealed, associatedData: Array("config".utf8)) else {
            throw StoreError.corruptObject(path: path + "/config", reason: "authentication failed")
        }
        let config: RepositoryConfig
        do { config = try JSONDecoder().decode(RepositoryConfig.self, from: Data(plain)) } catch {
            throw StoreError.corruptObject(path: path + "/config", reason: "unreadable configuration")
        }
        guard RepositoryConfig.readableVersions.contains(config.version) else {
            throw StoreError.unsupportedVersion(path: path + "/config", version: config.version)
        }
        let repo = try Repository(path: path, config: config, masterKey: master, keyID: keyID, skippedKeySlots: skipped)
        try repo.synchronizeIndex()
        return repo
    }

    private static func unlock(path: String, password: [UInt8]) throws -> (MasterKey, String, [SkippedKeySlot]) {
        let names = try storeIO { try FileSystem.list(path + "/keys").filter { !$0.hasPrefix(".") } }
        var slots: [(name: String, bytes: [UInt8])] = []
        var skipped: [SkippedKeySlot] = []
        for name in names {
            do { slots.append((name, try FileSystem.readFile("\(path)/keys/\(name)"))) } catch {
                skipped.append(SkippedKeySlot(name: name, reason: "\(error)"))
            }
        }
        let outcome = KeySlots.unlock(slots, password: password)
        skipped += outcome.skipped
        if let master = outcome.master, let name = outcome.name { return (master, name, skipped) }
        if outcome.usable.isEmpty, let first = skipped.first {
            throw StoreError.corruptObject(path: "\(path)/keys/\(first.name)", reason: "no usable key slot in \(path)/keys (\(first.reason))")
        }
        throw StoreError.wrongPassword(path: path)
    }

    /// Writes a key slot under a random name and returns the name.
    @discardableResult
    public static func writeKeySlot(_ slot: KeySlot, repository path: String) throws -> String {
        let name = SecureRandom.objectID().hex
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        let bytes = Array(try encoder.encode(slot))
        try storeIO { try FileSystem.writeAtomically("\(path)/keys/\(name)", bytes: bytes, mode: KeySlot.fileMode) }
        return name
    }

    // MARK: Encrypted files (index, snapshots)

    /// Full path of an object.
    public func filePath(_ name: ObjectName) -> String { "\(path)/\(name.relativePath)" }

    /// Seals `plaintext` and stores it under the SHA-256 of the sealed bytes; returns that ID.
    public func saveFile(_ kind: FileKind, plaintext: [UInt8]) throws -> ObjectID {
        let sealed = cipher.seal(plaintext, associatedData: Array(kind.rawValue.utf8))
        let id = SHA256Digest.hash(sealed)
        try storeIO { try FileSystem.writeAtomically(filePath(ObjectName(kind: kind, id: id)), bytes: sealed) }
        return id
    }

    /// Loads and opens an encrypted file, checking that its contents match its name.
    public func loadFile(_ kind: FileKind, id: ObjectID) throws -> [UInt8] {
        let file = filePath(ObjectName(kind: kind, id: id))
        let sealed = try storeIO(missing: file) { try FileSystem.readFile(file) }
        return try openFile(kind, id: id, sealed: sealed, label: file)
    }

    /// Opens the sealed bytes of an encrypted file named `id`, checking first that they match the name;
    /// errors name `label`.
    func openFile(_ kind: FileKind, id: ObjectID, sealed: [UInt8], label: String) throws -> [UInt8] {
        guard SHA256Digest.hash(sealed) == id else {
            throw StoreError.corruptObject(path: label, reason: "contents do not match the file name (damaged or truncated)")
        }
        do { return try cipher.open(sealed, associatedData: Array(kind.rawValue.utf8)) } catch {
            throw StoreError.corruptObject(path: label, reason: "does not open with the repository key (\(error))")
        }
    }

    /// Checks that a file fetched from elsewhere (a remote) is one a holder of this repository's key
    /// wrote, before it is stored: its bytes match its name, and it opens with the key (every blob of
    /// a pack, its header, an index file or a snapshot). Anyone can write to a shared remote; only a
    /// key holder can make files that pass, so nothing planted enters the repository.
    public func verifyFetched(_ name: ObjectName, bytes: [UInt8]) throws {
        let label = name.relativePath
        guard let id = ObjectID(hex: name.name) else {
            throw StoreError.corruptObject(path: label, reason: "the name is not an object ID")
        }
        switch name.kind {
        case .index, .snapshot:
            _ = try openFile(name.kind, id: id, sealed: bytes, label: label)
        case .pack:
            guard SHA256Digest.hash(bytes) == id else {
                throw StoreError.corruptObject(path: label, reason: "contents do not match the file name (damaged or truncated)")
            }
            let entries = try PackFormat.readHeader(packSize: Int64(bytes.count), cipher: cipher, path: label) { offset, count in
                Array(bytes[Int(offset)..<Int(offset) + count])
            }
            let plaintext = ScratchBuffer(), scratch = BlobReadScratch()
            try bytes.withUnsafeBytes { raw in
                for e in entries {
                    let location = BlobLocation(pack: id, offset: e.offset, length: e.length, rawLength: e.rawLength, codec: e.codec)
                    try openBlob(e.handle, sealed: UnsafeRawBufferPointer(rebasing: raw[Int(e.offset)..<Int(e.offset + e.length)]),
                                 location: location, packPath: label, into: plaintext, scratch: scratch)
                }
            }
        default:
            throw StoreError.corruptObject(path: label, reason: "not a kind of file that is fetched")
        }
    }

    /// IDs of all files of a kind, skipping temporary files.
    public func list(_ kind: FileKind) throws -> [ObjectID] {
        try storeIO {
            if kind == .pack {
                var ids: [ObjectID] = []
                for sub in try FileSystem.list(path + "/data") where sub.count == 2 {
                    ids += try FileSystem.list("\(path)/data/\(sub)").compactMap { ObjectID(hex: $0) }
                }
                return ids
            }
            return try FileSystem.list("\(path)/\(kind.rawValue)").compactMap { ObjectID(hex: $0) }
        }
    }

    // MARK: Index

    /// Brings the SQLite index in line with the `index/` folder: loads new files, rebuilds if any vanished.
    ///
    /// A concurrent prune can delete index files while they are being loaded; the pass then starts
    /// over, so the cache never keeps entries from files that no longer exist.
    public func synchronizeIndex() throws {
        var attempt = 0
        while true {
            attempt += 1
            let onDisk = Set(try list(.index).map(\.hex))
            let loaded = try index.loadedIndexFiles()
            do {
                if !loaded.isSubset(of: onDisk) {
                    try index.clear()
                    try load(indexFiles: onDisk)
                } else {
                    try load(indexFiles: onDisk.subtracting(loaded))
                }
            } catch StoreError.missingObject where attempt < 5 {
                continue
            }
            // Files that vanished during the pass may have been loaded; check again and rebuild if so.
            if try index.loadedIndexFiles().isSubset(of: Set(try list(.index).map(\.hex))) { return }
            if attempt >= 5 { return try rebuildIndex() }
        }
    }

    /// Discards and rebuilds the SQLite index from the index files.
    public func rebuildIndex() throws {
        try index.clear()
        try load(indexFiles: Set(try list(.index).map(\.hex)))
    }

    private func load(indexFiles names: Set<String>) throws {
        for name in names.sorted() {
            guard let id = ObjectID(hex: name) else { continue }
            let file = try IndexFile.decode(try loadFile(.index, id: id), path: filePath(ObjectName(kind: .index, id: id)))
            try index.add(file, name: name)
        }
    }

    /// Writes an index file for `packs` and records it in the local index.
    @discardableResult
    public func writeIndex(_ file: IndexFile) throws -> ObjectID {
        let id = try saveFile(.index, plaintext: file.encoded())
        try index.add(file, name: id.hex)
        return id
    }

    // MARK: Blobs

    /// Reads, decrypts, decompresses and verifies a blob into `plaintext`, reusing `scratch` for the
    /// encrypted and compressed forms; no allocation once the buffers have grown.
    public func loadBlob(_ handle: BlobHandle, at location: BlobLocation, into plaintext: ScratchBuffer,
                         scratch: BlobReadScratch, file: OpenFile? = nil) throws {
        let packPath = filePath(ObjectName(kind: .pack, id: location.pack))
        let length = Int(location.length)
        let sealed = scratch.sealed.resize(length)
        let n = try storeIO(missing: packPath) {
            let pack = try file ?? OpenFile.openForReading(packPath)
            return try pack.read(into: sealed, at: location.offset)
        }
        guard n == length else {
            throw StoreError.corruptObject(path: packPath, reason: "blob \(handle) at offset \(location.offset) is truncated (\(n) of \(length) bytes)")
        }
        try openBlob(handle, sealed: UnsafeRawBufferPointer(sealed), location: location, packPath: packPath, into: plaintext, scratch: scratch)
    }

    /// Decrypts, decompresses and verifies a sealed blob already in memory.
    public func openBlob(_ handle: BlobHandle, sealed: UnsafeRawBufferPointer, location: BlobLocation, packPath: String,
                         into plaintext: ScratchBuffer, scratch: BlobReadScratch) throws {
        try BlobOpener(cipher: cipher, contentMAC: contentMAC)
            .open(handle, sealed: sealed, location: location, packPath: packPath, into: plaintext, scratch: scratch)
    }

    /// Reads a blob at a known location into an array (allocating; for occasional reads).
    public func loadBlob(_ handle: BlobHandle, at location: BlobLocation, into output: inout [UInt8], file: OpenFile? = nil) throws {
        let plaintext = ScratchBuffer()
        try loadBlob(handle, at: location, into: plaintext, scratch: BlobReadScratch(), file: file)
        output = plaintext.array
    }

    /// Reads one blob through the index into an array.
    public func loadBlob(_ handle: BlobHandle, into output: inout [UInt8]) throws {
        guard let location = try index.location(of: handle) else { throw StoreError.blobNotIndexed(handle) }
        try loadBlob(handle, at: location, into: &output)
    }

    /// Loads and parses a tree blob.
    public func loadTree(_ id: ObjectID) throws -> Tree {
        var out: [UInt8] = []
        try loadBlob(BlobHandle(id: id, type: .tree), into: &out)
        do { return try Tree.decode(out) } catch {
            throw StoreError.corruptObject(path: "tree \(id.short)", reason: "\(error)")
        }
    }

    /// Loads and parses a stream blob.
    public func loadStream(_ id: ObjectID) throws -> StreamBlob {
        var out: [UInt8] = []
        try loadBlob(BlobHandle(id: id, type: .stream), into: &out)
        do { return try StreamBlob.decode(out) } catch {
            throw StoreError.corruptObject(path: "stream \(id.short)", reason: "\(error)")
        }
    }

    /// Loads and parses an archive blob.
    public func loadArchive(_ id: ObjectID) throws -> ArchiveBlob {
        var out: [UInt8] = []
        try loadBlob(BlobHandle(id: id, type: .archive), into: &out)
        do { return try ArchiveBlob.decode(out) } catch {
            throw StoreError.corruptObject(path: "archive \(id.short)", reason: "\(error)")
        }
    }

    /// Loads and parses a list blob.
    public func loadList(_ id: ObjectID) throws -> ContentList {
        var out: [UInt8] = []
        try loadBlob(BlobHandle(id: id, type: .list), into: &out)
        do { return try ContentList.decode(out) } catch {
            throw StoreError.corruptObject(path: "list \(id.short)", reason: "\(error)")
        }
    }

    /// A file's content handles in order, its content list expanded and checked; errors name `path`.
    public func contentHandles(_ node: TreeNode, path: String) throws -> [BlobHandle] {
        if let inline = node.content.inlineHandles { return inline }
        do {
            return try ContentListWalk.expand(node.content, size: node.size) { try loadList($0) }
        } catch let e as ContentListError {
            throw StoreError.corruptObject(path: path, reason: "content list: \(e.reason)")
        } catch let e as StoreError {
            if case .corruptObject(let p, let r) = e { throw StoreError.corruptObject(path: path, reason: "\(p): \(r)") }
            throw e
        }
    }

    // MARK: Snapshots

    /// Stores a snapshot and returns its ID.
    public func saveSnapshot(_ snapshot: Snapshot) throws -> ObjectID {
        try saveFile(.snapshot, plaintext: Array(try Self.jsonEncoder.encode(snapshot)))
    }

    /// Loads one snapshot.
    public func loadSnapshot(_ id: ObjectID) throws -> Snapshot {
        try Self.decodeSnapshotJSON(try loadFile(.snapshot, id: id), path: filePath(ObjectName(kind: .snapshot, id: id)))
    }

    /// Parses a decrypted snapshot; `path` names it in errors.
    public static func decodeSnapshotJSON(_ plain: [UInt8], path: String) throws -> Snapshot {
        do { return try jsonDecoder.decode(Snapshot.self, from: Data(plain)) } catch {
            throw StoreError.corruptObject(path: path, reason: "unreadable snapshot")
        }
    }

    /// All snapshots, oldest first.
    public func snapshots() throws -> [SnapshotRecord] {
        try list(.snapshot).map { SnapshotRecord(id: $0, snapshot: try loadSnapshot($0)) }
            .sorted { ($0.snapshot.time, $0.id) < ($1.snapshot.time, $1.id) }
    }

    /// Resolves `latest`, a full ID or a unique prefix.
    public func resolveSnapshot(_ reference: String, among all: [SnapshotRecord]? = nil) throws -> SnapshotRecord {
        // A full ID names one file: no need to read every snapshot to find it (the web UI's links and
        // sync's state use full IDs, and a synced repository holds a snapshot per edit).
        if all == nil, reference.count == 64, let id = ObjectID(hex: reference.lowercased()) {
            guard FileSystem.exists(filePath(ObjectName(kind: .snapshot, id: id))) else { throw StoreError.snapshotNotFound(reference) }
            return SnapshotRecord(id: id, snapshot: try loadSnapshot(id))
        }
        let records = try all ?? snapshots()
        if reference == "latest" {
            guard let last = records.last else { throw StoreError.snapshotNotFound(reference) }
            return last
        }
        let prefix = reference.lowercased()
        guard !prefix.isEmpty, prefix.allSatisfy(\.isHexDigit) else { throw StoreError.snapshotNotFound(reference) }
        let matches = records.filter { $0.id.hex.hasPrefix(prefix) }
        if matches.count > 1 { throw StoreError.ambiguousSnapshot(reference, candidates: matches.map(\.id.short)) }
        guard let only = matches.first else { throw StoreError.snapshotNotFound(reference) }
        return only
    }

    static var jsonEncoder: JSONEncoder {
        let e = JSONEncoder()
        e.dateEncodingStrategy = .custom { date, encoder in
            var c = encoder.singleValueContainer()
            try c.encode(Timestamp.format(date))
        }
        e.outputFormatting = [.sortedKeys]
        return e
    }

    static var jsonDecoder: JSONDecoder {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .custom { decoder in
            let text = try decoder.singleValueContainer().decode(String.self)
            guard let date = Timestamp.parse(text) else {
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "bad time \(text)"))
            }
            return date
        }
        return d
    }
}

/// RFC 3339 timestamps with nanoseconds, in UTC.
public enum Timestamp {
    /// Formats a date as `2026-11-25T20:51:17.123456789Z`.
    public static func format(_ date: Date) -> String {
        let t = date.timeIntervalSince1970
        var secs = Int64(t.rounded(.down))
        var nanos = Int64(((t - Double(secs)) * 1e9).rounded())
        if nanos >= 1_000_000_000 { secs += 1; nanos -= 1_000_000_000 }
        var tmv = tm()
        var tt = time_t(secs)
        gmtime_r(&tt, &tmv)
        let base = String(format: "%04d-%02d-%02dT%02d:%02d:%02d", tmv.tm_year + 1900, tmv.tm_mon + 1, tmv.tm_mday, tmv.tm_hour, tmv.tm_min, tmv.tm_sec)
        return base + String(format: ".%09lldZ", nanos)
    }

    /// Parses what `format` writes (fraction optional).
    public static func parse(_ text: String) -> Date? {
        let parts = text.split(separator: ".", maxSplits: 1)
        guard let first = parts.first else { return nil }
        let main = first.hasSuffix("Z") ? String(first.dropLast()) : String(first)
        let nums = main.split(whereSeparator: { $0 == "-" || $0 == "T" || $0 == ":" }).compactMap { Int32($0) }
        guard nums.count == 6 else { return nil }
        var tmv = tm()
        tmv.tm_year = nums[0] - 1900; tmv.tm_mon = nums[1] - 1; tmv.tm_mday = nums[2]
        tmv.tm_hour = nums[3]; tmv.tm_min = nums[4]; tmv.tm_sec = nums[5]
        let secs = timegm(&tmv)
        var frac = 0.0
        if parts.count == 2 {
            let digits = parts[1].prefix { $0.isNumber }
            frac = (Double("0." + digits) ?? 0)
        }
        return Date(timeIntervalSince1970: Double(secs) + frac)
    }
}

/// A stable random identifier for this machine, kept in the user's config folder.
public enum DeviceID {
    /// Reads or creates `$XDG_CONFIG_HOME/modvault/device-id` (default `~/.config/modvault/device-id`).
    public static func current() -> String {
        let env = ProcessInfo.processInfo.environment
        let base = env["XDG_CONFIG_HOME"] ?? ((env["HOME"] ?? "/tmp") + "/.config")
        let file = base + "/modvault/device-id"
        if let bytes = try? FileSystem.readFile(file), let text = String(validating: bytes, as: UTF8.self) {
            let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
            if trimmed.count == 32, trimmed.allSatisfy(\.isHexDigit) { return trimmed }
        }
        let fresh = Hex.encode(SecureRandom.bytes(16))
        try? FileSystem.makeDirectories(base + "/modvault")
        try? FileSystem.writeAtomically(file, bytes: Array((fresh + "\n").utf8), mode: 0o644)
        return fresh
    }
}

/// Runs file-system work, turning `SystemCallError` into `StoreError` (ENOENT on `missing` into `.missingObject`).
public func storeIO<T>(missing: String? = nil, _ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let e as SystemCallError {
        if let missing, e.code == ENOENT { throw StoreError.missingObject(path: missing) }
        throw StoreError.system(e)
    }
}

/// Scratch buffers for reading blobs: the sealed bytes and the decrypted, still compressed bytes.
public final class BlobReadScratch: @unchecked Sendable {
    let sealed = ScratchBuffer()
    let opened = ScratchBuffer()

    /// Creates empty buffers; they grow to the largest blob read.
    public init() {}
}

/// Turns a sealed blob back into its verified plaintext: decrypt, decompress, check the MAC against the ID.
/// Needs only the keys, so it also serves blobs read straight from a remote.
public struct BlobOpener: Sendable {
    /// The repository's cipher.
    public let cipher: AEAD
    /// The repository's content MAC.
    public let contentMAC: ContentMAC

    /// Creates an opener from a repository's keys.
    public init(cipher: AEAD, contentMAC: ContentMAC) {
        self.cipher = cipher
        self.contentMAC = contentMAC
    }

    /// Opens `sealed` into `plaintext`; `packPath` names the pack in errors.
    public func open(_ handle: BlobHandle, sealed: UnsafeRawBufferPointer, location: BlobLocation, packPath: String,
                     into plaintext: ScratchBuffer, scratch: BlobReadScratch) throws {
        let ad = PackFormat.blobAssociatedData(handle)
        guard sealed.count >= AEAD.overhead else {
            throw StoreError.corruptObject(path: packPath, reason: "blob \(handle) at offset \(location.offset) is truncated")
        }
        // Stored blobs decrypt straight into the output; compressed ones go through the scratch buffer.
        let target = location.codec == .none ? plaintext : scratch.opened
        let opened = target.resize(sealed.count - AEAD.overhead)
        do {
            _ = try ad.withUnsafeBytes { a in try cipher.open(sealed, associatedData: a, into: opened) }
        } catch {
            throw StoreError.corruptObject(path: packPath, reason: "blob \(handle) at offset \(location.offset): \(error)")
        }
        if location.codec != .none {
            guard location.rawLength >= 0, location.rawLength <= Int64(ChunkerParameters.maximumAllowedSize) * 4 else {
                throw StoreError.corruptObject(path: packPath, reason: "blob \(handle) claims \(location.rawLength) bytes")
            }
            do {
                try Decompressor.decompress(UnsafeRawBufferPointer(opened), codec: location.codec, into: plaintext.resize(Int(location.rawLength)))
            } catch {
                throw StoreError.corruptObject(path: packPath, reason: "blob \(handle): \(error)")
            }
        } else if Int64(opened.count) != location.rawLength {
            throw StoreError.corruptObject(path: packPath, reason: "blob \(handle) has \(opened.count) bytes, index says \(location.rawLength)")
        }
        // A stream blob's ID names the stream it rebuilds, not its plaintext: the AEAD (whose
        // associated data binds type and ID) authenticates it here, and restore checks the rebuilt bytes.
        guard handle.type == .stream || contentMAC.id(plaintext.bytes) == handle.id else {
            throw StoreError.corruptObject(path: packPath, reason: "blob \(handle) content does not match its ID")
        }
    }
}
