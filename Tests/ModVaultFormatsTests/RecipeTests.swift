import Testing
import ModVaultCore
import ModVaultCrypto
@testable import ModVaultFormats

@Suite("Compression recipes")
struct RecipeTests {
    /// Every compressed stream of the shipped samples, found through segmentation.
    static func sampleStreams() throws -> [(path: String, stored: [UInt8], rawSize: UInt64)] {
        var out: [(String, [UInt8], UInt64)] = []
        for path in PublicFixtures.compressedArchives {
            let bytes = try PublicFixtures.bytes(path)
            for seg in FormatSegmenter.segments(of: MemoryRangeReader(bytes), path: path).segments {
                guard let st = seg.stream else { continue }
                out.append((path, Array(bytes[Int(st.offset)..<Int(st.offset + st.length)]), st.rawSize))
            }
        }
        return out
    }

    @Test func pinnedZlibIsRecorded() {
        #expect(Recipe.zlibRuntimeVersion.hasPrefix("1."))
        #expect(Recipe.zlibRuntimeVersion == linkedZlibVersion)
    }

    /// §1.6: zlib 1.2.13 reproduces all 50 shipped blobs, 31 at 6/15 and 19 at 9/12.
    @Test func everySampleStreamReproduces() throws {
        let streams = try Self.sampleStreams()
        #expect(streams.count == 50)
        let engine = RecipeEngine()
        var byParameters: [ZlibParameters: Int] = [:]
        for s in streams {
            guard case .reproducible(let recipe, let content) = engine.find(compressed: s.stored, rawSize: s.rawSize) else {
                Issue.record("\(s.path): not reproducible")
                continue
            }
            byParameters[recipe.parameters, default: 0] += 1
            #expect(UInt64(content.count) == s.rawSize)
            #expect(recipe.compressedDigest == SHA256Digest.hash(s.stored))
            #expect(recipe.implementationVersion == Recipe.zlibRuntimeVersion)
            #expect(try engine.rebuild(recipe, decompressed: content) == s.stored)
        }
        #expect(byParameters == [.pcDefault: 31, .xbox: 19])
    }

    @Test("levels 1–9 at several windows are found and rebuilt", arguments: [15, 12, 10])
    func levelSweep(_ windowBits: Int) throws {
        let content = TestData.text(40_000, seed: UInt64(windowBits))
        let engine = RecipeEngine()
        for level in 1...9 {
            let p = ZlibParameters(level: level, windowBits: windowBits)
            let stored = zlibCompress(content, p)
            #expect((stored[0], stored[1]) == p.header)
            let candidates = windowBits == 10 ? Recipe.extendedCandidates : Recipe.standardCandidates
            guard case .reproducible(let recipe, let out) = engine.find(compressed: stored, rawSize: UInt64(content.count), candidates: candidates) else {
                Issue.record("level \(level) window \(windowBits) not found")
                continue
            }
            #expect(out == content)
            #expect(recipe.parameters.windowBits == windowBits)
            #expect(recipe.parameters.header == p.header)
            // A different level may happen to give identical bytes; what matters is an exact rebuild.
            #expect(try Recipe.rebuild(recipe, decompressed: out) == stored)
        }
    }

    @Test func theCommonCaseTriesOneCandidate() throws {
        let content = TestData.text(100_000, seed: 7)
        let engine = RecipeEngine()
        _ = engine.find(compressed: zlibCompress(content, .pcDefault), rawSize: UInt64(content.count))
        #expect(engine.compressionsTried == 1)
        _ = engine.find(compressed: zlibCompress(content, .xbox), rawSize: UInt64(content.count))
        #expect(engine.compressionsTried == 2)
        // Only candidates with the stream's header are compressed: level 2 shares its header with 3–5.
        _ = engine.find(compressed: zlibCompress(content, ZlibParameters(level: 2, windowBits: 15)), rawSize: UInt64(content.count))
        #expect(engine.compressionsTried <= 2 + 4)
    }

    @Test func memLevelAndStrategyNeedTheExtendedList() throws {
        let content = TestData.text(30_000, seed: 3)
        for p in [ZlibParameters(level: 6, windowBits: 15, memLevel: 9), ZlibParameters(level: 6, windowBits: 15, strategy: .filtered)] {
            let stored = zlibCompress(content, p)
            if case .notReproducible(.noMatch(let tried)) = Recipe.find(compressed: stored, rawSize: UInt64(content.count)) {
                #expect(tried == 1)
            } else {
                // Some inputs compress identically under these variants; then the default is a valid recipe.
                #expect(zlibCompress(content, .pcDefault) == stored)
            }
            let outcome = Recipe.find(compressed: stored, rawSize: UInt64(content.count), candidates: Recipe.extendedCandidates)
            let recipe = try #require(outcome.recipe)
            #expect(try Recipe.rebuild(recipe, decompressed: content) == stored)
        }
    }

