public import ModVaultCore
import ModVaultCrypto

/// zlib's compression strategy argument.
public enum ZlibStrategy: UInt8, Sendable, Codable, CaseIterable {
    /// Z_DEFAULT_STRATEGY.
    case `default` = 0
    /// Z_FILTERED.
    case filtered = 1
    /// Z_HUFFMAN_ONLY.
    case huffmanOnly = 2
    /// Z_RLE.
    case rle = 3
    /// Z_FIXED.
    case fixed = 4
}

/// One deflateInit2 parameter set.
public struct ZlibParameters: Sendable, Hashable, Codable, CustomStringConvertible {
    /// Compression level, 1–9.
    public var level: Int
    /// Window size exponent, 9–15.
    public var windowBits: Int
    /// Memory level, 1–9 (zlib's default is 8).
    public var memLevel: Int
    /// Strategy.
    public var strategy: ZlibStrategy

    /// Creates a parameter set (memLevel 8 and the default strategy unless given).
    public init(level: Int, windowBits: Int, memLevel: Int = 8, strategy: ZlibStrategy = .default) {
        self.level = level
        self.windowBits = windowBits
        self.memLevel = memLevel
        self.strategy = strategy
    }

    /// True when zlib accepts these values (level 0 is excluded: stored blocks depend on buffer sizes).
    public var isValid: Bool { (1...9).contains(level) && (9...15).contains(windowBits) && (1...9).contains(memLevel) }

    /// The two header bytes zlib writes for these parameters (RFC 1950 CMF and FLG, no dictionary).
    public var header: (UInt8, UInt8) {
        let cmf = UInt8((windowBits - 8) << 4 | 8)
        let levelFlags: UInt8
        if strategy.rawValue >= ZlibStrategy.huffmanOnly.rawValue || level < 2 { levelFlags = 0 }
        else if level < 6 { levelFlags = 1 }
        else if level == 6 { levelFlags = 2 }
        else { levelFlags = 3 }
        var flg = levelFlags << 6
        flg += UInt8(31 - (UInt16(cmf) * 256 + UInt16(flg)) % 31)
        return (cmf, flg)
    }

    /// "level 6 / windowBits 15 / memLevel 8 / default".
    public var description: String { "level \(level) / windowBits \(windowBits) / memLevel \(memLevel) / \(strategy)" }

    /// Level 6, windowBits 15: zlib's defaults, what the Creation Kit and PC tools write (header 78 9C).
    public static let pcDefault = ZlibParameters(level: 6, windowBits: 15)
    /// Level 9, windowBits 12: the "xbox" archives (header 48 C7).
    public static let xbox = ZlibParameters(level: 9, windowBits: 12)
}

/// How to turn decompressed content back into the exact compressed bytes it came from.
///
/// A recipe is only ever created after the pinned zlib reproduced the original bytes exactly, and
/// `Recipe.rebuild` checks the SHA-256 of every rebuilt stream, so restore is byte-identical or fails.
public struct Recipe: Sendable, Hashable, Codable {
    /// The codec of the stream. Only zlib (RFC 1950) today.
    public enum Codec: UInt8, Sendable, Codable {
        /// One complete zlib stream.
        case zlib = 1
    }

    /// Version byte of `encoded()`.
    public static let encodingVersion: UInt8 = 1
    /// Implementation name recorded in every recipe made here.
    public static let implementationName = "zlib"
    /// `zlibVersion()` of the zlib this module runs with: the pinned deflate implementation.
    public static var zlibRuntimeVersion: String { linkedZlibVersion }

    /// The codec.
    public var codec: Codec
    /// The deflate parameters that reproduced the stream.
    public var parameters: ZlibParameters
    /// The deflate implementation ("zlib").
    public var implementation: String
    /// Its version, from `zlibVersion()`.
    public var implementationVersion: String
    /// Size of the decompressed content.
    public var rawSize: UInt64
    /// Size of the original compressed stream.
    public var compressedSize: UInt64
    /// SHA-256 of the exact original compressed bytes.
    public var compressedDigest: ObjectID

