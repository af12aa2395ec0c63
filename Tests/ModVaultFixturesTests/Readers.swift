// Independent, strict readers for the formats the generator writes. They share no code with the
// library except zlib inflation, and are checked against the real public samples first.

import Foundation
import ModVaultFixtures

struct ReadError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Little-endian cursor with bounds checks.
struct Cursor {
    let bytes: [UInt8]
    var offset: Int

    init(_ bytes: [UInt8], at offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
    }

    var remaining: Int { bytes.count - offset }

    mutating func take(_ n: Int) throws -> ArraySlice<UInt8> {
        guard n >= 0, n <= remaining else { throw ReadError("need \(n) bytes at \(offset), have \(remaining)") }
        defer { offset += n }
        return bytes[offset..<offset + n]
    }

    mutating func u8() throws -> UInt8 { try take(1).first! }
    mutating func u16() throws -> UInt16 { try take(2).reversed().reduce(0) { $0 << 8 | UInt16($1) } }
    mutating func u32() throws -> UInt32 { try take(4).reversed().reduce(0) { $0 << 8 | UInt32($1) } }
    mutating func u64() throws -> UInt64 { try take(8).reversed().reduce(0) { $0 << 8 | UInt64($1) } }
    mutating func ascii(_ n: Int) throws -> String { String(decoding: try take(n), as: UTF8.self) }
}

/// The BA2 name hash, implemented separately from the library to cross-check it.
func referenceHash(_ text: String) -> UInt32 {
    var crc: UInt32 = 0
    for var byte in text.utf8 where byte < 0x80 {
        if byte == 0x2F { byte = 0x5C }
        if (0x41...0x5A).contains(byte) { byte |= 0x20 }
        crc ^= UInt32(byte)
        for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
    }
    return crc
}

/// (name hash, extension, directory hash) of an archive path, per §1.2–1.3.
func referenceKey(_ path: String) -> (name: UInt32, ext: String, dir: UInt32) {
    let normalized = path.replacingOccurrences(of: "/", with: "\\")
    let dir = normalized.range(of: "\\", options: .backwards).map { String(normalized[..<$0.lowerBound]) } ?? ""
    let file = normalized.range(of: "\\", options: .backwards).map { String(normalized[$0.upperBound...]) } ?? normalized
    let stem = file.range(of: ".", options: .backwards).map { String(file[..<$0.lowerBound]) } ?? file
    let ext = file.range(of: ".", options: .backwards).map { String(file[$0.upperBound...]) } ?? ""
    return (referenceHash(stem), String(ext.lowercased().prefix(4)), referenceHash(dir))
}

struct BA2Chunk: Equatable {
    var offset: UInt64, packed: UInt32, unpacked: UInt32, firstMip: UInt16, lastMip: UInt16
    var stored: Int { Int(packed == 0 ? unpacked : packed) }
}

struct BA2Entry {
    var nameHash: UInt32, ext: String, dirHash: UInt32
    var chunks: [BA2Chunk]
    var height = 0, width = 0, mips = 0, dxgi = 0
    var name: String?
}

struct BA2Archive {
    var version: UInt32
    var type: String
    var entries: [BA2Entry]
    var nameTableOffset: UInt64
    var bytes: [UInt8]

    /// Stored bytes of one chunk.
    func stored(_ c: BA2Chunk) -> [UInt8] { Array(bytes[Int(c.offset)..<Int(c.offset) + c.stored]) }

    /// Inflated content of an entry: GNRL file bytes, or DX10 surfaces of all mips.
    func content(_ e: BA2Entry) throws -> [UInt8] {
        var out: [UInt8] = []
        for c in e.chunks {
            let s = stored(c)
            out += c.packed == 0 ? s : try FixtureZlib.inflate(s, expectedSize: Int(c.unpacked))
        }
        return out
    }

    func entry(named name: String) -> BA2Entry? { entries.first { $0.name == name } }
}

