import Foundation
import Testing
import ModVaultCore
import ModVaultCodecs
import ModVaultCrypto
import ModVaultStore

/// Blobs written by one run: handles with their plaintext, in the order stored.
struct StoredBlobs {
    var items: [(handle: BlobHandle, bytes: [UInt8])] = []
}

/// Stores `dataCount` random blobs of `dataSize` bytes (incompressible), `textCount` compressible ones and a few trees, then flushes.
@discardableResult
func storeSample(in repo: Repository, seed: Int, dataCount: Int, dataSize: Int = 20 << 10, textCount: Int, trees: Int = 3) throws -> StoredBlobs {
    let writer = BlobWriter(repository: repo)
    let sealer = writer.makeSealer()
    var stored = StoredBlobs()
    func put(_ bytes: [UInt8], _ type: BlobType) throws {
        let handle = BlobHandle(id: repo.contentMAC.id(bytes), type: type)
        let added = try bytes.withUnsafeBytes { try writer.store(handle, plaintext: $0, sealer: sealer) }
        #expect(added >= AEAD.overhead)
        stored.items.append((handle, bytes))
    }
    for _ in 0..<dataCount { try put(SecureRandom.bytes(dataSize), .data) }
    for i in 0..<textCount { try put(Fixture.text(20_000 + i, seed: seed * 1000 + i), .data) }
    for i in 0..<trees {
        let tree = Tree(nodes: [
            TreeNode(name: "file-\(seed)-\(i).esp", type: .regular, mode: 0o644, mtimeNanos: Int64(i), size: 40 << 10,
                     content: .inline(stored.items.prefix(2).map(\.handle))),
        ])
        try put(tree.encoded(), .tree)
    }
    // Storing anything a second time adds nothing.
    for item in stored.items {
        let again = try item.bytes.withUnsafeBytes { try writer.store(item.handle, plaintext: $0, sealer: sealer) }
        #expect(again == 0)
    }
    #expect(writer.blobsAdded == stored.items.count)
    try writer.flush()
    #expect(writer.bytesAdded > Int64(stored.items.count * AEAD.overhead))
    return stored
}

func removeDatabase(of repo: String) throws {
    for suffix in ["", "-wal", "-shm"] { try FileSystem.remove(repo + "/cache/index.sqlite" + suffix) }
}

@Suite("Blob storage")
struct BlobStoreTests {
    /// Many tasks storing at once each fill a pack builder of their own; a run still ends with at most
    /// one pack under the pack size (the rest folded into it), and every blob reads back.
    @Test func concurrentStoresEndWithOnePartialPack() async throws {
        let dir = try TemporaryFolder()
        defer { dir.remove() }
        let repo = try Fixture.makeRepository(in: dir)
        let writer = BlobWriter(repository: repo)
        let blobs = (0..<320).map { _ in SecureRandom.bytes(8 << 10) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for part in 0..<8 {
                group.addTask {
                    let sealer = writer.makeSealer()
                    for bytes in blobs[(part * 40)..<(part * 40 + 40)] {
                        try bytes.withUnsafeBytes { _ = try writer.store(BlobHandle(id: repo.contentMAC.id($0), type: .data), plaintext: $0, sealer: sealer) }
                    }
                }
            }
            try await group.waitForAll()
        }
        try writer.flush()
        let packs = try FileManager.default.subpathsOfDirectory(atPath: repo.path + "/data").filter { $0.count > 64 }
        let sizes = try packs.map { try FileManager.default.attributesOfItem(atPath: repo.path + "/data/" + $0)[.size] as? Int ?? 0 }
        #expect(sizes.filter { $0 < repo.config.packSize }.count == 1, "\(sizes)")
        #expect(sizes.reduce(0, +) > blobs.count * (8 << 10))
        let reopened = try Repository.open(at: repo.path, password: Fixture.password)
        var out: [UInt8] = []
        for bytes in blobs {
            try reopened.loadBlob(BlobHandle(id: reopened.contentMAC.id(bytes), type: .data), into: &out)
            #expect(out == bytes)
        }
    }