    /// Creates a recipe.
    public init(codec: Codec = .zlib, parameters: ZlibParameters, implementation: String = Recipe.implementationName,
                implementationVersion: String = Recipe.zlibRuntimeVersion, rawSize: UInt64, compressedSize: UInt64,
                compressedDigest: ObjectID) {
        self.codec = codec
        self.parameters = parameters
        self.implementation = implementation
        self.implementationVersion = implementationVersion
        self.rawSize = rawSize
        self.compressedSize = compressedSize
        self.compressedDigest = compressedDigest
    }

    /// The search order of issue 4: 6/15 first, then 9/12, then levels 1–9 at windowBits 15, then at 12.
    ///
    /// Candidates whose zlib header differs from the stream's first two bytes are skipped without
    /// compressing, so the long tail costs nothing for streams it cannot match.
    public static let standardCandidates: [ZlibParameters] = {
        var list: [ZlibParameters] = [.pcDefault, .xbox]
        for wb in [15, 12] {
            for level in 1...9 {
                let p = ZlibParameters(level: level, windowBits: wb)
                if !list.contains(p) { list.append(p) }
            }
        }
        return list
    }()

    /// The standard list followed by every other window size, memLevel 9 and the filtered strategy.
    public static let extendedCandidates: [ZlibParameters] = {
        var list = standardCandidates
        for memLevel in [8, 9] {
            for strategy in [ZlibStrategy.default, .filtered] {
                for wb in [15, 14, 13, 12, 11, 10, 9] {
                    for level in [6, 9, 1, 2, 3, 4, 5, 7, 8] {
                        let p = ZlibParameters(level: level, windowBits: wb, memLevel: memLevel, strategy: strategy)
                        if !list.contains(p) { list.append(p) }
                    }
                }
            }
        }
        return list
    }()

    /// Decompresses `compressed` (which must decode to exactly `rawSize` bytes) and searches
    /// `candidates`, in order, for a parameter set that reproduces it exactly.
    public static func find(compressed: [UInt8], rawSize: UInt64, candidates: [ZlibParameters] = Recipe.standardCandidates) -> RecipeOutcome {
        RecipeEngine().find(compressed: compressed, rawSize: rawSize, candidates: candidates)
    }

    /// Recompresses `decompressed` as the recipe says and returns the bytes only if their SHA-256
    /// matches the recipe; otherwise throws `.recipeMismatch`.
    public static func rebuild(_ recipe: Recipe, decompressed: [UInt8]) throws(FormatError) -> [UInt8] {
        try RecipeEngine().rebuild(recipe, decompressed: decompressed)
    }

    // MARK: Binary encoding

    /// The compact, versioned binary form:
    /// `u8 version=1 ‖ u8 codec ‖ u8 level ‖ u8 windowBits ‖ u8 memLevel ‖ u8 strategy ‖ varint rawSize ‖
    /// varint compressedSize ‖ varint-length implementation ‖ varint-length version ‖ 32-byte SHA-256`.
    public func encoded() -> [UInt8] {
        var w = ByteWriter(capacity: 64)
        w.u8(Self.encodingVersion)
        w.u8(codec.rawValue)
        w.u8(UInt8(truncatingIfNeeded: parameters.level))
        w.u8(UInt8(truncatingIfNeeded: parameters.windowBits))
        w.u8(UInt8(truncatingIfNeeded: parameters.memLevel))
        w.u8(parameters.strategy.rawValue)
        w.varint(rawSize)
        w.varint(compressedSize)
        w.string(implementation)
        w.string(implementationVersion)
        w.id(compressedDigest)
        return w.bytes
    }

