import Testing
import ModVaultCore
@testable import ModVaultFormats

/// The shipped public samples (`Fixtures/public`, copied from `../shared/fixtures/public`).
enum PublicFixtures {
    static let root: String = {
        let here = "\(#filePath)"
        var parts = here.split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(3)  // Tests/ModVaultFormatsTests/Support.swift
        let repo = parts.joined(separator: "/")
        for candidate in [repo + "/Fixtures/public", "/work/shared/fixtures/public"] where FileSystem.isDirectory(candidate) {
            return candidate
        }
        return repo + "/Fixtures/public"
    }()

    static func path(_ relative: String) -> String { root + "/" + relative }

    static func bytes(_ relative: String) throws -> [UInt8] { try FileSystem.readFile(path(relative)) }

    static func reader(_ relative: String) throws -> MemoryRangeReader { MemoryRangeReader(try bytes(relative)) }

    /// The archives whose compressed blobs the format notes say zlib 1.2.13 reproduces.
    static let compressedArchives = [
        "bsa-rs/fo4_compression_test/normal.ba2", "bsa-rs/fo4_compression_test/xbox.ba2",
        "bsa-rs/fo4_next_gen_test/gnrl_v7.ba2", "bsa-rs/fo4_next_gen_test/gnrl_v8.ba2",
        "bsa-rs/fo4_next_gen_test/dx10_v7.ba2", "bsa-rs/fo4_next_gen_test/dx10_v8.ba2",
        "testing-plugins/Blank - Textures.ba2",
    ]

    static let validArchives = compressedArchives + [
        "testing-plugins/Blank - Main.ba2", "bsa-rs/fo4_dds_test/in.ba2", "bsa-rs/common_guess_test/fo4.ba2",
        "bsa-rs/fo4_missing_string_table_test/in.ba2",
    ]

    static let invalidArchives = [
        "bsa-rs/fo4_invalid_test/invalid_magic.ba2", "bsa-rs/fo4_invalid_test/invalid_version.ba2",
        "bsa-rs/fo4_invalid_test/invalid_format.ba2", "bsa-rs/fo4_invalid_test/invalid_size.ba2",
        "bsa-rs/fo4_invalid_test/invalid_sentinel.ba2", "bsa-rs/fo4_invalid_test/invalid_exhausted.ba2",
    ]

    static let textures = ["bsa-rs/fo4_dds_test/Fence006_1K_Roughness.dds", "testing-plugins/Blank.dds"]

    static let all = validArchives + invalidArchives + textures + ["testing-plugins/Blank.esp"]
}


enum TestData {
    /// Text-like, compressible bytes.
    static func text(_ count: Int, seed: UInt64) -> [UInt8] {
        let words = ["armor", "weapon", "texture", "mesh", "script", "the", "of", "Sanctuary", "Diamond City", "power armor",
                     "0x0001A2B3", "\r\n", "settlement", "raider", "ghoul", ", ", ". "]
        var g = SplitMix64(seed: seed)
        var out: [UInt8] = []
        out.reserveCapacity(count + 16)
        while out.count < count {
            out.append(contentsOf: words[g.below(words.count)].utf8)
            out.append(0x20)
        }
        return Array(out.prefix(count))
    }

    /// Incompressible bytes.
    static func random(_ count: Int, seed: UInt64) -> [UInt8] {
        var g = SplitMix64(seed: seed)
        var out: [UInt8] = []
        out.reserveCapacity(count + 8)
        while out.count < count { withUnsafeBytes(of: g.next()) { out.append(contentsOf: $0) } }
        return Array(out.prefix(count))
    }
}

/// One-shot zlib compression through the module's own deflate wrapper (a fresh state each time).
func zlibCompress(_ input: [UInt8], _ p: ZlibParameters = .pcDefault) -> [UInt8] {
    let deflater = ZlibDeflater(p)!
    let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
    defer { scratch.deallocate() }
    var out: [UInt8] = []
    let ok = input.withUnsafeBytes { deflater.compress($0, scratch: scratch) { out.append(contentsOf: $0); return true } }
    precondition(ok)
    return out
}

