// Loose files and GNRL members other than textures and plugins: what they are and how their bytes are made.

/// What a non-texture, non-plugin file contains.
enum ContentKind: Hashable, Sendable {
    case nif(name: String, textures: [String])
    case pex(script: String, author: String)
    case psc(script: String)
    case bgsm(textures: [String])
    case sound(fuz: Bool)
    case readme(title: String)
    case json(name: String)
    case ini(name: String)
    case xml(name: String)
    case dll(name: String)
}

/// A file's content recipe: kind, seed and approximate size. Equal specs give equal bytes.
struct ContentSpec: Hashable, Sendable {
    var kind: ContentKind
    var seed: UInt64
    var size: Int

    func bytes() -> [UInt8] {
        switch kind {
        case let .nif(name, textures):
            return MeshSynthesizer.nif(seed: seed, targetBytes: size, name: name, texturePaths: textures)
        case let .pex(script, author):
            return ScriptSynthesizer.pex(seed: seed, targetBytes: size, scriptName: script, author: author)
        case let .psc(script):
            return ScriptSynthesizer.psc(seed: seed, targetBytes: size, scriptName: script)
        case let .bgsm(textures):
            return ContentSynth.material(seed: seed, textures: textures)
        case let .sound(fuz):
            return ContentSynth.sound(seed: seed, size: size, fuz: fuz)
        case let .readme(title):
            return ContentSynth.readme(seed: seed, size: size, title: title)
        case let .json(name):
            return ContentSynth.mcmConfig(seed: seed, size: size, name: name)
        case let .ini(name):
            return ContentSynth.ini(seed: seed, size: size, name: name)
        case let .xml(name):
            return ContentSynth.fomodInfo(seed: seed, name: name)
        case let .dll(name):
            return ContentSynth.dll(seed: seed, size: size, name: name)
        }
    }

    /// Class of content for compression estimates and the summary's per-kind totals.
    var category: String {
        switch kind {
        case .nif: "nif"
        case .pex: "pex"
        case .psc, .readme, .json, .ini, .xml: "text"
        case .bgsm: "bgsm"
        case .sound: "sound"
        case .dll: "dll"
        }
    }
}

enum ContentSynth {
    /// BGSM material: header flags, nine texture slots, then shading parameters.
    static func material(seed: UInt64, textures: [String]) -> [UInt8] {
        var rng = FixtureRNG(seed: seed)
        var b = ByteBuilder(capacity: 512)
        b.fourCC("BGSM")
        b.u32(2)
        b.u32(3)  // tile U | tile V
        b.f32(0); b.f32(0); b.f32(1); b.f32(1)
        b.f32(1)
        b.u8(0); b.u32(6); b.u32(7); b.u8(128); b.u8(0)
        for flag in [1, 1, 0, 0, 0, rng.int(0...1), 0, 0, 0, 0] { b.u8(UInt8(flag)) }
        b.f32(0); b.u8(0); b.f32(1); b.u8(0)
        for slot in 0..<9 {
            let path = slot < textures.count ? textures[slot] : ""
            b.u32(UInt32(path.utf8.count + 1))
            b.raw(Array(path.utf8))
            b.u8(0)
        }
        b.u8(0); b.u8(0); b.f32(2); b.f32(0); b.u8(0); b.f32(0.3)
        b.u8(1); b.f32(1); b.f32(1); b.f32(1)
        b.f32(rng.float(0.5...3)); b.f32(rng.float(0.1...1)); b.f32(5)
        b.f32(-1); b.f32(-1); b.f32(-1); b.f32(-1); b.f32(-1); b.f32(-1); b.f32(-1)
        b.u32(0)  // root material path (empty)
        b.u8(0); b.u8(0)
        b.f32(1); b.f32(1); b.f32(1); b.f32(0)
        for _ in 0..<12 { b.u8(0) }
        b.f32(1); b.f32(1); b.f32(1)
        for _ in 0..<4 { b.u8(0) }
        b.f32(0); b.f32(0); b.f32(1); b.u8(0)
        return b.bytes
    }

