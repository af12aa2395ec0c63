public import ModVaultCore

/// How one BA2 archive is rebuilt from another with the same members: which compressed chunks were
/// recompressed, and with which zlib parameters.
///
/// A repack (another tool, another zlib level) changes every stream's bytes but no member's content,
/// so it is stored as the archive it was made from plus this plan: about one byte per run of chunks
/// instead of a stream blob per chunk (Docs/FORMAT.md §8b). Everything else (the header's name-table
/// offset, each record's offset and packed size) follows from the recompressed sizes.
public struct BA2RepackPlan: Sendable, Equatable {
    /// Encoding version.
    public static let version: UInt8 = 1
    /// Most parameter sets one plan may name.
    public static let maximumRecipes = 16

    /// The deflate implementation the parameters are for ("zlib").
    public var implementation: String
    /// Its version (`zlibVersion()`) when the plan was made.
    public var implementationVersion: String
    /// The parameter sets, numbered from 1 by `choices`.
    public var recipes: [ZlibParameters]
    /// One per compressed chunk of the base, in entry-table order: 0 keeps the base's bytes, k
    /// recompresses the chunk's content with `recipes[k - 1]`.
    public var choices: [UInt8]

    /// Creates a plan for the zlib this module runs with.
    public init(recipes: [ZlibParameters], choices: [UInt8], implementation: String = Recipe.implementationName,
                implementationVersion: String = Recipe.zlibRuntimeVersion) {
        self.recipes = recipes
        self.choices = choices
        self.implementation = implementation
        self.implementationVersion = implementationVersion
    }

    /// `u8 version ‖ varint-length implementation ‖ varint-length implementation version ‖ u8 recipe count
    /// ‖ count × (u8 level ‖ u8 windowBits ‖ u8 memLevel ‖ u8 strategy) ‖ varint run count
    /// ‖ runs × (varint length ≥ 1 ‖ u8 choice)`: choices run-length encoded, runs of one choice merged.
    public func encoded() -> [UInt8] {
        var w = ByteWriter(capacity: 32 + recipes.count * 4)
        w.u8(Self.version)
        w.string(implementation)
        w.string(implementationVersion)
        w.u8(UInt8(recipes.count))
        for p in recipes {
            w.u8(UInt8(truncatingIfNeeded: p.level))
            w.u8(UInt8(truncatingIfNeeded: p.windowBits))
            w.u8(UInt8(truncatingIfNeeded: p.memLevel))
            w.u8(p.strategy.rawValue)
        }
        var runs: [(length: UInt64, choice: UInt8)] = []
        for c in choices {
            if let last = runs.last, last.choice == c { runs[runs.count - 1].length += 1 } else { runs.append((1, c)) }
        }
        w.varint(UInt64(runs.count))
        for run in runs {
            w.varint(run.length)
            w.u8(run.choice)
        }
        return w.bytes
    }

    /// Parses `encoded()` output. `chunkLimit` bounds the choices a plan may expand to (the base's
    /// compressed chunk count), so a hostile run length cannot allocate without bound.
    public static func decode(_ bytes: [UInt8], chunkLimit: Int) throws(FormatError) -> BA2RepackPlan {
        func bad(_ why: String) -> FormatError { FormatError(path: "", cause: .badRecipe("repack plan: \(why)")) }
        var r = ByteReader(bytes)
        do {
            guard try r.u8() == version else { throw bad("unknown version") }
            let implementation = try text(&r, bad)
            let implementationVersion = try text(&r, bad)
            let recipeCount = Int(try r.u8())
            guard (1...maximumRecipes).contains(recipeCount) else { throw bad("\(recipeCount) parameter sets") }
            var recipes: [ZlibParameters] = []
            for _ in 0..<recipeCount {
                let level = Int(try r.u8()), windowBits = Int(try r.u8()), memLevel = Int(try r.u8())
                let strategyByte = try r.u8()
                guard let strategy = ZlibStrategy(rawValue: strategyByte) else { throw bad("unknown strategy \(strategyByte)") }
                let p = ZlibParameters(level: level, windowBits: windowBits, memLevel: memLevel, strategy: strategy)
                guard p.isValid else { throw bad("parameters out of range: \(p)") }
                recipes.append(p)
            }
            let runCount = try r.count(limit: r.remaining / 2)
            var choices: [UInt8] = []
            for _ in 0..<runCount {
                let length = try r.varint()
                let choice = try r.u8()
                guard length >= 1, length <= UInt64(chunkLimit - choices.count) else { throw bad("runs cover more than \(chunkLimit) chunks") }
                guard Int(choice) <= recipeCount else { throw bad("choice \(choice) of \(recipeCount) parameter sets") }
                choices.append(contentsOf: repeatElement(choice, count: Int(length)))
            }
            guard r.isAtEnd else { throw bad("\(r.remaining) trailing bytes") }
            let plan = BA2RepackPlan(recipes: recipes, choices: choices, implementation: implementation,
                                     implementationVersion: implementationVersion)
            guard plan.encoded() == bytes else { throw bad("non-canonical encoding") }
            return plan
        } catch let e as FormatError {
            throw e
        } catch {
            throw bad("\(error)")
        }
    }