    @Test func blobsSurviveReopeningAcrossSeveralPacks() throws {
        let dir = try TemporaryFolder()
        defer { dir.remove() }
        let path: String
        let stored: StoredBlobs
        do {
            let repo = try Fixture.makeRepository(in: dir)
            path = repo.path
            stored = try storeSample(in: repo, seed: 1, dataCount: 22, dataSize: 100 << 10, textCount: 6)
            // Readable at once, from the same instance (a sample; all are read after reopening).
            for item in [stored.items[0], stored.items[stored.items.count / 2], stored.items[stored.items.count - 1]] {
                #expect(try repo.load(item.handle) == item.bytes)
            }
        }
        let repo = try Repository.open(at: path, password: Fixture.password)
        let packs = try repo.list(.pack)
        #expect(packs.count >= 3, "\(packs.count) packs")
        #expect(try repo.list(.index).count == 1)
        #expect(try repo.index.blobCount() == stored.items.count)

        var usedPacks = Set<ObjectID>()
        var codecs = Set<Codec>()
        for item in stored.items {
            #expect(try repo.load(item.handle) == item.bytes)
            let location = try #require(try repo.index.location(of: item.handle))
            usedPacks.insert(location.pack)
            codecs.insert(location.codec)
            #expect(location.rawLength == Int64(item.bytes.count))
        }
        #expect(usedPacks == Set(packs))
        // Random blobs are stored as is, text is compressed.
        #expect(codecs == [.none, .zstd])

        // Tree blobs parse back into the trees that were stored.
        for item in stored.items where item.handle.type == .tree {
            #expect(try repo.loadTree(item.handle.id) == (try Tree.decode(item.bytes)))
        }

        // The same ID as a different type is a different blob, and is not there.
        let first = try #require(stored.items.first)
        let wrongType = BlobHandle(id: first.handle.id, type: .tree)
        let error = #expect(throws: StoreError.self) { try repo.load(wrongType) }
        if case .blobNotIndexed(let h)? = error { #expect(h == wrongType) } else {
            Issue.record("expected blobNotIndexed, got \(String(describing: error))")
        }
    }

    @Test func deduplicatesAgainstTheIndexOfEarlierRuns() throws {
        let dir = try TemporaryFolder()
        defer { dir.remove() }
        let repo = try Fixture.makeRepository(in: dir)
        let stored = try storeSample(in: repo, seed: 2, dataCount: 3, textCount: 2, trees: 1)
        let packsBefore = try repo.list(.pack)

        let reopened = try Repository.open(at: repo.path, password: Fixture.password)
        let writer = BlobWriter(repository: reopened)
        let sealer = writer.makeSealer()
        for item in stored.items {
            #expect(try writer.claim(item.handle) == false)
            #expect(try item.bytes.withUnsafeBytes { try writer.store(item.handle, plaintext: $0, sealer: sealer) } == 0)
        }
        try writer.flush()
        #expect(writer.blobsAdded == 0)
        #expect(try reopened.list(.pack) == packsBefore)
        #expect(try reopened.list(.index).count == 1)
    }

