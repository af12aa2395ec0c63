/// Appends little-endian integers and length-prefixed fields to a growing byte array.
public struct ByteWriter: Sendable {
    /// The bytes written so far.
    public private(set) var bytes: [UInt8]

    /// Creates an empty writer, reserving `capacity` bytes.
    public init(capacity: Int = 256) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    /// Appends one byte.
    public mutating func u8(_ v: UInt8) { bytes.append(v) }

    /// Appends a little-endian UInt16.
    public mutating func u16(_ v: UInt16) { append(littleEndian: v) }

    /// Appends a little-endian UInt32.
    public mutating func u32(_ v: UInt32) { append(littleEndian: v) }

    /// Appends a little-endian UInt64.
    public mutating func u64(_ v: UInt64) { append(littleEndian: v) }

    /// Appends a little-endian Int64.
    public mutating func i64(_ v: Int64) { append(littleEndian: UInt64(bitPattern: v)) }

    /// Appends an unsigned LEB128 varint, which keeps small sizes and counts to one or two bytes.
    public mutating func varint(_ v: UInt64) {
        var v = v
        while v >= 0x80 {
            bytes.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    /// Appends raw bytes.
    public mutating func raw<C: Collection>(_ data: C) where C.Element == UInt8 { bytes.append(contentsOf: data) }

    /// Appends an object ID's 32 bytes.
    public mutating func id(_ id: ObjectID) { id.withBytes { bytes.append(contentsOf: $0) } }

    /// Appends a varint length followed by the bytes.
    public mutating func lengthPrefixed<C: Collection>(_ data: C) where C.Element == UInt8 {
        varint(UInt64(data.count))
        bytes.append(contentsOf: data)
    }

    /// Appends a string as varint length plus UTF-8 bytes.
    public mutating func string(_ s: String) { lengthPrefixed(Array(s.utf8)) }

    private mutating func append<T: FixedWidthInteger>(littleEndian v: T) {
        withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) }
    }
}

/// Reads what `ByteWriter` wrote, checking every bound; malformed input throws instead of trapping.
public struct ByteReader {
    /// The error thrown when input ends early or holds an impossible value.
    public struct Malformed: Error, CustomStringConvertible {
        /// What was being read.
        public var what: String
        /// Creates the error.
        public init(what: String) { self.what = what }
        /// Describes the problem.
        public var description: String { "malformed data: \(what)" }
    }

    private let bytes: [UInt8]
    /// Offset of the next byte to read.
    public private(set) var offset: Int
    private let end: Int

    /// Reads `bytes[range]`, or all of `bytes`.
    public init(_ bytes: [UInt8], range: Range<Int>? = nil) {
        self.bytes = bytes
        offset = range?.lowerBound ?? 0
        end = range?.upperBound ?? bytes.count
    }

    /// Bytes left to read.
    public var remaining: Int { end - offset }

    /// True when every byte has been read.
    public var isAtEnd: Bool { offset >= end }

    /// Reads one byte.
    public mutating func u8() throws -> UInt8 {
        guard offset < end else { throw Malformed(what: "unexpected end") }
        defer { offset += 1 }
        return bytes[offset]
    }

    /// Reads a little-endian UInt16.
    public mutating func u16() throws -> UInt16 { try fixed() }

    /// Reads a little-endian UInt32.
    public mutating func u32() throws -> UInt32 { try fixed() }

    /// Reads a little-endian UInt64.
    public mutating func u64() throws -> UInt64 { try fixed() }

    /// Reads a little-endian Int64.
    public mutating func i64() throws -> Int64 { Int64(bitPattern: try fixed()) }

    /// Reads an unsigned LEB128 varint of at most 10 bytes.
    public mutating func varint() throws -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let b = try u8()
            // The tenth byte may only carry the single remaining bit of a 64-bit value.
            guard shift < 63 || (shift == 63 && b <= 1) else { throw Malformed(what: "varint overflows 64 bits") }
            result |= UInt64(b & 0x7F) << shift
            if b & 0x80 == 0 { return result }
            shift += 7
        }
    }

    /// Reads a varint that must fit a non-negative Int no larger than `limit`.
    public mutating func count(limit: Int = Int(Int32.max)) throws -> Int {
        let v = try varint()
        guard v <= UInt64(limit) else { throw Malformed(what: "count \(v) exceeds \(limit)") }
        return Int(v)
    }

    /// Reads `n` raw bytes.
    public mutating func raw(_ n: Int) throws -> ArraySlice<UInt8> {
        guard n >= 0, n <= remaining else { throw Malformed(what: "field of \(n) bytes overruns input") }
        defer { offset += n }
        return bytes[offset..<offset + n]
    }

    /// Reads an object ID.
    public mutating func id() throws -> ObjectID {
        let slice = try raw(ObjectID.byteCount)
        return slice.withUnsafeBytes { ObjectID(pointer: $0) }
    }

    /// Reads a varint-length-prefixed byte field.
    public mutating func lengthPrefixed() throws -> ArraySlice<UInt8> { try raw(try count()) }

    /// Reads a varint-length-prefixed UTF-8 string; invalid UTF-8 throws.
    public mutating func string() throws -> String {
        let slice = try lengthPrefixed()
        guard let s = String(validating: slice, as: UTF8.self) else { throw Malformed(what: "string is not UTF-8") }
        return s
    }

    private mutating func fixed<T: FixedWidthInteger>() throws -> T {
        let size = MemoryLayout<T>.size
        guard size <= remaining else { throw Malformed(what: "unexpected end") }
        let v = bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: T.self) }
        offset += size
        return T(littleEndian: v)
    }
}