    @Test func callerChosenCandidatesSkipTheSearch() throws {
        let content = TestData.text(5_000, seed: 1)
        let stored = zlibCompress(content, .pcDefault)
        guard case .notReproducible(.noMatch(let tried)) = Recipe.find(compressed: stored, rawSize: 5_000, candidates: [.xbox]) else {
            Issue.record("xbox must not match a 78 9C stream"); return
        }
        #expect(tried == 0)
        guard case .notReproducible(.noMatch(0)) = Recipe.find(compressed: stored, rawSize: 5_000, candidates: []) else {
            Issue.record("empty candidate list"); return
        }
        #expect(Recipe.find(compressed: stored, rawSize: 5_000, candidates: [.pcDefault]).recipe?.parameters == .pcDefault)
    }

    @Test func invalidStreamsAreKeptVerbatim() throws {
        let content = TestData.text(5_000, seed: 2)
        let stored = zlibCompress(content)
        func reason(_ bytes: [UInt8], _ raw: UInt64) -> NotReproducibleReason? {
            if case .notReproducible(let r) = Recipe.find(compressed: bytes, rawSize: raw) { return r }
            return nil
        }
        guard case .invalidStream(let d1)? = reason(stored, 4_999) else { Issue.record("size too small"); return }
        #expect(d1.contains("more than the declared"))
        guard case .invalidStream(let d2)? = reason(stored, 5_001) else { Issue.record("size too large"); return }
        #expect(d2.contains("declared 5001"))
        guard case .invalidStream(let d3)? = reason(stored + [0], 5_000) else { Issue.record("trailing"); return }
        #expect(d3.contains("1 bytes follow"))
        guard case .invalidStream? = reason(Array(stored.dropLast(3)), 5_000) else { Issue.record("truncated"); return }
        guard case .invalidStream? = reason(TestData.random(200, seed: 1), 1000) else { Issue.record("garbage"); return }
        guard case .invalidStream? = reason([], 0) else { Issue.record("empty"); return }
        guard case .implausibleSize? = reason(stored, 1 << 40) else { Issue.record("implausible"); return }
        // A raw deflate stream without the zlib wrapper is not accepted either.
        guard case .invalidStream? = reason(Array(stored.dropFirst(2)), 5_000) else { Issue.record("raw deflate"); return }
    }

    @Test func presetDictionaryStreamsAreNotReproducible() {
        // CMF 78, FLG with FDICT set (0xBB: 0x78BB % 31 == 0), then a dictionary ID.
        let stream: [UInt8] = [0x78, 0xBB, 0, 0, 0, 1, 3, 0]
        guard case .notReproducible(.presetDictionary) = Recipe.find(compressed: stream, rawSize: 0) else {
            Issue.record("preset dictionary not detected"); return
        }
    }

    @Test func highlyCompressibleStreamsGrowTheOutputBuffer() throws {
        // 3 MiB of zeros deflate to ~3 KiB: far beyond the first output buffer the inflater allocates.
        let content = [UInt8](repeating: 0, count: 3 << 20) + Array("end".utf8)
        let stored = zlibCompress(content, .xbox)
        #expect(stored.count < 8 << 10)
        guard case .reproducible(let recipe, let out) = Recipe.find(compressed: stored, rawSize: UInt64(content.count)) else {
            Issue.record("not reproducible"); return
        }
        #expect(out == content)
        #expect(recipe.parameters == .xbox)
        guard case .notReproducible(.invalidStream) = Recipe.find(compressed: stored, rawSize: UInt64(content.count) - 1) else {
            Issue.record("one byte too many accepted"); return
        }
    }

    /// Every way a stream can disagree with its declared size, on both sides of the first output buffer's
    /// growth (1 MiB, or eight times the input): the inflater fills the array it returns in place.
    @Test(arguments: [5_000, 3 << 20])
    func inflateChecksTheDeclaredSizeWhereverTheBufferGrows(size: Int) throws {
        let content = size > 1 << 20 ? [UInt8](repeating: 7, count: size) : TestData.text(size, seed: 11)
        let stored = zlibCompress(content)
        let engine = RecipeEngine()
        #expect(try stored.withUnsafeBytes { try engine.inflate($0, rawSize: UInt64(size)) } == content)
        for declared in [size - 1, size + 1] {
            #expect(throws: FormatError.self) { try stored.withUnsafeBytes { try engine.inflate($0, rawSize: UInt64(declared)) } }
        }
        #expect(throws: FormatError.self) { try (stored + [0]).withUnsafeBytes { try engine.inflate($0, rawSize: UInt64(size)) } }
        #expect(throws: FormatError.self) { try Array(stored.dropLast(5)).withUnsafeBytes { try engine.inflate($0, rawSize: UInt64(size)) } }
    }