    @Test func packHeadersMatchTheIndex() throws {
        let dir = try TemporaryFolder()
        defer { dir.remove() }
        let repo = try Fixture.makeRepository(in: dir)
        let stored = try storeSample(in: repo, seed: 3, dataCount: 12, dataSize: 100 << 10, textCount: 4)
        let all = try repo.index.allBlobs()
        #expect(all.count == stored.items.count)
        #expect(try repo.list(.pack).count >= 2)
        for packID in try repo.list(.pack) {
            let file = repo.filePath(ObjectName(kind: .pack, id: packID))
            let bytes = try FileSystem.readFile(file)
            #expect(SHA256Digest.hash(bytes) == packID)
            let entries = try PackFormat.readHeader(packSize: Int64(bytes.count), cipher: repo.cipher, path: file) { offset, count in
                Array(bytes[Int(offset)..<Int(offset) + count])
            }
            #expect(!entries.isEmpty)
            for entry in entries {
                let location = try #require(try repo.index.location(of: entry.handle))
                #expect(location == BlobLocation(pack: packID, offset: entry.offset, length: entry.length,
                                                 rawLength: entry.rawLength, codec: entry.codec))
            }
        }
    }

    @Test func databaseIsRebuiltWhenDeleted() throws {
        let dir = try TemporaryFolder()
        defer { dir.remove() }
        let path: String
        let stored: StoredBlobs
        do {
            let repo = try Fixture.makeRepository(in: dir)
            path = repo.path
            stored = try storeSample(in: repo, seed: 4, dataCount: 4, textCount: 2, trees: 1)
        }
        try removeDatabase(of: path)
        #expect(!FileSystem.exists(path + "/cache/index.sqlite"))
        let repo = try Repository.open(at: path, password: Fixture.password)
        #expect(try repo.index.blobCount() == stored.items.count)
        #expect(try repo.index.loadedIndexFiles() == Set(try repo.list(.index).map(\.hex)))
        for item in stored.items { #expect(try repo.load(item.handle) == item.bytes) }
    }

    @Test func damagedDatabaseIsRebuilt() throws {
        let dir = try TemporaryFolder()
        defer { dir.remove() }
        let path: String
        let stored: StoredBlobs
        do {
            let repo = try Fixture.makeRepository(in: dir)
            path = repo.path
            stored = try storeSample(in: repo, seed: 5, dataCount: 2, textCount: 1, trees: 1)
        }
        try removeDatabase(of: path)
        try FileSystem.writeAtomically(path + "/cache/index.sqlite", bytes: Array(repeating: 0x42, count: 4096), mode: 0o644)
        let repo = try Repository.open(at: path, password: Fixture.password)
        for item in stored.items { #expect(try repo.load(item.handle) == item.bytes) }
    }

    @Test func databaseIsRebuiltWhenALoadedIndexFileDisappears() throws {
        let dir = try TemporaryFolder()
        defer { dir.remove() }
        let repo = try Fixture.makeRepository(in: dir)
        let first = try storeSample(in: repo, seed: 6, dataCount: 3, textCount: 1, trees: 1)
        let indexA = try repo.list(.index)
        #expect(indexA.count == 1)
        let second = try storeSample(in: repo, seed: 7, dataCount: 3, textCount: 1, trees: 1)
        #expect(try repo.list(.index).count == 2)
        #expect(try repo.index.blobCount() == first.items.count + second.items.count)

        try FileSystem.remove(repo.filePath(ObjectName(kind: .index, id: indexA[0])))
        let reopened = try Repository.open(at: repo.path, password: Fixture.password)
        #expect(try reopened.index.loadedIndexFiles() == Set(try reopened.list(.index).map(\.hex)))
        #expect(try reopened.index.blobCount() == second.items.count)
        for item in second.items { #expect(try reopened.load(item.handle) == item.bytes) }
        for item in first.items {
            let error = #expect(throws: StoreError.self) { try reopened.load(item.handle) }
            if case .blobNotIndexed? = error {} else { Issue.record("expected blobNotIndexed, got \(String(describing: error))") }
        }
    }

    @Test func newIndexFilesArePickedUpOnOpen() throws {
        let dir = try TemporaryFolder()
        defer { dir.remove() }
        let path: String
        let first: StoredBlobs
        do {
            let repo = try Fixture.makeRepository(in: dir)
            path = repo.path
            first = try storeSample(in: repo, seed: 8, dataCount: 2, textCount: 1, trees: 0)
        }
        // Keep a copy of the database as it was before a second run (closed, so it is self-contained).
        let saved = dir.path + "/saved-db"
        try FileSystem.makeDirectories(saved)
        let suffixes = ["", "-wal", "-shm"]
        for s in suffixes where FileSystem.exists(path + "/cache/index.sqlite" + s) {
            try FileSystem.writeAtomically(saved + "/index.sqlite" + s, bytes: try FileSystem.readFile(path + "/cache/index.sqlite" + s), mode: 0o644)
        }
        let second: StoredBlobs
        do {
            let other = try Repository.open(at: path, password: Fixture.password)
            second = try storeSample(in: other, seed: 9, dataCount: 2, textCount: 1, trees: 0)
        }
        #expect(try FileSystem.list(path + "/index").count == 2)
        // Put the stale database back: it knows only the first index file.
        try removeDatabase(of: path)
        for s in suffixes where FileSystem.exists(saved + "/index.sqlite" + s) {
            try FileSystem.writeAtomically(path + "/cache/index.sqlite" + s, bytes: try FileSystem.readFile(saved + "/index.sqlite" + s), mode: 0o644)
        }
        let reopened = try Repository.open(at: path, password: Fixture.password)
        #expect(try reopened.index.loadedIndexFiles().count == 2)
        #expect(try reopened.index.blobCount() == first.items.count + second.items.count)
        for item in first.items + second.items { #expect(try reopened.load(item.handle) == item.bytes) }
    }

    @Test func flippedByteInPackIsReportedWithThePackPath() throws {
        let dir = try TemporaryFolder()
        defer { dir.remove() }
        let repo = try Fixture.makeRepository(in: dir)
        let stored = try storeSample(in: repo, seed: 10, dataCount: 2, textCount: 2, trees: 1)
        for (i, item) in stored.items.enumerated() {
            let location = try #require(try repo.index.location(of: item.handle))
            let packPath = repo.filePath(ObjectName(kind: .pack, id: location.pack))
            let original = try FileSystem.readFile(packPath)
            // Damage the nonce, the middle of the ciphertext, or the tag.
            let position = Int(location.offset) + [0, Int(location.length) / 2, Int(location.length) - 1][i % 3]
            try rewrite(packPath) { $0[position] ^= 0x20 }
            let error = #expect(throws: StoreError.self) { try repo.load(item.handle) }
            guard case .corruptObject(let path, let reason)? = error else {
                Issue.record("expected corruptObject, got \(String(describing: error))")
                continue
            }
            #expect(path == packPath)
            #expect(reason.contains(item.handle.id.short))
            #expect(error?.kind == .corrupt)
            try rewrite(packPath) { $0 = original }
            #expect(try repo.load(item.handle) == item.bytes)
        }
    }

    @Test func truncatedPackHeaderIsCorrupt() throws {
        let dir = try TemporaryFolder()
        defer { dir.remove() }
        let repo = try Fixture.makeRepository(in: dir)
        try storeSample(in: repo, seed: 11, dataCount: 2, textCount: 1, trees: 1)
        let packID = try #require(try repo.list(.pack).first)
        let path = repo.filePath(ObjectName(kind: .pack, id: packID))
        let bytes = try FileSystem.readFile(path)
        for keep in [0, 1, 4, 31, 32, 100, bytes.count / 2, bytes.count - 4, bytes.count - 5, bytes.count - 1] {
            let truncated = Array(bytes[0..<keep])
            let error = #expect(throws: StoreError.self, "keep \(keep)") {
                try PackFormat.readHeader(packSize: Int64(truncated.count), cipher: repo.cipher, path: path) { offset, count in
                    Array(truncated[Int(offset)..<Int(offset) + count])
                }
            }
            guard case .corruptObject(let p, _)? = error else {
                Issue.record("keep \(keep): expected corruptObject, got \(String(describing: error))")
                continue
            }
            #expect(p == path)
        }
        // Dropping the start instead keeps the header readable but the blobs no longer fill the pack.
        let shifted = Array(bytes[1...])
        let error = #expect(throws: StoreError.self) {
            try PackFormat.readHeader(packSize: Int64(shifted.count), cipher: repo.cipher, path: path) { offset, count in
                Array(shifted[Int(offset)..<Int(offset) + count])
            }
        }
        if case .corruptObject? = error {} else { Issue.record("expected corruptObject, got \(String(describing: error))") }
        // Under another key the header does not open.
        let foreign = #expect(throws: StoreError.self) {
            try PackFormat.readHeader(packSize: Int64(bytes.count), cipher: AEAD(key: .random()), path: path) { offset, count in
                Array(bytes[Int(offset)..<Int(offset) + count])
            }
        }
        if case .corruptObject? = foreign {} else { Issue.record("expected corruptObject, got \(String(describing: foreign))") }
    }

    @Test func truncatedPackFileIsReportedByLoadBlob() throws {
        let dir = try TemporaryFolder()
        defer { dir.remove() }
        let repo = try Fixture.makeRepository(in: dir)
        let stored = try storeSample(in: repo, seed: 12, dataCount: 2, textCount: 0, trees: 0)
        let last = try #require(stored.items.last)
        let location = try #require(try repo.index.location(of: last.handle))
        let packPath = repo.filePath(ObjectName(kind: .pack, id: location.pack))
        try rewrite(packPath) { $0.removeSubrange(Int(location.offset + location.length / 2)...) }
        let error = #expect(throws: StoreError.self) { try repo.load(last.handle) }
        guard case .corruptObject(let path, _)? = error else {
            Issue.record("expected corruptObject, got \(String(describing: error))")
            return
        }
        #expect(path == packPath)
    }

    @Test func missingPackIsReported() throws {
        let dir = try TemporaryFolder()
        defer { dir.remove() }
        let repo = try Fixture.makeRepository(in: dir)
        let stored = try storeSample(in: repo, seed: 13, dataCount: 1, textCount: 0, trees: 0)
        let item = try #require(stored.items.first)
        let location = try #require(try repo.index.location(of: item.handle))
        let packPath = repo.filePath(ObjectName(kind: .pack, id: location.pack))
        try FileSystem.remove(packPath)
        let error = #expect(throws: StoreError.self) { try repo.load(item.handle) }
        guard case .missingObject(let path)? = error else {
            Issue.record("expected missingObject, got \(String(describing: error))")
            return
        }
        #expect(path == packPath)
    }
}

