/// One NIF block: its type name and serialised body.
public struct NIFBlock: Sendable, Hashable {
    /// Block type, e.g. `BSTriShape`.
    public var typeName: String
    /// Block body bytes.
    public var data: [UInt8]

    /// Creates a block.
    public init(_ typeName: String, _ data: [UInt8]) {
        self.typeName = typeName
        self.data = data
    }
}

/// Header fields and blocks of a Gamebryo NIF as Fallout 4 writes it (version 20.2.0.7, user 12, BS 130).
public struct NIFFile: Sendable, Hashable {
    /// Header user version (12 for Fallout 4).
    public var userVersion: UInt32 = 12
    /// BS stream version (130 for Fallout 4).
    public var bsVersion: UInt32 = 130
    /// Export info: author.
    public var author: String
    /// Export info: process script.
    public var processScript: String
    /// Export info: export script.
    public var exportScript: String
    /// Export info: max file path.
    public var maxFilepath: String
    /// Header string table (node names and the like).
    public var strings: [String]
    /// Blocks in file order.
    public var blocks: [NIFBlock]
    /// Root block indices written in the footer.
    public var roots: [Int32]

    /// Creates a NIF description.
    public init(
        author: String = "", processScript: String = "", exportScript: String = "", maxFilepath: String = "",
        strings: [String], blocks: [NIFBlock], roots: [Int32] = [0]
    ) {
        self.author = author
        self.processScript = processScript
        self.exportScript = exportScript
        self.maxFilepath = maxFilepath
        self.strings = strings
        self.blocks = blocks
        self.roots = roots
    }
}

/// Serialises NIF-like files: header text line, block-type table, per-block size table, strings, blocks, footer.
public enum NIFWriter {
    /// The header text line every Fallout 4 NIF starts with.
    public static let headerLine = "Gamebryo File Format, Version 20.2.0.7\n"

    /// The whole file in memory.
    public static func bytes(_ nif: NIFFile) -> [UInt8] {
        var types: [String] = []
        var typeIndex: [String: Int] = [:]
        for block in nif.blocks where typeIndex[block.typeName] == nil {
            typeIndex[block.typeName] = types.count
            types.append(block.typeName)
        }
        var b = ByteBuilder(capacity: nif.blocks.reduce(512) { $0 + $1.data.count + 6 })
        b.raw(Array(headerLine.utf8))
        b.u32(0x1402_0007)
        b.u8(1)  // little-endian
        b.u32(nif.userVersion)
        b.u32(UInt32(nif.blocks.count))
        b.u32(nif.bsVersion)
        for text in [nif.author, nif.processScript, nif.exportScript, nif.maxFilepath] {
            let bytes = Array(text.utf8)
            b.u8(UInt8(bytes.count + 1))
            b.raw(bytes)
            b.u8(0)
        }
        b.u16(UInt16(types.count))
        for type in types { sizedString(type, into: &b) }
        for block in nif.blocks { b.u16(UInt16(typeIndex[block.typeName]!)) }
        for block in nif.blocks { b.u32(UInt32(block.data.count)) }
        b.u32(UInt32(nif.strings.count))
        b.u32(UInt32(nif.strings.map { $0.utf8.count }.max() ?? 0))
        for s in nif.strings { sizedString(s, into: &b) }
        b.u32(0)  // groups
        for block in nif.blocks { b.raw(block.data) }
        b.u32(UInt32(nif.roots.count))
        for root in nif.roots { b.i32(root) }
        return b.bytes
    }

    static func sizedString(_ s: String, into b: inout ByteBuilder) {
        let bytes = Array(s.utf8)
        b.u32(UInt32(bytes.count))
        b.raw(bytes)
    }
}