/// Strict BA2 reader (§1): rejects anything the standard readers reject.
func readBA2(_ bytes: [UInt8]) throws -> BA2Archive {
    var c = Cursor(bytes)
    guard try c.ascii(4) == "BTDX" else { throw ReadError("bad magic") }
    let version = try c.u32()
    guard [1, 7, 8].contains(version) else { throw ReadError("unsupported version \(version)") }
    let type = try c.ascii(4)
    guard type == "GNRL" || type == "DX10" else { throw ReadError("unknown archive type \(type)") }
    let count = Int(try c.u32())
    let nameTable = try c.u64()
    guard nameTable == 0 || nameTable <= UInt64(bytes.count) else { throw ReadError("name table offset past end of data") }
    var entries: [BA2Entry] = []
    for _ in 0..<count {
        let nameHash = try c.u32()
        let extBytes = Array(try c.take(4))
        let ext = String(decoding: extBytes.prefix { $0 != 0 }, as: UTF8.self)
        guard extBytes.drop(while: { $0 != 0 }).allSatisfy({ $0 == 0 }), ext == ext.lowercased() else { throw ReadError("bad extension field") }
        let dirHash = try c.u32()
        guard try c.u8() == 0 else { throw ReadError("unknown byte not 0") }
        let chunkCount = Int(try c.u8())
        let recordSize = try c.u16()
        var entry = BA2Entry(nameHash: nameHash, ext: ext, dirHash: dirHash, chunks: [])
        if type == "GNRL" {
            guard chunkCount == 1, recordSize == 0x10 else { throw ReadError("bad GNRL chunk header \(chunkCount)/\(recordSize)") }
        } else {
            guard (1...4).contains(chunkCount), recordSize == 0x18 else { throw ReadError("bad DX10 chunk header") }
            entry.height = Int(try c.u16())
            entry.width = Int(try c.u16())
            entry.mips = Int(try c.u8())
            entry.dxgi = Int(try c.u8())
            guard try c.u8() & ~1 == 0 else { throw ReadError("unknown texture flags") }
            guard try c.u8() == 8 else { throw ReadError("tile mode not 8") }
        }
        for _ in 0..<chunkCount {
            var chunk = BA2Chunk(offset: try c.u64(), packed: try c.u32(), unpacked: try c.u32(), firstMip: 0, lastMip: 0)
            if type == "DX10" {
                chunk.firstMip = try c.u16()
                chunk.lastMip = try c.u16()
                guard chunk.firstMip <= chunk.lastMip, Int(chunk.lastMip) < entry.mips else { throw ReadError("bad mip range") }
            }
            guard try c.u32() == 0xBAAD_F00D else { throw ReadError("bad sentinel") }
            guard chunk.offset + UInt64(chunk.stored) <= UInt64(bytes.count) else { throw ReadError("chunk outside file") }
            entry.chunks.append(chunk)
        }
        if type == "DX10" {
            // Chunks must cover mips 0...mips-1 in order, without gaps.
            var next = 0
            for chunk in entry.chunks {
                guard Int(chunk.firstMip) == next else { throw ReadError("mip chunks not contiguous") }
                next = Int(chunk.lastMip) + 1
            }
            guard next == entry.mips else { throw ReadError("mip chunks do not cover all mips") }
        }
        entries.append(entry)
    }
    if nameTable != 0 {
        var n = Cursor(bytes, at: Int(nameTable))
        for i in entries.indices {
            let length = Int(try n.u16())
            entries[i].name = try n.ascii(length)
        }
        guard n.remaining == 0 else { throw ReadError("\(n.remaining) bytes after the name table") }
    }
    return BA2Archive(version: version, type: type, entries: entries, nameTableOffset: nameTable, bytes: bytes)
}

/// Bytes per mip by the DDS rules of §2.3, for the DXGI formats the fixtures use.
func referenceMipSize(dxgi: Int, width: Int, height: Int, mip: Int) -> Int {
    let w = max(1, width >> mip), h = max(1, height >> mip)
    switch dxgi {
    case 71, 72, 80, 81: return max(1, (w + 3) / 4) * max(1, (h + 3) / 4) * 8
    case 74, 75, 77, 78, 83, 84, 95, 96, 98, 99: return max(1, (w + 3) / 4) * max(1, (h + 3) / 4) * 16
    case 87, 28: return w * 4 * h
    default: return -1
    }
}

/// The split of §1.5.
func referenceChunkRanges(width: Int, height: Int, mips: Int) -> [ClosedRange<Int>] {
    var ranges: [ClosedRange<Int>] = []
    var w = width, h = height, mip = 0
    while ranges.count < 3 && mip < mips - 1 && w >= 512 && h >= 512 {
        ranges.append(mip...mip)
        mip += 1; w /= 2; h /= 2
    }
    ranges.append(mip...(mips - 1))
    return ranges
}

struct DDSFile {
    var width: Int, height: Int, mips: Int, dxgi: Int, headerSize: Int
    var surface: ArraySlice<UInt8>
}

