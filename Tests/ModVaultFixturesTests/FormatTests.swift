import Foundation
import Testing
import ModVaultFixtures

// The §1.3 vectors; the last two do not occur in the samples.
let hashVectors: [(String, UInt32)] = [
    ("example", 0xF380_44E1), ("misc", 0x5EE3_C5A6), ("LICENSE", 0xCA04_2B67), ("License", 0xCA04_2B67),
    ("license", 0xCA04_2B67), ("dev\\git\\testing-plugins", 0xFB6D_522F), ("dev/git/testing-plugins", 0xFB6D_522F),
    ("Blank", 0xFA09_3378), ("Fence006_1K_Roughness", 0x9DDC_F6BF), ("SampleA", 0x7747_F941),
    ("characters", 0xD9A3_2978), ("", 0), ("meshes\\test", 0x364E_CFE2), ("Meshes/Test", 0x364E_CFE2), ("box", 0xF7E8_9128),
]

@Test("BA2 path hash matches the §1.3 vectors", arguments: hashVectors.indices)
func pathHashVectors(_ index: Int) {
    let (input, expected) = hashVectors[index]
    #expect(BA2PathHash.hash(input) == expected)
    #expect(referenceHash(input) == expected)
}

@Test func pathHashIsNotPlainCRC32AndSkipsHighBytes() {
    #expect(BA2PathHash.hash("example") != 0x6EEC_9B9F)
    #expect(BA2PathHash.hash("ex\u{E9}ample") == BA2PathHash.hash("example"))
    let key = BA2PathHash.entryKey(for: "meshes\\test\\box.nif")
    #expect(key.directoryHash == 0x364E_CFE2 && key.nameHash == 0xF7E8_9128 && key.ext == Array("nif\0".utf8))
    #expect(BA2PathHash.entryKey(for: "License.TXT").directoryHash == 0)
    #expect(BA2PathHash.entryKey(for: "License.TXT").ext == Array("txt\0".utf8))
}

let validSamples = [
    "testing-plugins/Blank - Main.ba2", "testing-plugins/Blank - Textures.ba2",
    "bsa-rs/fo4_next_gen_test/gnrl_v7.ba2", "bsa-rs/fo4_next_gen_test/gnrl_v8.ba2",
    "bsa-rs/fo4_next_gen_test/dx10_v7.ba2", "bsa-rs/fo4_next_gen_test/dx10_v8.ba2", "bsa-rs/fo4_dds_test/in.ba2",
    "bsa-rs/fo4_compression_test/normal.ba2", "bsa-rs/fo4_compression_test/xbox.ba2",
    "bsa-rs/common_guess_test/fo4.ba2", "bsa-rs/fo4_missing_string_table_test/in.ba2",
]

@Test("The test's BA2 reader accepts every valid public sample", arguments: validSamples)
func readerAcceptsRealSamples(_ path: String) throws {
    let archive = try readBA2(try Paths.sample(path))
    #expect(!archive.entries.isEmpty)
    for entry in archive.entries {
        let content = try archive.content(entry)
        #expect(content.count == entry.chunks.reduce(0) { $0 + Int($1.unpacked) })
        if let name = entry.name {
            let key = referenceKey(name)
            #expect(key.name == entry.nameHash && key.ext == entry.ext && key.dir == entry.dirHash)
            let library = BA2PathHash.entryKey(for: name)
            #expect(library.nameHash == entry.nameHash && library.directoryHash == entry.dirHash)
        }
        if archive.type == "DX10" {
            #expect(entry.chunks.map { Int($0.firstMip)...Int($0.lastMip) } == referenceChunkRanges(width: entry.width, height: entry.height, mips: entry.mips))
            let surface = (0..<entry.mips).reduce(0) { $0 + referenceMipSize(dxgi: entry.dxgi, width: entry.width, height: entry.height, mip: $1) }
            #expect(content.count == surface)
        }
    }
}