/// Builds plausible Fallout 4 meshes: a node tree with BSTriShape geometry (half-float vertices over a
/// deformed surface, grid triangle lists), shader properties with texture paths, and a collision hull.
public enum MeshSynthesizer {
    /// A NIF of roughly `targetBytes` (within a few hundred bytes), fully determined by `seed`.
    public static func nif(seed: UInt64, targetBytes: Int, name: String, texturePaths: [String]) -> [UInt8] {
        var rng = FixtureRNG(seed: seed)
        var strings = [name]
        var blocks: [NIFBlock] = []
        let shapeCount = max(1, min(12, targetBytes / 180_000 + rng.int(0...2)))
        // Root node first; its child list is filled in once the shapes exist.
        blocks.append(NIFBlock("NiNode", []))
        blocks.append(NIFBlock("BSXFlags", bsxFlags(&rng, &strings)))
        let fixedCost = 700 + texturePaths.reduce(0) { $0 + $1.utf8.count + 4 }
        let perShape = max(400, (targetBytes - fixedCost) / shapeCount)
        var children: [Int32] = []
        for shape in 0..<shapeCount {
            let partName = "\(rng.pick(Words.nouns)):\(shape)"
            strings.append(partName)
            let shapeIndex = blocks.count
            children.append(Int32(shapeIndex))
            let geometryBudget = max(200, perShape - 420)
            let shaderIndex = Int32(shapeIndex + 1)
            blocks.append(NIFBlock("BSTriShape", triShape(&rng, nameIndex: UInt32(strings.count - 1), shaderRef: shaderIndex, budget: geometryBudget)))
            blocks.append(NIFBlock("BSLightingShaderProperty", shaderProperty(&rng, textureSetRef: Int32(shapeIndex + 2))))
            blocks.append(NIFBlock("BSShaderTextureSet", textureSet(texturePaths)))
        }
        let hullIndex = blocks.count
        blocks.append(NIFBlock("bhkCollisionObject", collisionObject(bodyRef: Int32(hullIndex + 1))))
        blocks.append(NIFBlock("bhkConvexVerticesShape", convexHull(&rng, points: rng.int(16...96))))
        blocks[0].data = node(&rng, children: children, extra: [1], collision: Int32(hullIndex))
        let nif = NIFFile(
            author: rng.pick(["", "mod author", "ck"]), processScript: "", exportScript: "",
            maxFilepath: "", strings: strings, blocks: blocks)
        return NIFWriter.bytes(nif)
    }

    static func bsxFlags(_ rng: inout FixtureRNG, _ strings: inout [String]) -> [UInt8] {
        strings.append("BSX")
        var b = ByteBuilder()
        b.u32(UInt32(strings.count - 1))
        b.u32(UInt32(rng.pick([2, 3, 130, 194])))
        return b.bytes
    }

    static func node(_ rng: inout FixtureRNG, children: [Int32], extra: [Int32], collision: Int32) -> [UInt8] {
        var b = ByteBuilder()
        b.u32(0)  // name string index
        b.u32(UInt32(extra.count))
        for e in extra { b.i32(e) }
        b.i32(-1)  // controller
        b.u32(14)  // flags
        for _ in 0..<3 { b.f32(0) }
        for i in 0..<9 { b.f32(i % 4 == 0 ? 1 : 0) }
        b.f32(1)
        b.i32(collision)
        b.u32(UInt32(children.count))
        for c in children { b.i32(c) }
        return b.bytes
    }

    /// A deformed cylinder-like patch: rows × columns of half-float vertices and two triangles per quad.
    static func triShape(_ rng: inout FixtureRNG, nameIndex: UInt32, shaderRef: Int32, budget: Int) -> [UInt8] {
        let hasColors = rng.chance(0.3)
        let stride = hasColors ? 24 : 20
        // Each vertex costs its stride plus ~2 triangles of 6 bytes.
        let vertexCount = min(65_000, max(9, budget / (stride + 12)))
        let columns = max(3, Int(Double(vertexCount).squareRoot() * rng.double(0.6...1.6)))
        let rows = max(3, vertexCount / columns)
        let n = rows * columns
        let radius = Float(rng.double(2...40)), height = Float(rng.double(5...120))
        let wobble = Float(rng.double(0.02...0.2))
        let phase = Float(rng.double(0...6.28))
        var b = ByteBuilder(capacity: n * stride + rows * columns * 12 + 200)
        b.u32(nameIndex)
        b.u32(0)
        b.i32(-1)
        b.u32(14)
        for _ in 0..<3 { b.f32(rng.float(-5...5)) }
        for i in 0..<9 { b.f32(i % 4 == 0 ? 1 : 0) }
        b.f32(1)
        b.i32(-1)
        b.f32(0); b.f32(0); b.f32(height / 2); b.f32(max(radius, height))  // bounding sphere
        b.i32(-1)          // skin
        b.i32(shaderRef)   // shader property
        b.i32(-1)          // alpha property
        // Vertex descriptor: stride in dwords, attribute offsets and flags (vertex, UV, normal, tangent[, colour]).
        let desc: UInt64 = UInt64(stride / 4) | 0x0004_3B00_0000_0200 | (hasColors ? 0x0020_0000_0000_0000 : 0)
        b.u64(desc)
        let triangles = (rows - 1) * (columns - 1) * 2
        b.u32(UInt32(triangles))
        b.u16(UInt16(n))
        b.u32(UInt32(n * stride + triangles * 6))
        for r in 0..<rows {
            let v = Float(r) / Float(rows - 1)
            for c in 0..<columns {
                let u = Float(c) / Float(columns - 1)
                let angle = u * 6.2831855
                let bump = 1 + wobble * sinApprox(angle * 3 + v * 7 + phase) + rng.float(-0.004...0.004)
                let x = radius * bump * cosApprox(angle), y = radius * bump * sinApprox(angle), z = height * v
                b.f16(x); b.f16(y); b.f16(z)
                b.f16(rng.float(-1...1))               // bitangent x
                b.f16(u); b.f16(1 - v)                 // UV
                b.u8(UInt8(clamping: Int((cosApprox(angle) + 1) * 127.5)))
                b.u8(UInt8(clamping: Int((sinApprox(angle) + 1) * 127.5)))
                b.u8(UInt8(clamping: 127 + Int(rng.int(-6...6))))
                b.u8(UInt8(clamping: Int(rng.int(0...255))))
                b.u8(UInt8(clamping: Int((-sinApprox(angle) + 1) * 127.5)))
                b.u8(UInt8(clamping: Int((cosApprox(angle) + 1) * 127.5)))
                b.u8(127); b.u8(UInt8(clamping: Int(rng.int(100...155))))
                if hasColors { b.u8(255); b.u8(255); b.u8(255); b.u8(255) }
            }
        }
        for r in 0..<(rows - 1) {
            for c in 0..<(columns - 1) {
                let i = UInt16(r * columns + c)
                let below = i + UInt16(columns)
                b.u16(i); b.u16(i + 1); b.u16(below)
                b.u16(i + 1); b.u16(below + 1); b.u16(below)
            }
        }
        b.u32(0)  // particle data size
        return b.bytes
    }

