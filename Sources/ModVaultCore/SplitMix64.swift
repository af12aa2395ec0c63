/// SplitMix64 (Steele, Lea and Flood): a small, fast, seedable generator for reproducible
/// test data, fault schedules and synthetic corpora. Not for anything secret.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    /// The generator's state; the next output depends only on it.
    public var state: UInt64

    /// Starts the sequence at `seed`.
    public init(seed: UInt64) { state = seed }

    /// The next 64 pseudo-random bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A number in `0..<n` (`n` > 0).
    public mutating func below(_ n: Int) -> Int { Int(next() % UInt64(max(1, n))) }

    /// `count` pseudo-random bytes.
    public mutating func bytes(_ count: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: (count + 7) & ~7)
        out.withUnsafeMutableBytes { raw in
            for i in 0..<(raw.count / 8) {
                raw.storeBytes(of: next().littleEndian, toByteOffset: i * 8, as: UInt64.self)
            }
        }
        out.removeSubrange(count...)
        return out
    }
}