@Test("The test's BA2 reader rejects every malformed public sample", arguments: [
    "invalid_magic", "invalid_version", "invalid_format", "invalid_size", "invalid_sentinel", "invalid_exhausted",
])
func readerRejectsInvalidSamples(_ name: String) throws {
    let bytes = try Paths.sample("bsa-rs/fo4_invalid_test/\(name).ba2")
    #expect(throws: ReadError.self) { try readBA2(bytes) }
}

@Test func realDDSFilesObeyTheSizeRuleAndMatchTheirArchives() throws {
    let blank = try readDDS(try Paths.sample("testing-plugins/Blank.dds"))
    #expect(blank.headerSize == 128 && blank.dxgi == 71 && blank.mips == 10)
    let blankArchive = try readBA2(try Paths.sample("testing-plugins/Blank - Textures.ba2"))
    #expect(try blankArchive.content(blankArchive.entries[0]) == Array(blank.surface))
    let fence = try readDDS(try Paths.sample("bsa-rs/fo4_dds_test/Fence006_1K_Roughness.dds"))
    #expect(fence.headerSize == 148 && fence.dxgi == 98)
    for archive in ["bsa-rs/fo4_dds_test/in.ba2", "bsa-rs/fo4_next_gen_test/dx10_v7.ba2"] {
        let a = try readBA2(try Paths.sample(archive))
        #expect(try a.content(a.entries[0]) == Array(fence.surface))
    }
}

@Test func realBlankPluginWalks() throws {
    let walk = try walkPlugin(try Paths.sample("testing-plugins/Blank.esp"))
    #expect(walk.hedrVersion == 1.0 && walk.hedrRecords == 0 && walk.nextObjectID == 0xF99)
    #expect(walk.masters == ["Fallout4.esm"] && walk.groups.isEmpty)
}

// MARK: Writers reproduce real files byte for byte

@Test func ba2WriterReproducesGeneralSamples() throws {
    let hello = Array("hello world!\r\n".utf8)
    let member = BA2Member.file("misc/example.txt", hello, storage: .raw)
    #expect(try BA2Writer.bytes([member], type: .general) == Paths.sample("bsa-rs/common_guess_test/fo4.ba2"))
    #expect(try BA2Writer.bytes([member], type: .general, nameTable: false) == Paths.sample("bsa-rs/fo4_missing_string_table_test/in.ba2"))

    let ck = try Paths.sample("testing-plugins/Blank - Main.ba2")
    let original = try readBA2(ck)
    let license = BA2Member.file(original.entries[0].name!, try original.content(original.entries[0]), storage: .raw)
    #expect(try BA2Writer.bytes([license], type: .general) == ck)

    for (sample, settings) in [("normal", ZlibSettings.creationKit), ("xbox", ZlibSettings.xbox)] {
        let bytes = try Paths.sample("bsa-rs/fo4_compression_test/\(sample).ba2")
        let a = try readBA2(bytes)
        let members = try a.entries.map { BA2Member.file($0.name!, try a.content($0), storage: .zlib(settings)) }
        #expect(try BA2Writer.bytes(members, type: .general) == bytes)
    }
}

@Test func ba2WriterReproducesTextureSamples() throws {
    let blank = try readDDS(try Paths.sample("testing-plugins/Blank.dds"))
    let blankInfo = TextureInfo(width: blank.width, height: blank.height, format: .bc1, mipCount: blank.mips)
    let ck = try Paths.sample("testing-plugins/Blank - Textures.ba2")
    let ckName = try readBA2(ck).entries[0].name!
    #expect(try BA2Writer.bytes([texture(ckName, blankInfo, Array(blank.surface))], type: .textures) == ck)

    let fence = try readDDS(try Paths.sample("bsa-rs/fo4_dds_test/Fence006_1K_Roughness.dds"))
    let fenceInfo = TextureInfo(width: 1024, height: 1024, format: .bc7)
    for (sample, version, storage) in [("fo4_dds_test/in.ba2", BA2Version.v1, BA2Storage.raw), ("fo4_next_gen_test/dx10_v7.ba2", .v7, .zlib(.creationKit)), ("fo4_next_gen_test/dx10_v8.ba2", .v8, .zlib(.creationKit))] {
        let bytes = try Paths.sample("bsa-rs/\(sample)")
        let name = try readBA2(bytes).entries[0].name!
        #expect(try BA2Writer.bytes([texture(name, fenceInfo, Array(fence.surface), storage: storage)], type: .textures, version: version) == bytes)
    }
}