@Suite("Index files")
struct IndexFileTests {
    static func sample() -> IndexFile {
        var packs: [IndexedPack] = []
        for p in 0..<3 {
            var offset: Int64 = 0
            var entries: [PackEntry] = []
            for e in 0..<(p * 3 + 1) {
                let length = Int64(100 + e * 1000 + p)
                entries.append(PackEntry(handle: BlobHandle(id: randomID(), type: e % 3 == 0 ? .tree : .data),
                                         codec: Codec.allCases[e % 4], length: length, rawLength: length * 3 + 1, offset: offset))
                offset += length
            }
            packs.append(IndexedPack(id: randomID(), entries: entries))
        }
        packs.append(IndexedPack(id: randomID(), entries: []))
        return IndexFile(packs: packs, supersedes: [randomID(), randomID()])
    }

    @Test func encodeDecodeRoundTrip() throws {
        for file in [Self.sample(), IndexFile(packs: []), IndexFile(packs: [], supersedes: [randomID()])] {
            let bytes = file.encoded()
            #expect(bytes.first == IndexFile.version)
            #expect(try IndexFile.decode(bytes, path: "index/x") == file)
        }
        // The largest values allowed survive the varints.
        let big = IndexFile(packs: [IndexedPack(id: randomID(), entries: [
            PackEntry(handle: BlobHandle(id: randomID(), type: .data), codec: .zstd,
                      length: Int64(PackFormat.maximumBlobLength), rawLength: Int64(PackFormat.maximumBlobLength), offset: 1 << 40),
        ])])
        #expect(try IndexFile.decode(big.encoded(), path: "p") == big)
    }

