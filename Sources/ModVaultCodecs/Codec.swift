public import ModVaultCore
import Foundation
internal import CZlib
internal import CLZ4
internal import CZstd

/// A compression algorithm for blobs. The raw value is stored in pack headers.
public enum Codec: UInt8, Codable, Sendable, CaseIterable, CustomStringConvertible {
    /// Stored as is.
    case none = 0
    /// LZ4 block format: fastest, least compression.
    case lz4 = 1
    /// Zstandard at a configurable level.
    case zstd = 2
    /// zlib (RFC 1950) stream.
    case zlib = 3

    /// Parses "none", "lz4", "zstd" or "zlib".
    public init?(name: String) {
        switch name.lowercased() {
        case "none": self = .none
        case "lz4": self = .lz4
        case "zstd": self = .zstd
        case "zlib": self = .zlib
        default: return nil
        }
    }

    /// The lowercase name.
    public var description: String {
        switch self {
        case .none: return "none"
        case .lz4: return "lz4"
        case .zstd: return "zstd"
        case .zlib: return "zlib"
        }
    }

    /// A sensible level for this codec when none is configured.
    public var defaultLevel: Int {
        switch self {
        case .none, .lz4: return 0
        case .zstd: return 1
        case .zlib: return 6
        }
    }
}

/// Errors from compression and decompression.
public enum CodecError: ModVaultFailure, Equatable {
    /// The compressed bytes are damaged or do not decode to the expected length.
    case corruptInput(codec: Codec, detail: String)
    /// A library call failed unexpectedly.
    case libraryFailure(codec: Codec, detail: String)

    /// Corrupt data or an internal failure.
    public var kind: FailureKind {
        if case .corruptInput = self { return .corrupt }
        return .other
    }

    /// Describes the problem.
    public var description: String {
        switch self {
        case .corruptInput(let c, let d): return "\(c) data is corrupt: \(d)"
        case .libraryFailure(let c, let d): return "\(c) failed: \(d)"
        }
    }
}

/// Compresses blobs with one codec, reusing its context and output buffer across calls.
///
/// Not thread-safe: give each worker its own, or take one from a `CompressorPool`.
public final class Compressor: @unchecked Sendable {
    /// The configured codec.
    public let codec: Codec
    /// The configured level.
    public let level: Int
    private let buffer = ScratchBuffer()
    private var zstdContext: OpaquePointer?

    /// Output of the most recent `compress` call when it returned a codec other than `.none`;
    /// valid until the next call. The hot path reads it without copying.
    public var compressed: UnsafeRawBufferPointer { buffer.bytes }

    /// A copy of `compressed`.
    public var output: [UInt8] { buffer.array }

    /// Creates a compressor; `level` nil means the codec's default.
    public init(codec: Codec, level: Int? = nil) {
        self.codec = codec
        self.level = level ?? codec.defaultLevel
        if codec == .zstd { zstdContext = ZSTD_createCCtx() }
    }

    deinit { if let zstdContext { ZSTD_freeCCtx(zstdContext) } }

    /// Compresses `input` into `output` and returns the codec used.
    ///
    /// Returns `.none` (and leaves `output` unspecified) when the data looks incompressible
    /// or compression would not save at least 1/32 of the size, so callers store the input as is.
    public func compress(_ input: UnsafeRawBufferPointer) throws(CodecError) -> Codec {
        guard codec != .none, input.count >= 64 else { return .none }
        if Self.looksIncompressible(input) { return .none }
        let budget = input.count - input.count / 32
        let written: Int
        switch codec {
        case .none:
            return .none
        case .lz4:
            let out = buffer.resize(Int(LZ4_compressBound(Int32(input.count))))
            written = Int(LZ4_compress_default(
                input.baseAddress!.assumingMemoryBound(to: CChar.self),
                out.baseAddress!.assumingMemoryBound(to: CChar.self),
                Int32(input.count), Int32(out.count)))
            if written <= 0 { throw .libraryFailure(codec: .lz4, detail: "LZ4_compress_default returned \(written)") }
        case .zstd:
            let out = buffer.resize(ZSTD_compressBound(input.count))
            let result = ZSTD_compressCCtx(zstdContext, out.baseAddress, out.count, input.baseAddress, input.count, Int32(level))
            if ZSTD_isError(result) != 0 {
                throw .libraryFailure(codec: .zstd, detail: String(cString: ZSTD_getErrorName(result)))
            }
            written = result
        case .zlib:
            let out = buffer.resize(Int(compressBound(uLong(input.count))))
            var destLen = uLong(out.count)
            let rc = compress2(out.baseAddress!.assumingMemoryBound(to: Bytef.self), &destLen,
                               input.baseAddress!.assumingMemoryBound(to: Bytef.self), uLong(input.count), Int32(level))
            if rc != Z_OK { throw .libraryFailure(codec: .zlib, detail: "compress2 returned \(rc)") }
            written = Int(destLen)
        }
        if written > budget { return .none }
        buffer.setCount(written)
        return codec
    }