    /// xWMA/FUZ-like audio: RIFF framing around near-random payload, which is why Archive2 stores sound raw.
    static func sound(seed: UInt64, size: Int, fuz: Bool) -> [UInt8] {
        var rng = FixtureRNG(seed: seed)
        var b = ByteBuilder(capacity: size + 64)
        var lip: [UInt8] = []
        if fuz {
            // Lip-sync data is small and structured; audio follows it.
            var l = ByteBuilder()
            for i in 0..<rng.int(40...160) { l.f32(Float(i) * 0.033); l.u16(UInt16(rng.int(0...15))); l.u16(UInt16(rng.int(0...100))) }
            lip = l.bytes
            b.fourCC("FUZE")
            b.u32(1)
            b.u32(UInt32(lip.count))
            b.raw(lip)
        }
        let audio = max(64, size - b.count - 56)
        b.fourCC("RIFF"); b.u32(UInt32(audio + 48)); b.fourCC("XWMA")
        b.fourCC("fmt "); b.u32(18); b.u16(0x161); b.u16(1); b.u32(44_100); b.u32(6_000); b.u16(2_230); b.u16(16); b.u16(0)
        b.fourCC("dpds"); b.u32(4); b.u32(UInt32(audio / 2230 * 4096))
        b.fourCC("data"); b.u32(UInt32(audio))
        var remaining = audio
        while remaining > 0 {
            // Packet headers every 2230 bytes keep the stream from being pure noise.
            let packet = min(remaining, 2230)
            b.u8(0x2A); b.u8(UInt8(truncatingIfNeeded: packet))
            var left = packet - 2
            while left > 0 {
                var word = rng.next()
                for _ in 0..<min(8, left) { b.u8(UInt8(truncatingIfNeeded: word)); word >>= 8 }
                left -= min(8, left)
            }
            remaining -= packet
        }
        return b.bytes
    }

    static func crlf(_ lines: [String]) -> [UInt8] { Array((lines.joined(separator: "\r\n") + "\r\n").utf8) }

    static func readme(seed: UInt64, size: Int, title: String) -> [UInt8] {
        var rng = FixtureRNG(seed: seed)
        var lines = [title, String(repeating: "=", count: title.count), ""]
        var total = lines.reduce(0) { $0 + $1.utf8.count + 2 }
        let headings = ["Description", "Requirements", "Installation", "Compatibility", "Known Issues", "Changelog", "Credits", "Permissions"]
        var h = 0
        while total < size {
            let block = ["", headings[h % headings.count], String(repeating: "-", count: headings[h % headings.count].count)]
                + (0..<rng.int(1...4)).map { _ in (rng.chance(0.4) ? "- " : "") + Words.paragraph(&rng, sentences: rng.int(1...4)) }
            total += block.reduce(0) { $0 + $1.utf8.count + 2 }
            lines.append(contentsOf: block)
            h += 1
        }
        return crlf(lines)
    }

    static func mcmConfig(seed: UInt64, size: Int, name: String) -> [UInt8] {
        var rng = FixtureRNG(seed: seed)
        var lines = ["{", "  \"modName\": \"\(name)\",", "  \"displayName\": \"\(name)\",", "  \"minMcmVersion\": 2,", "  \"content\": ["]
        var total = 120
        var i = 0
        while total < size {
            let id = Words.identifier(rng.pick(Words.adjectives)) + rng.pick(Words.nouns)
            let entry = [
                "    {",
                "      \"text\": \"\(Words.itemName(&rng))\",",
                "      \"type\": \"\(rng.pick(["switcher", "slider", "dropdown", "stepper", "text"]))\",",
                "      \"help\": \"\(Words.sentence(&rng, words: rng.int(5...14)))\",",
                "      \"id\": \"\(id):Main\",",
                "      \"valueOptions\": { \"sourceType\": \"ModSettingFloat\", \"min\": 0, \"max\": \(rng.int(1...100)), \"step\": 1 }",
                "    },",
            ]
            total += entry.reduce(0) { $0 + $1.utf8.count + 1 }
            lines.append(contentsOf: entry)
            i += 1
        }
        lines.append("    { \"text\": \"\", \"type\": \"spacer\" }")
        lines.append("  ]")
        lines.append("}")
        return Array((lines.joined(separator: "\n") + "\n").utf8)
    }

