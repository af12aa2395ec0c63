import Foundation
import Testing
import ModVaultChunking
import ModVaultCore

extension SplitMix64 {
    /// A 256-entry gear table.
    static func gear(seed: UInt64) -> [UInt64] {
        var g = SplitMix64(seed: seed)
        return (0..<256).map { _ in g.next() }
    }
}

enum Inputs {
    /// 16 MiB of pseudo-random bytes, generated once and shared by the tests.
    static let random16MiB: [UInt8] = {
        var g = SplitMix64(seed: 0x5EED)
        return g.bytes(16 << 20)
    }()

    static let gearA = SplitMix64.gear(seed: 1)
    static let gearB = SplitMix64.gear(seed: 2)
}

extension FastCDC {
    func split(_ bytes: [UInt8]) -> [Int] { bytes.withUnsafeBytes { split($0) } }
}

/// Chunk end offsets (cumulative lengths).
func boundaries(_ lengths: [Int]) -> [Int] {
    var total = 0
    return lengths.map { total += $0; return total }
}

@Suite("FastCDC")
struct FastCDCTests {
    static let parameterSets: [ChunkerParameters] = [
        ChunkerParameters(minSize: 2 << 10, averageSize: 8 << 10, maxSize: 32 << 10),
        ChunkerParameters(minSize: 16 << 10, averageSize: 64 << 10, maxSize: 256 << 10),
        ChunkerParameters(minSize: 64 << 10, averageSize: 256 << 10, maxSize: 1 << 20),
        .default,
    ]

    @Test(arguments: parameterSets)
    func chunkSizesStayWithinBounds(parameters: ChunkerParameters) throws {
        let cdc = try FastCDC(parameters: parameters, gear: Inputs.gearA)
        // An odd total length, so the last chunk is usually short.
        let input = Array(Inputs.random16MiB[0..<(Inputs.random16MiB.count - 12345)])
        let lengths = cdc.split(input)
        #expect(lengths.reduce(0, +) == input.count)
        #expect(lengths.count > 1)
        for length in lengths.dropLast() {
            #expect(length >= parameters.minSize && length <= parameters.maxSize)
        }
        let last = try #require(lengths.last)
        #expect(last > 0 && last <= parameters.maxSize)
    }

    @Test(arguments: parameterSets.prefix(3))
    func lowEntropyInputStillRespectsBounds(parameters: ChunkerParameters) throws {
        let cdc = try FastCDC(parameters: parameters, gear: Inputs.gearA)
        // Zeros and a short repeating pattern never look random, so cuts are forced by maxSize or come early.
        let zeros = [UInt8](repeating: 0, count: 2 * parameters.maxSize + 17)
        var pattern = [UInt8](repeating: 0, count: 2 * parameters.maxSize + 5)
        pattern.withUnsafeMutableBufferPointer { p in
            for i in 0..<p.count { p[i] = UInt8(truncatingIfNeeded: i % 7) }
        }
        for input in [zeros, pattern] {
            let lengths = cdc.split(input)
            #expect(lengths.reduce(0, +) == input.count)
            for length in lengths.dropLast() {
                #expect(length >= parameters.minSize && length <= parameters.maxSize)
            }
            #expect((lengths.last ?? 0) <= parameters.maxSize)
        }
    }

    @Test func smallAndEmptyInputs() throws {
        let p = ChunkerParameters(minSize: 2 << 10, averageSize: 8 << 10, maxSize: 32 << 10)
        let cdc = try FastCDC(parameters: p, gear: Inputs.gearA)
        #expect(cdc.split([UInt8]()) == [])
        #expect(cdc.split([UInt8](repeating: 1, count: 1)) == [1])
        #expect(cdc.split(Array(Inputs.random16MiB[0..<p.minSize])) == [p.minSize])
        let justOver = cdc.split(Array(Inputs.random16MiB[0..<(p.minSize + 1)]))
        #expect(justOver.reduce(0, +) == p.minSize + 1)
        #expect(justOver.allSatisfy { $0 > 0 })
    }

    @Test func sameKeySameInputGivesSameCuts() throws {
        let p = ChunkerParameters(minSize: 16 << 10, averageSize: 64 << 10, maxSize: 256 << 10)
        let input = Array(Inputs.random16MiB[0..<(4 << 20)])
        let first = try FastCDC(parameters: p, gear: Inputs.gearA).split(input)
        let second = try FastCDC(parameters: p, gear: SplitMix64.gear(seed: 1)).split(input)
        #expect(first == second)
        #expect(first.count > 10)
    }

    @Test func differentGearTableGivesDifferentCuts() throws {
        let p = ChunkerParameters(minSize: 16 << 10, averageSize: 64 << 10, maxSize: 256 << 10)
        let input = Array(Inputs.random16MiB[0..<(4 << 20)])
        let a = boundaries(try FastCDC(parameters: p, gear: Inputs.gearA).split(input))
        let b = boundaries(try FastCDC(parameters: p, gear: Inputs.gearB).split(input))
        #expect(a != b)
        // Not merely shifted at one place: most cut points differ.
        let shared = Set(a.dropLast()).intersection(b.dropLast())
        #expect(shared.count * 4 < a.count)
    }