    @Test func inflatesComparesAsItDecodes() {
        let content = TestData.text(300_000, seed: 12)
        let stored = zlibCompress(content)
        let engine = RecipeEngine()
        func check(_ compressed: [UInt8], _ expected: [UInt8]) -> Bool {
            compressed.withUnsafeBytes { c in expected.withUnsafeBytes { engine.inflates(c, to: $0) } }
        }
        #expect(check(stored, content))
        var changed = content
        changed[250_000] ^= 1
        #expect(!check(stored, changed))
        #expect(!check(stored, Array(content.dropLast())))
        #expect(!check(stored, content + [0]))
        #expect(!check(stored + [0], content))
        #expect(!check(Array(stored.dropLast(3)), content))
        #expect(check(zlibCompress([]), []))
    }

    @Test func emptyContentRoundTrips() throws {
        let stored = zlibCompress([])
        let recipe = try #require(Recipe.find(compressed: stored, rawSize: 0).recipe)
        #expect(recipe.rawSize == 0)
        #expect(try Recipe.rebuild(recipe, decompressed: []) == stored)
    }

    @Test func rebuildRefusesAnythingButTheExactOriginal() throws {
        let content = TestData.text(20_000, seed: 5)
        let stored = zlibCompress(content, .xbox)
        let recipe = try #require(Recipe.find(compressed: stored, rawSize: UInt64(content.count)).recipe)
        func mismatch(_ r: Recipe, _ c: [UInt8]) throws -> String {
            let e = try #require(throws: FormatError.self) { try Recipe.rebuild(r, decompressed: c) }
            #expect(e.kind == .corrupt)
            guard case .recipeMismatch(let d) = e.cause else { Issue.record("\(e)"); return "" }
            return d
        }
        var tampered = recipe
        tampered.compressedDigest = SHA256Digest.hash([1, 2, 3])
        #expect(try mismatch(tampered, content).contains("SHA-256"))
        var other = content
        other[100] ^= 1
        #expect(try mismatch(recipe, other).isEmpty == false)
        #expect(try mismatch(recipe, Array(content.dropLast())).contains("recipe expects"))
        var wrongLevel = recipe
        wrongLevel.parameters.level = 1
        #expect(try mismatch(wrongLevel, content).isEmpty == false)
        var inflated = recipe
        inflated.compressedSize = UInt64(UInt32.max)
        #expect(try mismatch(inflated, content).contains("claims"))
        var foreignVersion = tampered
        foreignVersion.implementationVersion = "9.9.9"
        #expect(try mismatch(foreignVersion, content).contains("zlib 9.9.9"))
        var foreignImplementation = recipe
        foreignImplementation.implementation = "zlib-ng"
        #expect(try mismatch(foreignImplementation, content).contains("zlib-ng"))
        // A recipe from another zlib version that still reproduces the bytes is fine: the hash decides.
        var sameBytes = recipe
        sameBytes.implementationVersion = "1.3.1"
        #expect(try Recipe.rebuild(sameBytes, decompressed: content) == stored)
    }

    @Test func oneEngineGivesTheSameAnswersAsFreshOnes() throws {
        // Reused deflate states (deflateReset) must behave exactly like new ones, across parameter changes.
        let engine = RecipeEngine()
        var g = SplitMix64(seed: 11)
        let all = Recipe.standardCandidates
        for round in 0..<30 {
            let content = round % 3 == 0 ? TestData.random(3_000 + g.below(5_000), seed: UInt64(round)) : TestData.text(1_000 + g.below(60_000), seed: UInt64(round))
            let p = all[g.below(all.count)]
            let stored = zlibCompress(content, p)
            let shared = engine.find(compressed: stored, rawSize: UInt64(content.count))
            let fresh = RecipeEngine().find(compressed: stored, rawSize: UInt64(content.count))
            #expect(shared.recipe == fresh.recipe)
            let recipe = try #require(shared.recipe, "round \(round): \(p)")
            var out: [UInt8] = [9, 9, 9]
            try content.withUnsafeBytes { c in try engine.rebuild(recipe, decompressed: c, into: &out) }
            #expect(out == stored)
        }
    }