    /// Decodes `encoded()` output; anything else (unknown version, out-of-range values, trailing or
    /// non-canonical bytes) throws, so every accepted byte string has exactly one meaning.
    public init(decoding bytes: [UInt8]) throws(FormatError) {
        func bad(_ why: String) -> FormatError { FormatError(path: "", cause: .badRecipe(why)) }
        var r = ByteReader(bytes)
        do {
            let version = try r.u8()
            guard version == Self.encodingVersion else { throw bad("unknown recipe version \(version)") }
            let codecByte = try r.u8()
            guard let codec = Codec(rawValue: codecByte) else { throw bad("unknown codec \(codecByte)") }
            let level = Int(try r.u8()), windowBits = Int(try r.u8()), memLevel = Int(try r.u8())
            let strategyByte = try r.u8()
            guard let strategy = ZlibStrategy(rawValue: strategyByte) else { throw bad("unknown strategy \(strategyByte)") }
            let parameters = ZlibParameters(level: level, windowBits: windowBits, memLevel: memLevel, strategy: strategy)
            guard parameters.isValid else { throw bad("parameters out of range: \(parameters)") }
            let rawSize = try r.varint()
            let compressedSize = try r.varint()
            guard rawSize <= UInt64(UInt32.max), compressedSize <= UInt64(UInt32.max), compressedSize >= 2 else {
                throw bad("sizes out of range (raw \(rawSize), compressed \(compressedSize))")
            }
            let implementation = try Self.shortString(&r, bad)
            let implementationVersion = try Self.shortString(&r, bad)
            let digest = try r.id()
            guard r.isAtEnd else { throw bad("\(r.remaining) trailing bytes") }
            self.init(codec: codec, parameters: parameters, implementation: implementation,
                      implementationVersion: implementationVersion, rawSize: rawSize, compressedSize: compressedSize,
                      compressedDigest: digest)
        } catch let e as FormatError {
            throw e
        } catch {
            throw bad(String(describing: error))
        }
        guard encoded() == bytes else { throw bad("non-canonical encoding") }
    }

    private static func shortString(_ r: inout ByteReader, _ bad: (String) -> FormatError) throws -> String {
        let n = try r.count(limit: 64)
        guard let s = String(validating: try r.raw(n), as: UTF8.self) else { throw bad("string is not UTF-8") }
        return s
    }
}

/// Why a compressed stream is kept verbatim instead of as content plus recipe.
public enum NotReproducibleReason: Sendable, Equatable, CustomStringConvertible {
    /// The bytes are not one zlib stream decoding to exactly the declared size.
    case invalidStream(String)
    /// The stream uses a preset dictionary.
    case presetDictionary
    /// The declared size is larger than any deflate stream of this length can produce.
    case implausibleSize(declared: UInt64, compressed: Int)
    /// No candidate parameter set reproduced the bytes; `tried` were actually compressed.
    case noMatch(tried: Int)

    /// The reason in words.
    public var description: String {
        switch self {
        case .invalidStream(let d): return d
        case .presetDictionary: return "zlib stream needs a preset dictionary"
        case .implausibleSize(let d, let c): return "declared size \(d) is impossible for a \(c)-byte deflate stream"
        case .noMatch(let tried): return "no parameter set reproduced the stream (\(tried) tried)"
        }
    }
}

/// The result of a recipe search.
public enum RecipeOutcome: Sendable {
    /// The stream can be stored as `decompressed` plus `recipe`.
    case reproducible(Recipe, decompressed: [UInt8])
    /// Store the compressed bytes as they are.
    case notReproducible(NotReproducibleReason)

    /// The recipe, when there is one.
    public var recipe: Recipe? {
        if case .reproducible(let r, _) = self { return r }
        return nil
    }
}

/// Finds and applies recipes, keeping zlib states and a scratch buffer between calls.
///
/// Not thread-safe: give each worker its own engine (it may move between tasks, but never be used by
/// two at once). Deflate states are cached per parameter set (at most six, ~270 KiB each), so the
/// streams of one archive pay the zlib set-up once.
public final class RecipeEngine: @unchecked Sendable {
    private let inflater = ZlibInflater()
    private var deflaters: [ZlibParameters: ZlibDeflater] = [:]
    private let scratch: UnsafeMutableRawBufferPointer
    private static let cacheLimit = 6
    /// Number of candidate compressions run by this engine (for statistics).
    public private(set) var compressionsTried = 0

    /// Creates an engine.
    public init() {
        scratch = .allocate(byteCount: 1 << 16, alignment: 16)
    }

    deinit { scratch.deallocate() }

    /// See `Recipe.find(compressed:rawSize:candidates:)`.
    public func find(compressed: [UInt8], rawSize: UInt64, candidates: [ZlibParameters] = Recipe.standardCandidates) -> RecipeOutcome {
        compressed.withUnsafeBytes { find(compressed: $0, rawSize: rawSize, candidates: candidates) }
    }