    static func ini(seed: UInt64, size: Int, name: String) -> [UInt8] {
        var rng = FixtureRNG(seed: seed)
        var lines = ["; \(name) settings", "[Main]"]
        var total = 30
        while total < size {
            let line: String
            switch rng.int(0...5) {
            case 0: line = ""; lines.append(line); lines.append("[\(rng.pick(Words.nouns))]")
            case 1: line = "; " + Words.sentence(&rng, words: rng.int(4...10)); lines.append(line)
            case 2: line = "f\(rng.pick(Words.nouns))\(rng.pick(Words.nouns))=\(rng.int(0...1000)).\(rng.int(0...99))"; lines.append(line)
            case 3: line = "b\(Words.identifier(rng.pick(Words.adjectives)))\(rng.pick(Words.nouns))=\(rng.int(0...1))"; lines.append(line)
            default: line = "i\(rng.pick(Words.nouns))Count=\(rng.int(0...64))"; lines.append(line)
            }
            total += line.utf8.count + 2
        }
        return crlf(lines)
    }

    static func fomodInfo(seed: UInt64, name: String) -> [UInt8] {
        var rng = FixtureRNG(seed: seed)
        let lines = [
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>",
            "<fomod>",
            "  <Name>\(name)</Name>",
            "  <Author>\(rng.pick(Words.nouns))\(rng.int(1...999))</Author>",
            "  <Version>\(rng.int(1...4)).\(rng.int(0...9)).\(rng.int(0...9))</Version>",
            "  <Website>https://www.nexusmods.com/fallout4/mods/\(rng.int(1000...80000))</Website>",
            "  <Description>\(Words.paragraph(&rng, sentences: rng.int(2...5)))</Description>",
            "  <Groups><element>\(rng.pick(Words.modSubjects))</element></Groups>",
            "</fomod>",
        ]
        return crlf(lines)
    }

    /// PE-like binary: DOS stub, section table, x86-64-ish code with a skewed opcode mix, string table, padding.
    static func dll(seed: UInt64, size: Int, name: String) -> [UInt8] {
        var rng = FixtureRNG(seed: seed)
        var b = ByteBuilder(capacity: size + 1024)
        b.raw(Array("MZ".utf8)); b.u16(0x90); b.u16(3); b.zeros(54); b.u32(0x100)  // e_lfanew at 0x3C
        b.raw(Array("This program cannot be run in DOS mode.\r\r\n$".utf8))
        b.zeros(0x100 - b.count)
        b.raw(Array("PE\0\0".utf8)); b.u16(0x8664); b.u16(4); b.u32(UInt32(1_500_000_000 + rng.int(0...300_000_000)))
        b.zeros(12)
        for section in [".text", ".rdata", ".data", ".reloc"] {
            var n = Array(section.utf8); n += [UInt8](repeating: 0, count: 8 - n.count); b.raw(n)
            b.zeros(32)
        }
        b.zeros(0x400 - b.count)
        let codeEnd = size * 6 / 10
        // Common instruction prefixes of compiled C++: REX.W mov/lea/call/ret/jmp/cmp with small displacements.
        let templates: [[UInt8]] = [[0x48, 0x89, 0x5C, 0x24], [0x48, 0x8B, 0x05], [0xE8], [0x48, 0x83, 0xEC], [0xC3], [0x0F, 0x84], [0x74], [0x48, 0x8D, 0x0D], [0xFF, 0x15], [0x33, 0xC0], [0x48, 0x85, 0xC0], [0x4C, 0x8B, 0xC3], [0xCC, 0xCC, 0xCC]]
        while b.count < codeEnd {
            let t = templates[rng.int(below: templates.count)]
            b.raw(t)
            let operand = rng.next()
            switch t.last! {
            case 0xE8, 0x05, 0x0D, 0x15, 0x84: b.u32(UInt32(truncatingIfNeeded: operand & 0x000F_FFFF))
            case 0x24, 0xEC, 0x74: b.u8(UInt8(truncatingIfNeeded: operand & 0x78))
            default: break
            }
        }
        while b.count < size * 9 / 10 {
            let s = "\(name)::\(rng.pick(Words.scriptVerbs))\(rng.pick(Words.nouns)) \(Words.sentence(&rng, words: rng.int(2...6)))"
            b.zstring(s)
        }
        b.zeros(max(0, size - b.count))
        return b.bytes
    }
}