    // MARK: Encoding

    static let recipes: [Recipe] = [
        Recipe(parameters: .pcDefault, rawSize: 240_000, compressedSize: 375, compressedDigest: SHA256Digest.hash([1])),
        Recipe(parameters: .xbox, implementationVersion: "1.2.13", rawSize: 0, compressedSize: 8, compressedDigest: .zero),
        Recipe(parameters: ZlibParameters(level: 1, windowBits: 9, memLevel: 1, strategy: .fixed), rawSize: UInt64(UInt32.max),
               compressedSize: UInt64(UInt32.max), compressedDigest: SHA256Digest.hash([2])),
    ]

    @Test("binary encoding round trips", arguments: recipes)
    func encodingRoundTrip(_ r: Recipe) throws {
        let bytes = r.encoded()
        #expect(bytes[0] == Recipe.encodingVersion)
        #expect(bytes.count < 64 + r.implementationVersion.utf8.count)
        #expect(try Recipe(decoding: bytes) == r)
    }

    @Test func encodingLayoutIsStable() {
        let r = Recipe(parameters: .pcDefault, implementationVersion: "1.2.13", rawSize: 300, compressedSize: 5, compressedDigest: .zero)
        #expect(r.encoded() == [1, 1, 6, 15, 8, 0, 0xAC, 0x02, 5, 4] + Array("zlib".utf8) + [6] + Array("1.2.13".utf8) + [UInt8](repeating: 0, count: 32))
    }

    @Test func decoderRejectsMalformedRecipes() throws {
        let good = Self.recipes[0].encoded()
        func rejects(_ b: [UInt8], _ fragment: String, sourceLocation: SourceLocation = #_sourceLocation) {
            do {
                _ = try Recipe(decoding: b)
                Issue.record("accepted \(b)", sourceLocation: sourceLocation)
            } catch {
                guard case .badRecipe(let d) = error.cause else { Issue.record("\(error)", sourceLocation: sourceLocation); return }
                #expect(d.contains(fragment), "\(d)", sourceLocation: sourceLocation)
            }
        }
        rejects([], "unexpected end")
        rejects(Array(good.dropLast()), "overruns")
        rejects(good + [0], "trailing")
        var v = good; v[0] = 2; rejects(v, "version")
        var c = good; c[1] = 0; rejects(c, "codec")
        var l = good; l[2] = 0; rejects(l, "out of range")
        l[2] = 10; rejects(l, "out of range")
        var w = good; w[3] = 8; rejects(w, "out of range")
        w[3] = 16; rejects(w, "out of range")
        var m = good; m[4] = 0; rejects(m, "out of range")
        var s = good; s[5] = 5; rejects(s, "strategy")
        // 240000 as a padded (non-minimal) varint.
        let padded = Array(good[0..<6]) + [0x80 | 0x00, 0x80 | 0x53, 0x8E, 0x80, 0x00] + Array(good[9...])
        rejects(padded, "non-canonical")
        let long = Array(good[0..<11]) + [65] + [UInt8](repeating: 0x41, count: 65) + [0] + [UInt8](repeating: 0, count: 32)
        rejects(long, "exceeds")
        var utf = Self.recipes[1].encoded()
        utf[12] = 0xFF
        rejects(utf, "UTF-8")
    }

    @Test func everySingleByteMutationDecodesCanonicallyOrFails() {
        for r in Self.recipes {
            let good = r.encoded()
            for i in good.indices {
                for delta: UInt8 in [1, 0x80, 0xFF] {
                    var b = good
                    b[i] &+= delta
                    if let decoded = try? Recipe(decoding: b) { #expect(decoded.encoded() == b) }
                }
            }
        }
    }

    @Test func zlibHeadersOfTheKnownParameterSets() {
        #expect(ZlibParameters.pcDefault.header == (0x78, 0x9C))
        #expect(ZlibParameters.xbox.header == (0x48, 0xC7))
        #expect(ZlibParameters(level: 1, windowBits: 15).header == (0x78, 0x01))
        #expect(ZlibParameters(level: 9, windowBits: 15).header == (0x78, 0xDA))
        #expect(ZlibParameters(level: 3, windowBits: 15).header == (0x78, 0x5E))
        #expect(Recipe.standardCandidates.prefix(2) == [.pcDefault, .xbox])
        #expect(Set(Recipe.standardCandidates).count == 18)
        #expect(Recipe.extendedCandidates.count == 2 * 2 * 7 * 9)
    }
}

extension Recipe: CustomTestStringConvertible {
    public var testDescription: String { "\(parameters) raw \(rawSize)" }
}
