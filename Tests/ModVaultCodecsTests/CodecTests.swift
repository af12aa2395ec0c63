import Testing
import ModVaultCodecs
import ModVaultCore


enum Samples {
    static let words = [
        "plugin", "master", "record", "texture", "mesh", "script", "quest", "dialogue", "cell", "worldspace",
        "the", "of", "and", "a", "to", "in", "is", "armor", "weapon", "npc", "faction", "leveled", "list",
        "Skyrim.esm", "Update.esm", "Dawnguard.esm", "meshes/armor/iron/cuirass.nif", "0x0001A2B3",
    ]

    /// Text-like data: words from a small vocabulary with punctuation and newlines.
    static func text(_ count: Int, seed: UInt64 = 1) -> [UInt8] {
        var g = SplitMix64(seed: seed)
        var out: [UInt8] = []
        out.reserveCapacity(count + 64)
        while out.count < count {
            let r = g.next()
            out.append(contentsOf: words[Int(r % UInt64(words.count))].utf8)
            out.append(r & 0xF0 == 0 ? UInt8(ascii: "\n") : (r & 0x300 == 0 ? UInt8(ascii: ",") : UInt8(ascii: " ")))
        }
        return Array(out[0..<count])
    }

    /// Pseudo-random (incompressible) bytes.
    static func random(_ count: Int, seed: UInt64 = 2) -> [UInt8] {
        var g = SplitMix64(seed: seed)
        var out = [UInt8]()
        out.reserveCapacity(count + 8)
        while out.count < count { withUnsafeBytes(of: g.next()) { out.append(contentsOf: $0) } }
        return Array(out[0..<count])
    }

    static let text1MiB = text(1 << 20)
    static let random1MiB = random(1 << 20)
}

/// Compresses with a fresh or given compressor, then decompresses; returns the codec used, the stored bytes and the restored bytes.
func roundTrip(_ input: [UInt8], codec: Codec, level: Int? = nil, compressor: Compressor? = nil) throws
    -> (used: Codec, stored: [UInt8], restored: [UInt8]) {
    let c = compressor ?? Compressor(codec: codec, level: level)
    let used = try input.withUnsafeBytes { try c.compress($0) }
    let stored = used == .none ? input : c.output
    var restored: [UInt8] = [0xAA, 0xBB]  // stale contents must be replaced
    try stored.withUnsafeBytes { s in
        try Decompressor.decompress(s, codec: used, expectedSize: input.count, into: &restored)
    }
    return (used, stored, restored)
}

func decompress(_ stored: [UInt8], codec: Codec, expectedSize: Int) throws(CodecError) -> [UInt8] {
    var out: [UInt8] = []
    let result: Result<Void, CodecError> = stored.withUnsafeBytes { s in
        Result { () throws(CodecError) in try Decompressor.decompress(s, codec: codec, expectedSize: expectedSize, into: &out) }
    }
    try result.get()
    return out
}

@Suite("Codecs")
struct CodecTests {
    @Test(arguments: Codec.allCases)
    func textRoundTrips(codec: Codec) throws {
        for size in [64, 100, 1000, 4096, 70_000] {
            let input = Samples.text(size, seed: UInt64(size))
            let r = try roundTrip(input, codec: codec)
            #expect(r.restored == input, "\(codec) size \(size)")
        }
    }

    @Test(arguments: Codec.allCases)
    func smallInputsRoundTripStoredAsIs(codec: Codec) throws {
        for size in [0, 1, 2, 15, 16, 63] {
            let input = Samples.text(size, seed: 9)
            let r = try roundTrip(input, codec: codec)
            // Below 64 bytes compression is never attempted.
            #expect(r.used == .none)
            #expect(r.stored == input)
            #expect(r.restored == input)
        }
        // Highly repetitive data just above the threshold does compress.
        let zeros = [UInt8](repeating: 0, count: 64)
        let r = try roundTrip(zeros, codec: codec)
        #expect(r.used == codec)
        #expect(r.restored == zeros)
    }

    @Test(arguments: Codec.allCases)
    func oneMiBInputsRoundTrip(codec: Codec) throws {
        // (1 MiB of random data is covered by randomDataIsStoredAsIs.)
        let text = try roundTrip(Samples.text1MiB, codec: codec)
        #expect(text.restored == Samples.text1MiB)
        #expect(text.used == codec)
    }