/// A DX10 member whose mips are cut from one surface buffer.
func texture(_ name: String, _ info: TextureInfo, _ surface: [UInt8], storage: BA2Storage = .zlib(.creationKit)) -> BA2Member {
    var mips: [[UInt8]] = []
    var offset = 0
    for mip in 0..<info.mipCount {
        mips.append(Array(surface[offset..<offset + info.mipSize(mip)]))
        offset += info.mipSize(mip)
    }
    return BA2Member.texture(name, info, surfaces: mips, storage: storage)
}

@Test func pluginWriterReproducesBlankEsp() throws {
    let bytes = PluginWriter.bytes(header: PluginHeader(nextObjectID: 0xF99), groups: [])
    #expect(bytes == (try Paths.sample("testing-plugins/Blank.esp")))
}

// MARK: Writers round-trip through the independent readers

@Test("Chunk split rule of §1.5", arguments: [(1024, 1024, 3), (800, 600, 2), (4096, 4096, 4), (256, 256, 1), (2048, 512, 2), (512, 256, 1)])
func chunkSplit(_ width: Int, _ height: Int, _ chunks: Int) {
    let info = TextureInfo(width: width, height: height, format: .bc1)
    #expect(BA2Writer.chunkMipRanges(for: info) == referenceChunkRanges(width: width, height: height, mips: info.mipCount))
    #expect(BA2Writer.chunkMipRanges(for: info).count == chunks)
}

@Test("GNRL archives round-trip", arguments: BA2Version.allCases)
func generalRoundTrip(_ version: BA2Version) throws {
    let text = Array(String(repeating: "Fallout 4 settlement object list\r\n", count: 40).utf8)
    let members: [BA2Member] = [
        .file("Meshes\\Test\\Box.nif", MeshSynthesizer.nif(seed: 1, targetBytes: 20_000, name: "Box.nif", texturePaths: ["textures\\box_d.dds"])),
        .file("readme.txt", text, storage: .raw),
        .file("scripts/Test.pex", ScriptSynthesizer.pex(seed: 2, targetBytes: 3_000, scriptName: "Test", author: "me"), storage: .zlib(.xbox)),
        .file("tiny.txt", Array("abc".utf8), storage: .zlibIfSmaller(.creationKit)),
    ]
    for nameTable in [true, false] {
        let bytes = try BA2Writer.bytes(members, type: .general, version: version, nameTable: nameTable)
        let archive = try readBA2(bytes)
        #expect(archive.version == version.rawValue && archive.entries.count == 4)
        #expect(try archive.content(archive.entries[1]) == text && archive.entries[1].chunks[0].packed == 0)
        #expect(archive.entries[3].chunks[0].packed == 0)  // compressing 3 bytes saves nothing
        #expect(archive.entries[2].chunks[0].packed > 0 && archive.stored(archive.entries[2].chunks[0]).prefix(2) == [0x48, 0xC7])
        #expect(archive.entries[0].name == (nameTable ? "Meshes\\Test\\Box.nif" : nil))
        #expect(try checkNIF(try archive.content(archive.entries[0])).blocks > 3)
    }
}