    @Test func writeIndexRecordsFileAndBlobs() throws {
        let dir = try TemporaryFolder()
        defer { dir.remove() }
        let repo = try Fixture.makeRepository(in: dir)
        let file = Self.sample()
        let id = try repo.writeIndex(file)
        #expect(try repo.list(.index) == [id])
        #expect(try IndexFile.decode(try repo.loadFile(.index, id: id), path: "x") == file)
        #expect(try repo.index.loadedIndexFiles() == [id.hex])
        let entry = file.packs[1].entries[2]
        let location = try #require(try repo.index.location(of: entry.handle))
        #expect(location == BlobLocation(pack: file.packs[1].id, offset: entry.offset, length: entry.length,
                                         rawLength: entry.rawLength, codec: entry.codec))
        // A rebuild reproduces the same contents.
        let before = try repo.index.blobCount()
        try repo.rebuildIndex()
        #expect(try repo.index.blobCount() == before)
        #expect(try repo.index.location(of: entry.handle) == location)
    }

    @Test func everyTruncationThrowsCorruptObject() {
        let bytes = Self.sample().encoded()
        for keep in 0..<bytes.count {
            let error = #expect(throws: StoreError.self) { try IndexFile.decode(Array(bytes[0..<keep]), path: "index/t") }
            guard case .corruptObject(let path, _)? = error else {
                Issue.record("keep \(keep): expected corruptObject, got \(String(describing: error))")
                continue
            }
            #expect(path == "index/t")
        }
        let error = #expect(throws: StoreError.self) { try IndexFile.decode(bytes + [0], path: "index/t") }
        if case .corruptObject? = error {} else { Issue.record("trailing byte: got \(String(describing: error))") }
    }

    @Test func garbageThrowsCorruptObject() {
        var g: UInt64 = 0x1234_5678
        for length in [1, 2, 10, 33, 100, 1000, 5000] {
            for _ in 0..<5 {
                var bytes = (0..<length).map { _ -> UInt8 in
                    g = g &* 6364136223846793005 &+ 1442695040888963407
                    return UInt8(truncatingIfNeeded: g >> 56)
                }
                bytes[0] = IndexFile.version
                let error = #expect(throws: StoreError.self) { try IndexFile.decode(bytes, path: "index/g") }
                if case .corruptObject? = error {} else { Issue.record("got \(String(describing: error))") }
            }
        }
        // Counts that promise far more than the input holds.
        var w = ByteWriter()
        w.u8(IndexFile.version)
        w.varint(0)
        w.varint(UInt64(Int32.max))
        let error = #expect(throws: StoreError.self) { try IndexFile.decode(w.bytes, path: "index/g") }
        if case .corruptObject? = error {} else { Issue.record("got \(String(describing: error))") }
    }

    @Test func badTypeOrCodecThrowsCorruptObject() {
        let file = IndexFile(packs: [IndexedPack(id: randomID(), entries: [
            PackEntry(handle: BlobHandle(id: randomID(), type: .data), codec: .lz4, length: 10, rawLength: 20, offset: 0),
        ])])
        let bytes = file.encoded()
        // version, supersedes count, pack count, pack ID, entry count, then the entry's type byte.
        let typeOffset = 1 + 1 + 1 + 32 + 1
        let codecOffset = typeOffset + 1 + 32
        for (offset, value) in [(typeOffset, UInt8(5)), (codecOffset, UInt8(9))] {
            var damaged = bytes
            damaged[offset] = value
            let error = #expect(throws: StoreError.self) { try IndexFile.decode(damaged, path: "i") }
            if case .corruptObject? = error {} else { Issue.record("got \(String(describing: error))") }
        }
    }

    @Test func unknownVersionIsReported() {
        var bytes = Self.sample().encoded()
        bytes[0] = 2
        let error = #expect(throws: StoreError.self) { try IndexFile.decode(bytes, path: "index/v") }
        guard case .unsupportedVersion(let path, let version)? = error else {
            Issue.record("got \(String(describing: error))")
            return
        }
        #expect(path == "index/v")
        #expect(version == 2)
    }
}

@Suite("Index entry bounds")
struct IndexEntryBoundsTests {
    /// An index entry once could claim a 4 GiB blob, and a reader would try to read and allocate it.
    @Test(arguments: [(Int64(4) << 30, Int64(10)), (Int64(10), Int64(4) << 30)])
    func entriesClaimingHugeBlobsAreRefused(sizes: (length: Int64, rawLength: Int64)) throws {
        let id = try #require(ObjectID(bytes: [UInt8](repeating: 1, count: 32)))
        let entry = PackEntry(handle: BlobHandle(id: id, type: .data), codec: .zstd, length: sizes.length, rawLength: sizes.rawLength, offset: 0)
        let bytes = IndexFile(packs: [IndexedPack(id: id, entries: [entry])]).encoded()
        #expect(throws: StoreError.self) { try IndexFile.decode(bytes, path: "index/x") }
        let fine = PackEntry(handle: BlobHandle(id: id, type: .data), codec: .zstd, length: 1 << 20, rawLength: 2 << 20, offset: 0)
        #expect(try IndexFile.decode(IndexFile(packs: [IndexedPack(id: id, entries: [fine])]).encoded(), path: "index/x").packs.count == 1)
    }
}
