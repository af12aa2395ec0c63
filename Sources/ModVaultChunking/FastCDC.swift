public import ModVaultCore

/// Minimum, average and maximum chunk sizes for content-defined chunking.
public struct ChunkerParameters: Codable, Sendable, Equatable, CustomStringConvertible {
    /// No chunk is shorter than this, except the last of a stream.
    public var minSize: Int
    /// The size chunks cluster around; must be a power of two.
    public var averageSize: Int
    /// No chunk is longer than this.
    public var maxSize: Int

    /// Creates parameters; call `validate()` before use with untrusted values.
    public init(minSize: Int, averageSize: Int, maxSize: Int) {
        self.minSize = minSize
        self.averageSize = averageSize
        self.maxSize = maxSize
    }

    /// The default, chosen by measuring dedup against metadata size on the fixtures corpus (see Docs/FORMAT.md).
    public static let `default` = ChunkerParameters(minSize: 128 << 10, averageSize: 512 << 10, maxSize: 2 << 20)

    /// The largest maximum chunk size accepted: 64 MiB.
    public static let maximumAllowedSize = 64 << 20

    /// Throws if the sizes are out of order, the average is not a power of two, or sizes are out of range.
    public func validate() throws(ChunkingError) {
        guard minSize >= 64, minSize < averageSize, averageSize < maxSize else {
            throw .invalidParameters("need 64 <= min < avg < max, got \(self)")
        }
        guard averageSize.nonzeroBitCount == 1 else {
            throw .invalidParameters("average size \(averageSize) is not a power of two")
        }
        guard maxSize <= Self.maximumAllowedSize else { throw .invalidParameters("max size \(maxSize) exceeds 64 MiB") }
    }

    /// "min/avg/max" in KiB.
    public var description: String { "\(minSize >> 10)K/\(averageSize >> 10)K/\(maxSize >> 10)K" }
}

/// Errors from the chunking layer.
public enum ChunkingError: ModVaultFailure, Equatable {
    /// Parameters that cannot be used.
    case invalidParameters(String)
    /// A gear table with the wrong number of entries.
    case invalidGearTable(count: Int)

    /// Always invalid input.
    public var kind: FailureKind { .invalidInput }

    /// Describes the problem.
    public var description: String {
        switch self {
        case .invalidParameters(let why): return "invalid chunker parameters: \(why)"
        case .invalidGearTable(let n): return "gear table must have 256 entries, got \(n)"
        }
    }
}

/// FastCDC with normalized chunking (level 2) and a per-repository gear table.
///
/// The gear table comes from a repository secret, so cut points cannot be predicted
/// (and used to fingerprint stored files) without the key.
public struct FastCDC: Sendable {
    /// The sizes in force.
    public let parameters: ChunkerParameters
    /// The gear table (kept so a chunker with other sizes can share the repository's secret table).
    public let gear: [UInt64]
    // Each gear value shifted left once, for the two-bytes-per-step loop.
    private let gearShifted: [UInt64]
    private let maskSmall: UInt64
    private let maskLarge: UInt64

    /// Creates a chunker from validated parameters and a 256-entry gear table.
    public init(parameters: ChunkerParameters, gear: [UInt64]) throws(ChunkingError) {
        try parameters.validate()
        guard gear.count == 256 else { throw .invalidGearTable(count: gear.count) }
        self.parameters = parameters
        self.gear = gear
        self.gearShifted = gear.map { $0 << 1 }
        let bits = parameters.averageSize.trailingZeroBitCount
        // Normalization level 2: harder to cut before the average, easier after it.
        maskSmall = Self.topMask(bits: bits + 2)
        maskLarge = Self.topMask(bits: max(1, bits - 2))
    }

    // Using the high bits means each decision depends on the last 64 bytes only.
    private static func topMask(bits: Int) -> UInt64 {
        let b = min(63, bits)
        return ((UInt64(1) << UInt64(b)) - 1) << UInt64(64 - b)
    }