    /// Estimates cheaply whether data is already compressed or encrypted.
    ///
    /// Two probes, tens of microseconds in all: the order-0 byte entropy of three 4 KiB samples,
    /// and how much LZ4 saves on a 64 KiB window. Data counts as incompressible only when both say so: BC texture blocks,
    /// zlib members and media have high entropy and no repeats, while text with a large vocabulary
    /// defeats LZ4 on a small sample but still has low entropy.
    public static func looksIncompressible(_ input: UnsafeRawBufferPointer) -> Bool {
        let sample = 4096
        guard input.count >= sample * 4 else { return false }
        let starts = [0, input.count / 2 - sample / 2, input.count - sample]
        var histogram = [Int](repeating: 0, count: 256)
        for start in starts {
            for i in start..<(start + sample) { histogram[Int(input[i])] += 1 }
        }
        let total = Double(sample * starts.count)
        var entropy = 0.0
        for count in histogram where count > 0 {
            let p = Double(count) / total
            entropy -= p * log2(p)
        }
        if entropy < 7.0 { return false }
        // High local entropy can still hide repeats further apart than a small sample (duplicated
        // blocks in meshes or uncompressed archives), so LZ4 looks at a 64 KiB window, its full reach.
        let window = min(input.count, 64 << 10)
        let windowStart = (input.count - window) / 2
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: Int(LZ4_compressBound(Int32(window)))) { scratch in
            let n = LZ4_compress_default(
                input.baseAddress!.advanced(by: windowStart).assumingMemoryBound(to: CChar.self),
                scratch.baseAddress!, Int32(window), Int32(scratch.count))
            // Less than 2% saved: not worth a full pass.
            return n > 0 && (window - Int(n)) * 50 < window
        }
    }
}

/// Decompresses blobs into a caller-owned buffer.
public enum Decompressor {
    /// Decompresses `input` into `output`, which must be exactly `expectedSize` bytes; every byte is written or it throws.
    public static func decompress(_ input: UnsafeRawBufferPointer, codec: Codec, into output: UnsafeMutableRawBufferPointer) throws(CodecError) {
        let expectedSize = output.count
        switch codec {
        case .none:
            guard input.count == expectedSize else {
                throw .corruptInput(codec: .none, detail: "length \(input.count), expected \(expectedSize)")
            }
            if expectedSize > 0 { output.copyMemory(from: input) }
        case .lz4:
            guard let base = input.baseAddress, let dst = output.baseAddress else {
                if expectedSize == 0 && input.count == 0 { return }
                throw .corruptInput(codec: .lz4, detail: "empty input")
            }
            let n = LZ4_decompress_safe(base.assumingMemoryBound(to: CChar.self), dst.assumingMemoryBound(to: CChar.self),
                                        Int32(input.count), Int32(expectedSize))
            guard n == Int32(expectedSize) else {
                throw .corruptInput(codec: .lz4, detail: "decoded \(n) bytes, expected \(expectedSize)")
            }
        case .zstd:
            let n = ZSTD_decompress(output.baseAddress, expectedSize, input.baseAddress, input.count)
            if ZSTD_isError(n) != 0 {
                throw .corruptInput(codec: .zstd, detail: String(cString: ZSTD_getErrorName(n)))
            }
            guard n == expectedSize else {
                throw .corruptInput(codec: .zstd, detail: "decoded \(n) bytes, expected \(expectedSize)")
            }
        case .zlib:
            var destLen = uLong(expectedSize)
            var srcLen = uLong(input.count)
            let rc = uncompress2(output.baseAddress?.assumingMemoryBound(to: Bytef.self), &destLen,
                                 input.baseAddress?.assumingMemoryBound(to: Bytef.self), &srcLen)
            guard rc == Z_OK, destLen == uLong(expectedSize), srcLen == uLong(input.count) else {
                throw .corruptInput(codec: .zlib, detail: "uncompress2 returned \(rc), \(destLen) of \(expectedSize) bytes")
            }
        }
    }

    /// Decompresses `input` (stored with `codec`) into `output`, which must end up exactly `expectedSize` bytes.
    public static func decompress(
        _ input: UnsafeRawBufferPointer, codec: Codec, expectedSize: Int, into output: inout [UInt8]
    ) throws(CodecError) {
        if output.count > expectedSize {
            output.removeSubrange(expectedSize...)
        } else if output.count < expectedSize {
            output.append(contentsOf: repeatElement(0, count: expectedSize - output.count))
        }
        let result: Result<Void, CodecError> = output.withUnsafeMutableBytes { out in
            Result { () throws(CodecError) in try decompress(input, codec: codec, into: out) }
        }
        try result.get()
    }
}