    private static func text(_ r: inout ByteReader, _ bad: (String) -> FormatError) throws -> String {
        let n = try r.count(limit: 64)
        guard let s = String(validating: try r.raw(n), as: UTF8.self) else { throw bad("string is not UTF-8") }
        return s
    }
}

/// Finds and replays repacks of BA2 archives: one archive rebuilt from another whose members, names and
/// order are the same, with some or all compressed chunks recompressed.
///
/// `derive` (at snapshot) and `rebuild` (at restore, mirror, check and diff) share one layout, so the
/// bytes a plan was checked against are exactly the bytes it later produces.
public enum BA2Repack {
    /// The share of compressed chunks that must have changed before a derivation is tried: below it
    /// the archive was edited, not repacked, and chunk dedup already stores it well.
    public static let repackedShare = 0.5

    /// Chunks of unchanged size compared byte for byte to estimate how many were recompressed.
    static let sampleSize = 8

    /// Bytes of gap (header, tables, names) read and written at a time.
    static let gapWindow = 1 << 20

    /// One chunk's place in the file and in the plan.
    struct Placed {
        var entry: Int
        var chunk: Int
        var range: Range<UInt64>
        var unpacked: UInt32
        /// Index among compressed chunks in table order, or nil for a chunk stored raw.
        var compressedIndex: Int?
    }

    /// The base's chunks in file order, checked to be disjoint and clear of the header, tables and
    /// name table (which are patched), with the compressed chunks numbered in table order.
    struct Layout {
        var archive: BA2Archive
        var placed: [Placed]
        var compressedCount: Int

        init(_ archive: BA2Archive, path: String) throws(FormatError) {
            func bad(_ why: String) -> FormatError { FormatError(path: path, cause: .unsupported("repack layout: \(why)")) }
            guard archive.compression == .zlib else { throw bad("chunks are not zlib streams") }
            var placed: [Placed] = []
            var compressed = 0
            for (e, entry) in archive.entries.enumerated() {
                for (c, chunk) in entry.chunks.enumerated() {
                    placed.append(Placed(entry: e, chunk: c, range: chunk.storedRange, unpacked: chunk.unpackedSize,
                                         compressedIndex: chunk.isCompressed ? compressed : nil))
                    if chunk.isCompressed { compressed += 1 }
                }
            }
            placed.sort { ($0.range.lowerBound, $0.range.upperBound) < ($1.range.lowerBound, $1.range.upperBound) }
            var previousEnd = archive.entryTableRange.upperBound
            for p in placed {
                guard p.range.lowerBound >= previousEnd else { throw bad("chunks overlap each other or the entry table") }
                previousEnd = p.range.upperBound
            }
            if let names = archive.nameTableRange {
                // The name table must lie in one gap, as the header's offset to it is moved with that gap.
                guard !placed.contains(where: { $0.range.overlaps(names) }) else { throw bad("the name table overlaps member data") }
            }
            self.archive = archive
            self.placed = placed
            compressedCount = compressed
        }