    static let resyncParameters: [ChunkerParameters] = [
        ChunkerParameters(minSize: 16 << 10, averageSize: 64 << 10, maxSize: 256 << 10),
        ChunkerParameters(minSize: 64 << 10, averageSize: 256 << 10, maxSize: 1 << 20),
    ]

    @Test(arguments: resyncParameters)
    func boundariesResynchroniseAfterAnInsertion(parameters: ChunkerParameters) throws {
        let cdc = try FastCDC(parameters: parameters, gear: Inputs.gearA)
        let original = Inputs.random16MiB
        var g = SplitMix64(seed: 77)
        let inserted = g.bytes(100)
        let insertAt = 1000
        let edited = Array(original[0..<insertAt]) + inserted + Array(original[insertAt...])

        let before = boundaries(cdc.split(original))
        let after = boundaries(cdc.split(edited))
        let afterShifted = Set(after.map { $0 - inserted.count })

        // After the first few chunks, every boundary of the original reappears, shifted by the insertion.
        let tail = before.dropFirst(3)
        for b in tail { #expect(afterShifted.contains(b), "boundary \(b) lost") }

        // And most chunks (by count) are byte-for-byte shared.
        let chunksBefore = Set(zip([0] + before, before).map { [$0.0, $0.1] })
        let chunksAfter = Set(zip([0] + after, after).map { [$0.0 - inserted.count, $0.1 - inserted.count] })
        let shared = chunksBefore.intersection(chunksAfter).count
        #expect(Double(shared) >= 0.9 * Double(chunksBefore.count), "shared \(shared) of \(chunksBefore.count)")
    }

    @Test(arguments: [
        ChunkerParameters(minSize: 2 << 10, averageSize: 8 << 10, maxSize: 32 << 10),
        ChunkerParameters(minSize: 16 << 10, averageSize: 64 << 10, maxSize: 256 << 10),
        ChunkerParameters(minSize: 64 << 10, averageSize: 256 << 10, maxSize: 1 << 20),
    ])
    func averageChunkSizeIsNearTheConfiguredAverage(parameters: ChunkerParameters) throws {
        let cdc = try FastCDC(parameters: parameters, gear: Inputs.gearA)
        let lengths = cdc.split(Inputs.random16MiB)
        let mean = Double(Inputs.random16MiB.count) / Double(lengths.count)
        let target = Double(parameters.averageSize)
        #expect(mean >= target / 1.5 && mean <= target * 1.5, "mean \(mean) for \(parameters)")
    }

    @Test func streamingThroughCutMatchesSplit() throws {
        for p in Self.parameterSets.prefix(3) {
            let cdc = try FastCDC(parameters: p, gear: Inputs.gearA)
            let input = Array(Inputs.random16MiB[0..<(6 << 20) + 321])
            let whole = cdc.split(input)

            // A stream reader that only ever shows the chunker maxSize bytes (or what is left).
            var streamed: [Int] = []
            var offset = 0
            try input.withUnsafeBytes { raw in
                while offset < raw.count {
                    let window = UnsafeRawBufferPointer(rebasing: raw[offset..<min(raw.count, offset + p.maxSize)])
                    let n = cdc.cut(window)
                    try #require(n > 0 && n <= window.count)
                    streamed.append(n)
                    offset += n
                }
            }
            #expect(streamed == whole, "\(p)")

            // Copying each window into a separate buffer (as a stream would) changes nothing either.
            var copied: [Int] = []
            offset = 0
            while offset < input.count {
                let window = Array(input[offset..<min(input.count, offset + p.maxSize)])
                let n = window.withUnsafeBytes { cdc.cut($0) }
                copied.append(n)
                offset += n
            }
            #expect(copied == whole, "\(p)")
        }
    }

    @Test func cutNeverLooksPastMaxSize() throws {
        let p = ChunkerParameters(minSize: 2 << 10, averageSize: 8 << 10, maxSize: 32 << 10)
        let cdc = try FastCDC(parameters: p, gear: Inputs.gearA)
        var g = SplitMix64(seed: 3)
        for _ in 0..<20 {
            let start = Int(g.next() % UInt64(Inputs.random16MiB.count - 2 * p.maxSize))
            let exact = Array(Inputs.random16MiB[start..<start + p.maxSize])
            var longer = Array(Inputs.random16MiB[start..<start + 2 * p.maxSize])
            let a = exact.withUnsafeBytes { cdc.cut($0) }
            let b = longer.withUnsafeBytes { cdc.cut($0) }
            // Bytes beyond maxSize cannot matter.
            for i in p.maxSize..<longer.count { longer[i] = ~longer[i] }
            let c = longer.withUnsafeBytes { cdc.cut($0) }
            #expect(a == b && b == c)
        }
    }
}

@Suite("ChunkerParameters")
struct ChunkerParametersTests {
    @Test func defaultAndTypicalParametersAreValid() throws {
        try ChunkerParameters.default.validate()
        try ChunkerParameters(minSize: 64, averageSize: 128, maxSize: 256).validate()
        try ChunkerParameters(minSize: 1 << 20, averageSize: 4 << 20, maxSize: 64 << 20).validate()
        #expect(ChunkerParameters.default.description == "128K/512K/2048K")
    }