    @Test(arguments: [Codec.lz4, .zstd, .zlib])
    func compressibleDataUsesTheCodecAndShrinks(codec: Codec) throws {
        let input = Samples.text(256 << 10, seed: 3)
        let r = try roundTrip(input, codec: codec)
        #expect(r.used == codec)
        #expect(r.stored.count < input.count / 2)
        #expect(r.restored == input)
    }

    @Test func noneCodecNeverCompresses() throws {
        let c = Compressor(codec: .none)
        let used = try Samples.text1MiB.withUnsafeBytes { try c.compress($0) }
        #expect(used == .none)
    }

    @Test(arguments: [Codec.lz4, .zstd, .zlib])
    func randomDataIsStoredAsIs(codec: Codec) throws {
        // Large enough for the sampling shortcut, and small enough to be compressed and rejected on size.
        for size in [1 << 20, 64 << 10, 8 << 10, 200] {
            let input = size == 1 << 20 ? Samples.random1MiB : Samples.random(size, seed: UInt64(size))
            let r = try roundTrip(input, codec: codec)
            #expect(r.used == .none, "\(codec) \(size)")
            #expect(r.restored == input)
        }
    }

    @Test(arguments: [Codec.zstd, .zlib], [1, 19])
    func explicitLevelsRoundTrip(codec: Codec, level: Int) throws {
        let effective = codec == .zlib ? min(level, 9) : level
        let c = Compressor(codec: codec, level: effective)
        #expect(c.level == effective)
        let r = try roundTrip(Samples.text(200_000, seed: 5), codec: codec, compressor: c)
        #expect(r.used == codec)
        #expect(r.restored == Samples.text(200_000, seed: 5))
    }

    @Test func looksIncompressible() {
        let random = Samples.random1MiB
        let text = Samples.text1MiB
        #expect(random.withUnsafeBytes { Compressor.looksIncompressible($0) })
        #expect(!text.withUnsafeBytes { Compressor.looksIncompressible($0) })
        let zeros = [UInt8](repeating: 0, count: 100_000)
        #expect(!zeros.withUnsafeBytes { Compressor.looksIncompressible($0) })
        // Too small to sample: always worth a try.
        let smallRandom = Samples.random(16 << 10 - 1)
        #expect(!smallRandom.withUnsafeBytes { Compressor.looksIncompressible($0) })
        // Exactly four samples' worth of random data is judged.
        let minimumRandom = Samples.random(16 << 10, seed: 11)
        #expect(minimumRandom.withUnsafeBytes { Compressor.looksIncompressible($0) })
    }

    @Test(arguments: [Codec.lz4, .zstd, .zlib])
    func outputBufferIsReusedAcrossCalls(codec: Codec) throws {
        let c = Compressor(codec: codec)
        let a = Samples.text(300_000, seed: 21)
        let b = Samples.text(5_000, seed: 22)

        let usedA = try a.withUnsafeBytes { try c.compress($0) }
        #expect(usedA == codec)
        let storedA = c.output  // copy before the next call overwrites it
        let usedB = try b.withUnsafeBytes { try c.compress($0) }
        #expect(usedB == codec)
        let storedB = c.output

        // The second output is exactly what a fresh compressor produces: nothing leaks from the first call.
        let fresh = Compressor(codec: codec)
        _ = try b.withUnsafeBytes { try fresh.compress($0) }
        #expect(storedB == fresh.output)
        #expect(storedA != storedB)

        #expect(try decompress(storedA, codec: codec, expectedSize: a.count) == a)
        #expect(try decompress(storedB, codec: codec, expectedSize: b.count) == b)

        // Back to a large input after a small one.
        _ = try a.withUnsafeBytes { try c.compress($0) }
        #expect(c.output == storedA)
    }

    @Test func decompressorReusesCallerBuffer() throws {
        let c = Compressor(codec: .zstd)
        let big = Samples.text(100_000, seed: 31)
        let small = Samples.text(1_000, seed: 32)
        var out: [UInt8] = []
        _ = try big.withUnsafeBytes { try c.compress($0) }
        try c.output.withUnsafeBytes { try Decompressor.decompress($0, codec: .zstd, expectedSize: big.count, into: &out) }
        #expect(out == big)
        _ = try small.withUnsafeBytes { try c.compress($0) }
        try c.output.withUnsafeBytes { try Decompressor.decompress($0, codec: .zstd, expectedSize: small.count, into: &out) }
        #expect(out == small)
        try big.withUnsafeBytes { try Decompressor.decompress($0, codec: .none, expectedSize: big.count, into: &out) }
        #expect(out == big)
    }

    // MARK: Damaged input

