import Testing
import ModVaultCore
@testable import ModVaultFormats

@Suite("DDS parser")
struct DDSTests {
    @Test func fenceTextureWithDX10Header() throws {
        let t = try DDSTexture.parse(try PublicFixtures.reader("bsa-rs/fo4_dds_test/Fence006_1K_Roughness.dds"))
        #expect(t.hasDX10Header)
        #expect(t.headerLength == 148)
        #expect((t.width, t.height, t.mipCount) == (1024, 1024, 11))
        #expect(t.dxgiFormat == 98)
        #expect(t.formatName == "BC7_UNORM")
        #expect(t.surfaces.count == 11)
        #expect(t.surfaces.prefix(3).map(\.length) == [1_048_576, 262_144, 65_536])
        // §2.3: 148 + 1048576 + 262144 + 87408 (mips 2–10) is exactly the file size.
        #expect(t.surfaces.dropFirst(2).reduce(0) { $0 + $1.length } == 87_408)
        #expect(t.trailingBytes == 0)
        #expect(t.surfaces.last!.offset + t.surfaces.last!.length == 1_398_276)
    }

    @Test func blankTextureWithLegacyHeader() throws {
        let t = try DDSTexture.parse(try PublicFixtures.reader("testing-plugins/Blank.dds"))
        #expect(!t.hasDX10Header)
        #expect(t.headerLength == 128)
        #expect(t.fourCC == "DXT1")
        #expect(t.dxgiFormat == 71)
        #expect((t.width, t.height, t.mipCount) == (800, 600, 10))
        #expect(t.surfaces[0].length == 240_000)
        #expect(t.surfaces.dropFirst().reduce(0) { $0 + $1.length } == 80_424)
        #expect(t.trailingBytes == 0)
    }

    /// §2.3: the bytes after a loose DDS header equal the decompressed BA2 chunks of the same texture,
    /// and the mip cuts of both agree, which is what lets the two dedupe.
    @Test("loose DDS surfaces equal BA2 chunk content", arguments: [
        ("testing-plugins/Blank.dds", "testing-plugins/Blank - Textures.ba2"),
        ("bsa-rs/fo4_dds_test/Fence006_1K_Roughness.dds", "bsa-rs/fo4_dds_test/in.ba2"),
        ("bsa-rs/fo4_dds_test/Fence006_1K_Roughness.dds", "bsa-rs/fo4_next_gen_test/dx10_v7.ba2"),
    ])
    func looseMatchesArchived(_ ddsPath: String, _ ba2Path: String) throws {
        let dds = try PublicFixtures.bytes(ddsPath)
        let ba2 = try PublicFixtures.bytes(ba2Path)
        let t = try DDSTexture.parse(MemoryRangeReader(dds))
        let a = try BA2Archive.parse(MemoryRangeReader(ba2))
        let engine = RecipeEngine()
        var archivedSurfaces: [[UInt8]] = []
        for (i, c) in a.entries[0].chunks.enumerated() {
            let stored = Array(ba2[Int(c.offset)..<Int(c.offset) + Int(c.storedSize)])
            let content = c.isCompressed ? try stored.withUnsafeBytes { try engine.inflate($0, rawSize: UInt64(c.unpackedSize)) } : stored
            var start = 0
            for cut in (a.entries[0].surfaceCuts(chunk: i) ?? []).map(Int.init) + [content.count] {
                archivedSurfaces.append(Array(content[start..<cut]))
                start = cut
            }
        }
        let looseSurfaces = t.surfaces.map { Array(dds[Int($0.offset)..<Int($0.offset + $0.length)]) }
        #expect(archivedSurfaces == looseSurfaces)
    }

    @Test func legacyCubemapLaysOutSixFacesOfEveryMip() throws {
        let bytes = TestDDS.legacy(width: 32, height: 32, mips: 6, fourCC: "DXT5", cubemap: true)
        let t = try DDSTexture.parse(MemoryRangeReader(bytes))
        #expect(t.isCubemap)
        #expect(t.faceCount == 6)
        #expect(t.surfaces.count == 36)
        #expect(t.surfaces.filter { $0.mip == 0 }.map(\.length) == Array(repeating: 1024, count: 6))
        #expect(t.surfaces[6].face == 1 && t.surfaces[6].mip == 0)
        #expect(t.trailingBytes == 0)
    }

