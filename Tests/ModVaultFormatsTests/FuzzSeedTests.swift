import Testing
import ModVaultCore
@testable import ModVaultFormats

/// The fuzz seeds in Fuzz/seeds are written by an independent Python writer (Fuzz/make_seeds.py);
/// parsing them here cross-checks both, and keeps the seeds valid starting points for the fuzzer.
@Suite("Fuzz seeds")
struct FuzzSeedTests {
    static let seeds: String = {
        var parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(3)
        return parts.joined(separator: "/") + "/Fuzz/seeds"
    }()

    static func seed(_ relative: String) throws -> MemoryRangeReader { MemoryRangeReader(try FileSystem.readFile(seeds + "/" + relative)) }

    @Test func ba2Seeds() throws {
        let v2 = try BA2Archive.parse(try Self.seed("ba2/gnrl_v2.ba2"))
        #expect(v2.version == 2 && v2.headerLength == 32 && v2.entries.count == 2)
        let v3 = try BA2Archive.parse(try Self.seed("ba2/gnrl_v3_lz4.ba2"))
        #expect(v3.compression == .lz4Block)
        let shared = FormatSegmenter.segments(of: try Self.seed("ba2/gnrl_shared.ba2"), path: "")
        #expect(shared.segments.filter { $0.kind == .ba2Member }.map { $0.refs?.count } == [2])
        let cube = try BA2Archive.parse(try Self.seed("ba2/dx10_cube.ba2"))
        #expect(cube.entries[0].texture?.isCubemap == true)
        #expect(cube.entries[0].surfaceCuts(chunk: 0)?.count == 11)
        let two = try BA2Archive.parse(try Self.seed("ba2/dx10_two_chunks.ba2"))
        #expect(two.version == 8 && two.entries[0].surfaceCuts(chunk: 1) == [32])
        for a in [v2, v3, cube, two] { #expect(a.entries.allSatisfy { $0.hashesMatchName == true }) }
    }

    @Test("DDS seeds", arguments: [("dxt1_16x16_5mips.dds", 5, 0), ("dxt5_cube_8x8.dds", 24, 0), ("bc7_array2_8x4.dds", 4, 0),
                                   ("rgba_5x3.dds", 2, 4), ("rgb24_4x4.dds", 1, 0)])
    func ddsSeeds(_ name: String, _ surfaces: Int, _ trailing: UInt64) throws {
        let t = try DDSTexture.parse(try Self.seed("dds/" + name))
        #expect(t.surfaces.count == surfaces)
        #expect(t.trailingBytes == trailing)
    }

    @Test func pluginSeeds() throws {
        let groups = try PluginFile.parse(try Self.seed("plugin/groups.esp"))
        #expect(groups.records.map(\.editorID) == ["Answer", "Room", nil])
        #expect(groups.groups.map(\.type) == [0, 0, 2, 3, 9])
        let compressed = try PluginFile.parse(try Self.seed("plugin/compressed.esm"))
        #expect(compressed.header.isMaster && compressed.records[0].isCompressed && compressed.records[0].editorID == "Npc")
        let oversize = try PluginFile.parse(try Self.seed("plugin/oversize.esl"))
        #expect(oversize.header.isLight && oversize.header.masters.isEmpty && oversize.records[0].dataSize == 40)
    }

    @Test func recipeSeeds() throws {
        #expect(try Recipe(decoding: try FileSystem.readFile(Self.seeds + "/recipe/recipe_pc.bin")).parameters == .pcDefault)
        #expect(try Recipe(decoding: try FileSystem.readFile(Self.seeds + "/recipe/recipe_xbox.bin")).parameters == .xbox)
        // Python's zlib (the same 1.2.13) wrote these; each carries its declared size in 3 bytes.
        for (name, p) in [("stream_pc.bin", ZlibParameters.pcDefault), ("stream_xbox.bin", .xbox), ("stream_l1.bin", ZlibParameters(level: 1, windowBits: 15))] {
            let b = try FileSystem.readFile(Self.seeds + "/recipe/" + name)
            let raw = UInt64(b[0]) | UInt64(b[1]) << 8 | UInt64(b[2]) << 16
            #expect(Recipe.find(compressed: Array(b[3...]), rawSize: raw).recipe?.parameters == p, "\(name)")
        }
    }
}