/// Little-endian byte building.
struct Bytes {
    var b: [UInt8] = []
    mutating func u8(_ v: UInt8) { b.append(v) }
    mutating func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { b.append(contentsOf: $0) } }
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { b.append(contentsOf: $0) } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { b.append(contentsOf: $0) } }
    mutating func ascii(_ s: String) { b.append(contentsOf: s.utf8) }
    mutating func raw(_ r: [UInt8]) { b.append(contentsOf: r) }
    mutating func patch32(at offset: Int, _ v: UInt32) { for i in 0..<4 { b[offset + i] = UInt8(truncatingIfNeeded: v >> (8 * i)) } }
    mutating func patch64(at offset: Int, _ v: UInt64) { for i in 0..<8 { b[offset + i] = UInt8(truncatingIfNeeded: v >> (8 * i)) } }
}

/// A test-only BA2 writer following the format notes, with knobs for unusual layouts.
struct TestBA2 {
    struct Member {
        var name: String
        /// One element per chunk: content and the zlib parameters it is compressed with (nil = raw).
        var chunks: [(content: [UInt8], zlib: ZlibParameters?, mips: (UInt16, UInt16))]
        var texture: BA2TextureInfo?
    }

    var version: UInt32 = 1
    var type = "GNRL"
    var members: [Member] = []
    var withNames = true
    /// Order in which blobs are written (default: entry order).
    var blobOrder: [Int]?
    /// Entries whose data points at the blob of another entry (entry → source entry).
    var shareWith: [Int: Int] = [:]
    var v3Compression: UInt32 = 0

    static func general(_ files: [(String, [UInt8], ZlibParameters?)], version: UInt32 = 1) -> TestBA2 {
        TestBA2(version: version, type: "GNRL", members: files.map { Member(name: $0.0, chunks: [($0.1, $0.2, (0, 0))], texture: nil) })
    }

    func build() -> [UInt8] {
        var w = Bytes()
        w.ascii("BTDX"); w.u32(version); w.ascii(type); w.u32(UInt32(members.count)); w.u64(0)
        if version == 2 || version == 3 { w.u64(1) }
        if version == 3 { w.u32(v3Compression) }
        // Entry table with placeholder offsets, remembered for patching.
        var offsetFields: [[Int]] = []
        for m in members {
            let parts = BA2Path.split(Array(m.name.utf8))
            w.u32(BA2Path.hash(parts.stem))
            var ext = Array(parts.ext.prefix(4)); while ext.count < 4 { ext.append(0) }
            w.raw(ext)
            w.u32(BA2Path.hash(parts.directory))
            w.u8(0)
            w.u8(UInt8(m.chunks.count))
            w.u16(type == "GNRL" ? 0x10 : 0x18)
            if let t = m.texture {
                w.u16(t.height); w.u16(t.width); w.u8(t.mipCount); w.u8(t.dxgiFormat); w.u8(t.flags); w.u8(t.tileMode)
            }
            var fields: [Int] = []
            for c in m.chunks {
                fields.append(w.b.count)
                w.u64(0)
                let stored = c.zlib.map { zlibCompress(c.content, $0) }
                w.u32(UInt32(stored?.count ?? 0)); w.u32(UInt32(c.content.count))
                if type == "DX10" { w.u16(c.mips.0); w.u16(c.mips.1) }
                w.u32(0xBAAD_F00D)
            }
            offsetFields.append(fields)
        }
        let order = blobOrder ?? Array(members.indices)
        var blobOffsets: [Int: [UInt64]] = [:]
        for i in order where shareWith[i] == nil {
            var offsets: [UInt64] = []
            for c in members[i].chunks {
                offsets.append(UInt64(w.b.count))
                w.raw(c.zlib.map { zlibCompress(c.content, $0) } ?? c.content)
            }
            blobOffsets[i] = offsets
        }
        for (i, fields) in offsetFields.enumerated() {
            let offsets = blobOffsets[shareWith[i] ?? i]!
            for (j, f) in fields.enumerated() { w.patch64(at: f, offsets[j]) }
        }
        if withNames {
            w.patch64(at: 16, UInt64(w.b.count))
            for m in members { w.u16(UInt16(m.name.utf8.count)); w.ascii(m.name) }
        }
        return w.b
    }
}