    @Test(arguments: [
        ChunkerParameters(minSize: 8 << 10, averageSize: 8 << 10, maxSize: 32 << 10),    // min == avg
        ChunkerParameters(minSize: 16 << 10, averageSize: 8 << 10, maxSize: 32 << 10),   // min > avg
        ChunkerParameters(minSize: 2 << 10, averageSize: 32 << 10, maxSize: 32 << 10),   // avg == max
        ChunkerParameters(minSize: 2 << 10, averageSize: 64 << 10, maxSize: 32 << 10),   // avg > max
        ChunkerParameters(minSize: 2 << 10, averageSize: 12 << 10, maxSize: 32 << 10),   // avg not a power of two
        ChunkerParameters(minSize: 2 << 10, averageSize: 1000, maxSize: 32 << 10),       // avg not a power of two
        ChunkerParameters(minSize: 1 << 20, averageSize: 4 << 20, maxSize: (64 << 20) + 1), // max > 64 MiB
        ChunkerParameters(minSize: 1 << 20, averageSize: 32 << 20, maxSize: 128 << 20),  // max > 64 MiB
        ChunkerParameters(minSize: 63, averageSize: 128, maxSize: 256),                 // min < 64
        ChunkerParameters(minSize: 0, averageSize: 128, maxSize: 256),
        ChunkerParameters(minSize: -1, averageSize: 128, maxSize: 256),
    ])
    func invalidParametersAreRejected(parameters: ChunkerParameters) {
        let error = #expect(throws: ChunkingError.self) { try parameters.validate() }
        if case .invalidParameters(let why)? = error {
            #expect(!why.isEmpty)
        } else {
            Issue.record("expected invalidParameters, got \(String(describing: error))")
        }
        #expect(error?.kind == .invalidInput)
        #expect(throws: ChunkingError.self) { try FastCDC(parameters: parameters, gear: Inputs.gearA) }
    }

    @Test(arguments: [0, 1, 255, 257, 512])
    func gearTableMustHave256Entries(count: Int) {
        let gear = [UInt64](repeating: 0x1234, count: count)
        #expect(throws: ChunkingError.invalidGearTable(count: count)) {
            try FastCDC(parameters: .default, gear: gear)
        }
    }

    @Test func parametersAreCodable() throws {
        let p = ChunkerParameters(minSize: 2 << 10, averageSize: 8 << 10, maxSize: 32 << 10)
        let data = try JSONEncoder().encode(p)
        #expect(try JSONDecoder().decode(ChunkerParameters.self, from: data) == p)
        let cdc = try FastCDC(parameters: p, gear: Inputs.gearA)
        #expect(cdc.parameters == p)
    }
}

@Suite("Forced cuts")
struct ForcedCutTests {
    @Test func chunksNeverCrossForcedCutsAndStreamingCutsMatchWholeBufferCuts() throws {
        let cdc = try FastCDC(parameters: ChunkerParameters(minSize: 2 << 10, averageSize: 8 << 10, maxSize: 32 << 10), gear: Inputs.gearA)
        let input = Array(Inputs.random16MiB[0..<(1 << 20)])
        let cuts: [Int64] = [100, 5000, 5001, 70_000, 300_000, 300_010, 1_000_000]
        let whole = input.withUnsafeBytes { cdc.chunkRanges($0, cuts: cuts) }
        #expect(whole.first?.lowerBound == 0 && whole.last?.upperBound == input.count)
        for (a, b) in zip(whole, whole.dropFirst()) { #expect(a.upperBound == b.lowerBound) }
        let ends = Set(whole.map { Int64($0.upperBound) })
        for cut in cuts { #expect(ends.contains(cut), "no chunk ends at forced cut \(cut)") }
        // Cutting front to back through windows of maxSize bytes (as a reader that refills does)
        // gives the same chunks as cutting the whole buffer.
        var forced = ForcedCuts(cuts)
        var streamed: [Range<Int>] = []
        var offset = 0
        input.withUnsafeBytes { raw in
            while offset < raw.count {
                let window = UnsafeRawBufferPointer(rebasing: raw[offset..<min(raw.count, offset + (32 << 10))])
                let n = cdc.cut(window, at: Int64(offset), within: &forced)
                streamed.append(offset..<(offset + n))
                offset += n
            }
        }
        #expect(streamed == whole)
    }
}