    static func shaderProperty(_ rng: inout FixtureRNG, textureSetRef: Int32) -> [UInt8] {
        var b = ByteBuilder()
        b.u32(0xFFFF_FFFF)  // name: none (materials referenced by path)
        b.u32(0)
        b.i32(-1)
        b.u32(0x8040_0201); b.u32(0x0000_0021)  // shader flags 1/2
        b.f32(0); b.f32(0); b.f32(1); b.f32(1)  // UV offset/scale
        b.i32(textureSetRef)
        for _ in 0..<3 { b.f32(rng.float(0...1)) }  // emissive colour
        b.f32(1)
        b.i32(-1)
        b.u32(3)
        b.f32(1); b.f32(rng.float(0...1)); b.f32(0.3); b.f32(1)
        for _ in 0..<6 { b.f32(rng.float(0...2)) }
        b.u32(0)
        return b.bytes
    }

    static func textureSet(_ paths: [String]) -> [UInt8] {
        var b = ByteBuilder()
        let slots = 10  // Fallout 4 texture sets have ten slots; unused ones are empty strings
        b.u32(UInt32(slots))
        for i in 0..<slots {
            let path = i < paths.count ? paths[i] : ""
            NIFWriter.sizedString(path, into: &b)
        }
        return b.bytes
    }

    static func collisionObject(bodyRef: Int32) -> [UInt8] {
        var b = ByteBuilder()
        b.i32(0)  // target
        b.u16(129)
        b.i32(bodyRef)
        return b.bytes
    }

    static func convexHull(_ rng: inout FixtureRNG, points: Int) -> [UInt8] {
        var b = ByteBuilder()
        b.u32(UInt32(rng.pick([1, 5, 7, 9])))  // Havok material
        b.f32(0.05)
        b.u32(UInt32(points))
        for _ in 0..<points {
            b.f32(rng.float(-1...1)); b.f32(rng.float(-1...1)); b.f32(rng.float(-1...1)); b.f32(0)
        }
        b.u32(UInt32(points / 2))
        for _ in 0..<(points / 2) {
            b.f32(rng.float(-1...1)); b.f32(rng.float(-1...1)); b.f32(rng.float(-1...1)); b.f32(rng.float(-2...0))
        }
        return b.bytes
    }

    // Polynomial sine/cosine: platform libm results may differ in the last bit, which would break
    // byte-identical output across machines.
    static func sinApprox(_ x: Float) -> Float {
        var t = x.truncatingRemainder(dividingBy: 6.2831855)
        if t > 3.1415927 { t -= 6.2831855 } else if t < -3.1415927 { t += 6.2831855 }
        let t2 = t * t
        return t * (1 - t2 / 6 * (1 - t2 / 20 * (1 - t2 / 42 * (1 - t2 / 72))))
    }

    static func cosApprox(_ x: Float) -> Float { sinApprox(x + 1.5707964) }
}
