public import ModVaultCore

/// The one error type of the format layer: what went wrong, and in which file.
///
/// A parser that throws this leaves the caller to treat the file as opaque bytes; a recipe that
/// throws it on rebuild means the stored stream cannot be reproduced and must not be written.
public struct FormatError: ModVaultFailure, Equatable {
    /// Why a file or a recipe was rejected.
    public enum Cause: Sendable, Equatable {
        /// The file does not start with the expected signature.
        case badMagic(expected: String, found: [UInt8])
        /// A version number this layer does not know.
        case unsupportedVersion(UInt32)
        /// A BA2 archive type other than GNRL or DX10.
        case unknownArchiveType(String)
        /// A compression method this layer does not know (BA2 v3 header field).
        case unsupportedCompression(UInt32)
        /// A BA2 entry whose chunk-record size field is not the one its archive type requires.
        case badChunkRecordSize(entry: Int, found: UInt16, expected: UInt16)
        /// A BA2 chunk record whose sentinel is not 0xBAADF00D.
        case badSentinel(entry: Int, chunk: Int, found: UInt32)
        /// A structure runs past the end of the file (or of its enclosing structure).
        case endOfData(what: String, offset: UInt64, needed: UInt64, available: UInt64)
        /// A size or offset field points outside the file.
        case outOfBounds(what: String, offset: UInt64, length: UInt64, size: UInt64)
        /// A count, depth or size exceeds the configured safety limit.
        case limitExceeded(what: String, value: UInt64, limit: UInt64)
        /// A field holds a value the format does not allow.
        case malformed(String)
        /// Valid framing, but content this layer cannot lay out (e.g. an unknown pixel format).
        case unsupported(String)
        /// A compressed stream failed to decode to its declared size.
        case decompression(String)
        /// A rebuilt stream does not match the digest its recipe records.
        case recipeMismatch(detail: String)
        /// A serialised recipe could not be decoded.
        case badRecipe(String)
        /// Reading the underlying file failed.
        case io(String)
    }

    /// The file (or stream) concerned; empty when the caller gave none.
    public var path: String
    /// What went wrong.
    public var cause: Cause

    /// Creates the error.
    public init(path: String, cause: Cause) {
        self.path = path
        self.cause = cause
    }

    /// `.io` for read failures, `.corrupt` for recipes that do not reproduce, `.invalidInput` otherwise.
    public var kind: FailureKind {
        switch cause {
        case .io: return .io
        case .recipeMismatch: return .corrupt
        default: return .invalidInput
        }
    }

    /// "path: cause".
    public var description: String {
        let prefix = path.isEmpty ? "" : "\(path): "
        return prefix + cause.description
    }
}

extension FormatError.Cause: CustomStringConvertible {
    /// The cause in words.
    public var description: String {
        switch self {
        case .badMagic(let expected, let found):
            return "bad magic: expected \"\(expected)\", found \(found.map { String($0, radix: 16) }.joined(separator: " "))"
        case .unsupportedVersion(let v): return "unsupported version \(v)"
        case .unknownArchiveType(let t): return "unknown archive type \"\(t)\""
        case .unsupportedCompression(let c): return "unsupported compression method \(c)"
        case .badChunkRecordSize(let e, let found, let expected):
            return "entry \(e): chunk-record size \(found), expected \(expected)"
        case .badSentinel(let e, let c, let found):
            return "entry \(e) chunk \(c): sentinel 0x\(String(found, radix: 16)), expected 0xbaadf00d"
        case .endOfData(let what, let offset, let needed, let available):
            return "end of data reading \(what): \(needed) bytes at offset \(offset), \(available) available"
        case .outOfBounds(let what, let offset, let length, let size):
            return "\(what) (\(length) bytes at offset \(offset)) lies outside the \(size)-byte file"
        case .limitExceeded(let what, let value, let limit): return "\(what) \(value) exceeds the limit of \(limit)"
        case .malformed(let d): return "malformed: \(d)"
        case .unsupported(let d): return "unsupported: \(d)"
        case .decompression(let d): return "decompression failed: \(d)"
        case .recipeMismatch(let d): return "recipe does not reproduce the original stream: \(d)"
        case .badRecipe(let d): return "bad recipe: \(d)"
        case .io(let d): return "read failed: \(d)"
        }
    }
}