/// Parses a DDS header and checks that the file is exactly header + all mip surfaces.
func readDDS(_ bytes: [UInt8]) throws -> DDSFile {
    var c = Cursor(bytes)
    guard try c.ascii(4) == "DDS ", try c.u32() == 124 else { throw ReadError("not a DDS") }
    _ = try c.u32()
    let height = Int(try c.u32()), width = Int(try c.u32())
    _ = try c.u32(); _ = try c.u32()
    let mips = max(1, Int(try c.u32()))
    c.offset = 76
    guard try c.u32() == 32 else { throw ReadError("bad pixel format size") }
    let pfFlags = try c.u32()
    let fourCC = try c.ascii(4)
    let bitCount = try c.u32()
    var dxgi: Int
    var headerSize = 128
    if pfFlags & 0x4 != 0 {
        switch fourCC {
        case "DXT1": dxgi = 71
        case "DXT5": dxgi = 77
        case "ATI2", "BC5U": dxgi = 83
        case "DX10":
            var x = Cursor(bytes, at: 128)
            dxgi = Int(try x.u32())
            guard try x.u32() == 3 else { throw ReadError("not a 2D texture") }
            headerSize = 148
        default: throw ReadError("unknown fourCC \(fourCC)")
        }
    } else if pfFlags & 0x40 != 0 && bitCount == 32 {
        dxgi = 87
    } else {
        throw ReadError("unsupported pixel format")
    }
    let expected = (0..<mips).reduce(headerSize) { $0 + referenceMipSize(dxgi: dxgi, width: width, height: height, mip: $1) }
    guard expected == bytes.count else { throw ReadError("DDS is \(bytes.count) bytes, header + mips = \(expected)") }
    return DDSFile(width: width, height: height, mips: mips, dxgi: dxgi, headerSize: headerSize, surface: bytes[headerSize...])
}

struct PluginRecordInfo {
    var signature: String, formID: UInt32, flags: UInt32
    var raw: ArraySlice<UInt8>
    var fields: [(String, Int)]
}

struct PluginWalk {
    var hedrVersion: Float = 0, hedrRecords = 0, nextObjectID: UInt32 = 0
    var masters: [String] = []
    var tes4Flags: UInt32 = 0
    var groups: [String] = []
    var records: [PluginRecordInfo] = []
    var compressed = 0
    var oversizeFields = 0

    var recordsByFormID: [UInt32: PluginRecordInfo] {
        Dictionary(records.map { ($0.formID, $0) }, uniquingKeysWith: { a, _ in a })
    }
}

/// Walks a plugin by sizes only (§3): TES4, then GRUPs whose records must exactly fill them; fields must
/// exactly fill each record (XXXX handled); compressed records must inflate to their declared size.
func walkPlugin(_ bytes: [UInt8]) throws -> PluginWalk {
    var walk = PluginWalk()
    var c = Cursor(bytes)
    let tes4 = try readRecord(&c, into: &walk)
    guard tes4.signature == "TES4", tes4.formID == 0 else { throw ReadError("plugin does not start with TES4") }
    walk.records.removeAll()
    while c.remaining > 0 {
        let start = c.offset
        guard try c.ascii(4) == "GRUP" else { throw ReadError("expected GRUP at \(start)") }
        let size = Int(try c.u32())
        let label = try c.ascii(4)
        guard try c.u32() == 0 else { throw ReadError("not a top-level group") }
        _ = try c.take(8)
        guard size >= 24, start + size <= bytes.count else { throw ReadError("bad group size \(size) at \(start)") }
        walk.groups.append(label)
        while c.offset < start + size {
            let record = try readRecord(&c, into: &walk)
            guard record.signature == label else { throw ReadError("\(record.signature) inside GRUP \(label)") }
        }
        guard c.offset == start + size else { throw ReadError("records overrun GRUP \(label)") }
    }
    return walk
}

