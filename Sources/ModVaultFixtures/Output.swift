#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Errors raised by the fixture writers and the generator.
public enum FixtureError: Error, Sendable, CustomStringConvertible {
    /// A file-system call failed.
    case io(path: String, operation: String, errno: Int32)
    /// An option or writer input is out of range.
    case invalidArgument(String)
    /// Bytes handed to a decoder do not form what they claim to be.
    case corrupt(String)

    /// Human-readable message.
    public var description: String {
        switch self {
        case let .io(path, operation, code):
            return "\(operation) \(path): \(String(cString: strerror(code)))"
        case let .invalidArgument(message): return "invalid argument: \(message)"
        case let .corrupt(message): return "corrupt data: \(message)"
        }
    }
}

/// Little-endian byte assembly for headers, records and other small structures.
struct ByteBuilder {
    var bytes: [UInt8] = []

    init(capacity: Int = 0) { bytes.reserveCapacity(capacity) }

    var count: Int { bytes.count }

    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u16(_ v: UInt16) { bytes.append(UInt8(truncatingIfNeeded: v)); bytes.append(UInt8(truncatingIfNeeded: v >> 8)) }
    mutating func u32(_ v: UInt32) { for s in stride(from: 0, to: 32, by: 8) { bytes.append(UInt8(truncatingIfNeeded: v >> UInt32(s))) } }
    mutating func u64(_ v: UInt64) { for s in stride(from: 0, to: 64, by: 8) { bytes.append(UInt8(truncatingIfNeeded: v >> UInt64(s))) } }
    mutating func i16(_ v: Int16) { u16(UInt16(bitPattern: v)) }
    mutating func i32(_ v: Int32) { u32(UInt32(bitPattern: v)) }
    mutating func f32(_ v: Float) { u32(v.bitPattern) }
    mutating func f16(_ v: Float) { u16(halfBits(v)) }
    mutating func raw(_ v: [UInt8]) { bytes.append(contentsOf: v) }
    mutating func raw<S: Sequence>(_ v: S) where S.Element == UInt8 { bytes.append(contentsOf: v) }
    /// Exactly four ASCII bytes (record signatures, BA2 magic).
    mutating func fourCC(_ s: String) {
        let utf8 = Array(s.utf8)
        precondition(utf8.count == 4, "signature '\(s)' is not 4 bytes")
        bytes.append(contentsOf: utf8)
    }
    mutating func zstring(_ s: String) { bytes.append(contentsOf: s.utf8); bytes.append(0) }
    mutating func zeros(_ n: Int) { bytes.append(contentsOf: repeatElement(0, count: n)) }
}

/// IEEE 754 binary16 bits for `value` (round-to-nearest), without relying on `Float16` availability.
func halfBits(_ value: Float) -> UInt16 {
    let bits = value.bitPattern
    let sign = UInt16((bits >> 16) & 0x8000)
    let exponent = Int((bits >> 23) & 0xFF) - 127 + 15
    var mantissa = bits & 0x7F_FFFF
    if exponent <= 0 {
        if exponent < -10 { return sign }
        mantissa |= 0x80_0000
        let shift = UInt32(14 - exponent)
        return sign | UInt16((mantissa + (1 << (shift - 1))) >> shift)
    }
    if exponent >= 31 { return sign | 0x7C00 }
    let rounded = UInt32(exponent) << 10 | (mantissa >> 13)
    let half = rounded + ((mantissa >> 12) & 1)
    return sign | UInt16(min(half, 0x7BFF))
}

/// Where writers put bytes: a file written sequentially with back-patching, or memory.
protocol ByteSink: AnyObject {
    var position: UInt64 { get }
    func write(_ bytes: UnsafeRawBufferPointer) throws
    func patch(at offset: UInt64, _ bytes: [UInt8]) throws
}

extension ByteSink {
    func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { (buf) throws in try write(buf) }
    }
}

/// In-memory sink for the `bytes(...)` variants of the writers.
final class MemorySink: ByteSink {
    var data: [UInt8] = []
    var position: UInt64 { UInt64(data.count) }
    func write(_ bytes: UnsafeRawBufferPointer) throws { data.append(contentsOf: bytes) }
    func patch(at offset: UInt64, _ bytes: [UInt8]) throws {
        data.replaceSubrange(Int(offset)..<Int(offset) + bytes.count, with: bytes)
    }
}

/// A file opened for writing with a 1 MiB buffer, so large outputs stream instead of being built in memory.
final class OutputFile: ByteSink {
    let path: String
    private var fd: Int32
    private var buffer: [UInt8] = []
    private var flushed: UInt64 = 0
    private static let bufferLimit = 1 << 20

    init(path: String) throws {
        self.path = path
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        if fd < 0 { throw FixtureError.io(path: path, operation: "open", errno: errno) }
        buffer.reserveCapacity(Self.bufferLimit)
    }

    deinit { if fd >= 0 { _ = sysClose(fd) } }

    var position: UInt64 { flushed + UInt64(buffer.count) }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        if buffer.count + bytes.count > Self.bufferLimit { try flush() }
        if bytes.count >= Self.bufferLimit {
            try writeAll(bytes)
        } else {
            buffer.append(contentsOf: bytes)
        }
    }

    func patch(at offset: UInt64, _ bytes: [UInt8]) throws {
        try flush()
        let written = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, off_t(offset)) }
        if written != bytes.count { throw FixtureError.io(path: path, operation: "pwrite", errno: errno) }
    }

    func flush() throws {
        guard !buffer.isEmpty else { return }
        let pending = buffer
        buffer.removeAll(keepingCapacity: true)
        try pending.withUnsafeBytes { (buf) throws in try writeAll(buf) }
    }

    private func writeAll(_ bytes: UnsafeRawBufferPointer) throws {
        var done = 0
        while done < bytes.count {
            let n = sysWrite(fd, bytes.baseAddress! + done, bytes.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                throw FixtureError.io(path: path, operation: "write", errno: errno)
            }
            done += n
        }
        flushed += UInt64(done)
    }

    /// Flushes and closes; returns the final size.
    @discardableResult
    func close() throws -> UInt64 {
        try flush()
        let status = sysClose(fd)
        fd = -1
        if status != 0 { throw FixtureError.io(path: path, operation: "close", errno: errno) }
        return flushed
    }
}

// Inside OutputFile the libc `write` and `close` are shadowed by its own methods; these reach libc.
@inline(__always) private func sysWrite(_ fd: Int32, _ p: UnsafeRawPointer, _ n: Int) -> Int { write(fd, p, n) }
@inline(__always) private func sysClose(_ fd: Int32) -> Int32 { close(fd) }

/// File-system helpers shared by the generator.
enum FileSystem {
    /// `mkdir -p`.
    static func makeDirectories(_ path: String) throws {
        var current = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/", omittingEmptySubsequences: true) {
            current += "/" + component
            if mkdir(current, 0o755) != 0 && errno != EEXIST {
                throw FixtureError.io(path: current, operation: "mkdir", errno: errno)
            }
        }
    }

    static func writeFile(_ path: String, _ bytes: [UInt8]) throws -> UInt64 {
        let file = try OutputFile(path: path)
        try file.write(bytes)
        return try file.close()
    }

    static func isRegularFile(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG
    }

    static func removeFile(_ path: String) throws {
        if unlink(path) != 0 && errno != ENOENT { throw FixtureError.io(path: path, operation: "unlink", errno: errno) }
    }

    /// Removes `directory` if it is empty; a non-empty directory is left alone.
    static func removeEmptyDirectory(_ directory: String) { _ = rmdir(directory) }
}
