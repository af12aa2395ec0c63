/// Header fields of a compiled Papyrus script as Fallout 4 writes it.
public struct PEXHeader: Sendable, Hashable {
    /// Major version (3).
    public var major: UInt8 = 3
    /// Minor version (9 for Fallout 4).
    public var minor: UInt8 = 9
    /// Game ID (2 = Fallout 4).
    public var gameID: UInt16 = 2
    /// Compile time, seconds since 1970; changes on every recompile.
    public var compileTime: UInt64
    /// Source file name (`Foo.psc`).
    public var sourceName: String
    /// User who compiled it.
    public var userName: String
    /// Machine it was compiled on.
    public var machineName: String

    /// Creates a header.
    public init(compileTime: UInt64, sourceName: String, userName: String, machineName: String) {
        self.compileTime = compileTime
        self.sourceName = sourceName
        self.userName = userName
        self.machineName = machineName
    }
}

/// Serialises PEX-like files: little-endian magic `DE C0 57 FA`, header, string table, then an opaque body.
public enum PEXWriter {
    /// The magic as stored by Fallout 4 (little-endian 0xFA57C0DE).
    public static let magic: [UInt8] = [0xDE, 0xC0, 0x57, 0xFA]

    /// Header, u16-counted string table, then `body` (debug info, user flags, objects).
    public static func bytes(header: PEXHeader, strings: [String], body: [UInt8]) -> [UInt8] {
        var b = ByteBuilder(capacity: body.count + strings.count * 16 + 64)
        b.raw(magic)
        b.u8(header.major)
        b.u8(header.minor)
        b.u16(header.gameID)
        b.u64(header.compileTime)
        for s in [header.sourceName, header.userName, header.machineName] { wstring(s, into: &b) }
        b.u16(UInt16(strings.count))
        for s in strings { wstring(s, into: &b) }
        b.raw(body)
        return b.bytes
    }

    static func wstring(_ s: String, into b: inout ByteBuilder) {
        let bytes = Array(s.utf8)
        b.u16(UInt16(bytes.count))
        b.raw(bytes)
    }
}

/// Builds plausible compiled scripts and their Papyrus sources from the same seed.
public enum ScriptSynthesizer {
    /// A PEX of roughly `targetBytes` for script `scriptName`.
    public static func pex(seed: UInt64, targetBytes: Int, scriptName: String, author: String) -> [UInt8] {
        var rng = FixtureRNG(seed: seed)
        var table = StringTable()
        let object = table.index(scriptName)
        let parent = table.index(rng.pick(["Quest", "ObjectReference", "Actor", "ScriptObject", "ActiveMagicEffect"]))
        for name in ["", "None", "self", "::temp0", "::temp1", "::NoneVar", "Int", "Float", "Bool", "String"] { _ = table.index(name) }
        var functions: [[UInt8]] = []
        var debug = ByteBuilder()
        var debugCount = 0
        var bodySize = 0
        var functionNames: [UInt16] = []
        while bodySize < targetBytes * 3 / 4 || functions.isEmpty {
            let fname = table.index(rng.pick(Words.scriptVerbs) + rng.pick(Words.nouns) + (rng.chance(0.3) ? "\(rng.int(1...9))" : ""))
            functionNames.append(fname)
            let (code, lines) = function(&rng, &table, targetInstructions: rng.int(6...80))
            functions.append(code)
            bodySize += code.count + lines.count * 2 + 12
            debug.u16(object); debug.u16(0); debug.u16(fname); debug.u8(0)
            debug.u16(UInt16(lines.count))
            for l in lines { debug.u16(l) }
            debugCount += 1
        }
        var body = ByteBuilder(capacity: bodySize + 256)
        body.u8(1)  // has debug info
        body.u64(UInt64(1_500_000_000 + rng.int(0...250_000_000)))
        body.u16(UInt16(debugCount))
        body.raw(debug.bytes)
        body.u16(0); body.u16(0)  // property groups, struct orders
        body.u16(2)  // user flags
        body.u16(table.index("hidden")); body.u8(0)
        body.u16(table.index("conditional")); body.u8(1)
        body.u16(1)  // objects
        body.u16(object)
        var obj = ByteBuilder()
        obj.u16(parent); obj.u16(0); obj.u8(0); obj.u32(0); obj.u16(0)
        obj.u16(0)  // structs
        let variableCount = rng.int(1...12)
        obj.u16(UInt16(variableCount))
        for _ in 0..<variableCount {
            obj.u16(table.index("::" + rng.pick(Words.nouns) + "_var"))
            obj.u16(table.index(rng.pick(Words.scriptTypes)))
            obj.u32(0)
            obj.u8(0)
        }
        obj.u16(0)  // properties
        obj.u16(1)  // states
        obj.u16(0)
        obj.u16(UInt16(functions.count))
        for (i, f) in functions.enumerated() {
            obj.u16(functionNames[i])
            obj.raw(f)
        }
        body.u32(UInt32(obj.count + 4))
        body.raw(obj.bytes)
        let header = PEXHeader(
            compileTime: UInt64(1_450_000_000 + rng.int(0...300_000_000)), sourceName: scriptName + ".psc",
            userName: author, machineName: author.uppercased() + "-PC")
        return PEXWriter.bytes(header: header, strings: table.strings, body: body.bytes)
    }

