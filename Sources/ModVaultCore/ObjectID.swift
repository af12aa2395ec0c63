/// A 256-bit identifier naming an object in a repository (blob, pack, index, snapshot or key).
public struct ObjectID: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The all-zero identifier, used as a placeholder.
    public static let zero = ObjectID(bytes: [UInt8](repeating: 0, count: 32))!

    /// Number of bytes in an identifier.
    public static let byteCount = 32

    // Four words keep the value inline (no heap allocation) and make hashing and comparison cheap.
    @usableFromInline var w0: UInt64, w1: UInt64, w2: UInt64, w3: UInt64

    /// Creates an identifier from exactly 32 bytes.
    public init?<C: Collection>(bytes: C) where C.Element == UInt8 {
        guard bytes.count == Self.byteCount else { return nil }
        (w0, w1, w2, w3) = (0, 0, 0, 0)
        for (i, b) in bytes.enumerated() {
            let bits = UInt64(b) << UInt64(56 - 8 * (i % 8))
            switch i / 8 {
            case 0: w0 |= bits
            case 1: w1 |= bits
            case 2: w2 |= bits
            default: w3 |= bits
            }
        }
    }

    /// Creates an identifier from 32 bytes at `pointer`.
    public init(pointer: UnsafeRawBufferPointer) {
        precondition(pointer.count >= Self.byteCount)
        func word(_ i: Int) -> UInt64 { UInt64(bigEndian: pointer.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)) }
        (w0, w1, w2, w3) = (word(0), word(1), word(2), word(3))
    }

    /// Parses a 64-character lowercase or uppercase hex string.
    public init?(hex: some StringProtocol) {
        guard hex.utf8.count == 64, let bytes = Hex.decode(hex) else { return nil }
        self.init(bytes: bytes)!
    }

    /// The identifier as 32 bytes.
    public var bytes: [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        withUnsafeBytes(of: (w0.bigEndian, w1.bigEndian, w2.bigEndian, w3.bigEndian)) { raw in
            for i in 0..<32 { out[i] = raw[i] }
        }
        return out
    }

    /// Calls `body` with the 32 raw bytes, without allocating.
    public func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withUnsafeBytes(of: (w0.bigEndian, w1.bigEndian, w2.bigEndian, w3.bigEndian), body)
    }

    /// The full 64-character lowercase hex form.
    public var hex: String { Hex.encode(bytes) }

    /// The 8-character short form shown to users.
    public var short: String { String(hex.prefix(8)) }

    /// The full hex form.
    public var description: String { hex }

    /// Orders identifiers by their bytes, so sorted lists match sorted hex names.
    public static func < (a: ObjectID, b: ObjectID) -> Bool {
        (a.w0, a.w1, a.w2, a.w3) < (b.w0, b.w1, b.w2, b.w3)
    }
}

extension ObjectID: Codable {
    /// Decodes an identifier from its hex string.
    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let id = ObjectID(hex: text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a 64-digit hex ID: \(text)"))
        }
        self = id
    }

    /// Encodes the identifier as its hex string.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(hex)
    }
}

/// Hexadecimal encoding helpers.
public enum Hex {
    private static let digits = Array("0123456789abcdef".utf8)

    /// Encodes bytes as lowercase hex.
    public static func encode<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes hex (either case); nil on odd length or a non-hex character.
    public static func decode(_ text: some StringProtocol) -> [UInt8]? {
        let utf8 = Array(text.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case 0x30...0x39: return c - 0x30
            case 0x61...0x66: return c - 0x61 + 10
            case 0x41...0x46: return c - 0x41 + 10
            default: return nil
            }
        }
        var out = [UInt8]()
        out.reserveCapacity(utf8.count / 2)
        var i = 0
        while i < utf8.count {
            guard let hi = nibble(utf8[i]), let lo = nibble(utf8[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }
}