    /// Searches for a recipe for the stream in `compressed`.
    ///
    /// Inflates once (output bounded by `rawSize`), then tries each candidate whose zlib header
    /// matches the stream's, comparing output as it is produced and abandoning a candidate at its
    /// first differing byte; stops at the first exact match.
    public func find(compressed: UnsafeRawBufferPointer, rawSize: UInt64, candidates: [ZlibParameters] = Recipe.standardCandidates) -> RecipeOutcome {
        guard plausibleInflatedSize(rawSize, compressedLength: compressed.count), rawSize < UInt64(UInt32.max) else {
            return .notReproducible(.implausibleSize(declared: rawSize, compressed: compressed.count))
        }
        let decompressed: [UInt8]
        switch inflater.inflate(compressed, expectedSize: Int(rawSize)) {
        case .success(let out): decompressed = out
        case .failure(.presetDictionary): return .notReproducible(.presetDictionary)
        case .failure(let f): return .notReproducible(.invalidStream(f.description))
        }
        return search(compressed: compressed, decompressed: decompressed, candidates: candidates)
    }

    /// Searches for a recipe for `compressed` when its content is already at hand: `decompressed` must
    /// be what `inflate(compressed, rawSize:)` returned for it.
    public func search(compressed: UnsafeRawBufferPointer, decompressed: [UInt8],
                       candidates: [ZlibParameters] = Recipe.standardCandidates) -> RecipeOutcome {
        guard compressed.count >= 2 else { return .notReproducible(.invalidStream("shorter than a zlib header")) }
        let rawSize = UInt64(decompressed.count)
        let h0 = compressed[0], h1 = compressed[1]
        var tried = 0
        for p in candidates where p.isValid {
            let header = p.header
            guard header.0 == h0, header.1 == h1 else { continue }
            tried += 1
            if reproduces(p, decompressed: decompressed, original: compressed) {
                let recipe = Recipe(parameters: p, rawSize: rawSize, compressedSize: UInt64(compressed.count),
                                    compressedDigest: SHA256Digest.hash(compressed))
                return .reproducible(recipe, decompressed: decompressed)
            }
        }
        return .notReproducible(.noMatch(tried: tried))
    }

    /// See `Recipe.rebuild(_:decompressed:)`.
    public func rebuild(_ recipe: Recipe, decompressed: [UInt8]) throws(FormatError) -> [UInt8] {
        var out: [UInt8] = []
        var failure: FormatError?
        decompressed.withUnsafeBytes { d in
            do throws(FormatError) { try rebuild(recipe, decompressed: d, into: &out) } catch { failure = error }
        }
        if let failure { throw failure }
        return out
    }

    /// Rebuilds into `output` (replacing its contents, reusing its storage).
    public func rebuild(_ recipe: Recipe, decompressed: UnsafeRawBufferPointer, into output: inout [UInt8]) throws(FormatError) {
        func mismatch(_ detail: String) -> FormatError { FormatError(path: "", cause: .recipeMismatch(detail: detail)) }
        guard recipe.codec == .zlib, recipe.implementation == Recipe.implementationName else {
            throw mismatch("recipe needs \(recipe.implementation), this build has \(Recipe.implementationName)")
        }
        guard UInt64(decompressed.count) == recipe.rawSize else {
            throw mismatch("content is \(decompressed.count) bytes, recipe expects \(recipe.rawSize)")
        }
        guard recipe.parameters.isValid, let deflater = deflater(for: recipe.parameters) else {
            throw mismatch("invalid parameters \(recipe.parameters)")
        }
        // Deflate never expands input beyond this bound (stored blocks cost 5 bytes per 16 KiB at worst),
        // so a recipe claiming more is wrong, and reserving its claim could exhaust memory.
        let raw = UInt64(decompressed.count)
        guard recipe.compressedSize <= raw + raw / 8 + raw / 64 + 64 else {
            throw mismatch("recipe claims \(recipe.compressedSize) compressed bytes for \(raw) bytes of content")
        }
        let expected = Int(recipe.compressedSize)
        output.reserveCapacity(expected)
        let finished = compress(decompressed, with: deflater, limit: expected, into: &output)
        let versionNote = recipe.implementationVersion == Recipe.zlibRuntimeVersion ? ""
            : " (recipe made with zlib \(recipe.implementationVersion), this build has \(Recipe.zlibRuntimeVersion))"
        guard finished, output.count == expected else {
            output.removeAll(keepingCapacity: true)
            throw mismatch("recompressed size differs from \(expected) bytes" + versionNote)
        }
        guard output.withUnsafeBytes({ SHA256Digest.hash($0) }) == recipe.compressedDigest else {
            output.removeAll(keepingCapacity: true)
            throw mismatch("SHA-256 of the rebuilt stream differs" + versionNote)
        }
    }