@Test("Textures round-trip through DDS and DX10", arguments: TextureFormat.allCases)
func textureRoundTrip(_ format: TextureFormat) throws {
    let info = TextureInfo(width: 1024, height: 512, format: format)
    let mips = (0..<info.mipCount).map { TextureSynthesizer.surface(info, mip: $0, seed: 9, style: .diffuse) }
    for style in [DDSHeaderStyle.legacy, .dx10] {
        let dds = try readDDS(DDSWriter.bytes(info, style: style, surfaces: mips))
        #expect(dds.dxgi == Int(format.dxgiFormat) && dds.mips == info.mipCount)
        #expect(Array(dds.surface) == mips.flatMap { $0 })
    }
    let archive = try readBA2(try BA2Writer.bytes([BA2Member.texture("textures\\t.dds", info, surfaces: mips)], type: .textures, version: .v7))
    #expect(try archive.content(archive.entries[0]) == mips.flatMap { $0 })
    #expect(archive.entries[0].dxgi == Int(format.dxgiFormat) && archive.entries[0].chunks.count == 2)
}

@Test func synthesizedBlockDataCompressesLikeRealBCData() {
    func ratio(_ format: TextureFormat, _ style: TextureStyle) -> Double {
        let info = TextureInfo(width: 512, height: 512, format: format)
        let surface = TextureSynthesizer.surface(info, mip: 0, seed: 3, style: style)
        return Double(FixtureZlib.deflate(surface).count) / Double(surface.count)
    }
    // BC data shrinks only a little under zlib, but is not incompressible noise either.
    for (format, style) in [(TextureFormat.bc1, TextureStyle.diffuse), (.bc5, .normal), (.bc7, .diffuse)] {
        let r = ratio(format, style)
        #expect(r > 0.75 && r < 0.98, "\(format) \(style) ratio \(r)")
    }
    #expect(ratio(.bgra8, .interface) < 0.75)
}

@Test func pluginWriterHandlesCompressedRecordsAndOversizeFields() throws {
    let big = [UInt8]((0..<70_000).map { UInt8(truncatingIfNeeded: $0 &* 7) })
    let groups = [
        PluginGroup("SCOL", records: [PluginRecord("SCOL", formID: 0x0100_0800, fields: [PluginField("EDID", Array("Big\0".utf8)), PluginField("DATA", big)])]),
        PluginGroup("NPC_", records: [PluginRecord("NPC_", formID: 0x0100_0801, flags: PluginRecord.compressedFlag, fields: [PluginField("EDID", Array("Npc\0".utf8)), PluginField("FMRS", big)])]),
    ]
    let walk = try walkPlugin(PluginWriter.bytes(header: PluginHeader(nextObjectID: 0x802), groups: groups))
    #expect(walk.hedrRecords == 4 && walk.compressed == 1 && walk.oversizeFields == 2)
    #expect(walk.records.map(\.signature) == ["SCOL", "NPC_"])
    #expect(walk.records[0].fields.map(\.1) == [4, 70_000])
}

@Test func pexAndNifWritersProduceTheirHeaders() throws {
    let pex = ScriptSynthesizer.pex(seed: 4, targetBytes: 5_000, scriptName: "Foo", author: "me")
    #expect(Array(pex.prefix(8)) == [0xDE, 0xC0, 0x57, 0xFA, 3, 9, 2, 0])
    let nif = MeshSynthesizer.nif(seed: 5, targetBytes: 100_000, name: "Foo.nif", texturePaths: [])
    #expect(try checkNIF(nif).types.contains("BSTriShape"))
    #expect(abs(nif.count - 100_000) < 10_000)
}

@Test("Scale strings parse", arguments: [("64M", Int64(64 << 20)), ("1G", 1 << 30), ("512K", 512 << 10), ("12345", 12_345), ("1.5G", 3 << 29), ("64MiB", 64 << 20), ("2mb", 2 << 20)])
func scaleParsing(_ text: String, _ expected: Int64) {
    #expect(FixtureOptions.parseSize(text) == expected)
}

@Test("Malformed scale strings are rejected", arguments: ["", "x", "1.2.3", "-5", "0", "M", "1e9", "99999999999T", "12 M"])
func scaleRejects(_ text: String) {
    #expect(FixtureOptions.parseSize(text) == nil)
}
