import Testing
import ModVaultCore

@Suite("ByteWriter / ByteReader")
struct ByteCodingTests {
    @Test func everyFieldTypeRoundTrips() throws {
        let id = try #require(ObjectID(hex: String(repeating: "ab", count: 16) + String(repeating: "01", count: 16)))
        var w = ByteWriter()
        w.u8(0xFE)
        w.u16(0xBEEF)
        w.u32(0xDEAD_BEEF)
        w.u64(0x0123_4567_89AB_CDEF)
        w.i64(-1)
        w.i64(Int64.min)
        w.i64(Int64.max)
        w.varint(300)
        w.raw([1, 2, 3])
        w.id(id)
        w.lengthPrefixed([9, 8, 7, 6])
        w.lengthPrefixed([UInt8]())
        w.string("héllo, wörld ✓")
        w.string("")

        var r = ByteReader(w.bytes)
        #expect(try r.u8() == 0xFE)
        #expect(try r.u16() == 0xBEEF)
        #expect(try r.u32() == 0xDEAD_BEEF)
        #expect(try r.u64() == 0x0123_4567_89AB_CDEF)
        #expect(try r.i64() == -1)
        #expect(try r.i64() == Int64.min)
        #expect(try r.i64() == Int64.max)
        #expect(try r.varint() == 300)
        #expect(Array(try r.raw(3)) == [1, 2, 3])
        #expect(try r.id() == id)
        #expect(Array(try r.lengthPrefixed()) == [9, 8, 7, 6])
        #expect(try r.lengthPrefixed().isEmpty)
        #expect(try r.string() == "héllo, wörld ✓")
        #expect(try r.string() == "")
        #expect(r.isAtEnd)
        #expect(r.remaining == 0)
        #expect(r.offset == w.bytes.count)
    }