/// A test-only plugin writer.
enum TestPlugin {
    enum Node {
        case record(sig: String, formID: UInt32, fields: [(String, [UInt8])], flags: UInt32 = 0, compress: ZlibParameters? = nil)
        case group(label: String, type: Int32 = 0, children: [Node])
        /// A group whose label is a number (a FormID for cell, world and topic children).
        case groupID(label: UInt32, type: Int32, children: [Node])
    }

    static func field(_ sig: String, _ data: [UInt8]) -> [UInt8] {
        var w = Bytes()
        if data.count > 0xFFFF {
            w.ascii("XXXX"); w.u16(4); w.u32(UInt32(data.count))
            w.ascii(sig); w.u16(0)
        } else {
            w.ascii(sig); w.u16(UInt16(data.count))
        }
        w.raw(data)
        return w.b
    }

    static func zstring(_ s: String) -> [UInt8] { Array(s.utf8) + [0] }

    static func header(flags: UInt32 = 0, masters: [String] = ["Fallout4.esm"], author: String = "DEFAULT", description: String? = nil,
                       records: UInt32 = 0, nextID: UInt32 = 0x800) -> [UInt8] {
        var data: [UInt8] = []
        var hedr = Bytes(); hedr.u32(Float(1.0).bitPattern); hedr.u32(records); hedr.u32(nextID)
        data += field("HEDR", hedr.b)
        data += field("CNAM", zstring(author))
        if let d = description { data += field("SNAM", zstring(d)) }
        for m in masters { data += field("MAST", zstring(m)); data += field("DATA", [UInt8](repeating: 0, count: 8)) }
        data += field("INTV", [1, 0, 0, 0])
        var w = Bytes()
        w.ascii("TES4"); w.u32(UInt32(data.count)); w.u32(flags); w.u32(0); w.u16(0); w.u16(0); w.u16(131); w.u16(0)
        w.raw(data)
        return w.b
    }

    static func bytes(_ node: Node) -> [UInt8] {
        switch node {
        case .record(let sig, let formID, let fields, let flags, let compress):
            var data = fields.flatMap { field($0.0, $0.1) }
            var f = flags
            if let p = compress {
                var d = Bytes(); d.u32(UInt32(data.count)); d.raw(zlibCompress(data, p))
                data = d.b
                f |= PluginRecord.compressedFlag
            }
            var w = Bytes()
            w.ascii(sig); w.u32(UInt32(data.count)); w.u32(f); w.u32(formID); w.u16(0x1234); w.u16(0); w.u16(131); w.u16(0)
            w.raw(data)
            return w.b
        case .group(let label, let type, let children):
            let body = children.flatMap { bytes($0) }
            var w = Bytes()
            w.ascii("GRUP"); w.u32(UInt32(24 + body.count)); w.ascii(label); w.u32(UInt32(bitPattern: type)); w.u16(0); w.u16(0); w.u32(0)
            w.raw(body)
            return w.b
        case .groupID(let label, let type, let children):
            let body = children.flatMap { bytes($0) }
            var w = Bytes()
            w.ascii("GRUP"); w.u32(UInt32(24 + body.count)); w.u32(label); w.u32(UInt32(bitPattern: type)); w.u16(0); w.u16(0); w.u32(0)
            w.raw(body)
            return w.b
        }
    }

    static func file(header: [UInt8] = TestPlugin.header(), _ nodes: [Node]) -> [UInt8] {
        header + nodes.flatMap { bytes($0) }
    }