        /// Where each chunk's record fields lie: (offset field, packed-size field) by (entry, chunk).
        func fieldPositions() -> [[(offset: UInt64, packed: UInt64)]] {
            var out: [[(offset: UInt64, packed: UInt64)]] = []
            var position = UInt64(archive.headerLength)
            for entry in archive.entries {
                var chunks: [(offset: UInt64, packed: UInt64)] = []
                switch archive.type {
                case .general:
                    chunks.append((position + 16, position + 24))
                    position += 36
                case .textures:
                    position += 24
                    for _ in entry.chunks {
                        chunks.append((position, position + 8))
                        position += 24
                    }
                }
                out.append(chunks)
            }
            return out
        }
    }

    /// The plan that rebuilds `new` from `base`, or nil when `new` is not a repack of `base` (other
    /// members, other content, another layout) or `withinBudget` turns false on the way.
    ///
    /// Every compressed chunk of `new` must equal the base's chunk in the same table position or be
    /// reproduced exactly from its content by one parameter set; the whole plan is then replayed and
    /// compared with `new` byte for byte, so a plan returned always rebuilds `new` exactly.
    public static func derive(base: some RangeReader, new: some RangeReader, engine: RecipeEngine, path: String = "",
                              withinBudget: () -> Bool = { true }) throws -> BA2RepackPlan? {
        guard let a = try? BA2Archive.parse(base, path: path), let b = try? BA2Archive.parse(new, path: path),
              let layout = try? Layout(a, path: path), (try? Layout(b, path: path)) != nil,
              a.version == b.version, a.type == b.type, a.headerLength == b.headerLength,
              a.entries.count == b.entries.count, (a.nameTableOffset == 0) == (b.nameTableOffset == 0) else { return nil }
        var resized = 0
        var sameSize: [(BA2Chunk, BA2Chunk)] = []
        for (x, y) in zip(a.entries, b.entries) {
            guard x.nameHash == y.nameHash, x.extensionBytes == y.extensionBytes, x.directoryHash == y.directoryHash,
                  x.texture == y.texture, x.nameBytes == y.nameBytes, x.chunks.count == y.chunks.count else { return nil }
            for (c, d) in zip(x.chunks, y.chunks) {
                guard c.unpackedSize == d.unpackedSize, c.firstMip == d.firstMip, c.lastMip == d.lastMip,
                      c.isCompressed == d.isCompressed else { return nil }
                guard c.isCompressed else { continue }
                if c.packedSize != d.packedSize { resized += 1 } else { sameSize.append((c, d)) }
            }
        }
        guard layout.compressedCount > 0 else { return nil }
        // A chunk recompressed at another level often keeps its size, so the share of changed chunks is
        // estimated from the resized ones plus a sample of the rest compared byte for byte: an archive
        // with a member or two edited is left to chunk dedup after reading a few chunks, not all of them.
        var changed = Double(resized)
        if changed < repackedShare * Double(layout.compressedCount), !sameSize.isEmpty {
            let samples = min(sameSize.count, sampleSize)
            var differing = 0
            for k in 0..<samples {
                let (c, d) = sameSize[k * sameSize.count / samples]
                if try base.read(offset: c.offset, count: Int(c.storedSize)) != new.read(offset: d.offset, count: Int(d.storedSize)) { differing += 1 }
            }
            changed += Double(sameSize.count) * Double(differing) / Double(samples)
        }
        guard changed >= repackedShare * Double(layout.compressedCount) else { return nil }

        var recipes: [ZlibParameters] = []
        var choices = [UInt8](repeating: 0, count: layout.compressedCount)
        var newChunks: [Int: Range<UInt64>] = [:]
        var index = 0
        for (x, y) in zip(a.entries, b.entries) {
            for (c, d) in zip(x.chunks, y.chunks) where c.isCompressed {
                defer { index += 1 }
                newChunks[index] = d.storedRange
                let mine = try new.read(offset: d.offset, count: Int(d.storedSize))
                let theirs = try base.read(offset: c.offset, count: Int(c.storedSize))
                if mine == theirs { continue }
                guard withinBudget(), UInt64(c.unpackedSize) <= FormatCuts.maximumStreamContent,
                      let content = try? theirs.withUnsafeBytes({ try engine.inflate($0, rawSize: UInt64(c.unpackedSize)) }) else { return nil }
                var candidates = recipes
                for p in Recipe.standardCandidates where !candidates.contains(p) { candidates.append(p) }
                guard let recipe = mine.withUnsafeBytes({ engine.search(compressed: $0, decompressed: content, candidates: candidates) }).recipe
                else { return nil }
                if let k = recipes.firstIndex(of: recipe.parameters) {
                    choices[index] = UInt8(k + 1)
                } else {
                    guard recipes.count < BA2RepackPlan.maximumRecipes else { return nil }
                    recipes.append(recipe.parameters)
                    choices[index] = UInt8(recipes.count)
                }
            }
        }
        guard !recipes.isEmpty else { return nil }
        let plan = BA2RepackPlan(recipes: recipes, choices: choices)
        // Replay the plan against `new`: every compressed chunk comes from `new` itself (each equals the
        // base's or was reproduced exactly above), so this checks the layout, gaps and patched fields
        // without deflating or reading the base's chunks again.
        var matches = true
        let size = try replay(base: base, layout: layout, plan: plan, engine: engine, path: path, recompressed: { i, _ in
            guard let range = newChunks[i] else { return nil }
            return try new.read(offset: range.lowerBound, count: Int(range.count))
        }, write: { offset, bytes in
            guard matches else { return }
            let end = offset + UInt64(bytes.count)
            guard end <= new.size, try new.read(offset: offset, count: bytes.count).withUnsafeBytes({ $0.elementsEqual(bytes) }) else {
                matches = false
                return
            }
        })
        return matches && size == new.size ? plan : nil
    }