private func readRecord(_ c: inout Cursor, into walk: inout PluginWalk) throws -> PluginRecordInfo {
    let start = c.offset
    let signature = try c.ascii(4)
    let size = Int(try c.u32())
    let flags = try c.u32()
    let formID = try c.u32()
    _ = try c.take(8)
    var data = Array(try c.take(size))
    if flags & 0x0004_0000 != 0 {
        var d = Cursor(data)
        let expected = Int(try d.u32())
        data = try FixtureZlib.inflate(Array(data[4...]), expectedSize: expected)
        walk.compressed += 1
    }
    var fields: [(String, Int)] = []
    var f = Cursor(data)
    var pendingSize: Int?
    while f.remaining > 0 {
        let type = try f.ascii(4)
        var length = Int(try f.u16())
        if let big = pendingSize {
            guard length == 0 else { throw ReadError("field after XXXX has size \(length)") }
            length = big
            pendingSize = nil
            walk.oversizeFields += 1
        }
        let body = Array(try f.take(length))
        if type == "XXXX" {
            guard length == 4 else { throw ReadError("XXXX of size \(length)") }
            var x = Cursor(body)
            pendingSize = Int(try x.u32())
            continue
        }
        fields.append((type, length))
        if signature == "TES4" {
            var b = Cursor(body)
            switch type {
            case "HEDR":
                walk.hedrVersion = Float(bitPattern: try b.u32())
                walk.hedrRecords = Int(try b.u32())
                walk.nextObjectID = try b.u32()
            case "MAST": walk.masters.append(String(decoding: body.dropLast(), as: UTF8.self))
            default: break
            }
        }
    }
    guard pendingSize == nil else { throw ReadError("XXXX at end of record") }
    if signature == "TES4" { walk.tes4Flags = flags }
    let info = PluginRecordInfo(signature: signature, formID: formID, flags: flags, raw: c.bytes[start..<c.offset], fields: fields)
    walk.records.append(info)
    return info
}

/// Checks a NIF's header and that its block-size table accounts for every byte up to the footer.
func checkNIF(_ bytes: [UInt8]) throws -> (blocks: Int, types: [String]) {
    let line = Array("Gamebryo File Format, Version 20.2.0.7\n".utf8)
    guard bytes.starts(with: line) else { throw ReadError("missing NIF header line") }
    var c = Cursor(bytes, at: line.count)
    guard try c.u32() == 0x1402_0007, try c.u8() == 1, try c.u32() == 12 else { throw ReadError("not a Fallout 4 NIF") }
    let blocks = Int(try c.u32())
    guard try c.u32() == 130 else { throw ReadError("BS stream version not 130") }
    for _ in 0..<3 { _ = try c.take(Int(try c.u8())) }
    _ = try c.take(Int(try c.u8()))
    var types: [String] = []
    for _ in 0..<Int(try c.u16()) { types.append(try c.ascii(Int(try c.u32()))) }
    for _ in 0..<blocks { guard Int(try c.u16()) < types.count else { throw ReadError("bad block type index") } }
    var total = 0
    for _ in 0..<blocks { total += Int(try c.u32()) }
    let strings = Int(try c.u32())
    _ = try c.u32()
    for _ in 0..<strings { _ = try c.take(Int(try c.u32())) }
    guard try c.u32() == 0 else { throw ReadError("groups not supported") }
    _ = try c.take(total)
    let roots = Int(try c.u32())
    _ = try c.take(roots * 4)
    guard c.remaining == 0 else { throw ReadError("\(c.remaining) bytes after NIF footer") }
    return (blocks, types)
}

// MARK: - Files

enum Paths {
    static let packageRoot: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The public samples: the repository copy, or the shared folder next to the checkout.
    static let publicFixtures: URL = {
        let local = packageRoot.appendingPathComponent("Fixtures/public")
        if FileManager.default.fileExists(atPath: local.appendingPathComponent("SHA256SUMS").path) { return local }
        return packageRoot.deletingLastPathComponent().appendingPathComponent("shared/fixtures/public")
    }()

    static func sample(_ relative: String) throws -> [UInt8] {
        try read(publicFixtures.appendingPathComponent(relative).path)
    }

    static func read(_ path: String) throws -> [UInt8] {
        Array(try Data(contentsOf: URL(fileURLWithPath: path)))
    }

    /// Per-process folder for generated trees, removed when the test process exits.
    static let sessionRoot: String = {
        atexit {
            try? FileManager.default.removeItem(atPath: FileManager.default.temporaryDirectory.appendingPathComponent("modvault-fixtures-tests-\(getpid())").path)
        }
        return FileManager.default.temporaryDirectory.appendingPathComponent("modvault-fixtures-tests-\(getpid())").path
    }()

    static func temporaryDirectory(_ label: String) -> String {
        sessionRoot + "/\(label)-\(UUID().uuidString)"
    }

    /// Relative paths of all regular files under `root`, sorted.
    static func files(under root: String) -> [String] {
        let base = URL(fileURLWithPath: root).standardizedFileURL.path
        guard let walker = FileManager.default.enumerator(atPath: base) else { return [] }
        var out: [String] = []
        while let path = walker.nextObject() as? String {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: base + "/" + path, isDirectory: &isDirectory), !isDirectory.boolValue {
                out.append(path)
            }
        }
        return out.sorted()
    }
}
