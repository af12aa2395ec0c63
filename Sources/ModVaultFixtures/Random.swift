import ModVaultCore
// Every byte the generator writes comes from these generators, seeded from FixtureOptions.seed.
// Foundation's random sources and Swift's Hasher are seeded per process, so they are never used here.

extension SplitMix64 {
    /// One well-mixed word from `value`, for deriving sub-seeds.
    static func mix(_ value: UInt64) -> UInt64 {
        var s = SplitMix64(seed: value)
        return s.next()
    }
}

/// xoshiro256**: the fast stream generator behind all synthetic content.
struct FixtureRNG {
    private var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64

    init(seed: UInt64) {
        var sm = SplitMix64(seed: seed)
        s0 = sm.next(); s1 = sm.next(); s2 = sm.next(); s3 = sm.next()
    }

    @inline(__always)
    mutating func next() -> UInt64 {
        let result = ((s1 &* 5) << 7 | (s1 &* 5) >> 57) &* 9
        let t = s1 << 17
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3
        s2 ^= t
        s3 = s3 << 45 | s3 >> 19
        return result
    }

    /// Uniform integer in `range` (multiply-high, so no modulo bias worth caring about here).
    mutating func int(_ range: ClosedRange<Int>) -> Int {
        let span = UInt64(range.upperBound - range.lowerBound) + 1
        return range.lowerBound + Int(span.multipliedFullWidth(by: next()).high)
    }

    mutating func int(below n: Int) -> Int { int(0...(n - 1)) }

    /// Uniform in [0, 1).
    mutating func unit() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    mutating func double(_ range: ClosedRange<Double>) -> Double {
        range.lowerBound + unit() * (range.upperBound - range.lowerBound)
    }

    mutating func float(_ range: ClosedRange<Float>) -> Float {
        range.lowerBound + Float(unit()) * (range.upperBound - range.lowerBound)
    }

    mutating func chance(_ p: Double) -> Bool { unit() < p }

    mutating func pick<T>(_ items: [T]) -> T { items[int(below: items.count)] }

    /// Picks an index with probability proportional to `weights`.
    mutating func weighted(_ weights: [Double]) -> Int {
        let total = weights.reduce(0, +)
        var x = unit() * total
        for (i, w) in weights.enumerated() {
            if x < w { return i }
            x -= w
        }
        return weights.count - 1
    }

    /// Roughly log-uniform size in `range`: a uniform octave, then uniform within it. Integer-only, so
    /// every platform picks the same sizes (libm `exp`/`log` may differ in the last bit).
    mutating func logUniform(_ range: ClosedRange<Int>) -> Int {
        let lowOctave = Int.bitWidth - 1 - range.lowerBound.leadingZeroBitCount
        let highOctave = Int.bitWidth - 1 - range.upperBound.leadingZeroBitCount
        let octave = int(lowOctave...highOctave)
        let value = int((1 << octave)...((1 << (octave + 1)) - 1))
        return min(range.upperBound, max(range.lowerBound, value))
    }

    mutating func shuffle<T>(_ items: inout [T]) {
        guard items.count > 1 else { return }
        for i in stride(from: items.count - 1, to: 0, by: -1) {
            items.swapAt(i, int(0...i))
        }
    }
}

/// Derives independent sub-seeds from labels, so adding content in one place never shifts the bytes of another.
enum Seed {
    /// FNV-1a over UTF-8: a stable string hash (Swift's `Hasher` is randomly seeded per process).
    static func hash(_ text: String) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in text.utf8 {
            h ^= UInt64(byte)
            h &*= 0x0000_0100_0000_01B3
        }
        return h
    }

    static func derive(_ seed: UInt64, _ label: String) -> UInt64 {
        SplitMix64.mix(seed ^ SplitMix64.mix(hash(label)))
    }

    static func derive(_ seed: UInt64, _ index: Int) -> UInt64 {
        SplitMix64.mix(seed ^ SplitMix64.mix(UInt64(bitPattern: Int64(index)) &+ 0x5851_F42D_4C95_7F2D))
    }
}