    /// Rebuilds the archive `plan` describes from `base`, handing each piece to `write` with its offset in
    /// the output: the chunks in file order, then the gaps between them (header, tables, names), which
    /// hold the new offsets. Returns the output's size. Anything the plan or base cannot support throws.
    /// `plan` is the encoded plan: it is decoded only once the base is parsed, so its runs are bounded
    /// by the chunks the base actually has.
    public static func rebuild(base: some RangeReader, plan encoded: [UInt8], engine: RecipeEngine, path: String = "",
                               write: (UInt64, UnsafeRawBufferPointer) throws -> Void) throws -> UInt64 {
        let archive = try BA2Archive.parse(base, path: path)
        let layout = try Layout(archive, path: path)
        let plan = try BA2RepackPlan.decode(encoded, chunkLimit: layout.compressedCount)
        guard plan.choices.count == layout.compressedCount else {
            throw FormatError(path: path, cause: .badRecipe("repack plan covers \(plan.choices.count) chunks, the base has \(layout.compressedCount)"))
        }
        guard plan.implementation == Recipe.implementationName else {
            throw FormatError(path: path, cause: .recipeMismatch(detail: "plan needs \(plan.implementation), this build has \(Recipe.implementationName)"))
        }
        return try replay(base: base, layout: layout, plan: plan, engine: engine, path: path, recompressed: { _, _ in nil }, write: write)
    }