    /// Deflates `content` with `parameters` into `output` (replacing its contents): a repack plan's
    /// chunk, checked afterwards as part of the whole file rather than against a digest of its own.
    public func deflate(_ content: UnsafeRawBufferPointer, parameters: ZlibParameters, into output: inout [UInt8]) throws(FormatError) {
        guard parameters.isValid, let deflater = deflater(for: parameters) else {
            throw FormatError(path: "", cause: .recipeMismatch(detail: "invalid parameters \(parameters)"))
        }
        let raw = content.count
        guard compress(content, with: deflater, limit: raw + raw / 8 + raw / 64 + 64, into: &output) else {
            throw FormatError(path: "", cause: .recipeMismatch(detail: "deflate did not finish"))
        }
    }

    /// Deflates `content` into `output` (replacing its contents); false when the stream did not finish
    /// within `limit` bytes (deflate never expands input beyond the bound used above).
    private func compress(_ content: UnsafeRawBufferPointer, with deflater: ZlibDeflater, limit: Int, into output: inout [UInt8]) -> Bool {
        output.removeAll(keepingCapacity: true)
        compressionsTried += 1
        var tooLong = false
        let finished = deflater.compress(content, scratch: scratch) { piece in
            if output.count + piece.count > limit {
                tooLong = true
                return false
            }
            output.append(contentsOf: piece)
            return true
        }
        return finished && !tooLong
    }

    /// Decompresses a zlib stream that must decode to exactly `rawSize` bytes.
    public func inflate(_ compressed: UnsafeRawBufferPointer, rawSize: UInt64) throws(FormatError) -> [UInt8] {
        guard plausibleInflatedSize(rawSize, compressedLength: compressed.count), rawSize < UInt64(UInt32.max) else {
            throw FormatError(path: "", cause: .decompression("declared size \(rawSize) is impossible for \(compressed.count) compressed bytes"))
        }
        switch inflater.inflate(compressed, expectedSize: Int(rawSize)) {
        case .success(let out): return out
        case .failure(let f): throw FormatError(path: "", cause: .decompression(f.description))
        }
    }

    /// True when `compressed` is one zlib stream decoding to exactly `content`, compared as it decodes
    /// (no buffer the size of the stream).
    public func inflates(_ compressed: UnsafeRawBufferPointer, to content: UnsafeRawBufferPointer) -> Bool {
        inflater.inflates(compressed, to: content)
    }

    /// The first `count` bytes a zlib stream decodes to, or nil when it cannot give that many.
    public func inflatePrefix(_ compressed: UnsafeRawBufferPointer, count: Int) -> [UInt8]? {
        inflater.inflatePrefix(compressed, count: count)
    }

    private func reproduces(_ p: ZlibParameters, decompressed: [UInt8], original: UnsafeRawBufferPointer) -> Bool {
        guard let deflater = deflater(for: p) else { return false }
        compressionsTried += 1
        var position = 0
        let finished = decompressed.withUnsafeBytes { input in
            deflater.compress(input, scratch: scratch) { piece in
                guard position + piece.count <= original.count,
                      memcmp(piece.baseAddress!, original.baseAddress! + position, piece.count) == 0 else { return false }
                position += piece.count
                return true
            }
        }
        return finished && position == original.count
    }

    private func deflater(for p: ZlibParameters) -> ZlibDeflater? {
        if let d = deflaters[p] { return d }
        if deflaters.count >= Self.cacheLimit { deflaters.removeAll() }
        guard let d = ZlibDeflater(p) else { return nil }
        deflaters[p] = d
        return d
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