    struct StringTable {
        var strings: [String] = []
        var lookup: [String: UInt16] = [:]
        mutating func index(_ s: String) -> UInt16 {
            if let i = lookup[s] { return i }
            let i = UInt16(strings.count)
            strings.append(s)
            lookup[s] = i
            return i
        }
    }

    /// One function: signature, locals and an instruction stream; returns the bytes and debug line numbers.
    static func function(_ rng: inout FixtureRNG, _ table: inout StringTable, targetInstructions: Int) -> ([UInt8], [UInt16]) {
        var b = ByteBuilder()
        b.u16(table.index(rng.pick(["None", "Int", "Bool", "Float", "ObjectReference"])))
        b.u16(0); b.u32(0); b.u8(0)
        let params = rng.int(0...3)
        b.u16(UInt16(params))
        var names: [UInt16] = []
        for p in 0..<params {
            let n = table.index("a" + rng.pick(Words.nouns) + (p > 0 ? "\(p)" : ""))
            names.append(n)
            b.u16(n); b.u16(table.index(rng.pick(Words.scriptTypes)))
        }
        let locals = rng.int(0...5)
        b.u16(UInt16(locals))
        for l in 0..<locals {
            let n = table.index("::temp\(l)")
            names.append(n)
            b.u16(n); b.u16(table.index(rng.pick(["Int", "Bool", "Float", "String", "Actor"])))
        }
        if names.isEmpty { names.append(table.index("::NoneVar")) }
        b.u16(UInt16(targetInstructions))
        var lines: [UInt16] = []
        var line = UInt16(rng.int(10...400))
        for _ in 0..<targetInstructions {
            let opcode = UInt8(rng.pick([0x01, 0x02, 0x04, 0x0F, 0x10, 0x17, 0x18, 0x19, 0x1A, 0x1B, 0x0B, 0x0C, 0x0D]))
            b.u8(opcode)
            let args = opcode >= 0x17 ? 4 : rng.int(1...3)
            for a in 0..<args {
                switch (a, rng.int(0...5)) {
                case (0, _), (_, 0...2):
                    b.u8(2); b.u16(rng.pick(names))  // identifier
                case (_, 3):
                    b.u8(3); b.u32(UInt32(rng.pick([0, 1, 2, 5, 10, 100, 0xFFFF_FFFF])))  // int
                case (_, 4):
                    b.u8(1); b.u16(table.index(rng.pick(Words.scriptVerbs) + rng.pick(Words.nouns)))  // string
                default:
                    b.u8(5); b.u8(UInt8(rng.int(0...1)))  // bool
                }
            }
            if rng.chance(0.7) { line += UInt16(rng.int(0...3)) }
            lines.append(line)
        }
        return (b.bytes, lines)
    }

    /// A Papyrus source file matching a script name.
    public static func psc(seed: UInt64, targetBytes: Int, scriptName: String) -> [UInt8] {
        var rng = FixtureRNG(seed: seed)
        var lines = ["Scriptname \(scriptName) extends \(rng.pick(["Quest", "ObjectReference", "Actor"]))", ""]
        for _ in 0..<rng.int(2...10) {
            let t = rng.pick(Words.scriptTypes)
            lines.append("\(t) Property \(Words.identifier(rng.pick(Words.adjectives)))\(rng.pick(Words.nouns))\(t) Auto Const Mandatory")
        }
        lines.append("")
        var size = lines.reduce(0) { $0 + $1.utf8.count + 2 }
        while size < targetBytes {
            let name = rng.pick(Words.scriptVerbs) + rng.pick(Words.nouns)
            var block = ["Function \(name)(\(rng.pick(Words.scriptTypes)) akTarget)"]
            for _ in 0..<rng.int(2...14) {
                let stmt: String
                switch rng.int(0...4) {
                case 0: stmt = "    If akTarget && akTarget.\(rng.pick(Words.scriptVerbs))\(rng.pick(Words.nouns))()"
                case 1: stmt = "        Debug.Trace(self + \" \(Words.sentence(&rng, words: rng.int(3...8)))\")"
                case 2: stmt = "    Int i = 0\n    While i < \(rng.int(2...64))\n        i += 1\n    EndWhile"
                case 3: stmt = "    EndIf"
                default: stmt = "    \(rng.pick(Words.scriptVerbs))\(rng.pick(Words.nouns))(akTarget, \(rng.int(0...100)))"
                }
                block.append(stmt)
            }
            block.append("EndFunction")
            block.append("")
            size += block.reduce(0) { $0 + $1.utf8.count + 2 }
            lines.append(contentsOf: block)
        }
        return Array(lines.joined(separator: "\r\n").utf8)
    }
}
