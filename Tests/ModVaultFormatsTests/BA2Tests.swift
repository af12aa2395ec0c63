import Testing
import Glibc
import ModVaultCore
@testable import ModVaultFormats

@Suite("BA2 parser")
struct BA2Tests {
    struct Expected: Sendable, CustomTestStringConvertible {
        var path: String
        var version: UInt32
        var type: BA2Archive.ArchiveType
        var names: [String]?
        var compressedBlobs: Int
        var chunkCounts: [Int]
        var testDescription: String { path }
    }

    /// The §6 table of the format notes.
    static let expected: [Expected] = [
        Expected(path: "testing-plugins/Blank - Main.ba2", version: 1, type: .general,
                 names: ["dev\\git\\testing-plugins\\LICENSE.txt"], compressedBlobs: 0, chunkCounts: [1]),
        Expected(path: "testing-plugins/Blank - Textures.ba2", version: 1, type: .textures,
                 names: nil, compressedBlobs: 2, chunkCounts: [2]),
        Expected(path: "bsa-rs/fo4_next_gen_test/gnrl_v7.ba2", version: 7, type: .general,
                 names: ["License.txt", "SampleA.png"], compressedBlobs: 2, chunkCounts: [1, 1]),
        Expected(path: "bsa-rs/fo4_next_gen_test/gnrl_v8.ba2", version: 8, type: .general,
                 names: ["License.txt", "SampleA.png"], compressedBlobs: 2, chunkCounts: [1, 1]),
        Expected(path: "bsa-rs/fo4_next_gen_test/dx10_v7.ba2", version: 7, type: .textures,
                 names: nil, compressedBlobs: 3, chunkCounts: [3]),
        Expected(path: "bsa-rs/fo4_next_gen_test/dx10_v8.ba2", version: 8, type: .textures,
                 names: nil, compressedBlobs: 3, chunkCounts: [3]),
        Expected(path: "bsa-rs/fo4_dds_test/in.ba2", version: 1, type: .textures,
                 names: nil, compressedBlobs: 0, chunkCounts: [3]),
        Expected(path: "bsa-rs/fo4_compression_test/normal.ba2", version: 1, type: .general,
                 names: nil, compressedBlobs: 19, chunkCounts: Array(repeating: 1, count: 19)),
        Expected(path: "bsa-rs/fo4_compression_test/xbox.ba2", version: 1, type: .general,
                 names: nil, compressedBlobs: 19, chunkCounts: Array(repeating: 1, count: 19)),
        Expected(path: "bsa-rs/common_guess_test/fo4.ba2", version: 1, type: .general,
                 names: ["misc/example.txt"], compressedBlobs: 0, chunkCounts: [1]),
    ]