    /// Returns the length of the chunk that starts at the beginning of `data`.
    ///
    /// `data` must hold at least `maxSize` bytes unless it is the end of the stream,
    /// otherwise the cut would depend on how the stream was buffered.
    public func cut(_ data: UnsafeRawBufferPointer) -> Int {
        let n = data.count
        if n <= parameters.minSize { return n }
        let limit = min(n, parameters.maxSize)
        let normal = min(limit, parameters.averageSize)
        let bytes = data.bindMemory(to: UInt8.self)
        return gear.withUnsafeBufferPointer { g in
            gearShifted.withUnsafeBufferPointer { gs in
                var fp: UInt64 = 0
                // Two bytes per step halve the loop overhead; a cut may fall on either byte.
                var i = parameters.minSize
                while i + 1 < normal {
                    fp = (fp << 2) &+ gs[Int(bytes[i])]
                    if fp & maskSmall == 0 { return i + 1 }
                    fp = fp &+ g[Int(bytes[i + 1])]
                    if fp & maskSmall == 0 { return i + 2 }
                    i += 2
                }
                while i + 1 < limit {
                    fp = (fp << 2) &+ gs[Int(bytes[i])]
                    if fp & maskLarge == 0 { return i + 1 }
                    fp = fp &+ g[Int(bytes[i + 1])]
                    if fp & maskLarge == 0 { return i + 2 }
                    i += 2
                }
                return limit
            }
        }
    }

    /// Splits a whole in-memory buffer into chunk lengths.
    public func split(_ data: UnsafeRawBufferPointer) -> [Int] {
        var lengths: [Int] = []
        var offset = 0
        while offset < data.count {
            let n = cut(UnsafeRawBufferPointer(rebasing: data[offset...]))
            lengths.append(n)
            offset += n
        }
        return lengths
    }
}

/// Forced cut points that no chunk may cross (ascending absolute offsets: format boundaries such as
/// BA2 members and DDS surfaces), consumed in order as a file is chunked front to back.
///
/// Snapshot, mirror's seed scan, stream storage and `modvault chunks` all cut through this and
/// `FastCDC.cut(_:at:within:)`, so a file is cut the same way wherever it is cut: a mirror seed
/// only saves a download if it cuts exactly as the snapshot did.
public struct ForcedCuts: Sendable {
    private let cuts: [Int64]
    private var next = 0

    /// Creates the sequence from ascending offsets.
    public init(_ cuts: [Int64]) { self.cuts = cuts }

    /// How many of the `available` bytes at absolute `position` one chunk may span.
    public mutating func limit(at position: Int64, available: Int) -> Int {
        while next < cuts.count && cuts[next] <= position { next += 1 }
        return next < cuts.count ? min(available, Int(cuts[next] - position)) : available
    }
}

extension FastCDC {
    /// The length of the chunk that starts at absolute `position` with `bytes` available there,
    /// never crossing a forced cut. (`bytes` must reach `maxSize` unless the file ends inside it.)
    public func cut(_ bytes: UnsafeRawBufferPointer, at position: Int64, within cuts: inout ForcedCuts) -> Int {
        cut(UnsafeRawBufferPointer(rebasing: bytes[0..<cuts.limit(at: position, available: bytes.count)]))
    }

    /// Every chunk of a whole buffer, never crossing `cuts` (offsets relative to the buffer's start).
    public func chunkRanges(_ bytes: UnsafeRawBufferPointer, cuts: [Int64]) -> [Range<Int>] {
        var forced = ForcedCuts(cuts)
        var out: [Range<Int>] = []
        var offset = 0
        while offset < bytes.count {
            let n = cut(UnsafeRawBufferPointer(rebasing: bytes[offset...]), at: Int64(offset), within: &forced)
            out.append(offset..<(offset + n))
            offset += n
        }
        return out
    }
}