    /// A simple record with an EDID and some payload.
    static func simple(_ sig: String, _ formID: UInt32, _ edid: String, payload: Int = 40, seed: UInt64 = 0,
                       compress: ZlibParameters? = nil) -> Node {
        .record(sig: sig, formID: formID, fields: [("EDID", zstring(edid)), ("DATA", TestData.text(payload, seed: seed ^ UInt64(formID)))],
                compress: compress)
    }
}

/// A test-only DDS writer.
enum TestDDS {
    static func legacy(width: UInt32, height: UInt32, mips: UInt32, fourCC: String? = "DXT1", bitCount: UInt32 = 32,
                       cubemap: Bool = false, trailing: Int = 0, dataSize: Int? = nil) -> [UInt8] {
        var w = Bytes()
        w.ascii("DDS "); w.u32(124); w.u32(0x000A_1007); w.u32(height); w.u32(width); w.u32(0); w.u32(0); w.u32(mips)
        for _ in 0..<11 { w.u32(0) }
        w.u32(32)
        if let cc = fourCC { w.u32(0x4); w.ascii(cc); w.u32(0); w.u32(0); w.u32(0); w.u32(0); w.u32(0) }
        else { w.u32(0x41); w.u32(0); w.u32(bitCount); w.u32(0xFF0000); w.u32(0xFF00); w.u32(0xFF); w.u32(0xFF00_0000) }
        w.u32(0x401008); w.u32(cubemap ? 0xFE00 : 0); w.u32(0); w.u32(0); w.u32(0)
        let layout: PixelLayout = fourCC.flatMap { DXGI.format(fourCC: $0) }.flatMap { DXGI.layout($0) } ?? .uncompressed(bitsPerPixel: Int(bitCount))
        var body = 0
        for _ in 0..<(cubemap ? 6 : 1) {
            for m in 0..<Int(max(mips, 1)) { body += Int(layout.surfaceSize(width: UInt64(width), height: UInt64(height), mip: m)!) }
        }
        w.raw(TestData.random(dataSize ?? body + trailing, seed: UInt64(width) << 8 | UInt64(mips)))
        return w.b
    }

    static func dx10(width: UInt32, height: UInt32, mips: UInt32, format: UInt32, arraySize: UInt32 = 1, cubemap: Bool = false) -> [UInt8] {
        var w = Bytes()
        w.ascii("DDS "); w.u32(124); w.u32(0x000A_1007); w.u32(height); w.u32(width); w.u32(0); w.u32(1); w.u32(mips)
        for _ in 0..<11 { w.u32(0) }
        w.u32(32); w.u32(0x4); w.ascii("DX10"); for _ in 0..<5 { w.u32(0) }
        w.u32(0x401008); w.u32(cubemap ? 0xFE00 : 0); w.u32(0); w.u32(0); w.u32(0)
        w.u32(format); w.u32(3); w.u32(cubemap ? 4 : 0); w.u32(arraySize); w.u32(1)
        let layout = DXGI.layout(format)!
        var body = 0
        for _ in 0..<(Int(arraySize) * (cubemap ? 6 : 1)) {
            for m in 0..<Int(max(mips, 1)) { body += Int(layout.surfaceSize(width: UInt64(width), height: UInt64(height), mip: m)!) }
        }
        w.raw(TestData.random(body, seed: 9))
        return w.b
    }
}

/// Asserts that segments cover `size` bytes exactly and are well formed.
func expectExactCover(_ s: Segmentation, size: UInt64, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(s.covers(size: size), "segments do not cover \(size) bytes: \(s.segments.map { "\($0.kind.rawValue)@\($0.offset)+\($0.length)" })",
            sourceLocation: sourceLocation)
    for seg in s.segments {
        if let st = seg.stream {
            #expect(st.offset >= seg.offset && st.offset + st.length <= seg.end, "stream outside its segment", sourceLocation: sourceLocation)
        }
    }
}
