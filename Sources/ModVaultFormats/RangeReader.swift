public import ModVaultCore

/// Random access to the bytes of one file, so parsers read only the headers and tables they need.
///
/// A multi-gigabyte BA2 is parsed by reading its header, entry table and name table; member data is
/// never loaded. Implementations return exactly `count` bytes or throw.
public protocol RangeReader {
    /// Total size of the underlying bytes.
    var size: UInt64 { get }
    /// Exactly `count` bytes starting at `offset`; throws if the range is not inside `0..<size`.
    func read(offset: UInt64, count: Int) throws -> [UInt8]
    /// The decompressed content of the zlib stream at exactly `offset..<offset+count`, when the reader
    /// already holds it (a file stored in a snapshot keeps such streams decompressed); nil otherwise.
    func decompressedStream(offset: UInt64, count: Int, rawSize: UInt64) -> [UInt8]?
}

extension RangeReader {
    /// Plain readers hold no decompressed streams.
    public func decompressedStream(offset: UInt64, count: Int, rawSize: UInt64) -> [UInt8]? { nil }
}

/// A `RangeReader` over bytes already in memory.
public struct MemoryRangeReader: RangeReader, Sendable {
    /// The bytes read from.
    public let bytes: [UInt8]

    /// Reads from `bytes`.
    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    /// The number of bytes.
    public var size: UInt64 { UInt64(bytes.count) }

    /// A copy of `bytes[offset ..< offset + count]`.
    public func read(offset: UInt64, count: Int) throws -> [UInt8] {
        guard count >= 0, offset <= size, UInt64(count) <= size - offset else {
            throw FormatError(path: "", cause: .endOfData(what: "range", offset: offset, needed: UInt64(max(count, 0)),
                                                          available: offset <= size ? size - offset : 0))
        }
        let start = Int(offset)
        return Array(bytes[start..<start + count])
    }
}

/// A `RangeReader` over an open file, reading with `pread`; the size is fixed when it is created.
public final class FileRangeReader: RangeReader, @unchecked Sendable {
    /// The file read from.
    public let file: OpenFile
    /// The file's size when the reader was created.
    public let size: UInt64

    /// Reads from an already open file.
    public init(file: OpenFile) throws {
        self.file = file
        self.size = UInt64(max(0, try file.status().size))
    }

    /// Opens `path` for reading.
    public convenience init(path: String) throws {
        try self.init(file: try OpenFile.openForReading(path))
    }

    /// Exactly `count` bytes at `offset`; a file that shrank underneath gives a short-read error.
    public func read(offset: UInt64, count: Int) throws -> [UInt8] {
        guard count >= 0, offset <= size, UInt64(count) <= size - offset else {
            throw FormatError(path: file.path, cause: .endOfData(what: "range", offset: offset, needed: UInt64(max(count, 0)),
                                                                 available: offset <= size ? size - offset : 0))
        }
        if count == 0 { return [] }
        return try file.read(count: count, at: Int64(offset))
    }
}

// MARK: - Internal helpers shared by the parsers

/// Reads `count` bytes at `offset` after checking the range against the reader's size, so a
/// corrupt size field can never make an implementation allocate more than the file holds.
func checkedRead(_ reader: some RangeReader, offset: UInt64, count: UInt64, what: String, path: String) throws(FormatError) -> [UInt8] {
    let size = reader.size
    guard offset <= size, count <= size - offset else {
        throw FormatError(path: path, cause: .endOfData(what: what, offset: offset, needed: count,
                                                        available: offset <= size ? size - offset : 0))
    }
    guard count <= UInt64(Int.max) else {
        throw FormatError(path: path, cause: .limitExceeded(what: what, value: count, limit: UInt64(Int.max)))
    }
    do {
        return try reader.read(offset: offset, count: Int(count))
    } catch let error as FormatError {
        throw FormatError(path: path, cause: error.cause)
    } catch {
        throw FormatError(path: path, cause: .io(String(describing: error)))
    }
}

/// Little-endian field access on a slice whose length the caller has already checked.
extension ArraySlice where Element == UInt8 {
    @inline(__always) func le<T: FixedWidthInteger>(_ offset: Int, as: T.Type = T.self) -> T {
        var v: T = 0
        let base = startIndex + offset
        for i in 0..<MemoryLayout<T>.size { v |= T(truncatingIfNeeded: self[base + i]) << (8 * i) }
        return v
    }

    @inline(__always) func u8(_ offset: Int) -> UInt8 { self[startIndex + offset] }
    @inline(__always) func u16(_ offset: Int) -> UInt16 { le(offset) }
    @inline(__always) func u32(_ offset: Int) -> UInt32 { le(offset) }
    @inline(__always) func u64(_ offset: Int) -> UInt64 { le(offset) }

    /// Four bytes as ASCII text (non-printable bytes shown as `?`), for signatures in messages and keys.
    func fourCC(_ offset: Int) -> String {
        String(decoding: self[(startIndex + offset)..<(startIndex + offset + 4)].map { (0x20...0x7E).contains($0) ? $0 : 0x3F },
               as: UTF8.self)
    }
}

/// Reads forward through a range of a `RangeReader` in large windows, so walking millions of
/// small records costs few system calls while memory stays at one window (or one large record).
struct SequentialReader<R: RangeReader> {
    let reader: R
    let path: String
    /// Absolute offset of the next byte.
    private(set) var position: UInt64
    /// Absolute offset where reading must stop.
    let end: UInt64
    private var window: [UInt8] = []
    private var windowStart: UInt64 = 0
    private let windowSize: Int

    init(_ reader: R, path: String, from start: UInt64 = 0, end: UInt64? = nil, windowSize: Int = 1 << 20) {
        self.reader = reader
        self.path = path
        self.end = min(end ?? reader.size, reader.size)
        self.position = min(start, self.end)
        self.windowSize = windowSize
    }

    /// Bytes left before `end`.
    var remaining: UInt64 { end - position }

    /// The next `n` bytes; the slice stays valid after later calls because arrays are values.
    mutating func take(_ n: UInt64, what: String) throws(FormatError) -> ArraySlice<UInt8> {
        let slice = try peek(n, what: what)
        position += n
        return slice
    }

    /// The next `n` bytes, without consuming them.
    mutating func peek(_ n: UInt64, what: String) throws(FormatError) -> ArraySlice<UInt8> {
        guard n <= remaining else {
            throw FormatError(path: path, cause: .endOfData(what: what, offset: position, needed: n, available: remaining))
        }
        let windowEnd = windowStart + UInt64(window.count)
        if position < windowStart || position + n > windowEnd {
            let count = max(n, min(UInt64(windowSize), remaining))
            window = try checkedRead(reader, offset: position, count: count, what: what, path: path)
            windowStart = position
        }
        let start = Int(position - windowStart)
        return window[start..<start + Int(n)]
    }

    /// Moves past `n` bytes without reading them.
    mutating func skip(_ n: UInt64, what: String) throws(FormatError) {
        guard n <= remaining else {
            throw FormatError(path: path, cause: .endOfData(what: what, offset: position, needed: n, available: remaining))
        }
        position += n
    }
}