    @Test func integersAreLittleEndian() {
        var w = ByteWriter()
        w.u16(0x0102)
        w.u32(0x0304_0506)
        w.u64(0x0708_090A_0B0C_0D0E)
        w.i64(-2)
        #expect(w.bytes == [
            0x02, 0x01,
            0x06, 0x05, 0x04, 0x03,
            0x0E, 0x0D, 0x0C, 0x0B, 0x0A, 0x09, 0x08, 0x07,
            0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        ])
    }

    struct VarintCase: Sendable, CustomTestStringConvertible {
        var value: UInt64
        var encoding: [UInt8]
        var testDescription: String { "\(value)" }
    }

    static let varintCases: [VarintCase] = [
        VarintCase(value: 0, encoding: [0x00]),
        VarintCase(value: 1, encoding: [0x01]),
        VarintCase(value: 127, encoding: [0x7F]),
        VarintCase(value: 128, encoding: [0x80, 0x01]),
        VarintCase(value: 300, encoding: [0xAC, 0x02]),
        VarintCase(value: 16383, encoding: [0xFF, 0x7F]),
        VarintCase(value: 16384, encoding: [0x80, 0x80, 0x01]),
        VarintCase(value: UInt64(UInt32.max), encoding: [0xFF, 0xFF, 0xFF, 0xFF, 0x0F]),
        VarintCase(value: 1 << 63, encoding: [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]),
        VarintCase(value: UInt64.max, encoding: [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]),
    ]

    @Test(arguments: varintCases)
    func varintEncodingAndRoundTrip(c: VarintCase) throws {
        var w = ByteWriter()
        w.varint(c.value)
        #expect(w.bytes == c.encoding)
        var r = ByteReader(w.bytes)
        #expect(try r.varint() == c.value)
        #expect(r.isAtEnd)
    }

    @Test func readerHonoursRange() throws {
        let bytes: [UInt8] = [0xAA, 0x01, 0x02, 0xBB]
        var r = ByteReader(bytes, range: 1..<3)
        #expect(r.offset == 1)
        #expect(r.remaining == 2)
        #expect(try r.u8() == 0x01)
        #expect(try r.u8() == 0x02)
        #expect(r.isAtEnd)
        #expect(throws: ByteReader.Malformed.self) { try r.u8() }
        var r2 = ByteReader(bytes, range: 1..<3)
        #expect(throws: ByteReader.Malformed.self) { try r2.u32() }
    }

    // MARK: Malformed input throws rather than trapping

    @Test func emptyInputThrowsForEveryField() {
        var r = ByteReader([])
        #expect(throws: ByteReader.Malformed.self) { try r.u8() }
        #expect(throws: ByteReader.Malformed.self) { try r.u16() }
        #expect(throws: ByteReader.Malformed.self) { try r.u32() }
        #expect(throws: ByteReader.Malformed.self) { try r.u64() }
        #expect(throws: ByteReader.Malformed.self) { try r.i64() }
        #expect(throws: ByteReader.Malformed.self) { try r.varint() }
        #expect(throws: ByteReader.Malformed.self) { try r.count() }
        #expect(throws: ByteReader.Malformed.self) { try r.raw(1) }
        #expect(throws: ByteReader.Malformed.self) { try r.id() }
        #expect(throws: ByteReader.Malformed.self) { try r.lengthPrefixed() }
        #expect(throws: ByteReader.Malformed.self) { try r.string() }
        #expect(r.offset == 0)
    }

    @Test func truncatedFixedWidthFieldsThrow() {
        for size in [2, 4, 8] {
            for available in 0..<size {
                let bytes = [UInt8](repeating: 0x11, count: available)
                var r = ByteReader(bytes)
                #expect(throws: ByteReader.Malformed.self) {
                    switch size {
                    case 2: _ = try r.u16()
                    case 4: _ = try r.u32()
                    default: _ = try r.u64()
                    }
                }
                // A failed read consumes nothing.
                #expect(r.offset == 0)
            }
        }
        var r = ByteReader([UInt8](repeating: 0, count: 31))
        #expect(throws: ByteReader.Malformed.self) { try r.id() }
    }

    @Test func truncatedVarintThrows() {
        var r = ByteReader([0x80, 0x80])
        #expect(throws: ByteReader.Malformed.self) { try r.varint() }
    }

    @Test func overlongVarintThrows() {
        // Eleven continuation bytes: longer than any 64-bit value needs.
        var r = ByteReader([UInt8](repeating: 0x80, count: 11) + [0x00])
        let error = #expect(throws: ByteReader.Malformed.self) { try r.varint() }
        #expect(error?.description.contains("varint") == true)
        var r2 = ByteReader([UInt8](repeating: 0xFF, count: 20))
        #expect(throws: ByteReader.Malformed.self) { try r2.varint() }
    }

    @Test func tenByteVarintOverflowingSixtyFourBitsThrows() {
        // The tenth byte may only carry bit 63; 0x02 there would be bit 64, which does not fit.
        var r = ByteReader([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x02])
        #expect(throws: ByteReader.Malformed.self) { try r.varint() }
        var r2 = ByteReader([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x7F])
        #expect(throws: ByteReader.Malformed.self) { try r2.varint() }
    }

    @Test func lengthPrefixPastEndThrows() {
        var w = ByteWriter()
        w.varint(10)
        w.raw([1, 2, 3])
        var r = ByteReader(w.bytes)
        let error = #expect(throws: ByteReader.Malformed.self) { try r.lengthPrefixed() }
        #expect(error?.description.hasPrefix("malformed data:") == true)

        var r2 = ByteReader(w.bytes)
        #expect(throws: ByteReader.Malformed.self) { try r2.string() }

        // A huge length (beyond Int32) must not trap on arithmetic.
        var big = ByteWriter()
        big.varint(UInt64.max)
        big.raw([0])
        var r3 = ByteReader(big.bytes)
        #expect(throws: ByteReader.Malformed.self) { try r3.lengthPrefixed() }
    }

    @Test func rawRejectsNegativeAndOverlongCounts() {
        var r = ByteReader([1, 2, 3])
        #expect(throws: ByteReader.Malformed.self) { try r.raw(-1) }
        #expect(throws: ByteReader.Malformed.self) { try r.raw(4) }
        #expect(throws: ByteReader.Malformed.self) { try r.raw(Int.max) }
        #expect(r.offset == 0)
        #expect((try? r.raw(3)).map(Array.init) == [1, 2, 3])
    }

    @Test func countEnforcesLimit() throws {
        var w = ByteWriter()
        w.varint(100)
        w.varint(101)
        var r = ByteReader(w.bytes)
        #expect(try r.count(limit: 100) == 100)
        #expect(throws: ByteReader.Malformed.self) { try r.count(limit: 100) }

        var w2 = ByteWriter()
        w2.varint(UInt64(Int32.max) + 1)
        var r2 = ByteReader(w2.bytes)
        #expect(throws: ByteReader.Malformed.self) { try r2.count() }
    }

    @Test func invalidUTF8StringThrows() {
        var w = ByteWriter()
        w.lengthPrefixed([0xC3, 0x28])
        var r = ByteReader(w.bytes)
        let error = #expect(throws: ByteReader.Malformed.self) { try r.string() }
        #expect(error?.what.contains("UTF-8") == true)
    }

    @Test func randomGarbageNeverTraps() {
        // Reading arbitrary bytes with every reader method either succeeds or throws.
        var rng = SplitMix64(seed: 99)
        for length in 0..<64 {
            let bytes = rng.bytes(length)
            var r = ByteReader(bytes)
            var steps = 0
            while !r.isAtEnd && steps < 100 {
                steps += 1
                let before = r.offset
                do {
                    switch steps % 7 {
                    case 0: _ = try r.varint()
                    case 1: _ = try r.lengthPrefixed()
                    case 2: _ = try r.string()
                    case 3: _ = try r.u32()
                    case 4: _ = try r.id()
                    case 5: _ = try r.count(limit: 10)
                    default: _ = try r.u8()
                    }
                    #expect(r.offset > before)
                } catch {
                    #expect(error is ByteReader.Malformed)
                    _ = try? r.u8()
                }
                #expect(r.offset <= bytes.count)
            }
        }
    }
}