    @Test("valid public samples parse with the documented counts", arguments: expected)
    func validSamples(_ e: Expected) throws {
        let reader = try PublicFixtures.reader(e.path)
        let a = try BA2Archive.parse(reader, path: e.path)
        #expect(a.version == e.version)
        #expect(a.type == e.type)
        #expect(a.headerLength == 24)
        #expect(a.compression == .zlib)
        #expect(a.entries.map(\.chunks.count) == e.chunkCounts)
        #expect(a.entries.flatMap(\.chunks).filter(\.isCompressed).count == e.compressedBlobs)
        if let names = e.names { #expect(a.entries.map { $0.name ?? "" } == names) }
        // Every sample's hashes match its names (§1.3), and the name table runs to the end of the file.
        for entry in a.entries { #expect(entry.hashesMatchName == true, "\(entry.name ?? "?")") }
        #expect(a.nameTableRange?.upperBound == reader.size)
        // Entry table directly follows the header; blobs follow the table with no gap.
        #expect(a.entryTableRange.lowerBound == 24)
        let firstBlob = a.entries.flatMap(\.chunks).map(\.offset).min()!
        #expect(firstBlob == a.entryTableRange.upperBound)
    }

    @Test func creationKitTextureArchiveDetails() throws {
        let a = try BA2Archive.parse(try PublicFixtures.reader("testing-plugins/Blank - Textures.ba2"))
        let e = try #require(a.entries.first)
        let t = try #require(e.texture)
        #expect((t.width, t.height, t.mipCount, t.dxgiFormat, t.tileMode) == (800, 600, 10, 71, 8))
        #expect(!t.isCubemap)
        #expect(e.chunks.map { [$0.firstMip, $0.lastMip] } == [[0, 0], [1, 9]])
        #expect(e.chunks.map(\.unpackedSize) == [240_000, 80_424])
        #expect(e.fileExtension == "dds")
        // Mip boundaries inside the second chunk: mips 1–9 of an 800×600 BC1 texture.
        #expect(e.surfaceCuts(chunk: 0) == [])
        let cuts = try #require(e.surfaceCuts(chunk: 1))
        #expect(cuts.count == 8)
        #expect(cuts.first == 60_000)  // 200×150 → 50×38 blocks × 8 bytes
    }

    @Test func fenceTextureArchive() throws {
        for path in ["bsa-rs/fo4_dds_test/in.ba2", "bsa-rs/fo4_next_gen_test/dx10_v7.ba2"] {
            let a = try BA2Archive.parse(try PublicFixtures.reader(path))
            let e = a.entries[0]
            #expect(e.texture == BA2TextureInfo(height: 1024, width: 1024, mipCount: 11, dxgiFormat: 98, flags: 0, tileMode: 8))
            #expect(e.chunks.map { [$0.firstMip, $0.lastMip] } == [[0, 0], [1, 1], [2, 10]])
            #expect(e.chunks.map(\.unpackedSize) == [1_048_576, 262_144, 87_408])
            #expect(e.unpackedSize == 1_398_276 - 148)
        }
    }

    @Test func rawGeneralMember() throws {
        let bytes = try PublicFixtures.bytes("testing-plugins/Blank - Main.ba2")
        let a = try BA2Archive.parse(MemoryRangeReader(bytes))
        let c = a.entries[0].chunks[0]
        #expect(!c.isCompressed)
        #expect(c.unpackedSize == 1_101)
        let text = String(decoding: bytes[Int(c.offset)..<Int(c.offset) + 1_101], as: UTF8.self)
        #expect(text.contains("MIT License"))
        #expect(a.entries[0].normalizedName == "dev\\git\\testing-plugins\\license.txt")
    }

    @Test func missingNameTableParsesWithoutNames() throws {
        let a = try BA2Archive.parse(try PublicFixtures.reader("bsa-rs/fo4_missing_string_table_test/in.ba2"))
        #expect(a.nameTableOffset == 0)
        #expect(a.nameTableRange == nil)
        #expect(a.entries.count == 1)
        #expect(a.entries[0].name == nil)
        #expect(a.entries[0].hashesMatchName == nil)
        #expect(a.entries[0].key == "<hash:5ee3c5a6/f38044e1.txt>")
        #expect(a.entries[0].chunks[0].unpackedSize == 14)
    }

    @Test("malformed public samples are rejected with the right cause", arguments: [
        ("bsa-rs/fo4_invalid_test/invalid_magic.ba2", "magic"),
        ("bsa-rs/fo4_invalid_test/invalid_version.ba2", "version"),
        ("bsa-rs/fo4_invalid_test/invalid_format.ba2", "format"),
        ("bsa-rs/fo4_invalid_test/invalid_size.ba2", "size"),
        ("bsa-rs/fo4_invalid_test/invalid_sentinel.ba2", "sentinel"),
        ("bsa-rs/fo4_invalid_test/invalid_exhausted.ba2", "exhausted"),
    ])
    func invalidSamples(_ path: String, _ what: String) throws {
        let error = try #require(throws: FormatError.self) { try BA2Archive.parse(try PublicFixtures.reader(path), path: path) }
        #expect(error.path == path)
        #expect(error.kind == .invalidInput)
        switch (what, error.cause) {
        case ("magic", .badMagic(let expected, let found)): #expect(expected == "BTDX" && found == Array("BLAH".utf8))
        case ("version", .unsupportedVersion(let v)): #expect(v == 0x101)
        case ("format", .unknownArchiveType(let t)): #expect(t == "BLAH")
        case ("size", .badChunkRecordSize(let e, let found, let expected)): #expect(e == 0 && found == 0xCCCC && expected == 0x10)
        case ("sentinel", .badSentinel(let e, let c, let found)): #expect(e == 0 && c == 0 && found == 0xDEAD_BEEF)
        case ("exhausted", .endOfData(let what, let offset, _, _)):
            #expect(what == "BA2 name table")
            #expect(offset == 0xCCCC_CCCC_CCCC_CCCC)
        default: Issue.record("unexpected cause \(error.cause) for \(what)")
        }
    }

    @Test("path hash test vectors of §1.3", arguments: [
        ("example", 0xF380_44E1), ("misc", 0x5EE3_C5A6), ("LICENSE", 0xCA04_2B67), ("License", 0xCA04_2B67),
        ("license", 0xCA04_2B67), ("dev\\git\\testing-plugins", 0xFB6D_522F), ("dev/git/testing-plugins", 0xFB6D_522F),
        ("Blank", 0xFA09_3378), ("Fence006_1K_Roughness", 0x9DDC_F6BF), ("SampleA", 0x7747_F941),
        ("characters", 0xD9A3_2978), ("", 0), ("meshes\\test", 0x364E_CFE2), ("Meshes/Test", 0x364E_CFE2), ("box", 0xF7E8_9128),
    ] as [(String, UInt32)])
    func pathHash(_ input: String, _ hash: UInt32) {
        #expect(BA2Path.hash(input) == hash)
    }

    @Test func nonASCIIBytesAreSkippedByHashAndNormalisation() {
        #expect(BA2Path.hash([0x41, 0xE9, 0x42]) == BA2Path.hash("ab"))
        #expect(BA2Path.normalize([0x41, 0xE9, 0x2F, 0x42]) == "a\\b")
        #expect(BA2Path.decode([0x41, 0xE9]) == "A\u{E9}")
    }

    @Test("Starfield v2/v3 headers are recognised", arguments: [(UInt32(2), UInt32(0)), (3, 0), (3, 3)])
    func starfieldHeaders(_ version: UInt32, _ method: UInt32) throws {
        var b = TestBA2.general([("a/b.txt", TestData.text(500, seed: 1), nil), ("c.bin", TestData.text(300, seed: 2), nil)], version: version)
        b.v3Compression = method
        let bytes = b.build()
        let a = try BA2Archive.parse(MemoryRangeReader(bytes))
        #expect(a.version == version)
        #expect(a.headerLength == (version == 2 ? 32 : 36))
        #expect(a.compression == (method == 3 ? .lz4Block : .zlib))
        #expect(a.entries.map { $0.name ?? "" } == ["a/b.txt", "c.bin"])
        #expect(a.entryTableRange.lowerBound == UInt64(a.headerLength))
    }

    @Test func unknownV3CompressionIsRejected() {
        var b = TestBA2.general([("a.txt", [1, 2, 3], nil)], version: 3)
        b.v3Compression = 7
        #expect(throws: FormatError(path: "x", cause: .unsupportedCompression(7))) {
            try BA2Archive.parse(MemoryRangeReader(b.build()), path: "x")
        }
    }

    @Test func gnmfIsAnUnknownType() {
        var b = TestBA2.general([("a.txt", [1, 2, 3], nil)])
        b.type = "GNMF"
        #expect(throws: FormatError(path: "", cause: .unknownArchiveType("GNMF"))) { try BA2Archive.parse(MemoryRangeReader(b.build())) }
    }

    @Test func dataPastEndOfFileIsRejected() throws {
        var bytes = TestBA2.general([("a.txt", TestData.text(100, seed: 3), nil)]).build()
        // Point the member's data 1 byte before the end: its 100 bytes run past EOF.
        var w = Bytes(b: bytes)
        w.patch64(at: 24 + 16, UInt64(bytes.count - 1))
        bytes = w.b
        let error = try #require(throws: FormatError.self) { try BA2Archive.parse(MemoryRangeReader(bytes)) }
        guard case .outOfBounds(let what, _, let length, _) = error.cause else { Issue.record("\(error)"); return }
        #expect(what.contains("entry 0"))
        #expect(length == 100)
    }

    @Test func hugeEntryCountIsBoundedByFileSize() throws {
        var w = Bytes(b: TestBA2.general([("a.txt", [1], nil)]).build())
        w.patch32(at: 12, 0xFFFF_FFFF)
        let e1 = try #require(throws: FormatError.self) { try BA2Archive.parse(MemoryRangeReader(w.b)) }
        guard case .limitExceeded = e1.cause else { Issue.record("\(e1)"); return }
        w.patch32(at: 12, 1000)
        let e2 = try #require(throws: FormatError.self) { try BA2Archive.parse(MemoryRangeReader(w.b)) }
        guard case .endOfData(let what, _, _, _) = e2.cause else { Issue.record("\(e2)"); return }
        #expect(what == "BA2 entry table")
    }

    @Test func everyTruncationOfEverySampleFailsCleanlyOrParses() throws {
        for path in PublicFixtures.validArchives {
            let bytes = try PublicFixtures.bytes(path)
            // Header, tables and the end of the file are where truncation matters; the middle of big blobs is skipped.
            let cuts = Set(Array(0..<min(bytes.count, 600)) + Array(max(0, bytes.count - 600)..<bytes.count))
            for n in cuts {
                let r = MemoryRangeReader(Array(bytes.prefix(n)))
                do {
                    let a = try BA2Archive.parse(r)
                    for c in a.entries.flatMap(\.chunks) { #expect(c.storedRange.upperBound <= UInt64(n)) }
                } catch {
                    #expect(error.kind == .invalidInput)
                }
            }
        }
    }

    @Test func dx10ArchiveWithCubemapGivesPerFaceCuts() throws {
        let mips: UInt8 = 3
        let tex = BA2TextureInfo(height: 16, width: 16, mipCount: mips, dxgiFormat: 71, flags: 1, tileMode: 8)
        let layout = DXGI.layout(71)!
        var content: [UInt8] = []
        for _ in 0..<6 { for m in 0..<Int(mips) { content += TestData.random(Int(layout.surfaceSize(width: 16, height: 16, mip: m)!), seed: UInt64(m)) } }
        var b = TestBA2(type: "DX10")
        b.members = [.init(name: "textures\\sky.dds", chunks: [(content, .pcDefault, (0, 2))], texture: tex)]
        let a = try BA2Archive.parse(MemoryRangeReader(b.build()))
        let cuts = try #require(a.entries[0].surfaceCuts(chunk: 0))
        // 6 faces × 3 mips = 18 surfaces, 17 inner boundaries; the first face ends after 128+32+8 bytes.
        #expect(cuts.count == 17)
        #expect(cuts[0] == 128 && cuts[1] == 160 && cuts[2] == 168)
    }

    @Test func surfaceCutsRefuseAForeignLayout() throws {
        let tex = BA2TextureInfo(height: 16, width: 16, mipCount: 2, dxgiFormat: 71, flags: 0, tileMode: 8)
        var b = TestBA2(type: "DX10")
        b.members = [.init(name: "t.dds", chunks: [(TestData.random(100, seed: 1), nil, (0, 1))], texture: tex)]
        let a = try BA2Archive.parse(MemoryRangeReader(b.build()))
        #expect(a.entries[0].surfaceCuts(chunk: 0) == nil)
        #expect(a.entries[0].surfaceCuts(chunk: 5) == nil)
    }

    @Test func fileRangeReaderReadsOnlyTablesOfARealFile() throws {
        let path = PublicFixtures.path("bsa-rs/fo4_next_gen_test/dx10_v7.ba2")
        let reader = try FileRangeReader(path: path)
        #expect(reader.size == 1_088_591)
        let viaFile = try BA2Archive.parse(reader, path: path)
        let viaMemory = try BA2Archive.parse(try PublicFixtures.reader("bsa-rs/fo4_next_gen_test/dx10_v7.ba2"), path: path)
        #expect(viaFile == viaMemory)
        #expect(throws: FormatError.self) { try reader.read(offset: reader.size - 2, count: 3) }
    }

    /// Counts the bytes a parser asks for.
    final class CountingReader: RangeReader {
        let inner: any RangeReader
        var bytesRead = 0
        init(_ inner: any RangeReader) { self.inner = inner }
        var size: UInt64 { inner.size }
        func read(offset: UInt64, count: Int) throws -> [UInt8] {
            bytesRead += count
            return try inner.read(offset: offset, count: count)
        }
    }

    @Test func multiGigabyteArchiveIsParsedFromItsTablesAlone() throws {
        // A sparse 6 GiB GNRL archive: two 1 GiB raw members far apart, the name table at the end.
        let gib: UInt64 = 1 << 30
        var w = Bytes()
        w.ascii("BTDX"); w.u32(1); w.ascii("GNRL"); w.u32(2); w.u64(6 * gib)
        for (i, name) in ["big\\a.bin", "big\\b.bin"].enumerated() {
            let parts = BA2Path.split(Array(name.utf8))
            w.u32(BA2Path.hash(parts.stem)); w.ascii("bin\0"); w.u32(BA2Path.hash(parts.directory)); w.u8(0); w.u8(1); w.u16(0x10)
            w.u64(UInt64(2 + 2 * i) * gib); w.u32(0); w.u32(UInt32(gib)); w.u32(0xBAAD_F00D)
        }
        var names = Bytes()
        for name in ["big\\a.bin", "big\\b.bin"] { names.u16(UInt16(name.utf8.count)); names.ascii(name) }
        let path = "/tmp/modvault-formats-sparse-\(UInt32.random(in: 0...UInt32.max)).ba2"
        let file = try OpenFile.create(path, mode: 0o600)
        defer { try? FileSystem.remove(path) }
        try file.write(w.b)
        try names.b.withUnsafeBytes { b in
            guard pwrite(file.descriptor, b.baseAddress, b.count, off_t(6 * gib)) == b.count else { throw SystemCallError(code: errno, operation: "pwrite", path: path) }
        }
        let reader = CountingReader(try FileRangeReader(path: path))
        #expect(reader.size == 6 * gib + UInt64(names.b.count))
        let a = try BA2Archive.parse(reader, path: path)
        #expect(a.entries.map { $0.name ?? "" } == ["big\\a.bin", "big\\b.bin"])
        #expect(a.entries.map(\.unpackedSize) == [gib, gib])
        #expect(reader.bytesRead < 200)
        let s = FormatSegmenter.segments(of: reader, path: path)
        #expect(s.segments.map(\.kind) == [.ba2Header, .ba2EntryTable, .ba2Gap, .ba2Member, .ba2Gap, .ba2Member, .ba2Gap, .ba2NameTable])
        #expect(s.covers(size: reader.size))
        #expect(reader.bytesRead < 500)
    }

    @Test func fileRangeReaderReportsAMissingFile() {
        #expect(throws: SystemCallError.self) { try FileRangeReader(path: "/nonexistent/file.ba2") }
    }
}