    /// The one layout walk behind `derive` and `rebuild`. `recompressed(i, range)` may supply compressed
    /// chunk `i`'s new bytes (derive already has them); otherwise the base's chunk is copied or, when
    /// the plan says so, inflated and deflated with the plan's parameters.
    private static func replay(base: some RangeReader, layout: Layout, plan: BA2RepackPlan, engine: RecipeEngine, path: String,
                               recompressed: (Int, Range<UInt64>) throws -> [UInt8]?,
                               write: (UInt64, UnsafeRawBufferPointer) throws -> Void) throws -> UInt64 {
        let archive = layout.archive
        var gaps: [(base: Range<UInt64>, start: UInt64)] = []
        var newOffsets = [[UInt64]](repeating: [], count: archive.entries.count)
        var newPacked = [[UInt32]](repeating: [], count: archive.entries.count)
        for (e, entry) in archive.entries.enumerated() {
            newOffsets[e] = entry.chunks.map(\.offset)
            newPacked[e] = entry.chunks.map(\.packedSize)
        }
        var output: UInt64 = 0
        var basePosition: UInt64 = 0
        var deflated: [UInt8] = []
        for p in layout.placed {
            if p.range.lowerBound > basePosition {
                gaps.append((basePosition..<p.range.lowerBound, output))
                output += p.range.lowerBound - basePosition
            }
            var bytes: [UInt8]
            if let i = p.compressedIndex, let supplied = try recompressed(i, p.range) {
                bytes = supplied
            } else {
                bytes = try base.read(offset: p.range.lowerBound, count: Int(p.range.count))
                if let i = p.compressedIndex, plan.choices[i] != 0 {
                    guard UInt64(p.unpacked) <= FormatCuts.maximumStreamContent else {
                        throw FormatError(path: path, cause: .limitExceeded(what: "member content", value: UInt64(p.unpacked),
                                                                            limit: FormatCuts.maximumStreamContent))
                    }
                    let content = try bytes.withUnsafeBytes { try engine.inflate($0, rawSize: UInt64(p.unpacked)) }
                    try content.withUnsafeBytes { try engine.deflate($0, parameters: plan.recipes[Int(plan.choices[i]) - 1], into: &deflated) }
                    bytes = deflated
                }
            }
            if p.compressedIndex != nil {
                guard !bytes.isEmpty, bytes.count <= Int(UInt32.max) else {
                    throw FormatError(path: path, cause: .malformed("compressed chunk of \(bytes.count) bytes"))
                }
                newPacked[p.entry][p.chunk] = UInt32(bytes.count)
            }
            newOffsets[p.entry][p.chunk] = output
            try bytes.withUnsafeBytes { try write(output, $0) }
            output += UInt64(bytes.count)
            basePosition = p.range.upperBound
        }
        if archive.fileSize > basePosition {
            gaps.append((basePosition..<archive.fileSize, output))
            output += archive.fileSize - basePosition
        }

        // The fields that move: each record's offset and packed size, and the header's name-table offset.
        var fields: [(position: UInt64, width: Int, value: UInt64)] = []
        for (e, chunks) in layout.fieldPositions().enumerated() {
            for (c, position) in chunks.enumerated() {
                fields.append((position.offset, 8, newOffsets[e][c]))
                fields.append((position.packed, 4, UInt64(newPacked[e][c])))
            }
        }
        if archive.nameTableOffset != 0 {
            guard let gap = gaps.first(where: { $0.base.contains(archive.nameTableOffset) }) else {
                throw FormatError(path: path, cause: .unsupported("repack layout: the name table is not in a gap"))
            }
            fields.append((16, 8, gap.start + (archive.nameTableOffset - gap.base.lowerBound)))
        }
        fields.sort { $0.position < $1.position }
        var next = 0
        var window: [UInt8] = []
        for gap in gaps {
            var position = gap.base.lowerBound
            while position < gap.base.upperBound {
                let count = Int(min(UInt64(gapWindow), gap.base.upperBound - position))
                window = try base.read(offset: position, count: count)
                let end = position + UInt64(count)
                while next < fields.count && fields[next].position + UInt64(fields[next].width) <= position { next += 1 }
                var f = next
                while f < fields.count && fields[f].position < end {
                    let field = fields[f]
                    for k in 0..<field.width {
                        let at = field.position + UInt64(k)
                        guard at >= position, at < end else { continue }
                        window[Int(at - position)] = UInt8(truncatingIfNeeded: field.value >> (8 * UInt64(k)))
                    }
                    f += 1
                }
                let target = gap.start + (position - gap.base.lowerBound)
                try window.withUnsafeBytes { try write(target, $0) }
                position = end
            }
        }
        return output
    }
}