    static func compressed(_ codec: Codec) throws -> [UInt8] {
        let r = try roundTrip(Samples.text(50_000, seed: 41), codec: codec)
        guard r.used == codec else { throw CodecError.libraryFailure(codec: codec, detail: "did not compress") }
        return r.stored
    }

    @Test(arguments: Codec.allCases)
    func wrongExpectedSizeThrowsCorruptInput(codec: Codec) throws {
        let input = Samples.text(50_000, seed: 41)
        let stored = codec == .none ? input : try Self.compressed(codec)
        for expected in [input.count - 1, input.count + 1, input.count / 2, input.count * 2, 0] {
            let error = #expect(throws: CodecError.self) { try decompress(stored, codec: codec, expectedSize: expected) }
            guard case .corruptInput(let c, let detail)? = error else {
                Issue.record("expected corruptInput for \(codec) expecting \(expected), got \(String(describing: error))")
                continue
            }
            #expect(c == codec)
            #expect(!detail.isEmpty)
            #expect(error?.kind == .corrupt)
        }
        #expect(try decompress(stored, codec: codec, expectedSize: input.count) == input)
    }

    @Test(arguments: [Codec.lz4, .zstd, .zlib])
    func truncatedCompressedBytesThrowCorruptInput(codec: Codec) throws {
        let stored = try Self.compressed(codec)
        for keep in [0, 1, 5, stored.count / 2, stored.count - 1] {
            let cut = Array(stored[0..<keep])
            let error = #expect(throws: CodecError.self, "\(codec) keep \(keep)") {
                try decompress(cut, codec: codec, expectedSize: 50_000)
            }
            if let error { #expect(error.kind == .corrupt, "\(error)") }
        }
    }

    @Test(arguments: [Codec.lz4, .zstd, .zlib])
    func garbageThrowsCorruptInput(codec: Codec) throws {
        for seed in UInt64(1)...8 {
            let garbage = Samples.random(1000 + Int(seed) * 77, seed: seed)
            let error = #expect(throws: CodecError.self) { try decompress(garbage, codec: codec, expectedSize: 50_000) }
            if case .corruptInput(let c, _)? = error { #expect(c == codec) } else {
                Issue.record("expected corruptInput, got \(String(describing: error))")
            }
        }
    }

    @Test(arguments: [Codec.lz4, .zstd, .zlib])
    func flippedBytesNeverCrash(codec: Codec) throws {
        let original = Samples.text(50_000, seed: 41)
        let stored = try Self.compressed(codec)
        var detected = 0
        var g = SplitMix64(seed: 51)
        let positions = [0, 1, 2, 3, 4, stored.count - 1, stored.count - 4] + (0..<16).map { _ in Int(g.next() % UInt64(stored.count)) }
        for position in positions {
            var damaged = stored
            damaged[position] ^= 0x5A
            do {
                let out = try decompress(damaged, codec: codec, expectedSize: original.count)
                // LZ4 blocks and checksum-less zstd frames can decode to the right length with wrong bytes;
                // the store's content MAC catches that. The length, at least, holds.
                #expect(out.count == original.count)
            } catch {
                guard case .corruptInput(let c, _) = error else {
                    Issue.record("unexpected \(error)")
                    continue
                }
                #expect(c == codec)
                detected += 1
            }
        }
        // zlib's Adler-32 catches every flip.
        if codec == .zlib { #expect(detected == positions.count) }
        #expect(detected > 0)
    }
}

@Suite("Codec names")
struct CodecNameTests {
    @Test(arguments: Codec.allCases)
    func nameRoundTrips(codec: Codec) {
        #expect(Codec(name: codec.description) == codec)
        #expect(Codec(name: codec.description.uppercased()) == codec)
        #expect(Codec(rawValue: codec.rawValue) == codec)
    }

    @Test func unknownNamesAndValues() {
        #expect(Codec(name: "gzip") == nil)
        #expect(Codec(name: "") == nil)
        #expect(Codec(rawValue: 4) == nil)
        #expect(Codec.allCases.map(\.rawValue) == [0, 1, 2, 3])
    }

    @Test func defaultLevels() {
        #expect(Codec.none.defaultLevel == 0)
        #expect(Codec.lz4.defaultLevel == 0)
        #expect(Codec.zstd.defaultLevel == 1)
        #expect(Codec.zlib.defaultLevel == 6)
        #expect(Compressor(codec: .zstd).level == 1)
        #expect(Compressor(codec: .zstd, level: 7).level == 7)
    }
}