    @Test func dx10ArrayAndCubemap() throws {
        let array = try DDSTexture.parse(MemoryRangeReader(TestDDS.dx10(width: 64, height: 32, mips: 7, format: 83, arraySize: 3)))
        #expect(array.arraySize == 3)
        #expect(array.faceCount == 3)
        #expect(array.surfaces.count == 21)
        #expect(array.surfaces[0].length == 16 * 8 * 16)
        let cube = try DDSTexture.parse(MemoryRangeReader(TestDDS.dx10(width: 8, height: 8, mips: 4, format: 28, arraySize: 2, cubemap: true)))
        #expect(cube.faceCount == 12)
        #expect(cube.surfaces.count == 48)
        #expect(cube.surfaces.prefix(4).map(\.length) == [256, 64, 16, 4])
    }

    @Test("mip sizes follow §2.3", arguments: [
        (UInt32(71), UInt64(800), UInt64(600), 0, UInt64(240_000)), (71, 800, 600, 9, 8), (98, 1024, 1024, 2, 65_536),
        (87, 3, 3, 0, 36), (49, 5, 2, 0, 20), (61, 7, 7, 1, 9), (77, 1, 1, 0, 16), (80, 4096, 4096, 12, 8),
    ] as [(UInt32, UInt64, UInt64, Int, UInt64)])
    func mipSizes(_ format: UInt32, _ w: UInt64, _ h: UInt64, _ mip: Int, _ size: UInt64) throws {
        #expect(try #require(DXGI.layout(format)).surfaceSize(width: w, height: h, mip: mip) == size)
    }

    @Test func uncompressedLegacyFormatAndTrailingBytes() throws {
        let bytes = TestDDS.legacy(width: 10, height: 6, mips: 2, fourCC: nil, bitCount: 24, trailing: 7)
        let t = try DDSTexture.parse(MemoryRangeReader(bytes))
        #expect(t.legacyBitsPerPixel == 24)
        #expect(t.surfaces.map(\.length) == [180, 45])
        #expect(t.trailingBytes == 7)
        #expect(t.formatName == "RGB24")
    }

    @Test func malformedHeadersAreRejected() throws {
        var short = TestDDS.legacy(width: 64, height: 64, mips: 7)
        short.removeLast(3)
        let e1 = try #require(throws: FormatError.self) { try DDSTexture.parse(MemoryRangeReader(short)) }
        guard case .endOfData(let what, _, _, _) = e1.cause else { Issue.record("\(e1)"); return }
        #expect(what.contains("mip 6"))

        var w = Bytes(b: TestDDS.legacy(width: 64, height: 64, mips: 7))
        w.patch32(at: 4, 125)
        #expect(throws: FormatError.self) { try DDSTexture.parse(MemoryRangeReader(w.b)) }

        #expect(throws: FormatError(path: "", cause: .badMagic(expected: "DDS ", found: Array("DDS".utf8)))) {
            try DDSTexture.parse(MemoryRangeReader(Array("DDS".utf8)))
        }
        let unknown = TestDDS.legacy(width: 4, height: 4, mips: 1, fourCC: "ZZZZ", dataSize: 16)
        #expect(throws: FormatError(path: "", cause: .unsupported("DDS fourCC \"ZZZZ\""))) { try DDSTexture.parse(MemoryRangeReader(unknown)) }

        var zero = Bytes(b: TestDDS.legacy(width: 4, height: 4, mips: 1))
        zero.patch32(at: 16, 0)
        #expect(throws: FormatError.self) { try DDSTexture.parse(MemoryRangeReader(zero.b)) }
    }

    @Test func hostileCountsAreCapped() throws {
        var mips = Bytes(b: TestDDS.legacy(width: 4, height: 4, mips: 1))
        mips.patch32(at: 28, 0xFFFF_FFFF)
        let e1 = try #require(throws: FormatError.self) { try DDSTexture.parse(MemoryRangeReader(mips.b)) }
        guard case .limitExceeded = e1.cause else { Issue.record("\(e1)"); return }

        var array = Bytes(b: TestDDS.dx10(width: 4, height: 4, mips: 1, format: 71))
        array.patch32(at: 140, 0xFFFF_FFFF)
        let e2 = try #require(throws: FormatError.self) { try DDSTexture.parse(MemoryRangeReader(array.b)) }
        guard case .limitExceeded = e2.cause else { Issue.record("\(e2)"); return }

        // Giant dimensions: sizes overflow or exceed the file, never allocate.
        var huge = Bytes(b: TestDDS.legacy(width: 4, height: 4, mips: 1))
        huge.patch32(at: 12, 0xFFFF_FFFF)
        huge.patch32(at: 16, 0xFFFF_FFFF)
        #expect(throws: FormatError.self) { try DDSTexture.parse(MemoryRangeReader(huge.b)) }
    }
}
