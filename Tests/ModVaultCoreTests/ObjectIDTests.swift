import Foundation
import Testing
import ModVaultCore

@Suite("ObjectID")
struct ObjectIDTests {
    static let sampleHex = "00112233445566778899aabbccddeeff0123456789abcdeffedcba9876543210"

    @Test func hexRoundTrip() throws {
        let id = try #require(ObjectID(hex: Self.sampleHex))
        #expect(id.hex == Self.sampleHex)
        #expect(id.description == Self.sampleHex)
        #expect(id.short == "00112233")
        #expect(id.bytes == Hex.decode(Self.sampleHex))
        #expect(ObjectID(bytes: id.bytes) == id)
        let viaPointer = id.bytes.withUnsafeBytes { ObjectID(pointer: $0) }
        #expect(viaPointer == id)
        let viaWithBytes = id.withBytes { Array($0) }
        #expect(viaWithBytes == id.bytes)
    }

    @Test func uppercaseHexIsAccepted() throws {
        let id = try #require(ObjectID(hex: Self.sampleHex.uppercased()))
        #expect(id.hex == Self.sampleHex)
    }

    @Test func zeroIsAllZeroBytes() {
        #expect(ObjectID.zero.bytes == [UInt8](repeating: 0, count: 32))
        #expect(ObjectID.zero.hex == String(repeating: "0", count: 64))
    }

    @Test(arguments: [
        "",
        "00",
        String(repeating: "0", count: 63),
        String(repeating: "0", count: 65),
        String(repeating: "0", count: 66),
        String(repeating: "0", count: 62) + "zz",
        String(repeating: "0", count: 62) + "g0",
        String(repeating: "0", count: 62) + " 0",
        String(repeating: "0", count: 62) + "-1",
    ])
    func invalidHexIsRejected(text: String) {
        #expect(ObjectID(hex: text) == nil)
    }

    @Test func wrongByteCountIsRejected() {
        #expect(ObjectID(bytes: [UInt8](repeating: 1, count: 31)) == nil)
        #expect(ObjectID(bytes: [UInt8](repeating: 1, count: 33)) == nil)
        #expect(ObjectID(bytes: [UInt8]()) == nil)
    }

    @Test func orderingMatchesHexOrdering() throws {
        var rng = SplitMix64(seed: 42)
        var ids: [ObjectID] = []
        for _ in 0..<300 {
            ids.append(try #require(ObjectID(bytes: rng.bytes(32))))
        }
        // Pairs differing only in a late byte, and in each word, exercise every word of the comparison.
        for position in [0, 7, 8, 15, 16, 23, 24, 31] {
            var a = [UInt8](repeating: 0x55, count: 32)
            var b = a
            a[position] = 0x10
            b[position] = 0x11
            ids.append(try #require(ObjectID(bytes: a)))
            ids.append(try #require(ObjectID(bytes: b)))
        }
        ids.append(.zero)
        ids.append(try #require(ObjectID(bytes: [UInt8](repeating: 0xFF, count: 32))))
        let byID = ids.sorted().map(\.hex)
        let byHex = ids.map(\.hex).sorted()
        #expect(byID == byHex)
        for (a, b) in zip(ids, ids.dropFirst()) {
            #expect((a < b) == (a.hex < b.hex))
            #expect((a == b) == (a.hex == b.hex))
        }
    }

    @Test func codableAsHexString() throws {
        let id = try #require(ObjectID(hex: Self.sampleHex))
        struct Wrapper: Codable, Equatable { var id: ObjectID }
        let data = try JSONEncoder().encode(Wrapper(id: id))
        let text = try #require(String(data: data, encoding: .utf8))
        #expect(text == "{\"id\":\"\(Self.sampleHex)\"}")
        let back = try JSONDecoder().decode(Wrapper.self, from: data)
        #expect(back.id == id)
    }

    @Test(arguments: ["\"abc\"", "\"\(String(repeating: "x", count: 64))\"", "42", "null"])
    func codableRejectsBadValues(json: String) {
        #expect(throws: DecodingError.self) {
            _ = try JSONDecoder().decode([ObjectID].self, from: Data("[\(json)]".utf8))
        }
    }

    @Test func hashingDistinguishesIDs() throws {
        var rng = SplitMix64(seed: 7)
        var set = Set<ObjectID>()
        var hexes = Set<String>()
        for _ in 0..<200 {
            let id = try #require(ObjectID(bytes: rng.bytes(32)))
            set.insert(id)
            hexes.insert(id.hex)
        }
        #expect(set.count == hexes.count)
        #expect(set.count == 200)
    }
}

@Suite("Hex")
struct HexTests {
    struct Vector: Sendable, CustomTestStringConvertible {
        var bytes: [UInt8]
        var hex: String
        var testDescription: String { "\"\(hex)\"" }
    }

    static let vectors: [Vector] = [
        Vector(bytes: [], hex: ""),
        Vector(bytes: [0x00], hex: "00"),
        Vector(bytes: [0x0F], hex: "0f"),
        Vector(bytes: [0xF0], hex: "f0"),
        Vector(bytes: [0xFF], hex: "ff"),
        Vector(bytes: [0xDE, 0xAD, 0xBE, 0xEF], hex: "deadbeef"),
        Vector(bytes: Array(0...15), hex: "000102030405060708090a0b0c0d0e0f"),
        Vector(bytes: Array("foobar".utf8), hex: "666f6f626172"),
    ]

    @Test(arguments: vectors)
    func encodeAndDecode(vector: Vector) {
        #expect(Hex.encode(vector.bytes) == vector.hex)
        #expect(Hex.decode(vector.hex) == vector.bytes)
        #expect(Hex.decode(vector.hex.uppercased()) == vector.bytes)
    }

    @Test func allByteValuesRoundTrip() {
        let all = (0...255).map { UInt8($0) }
        let text = Hex.encode(all)
        #expect(text.count == 512)
        #expect(text.allSatisfy { "0123456789abcdef".contains($0) })
        #expect(Hex.decode(text) == all)
    }

    @Test(arguments: ["0", "abc", "0g", "g0", "zz", " 0", "0x00", "é0", "--"])
    func invalidHexIsRejected(text: String) {
        #expect(Hex.decode(text) == nil)
    }

    @Test func mixedCaseDecodes() {
        #expect(Hex.decode("aBcD") == [0xAB, 0xCD])
    }

    @Test func decodesSubstrings() {
        let text = "xx0a0bxx"
        let inner = text.dropFirst(2).dropLast(2)
        #expect(Hex.decode(inner) == [0x0A, 0x0B])
    }
}

