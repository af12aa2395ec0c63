public import ModVaultCore
internal import CLibCrypto

/// Errors from the crypto layer.
public enum CryptoError: ModVaultFailure, Equatable {
    /// Authentication failed: wrong key, or the ciphertext or its associated data was altered.
    case authenticationFailed
    /// The sealed box is too short to hold a nonce and tag.
    case truncated(Int)
    /// A key of the wrong length.
    case invalidKeyLength(Int)
    /// Key-derivation parameters that are unsafe or unsupported.
    case invalidKDFParameters(String)
    /// OpenSSL reported a failure.
    case library(String)

    /// Authentication failures and truncation mean corrupt data.
    public var kind: FailureKind {
        switch self {
        case .authenticationFailed, .truncated: return .corrupt
        case .invalidKeyLength, .invalidKDFParameters: return .invalidInput
        case .library: return .other
        }
    }

    /// Describes the problem.
    public var description: String {
        switch self {
        case .authenticationFailed: return "authentication failed (wrong key or altered data)"
        case .truncated(let n): return "sealed data of \(n) bytes is too short"
        case .invalidKeyLength(let n): return "key must be 32 bytes, got \(n)"
        case .invalidKDFParameters(let why): return "invalid key-derivation parameters: \(why)"
        case .library(let what): return "OpenSSL \(what) failed"
        }
    }
}

/// A 256-bit secret key.
public struct SecretKey: Sendable, Equatable, Codable {
    /// The key bytes (32).
    public let bytes: [UInt8]

    /// Wraps 32 bytes.
    public init(bytes: [UInt8]) throws(CryptoError) {
        guard bytes.count == 32 else { throw .invalidKeyLength(bytes.count) }
        self.bytes = bytes
    }

    /// A fresh random key.
    public static func random() -> SecretKey { try! SecretKey(bytes: SecureRandom.bytes(32)) }

    /// Decodes from base64.
    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let raw = Base64.decode(text), raw.count == 32 else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "bad key"))
        }
        bytes = raw
    }

    /// Encodes as base64.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(Base64.encode(bytes))
    }
}

/// Cryptographically secure random bytes from OpenSSL's CSPRNG.
public enum SecureRandom {
    /// Returns `count` random bytes.
    public static func bytes(_ count: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        let rc = out.withUnsafeMutableBytes { RAND_bytes($0.baseAddress!.assumingMemoryBound(to: UInt8.self), Int32(count)) }
        precondition(rc == 1, "RAND_bytes failed")
        return out
    }

    /// A random 256-bit ID, for objects that cannot be content-addressed (locks, key slots).
    public static func objectID() -> ObjectID { ObjectID(bytes: bytes(32))! }
}

/// SHA-256, used to name files by their encrypted contents.
public enum SHA256Digest {
    /// The digest of `data`.
    public static func hash(_ data: UnsafeRawBufferPointer) -> ObjectID {
        var md = [UInt8](repeating: 0, count: 32)
        var size: UInt32 = 32
        let rc = md.withUnsafeMutableBytes { out in
            EVP_Digest(data.baseAddress, data.count, out.baseAddress!.assumingMemoryBound(to: UInt8.self), &size, EVP_sha256(), nil)
        }
        precondition(rc == 1, "EVP_Digest failed")
        return ObjectID(bytes: md)!
    }

    /// The digest of a byte array.
    public static func hash(_ data: [UInt8]) -> ObjectID { data.withUnsafeBytes { hash($0) } }
}

/// A digest over bytes given in pieces (a pack written to its file as it is built, a file read a
/// piece at a time for an upload). Not thread-safe: one owner feeds it and calls `finish`.
public final class DigestStream {
    private let context: OpaquePointer
    private let algorithm: OpaquePointer
    private let length: Int

    private init(_ algorithm: OpaquePointer, length: Int) {
        context = EVP_MD_CTX_new()
        self.algorithm = algorithm
        self.length = length
        precondition(EVP_DigestInit_ex(context, algorithm, nil) == 1, "EVP_DigestInit_ex failed")
    }

    deinit { EVP_MD_CTX_free(context) }

    /// SHA-256.
    public static func sha256() -> DigestStream { DigestStream(EVP_sha256(), length: 32) }
    /// MD5, only for S3's Content-MD5 transfer check (never for security).
    public static func md5() -> DigestStream { DigestStream(EVP_md5(), length: 16) }

    /// Adds `data`.
    public func update(_ data: UnsafeRawBufferPointer) {
        guard !data.isEmpty else { return }
        precondition(EVP_DigestUpdate(context, data.baseAddress, data.count) == 1, "EVP_DigestUpdate failed")
    }

    /// The digest of everything added; the stream starts again empty.
    public func finish() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: length)
        var size: UInt32 = 0
        let rc = out.withUnsafeMutableBytes { EVP_DigestFinal_ex(context, $0.baseAddress!.assumingMemoryBound(to: UInt8.self), &size) }
        precondition(rc == 1 && Int(size) == length, "EVP_DigestFinal_ex failed")
        precondition(EVP_DigestInit_ex(context, algorithm, nil) == 1, "EVP_DigestInit_ex failed")
        return out
    }
}

/// HMAC-SHA256 under a secret key: the content ID of a blob.
///
/// A keyed MAC (not a bare hash) keeps someone who holds the repository from testing
/// whether it contains a known file.
public struct ContentMAC: Sendable {
    private let key: [UInt8]

    /// Creates a MAC under `key`.
    public init(key: SecretKey) { self.key = key.bytes }

    /// The MAC of `data` as an object ID.
    public func id(_ data: UnsafeRawBufferPointer) -> ObjectID {
        // OpenSSL rejects a null input pointer even for zero bytes.
        var zero: UInt8 = 0
        return withUnsafeMutablePointer(to: &zero) { emptyInput in
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 32) { md in
            var len: UInt32 = 32
            let result = key.withUnsafeBytes { k in
                HMAC(EVP_sha256(), k.baseAddress, Int32(k.count),
                     data.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? UnsafePointer(emptyInput), data.count,
                     md.baseAddress, &len)
            }
            precondition(result != nil && len == 32, "HMAC failed")
            return ObjectID(pointer: UnsafeRawBufferPointer(md))
        }
        }
    }

    /// The MAC of a byte array.
    public func id(_ data: [UInt8]) -> ObjectID { data.withUnsafeBytes { id($0) } }

}

/// AES-256-GCM sealing with a random 96-bit nonce. A sealed box is `nonce ‖ ciphertext ‖ tag`.
public struct AEAD: Sendable {
    /// Bytes a sealed box adds to its plaintext.
    public static let overhead = nonceSize + tagSize
    /// Nonce length.
    public static let nonceSize = 12
    /// Authentication tag length.
    public static let tagSize = 16

    private let key: [UInt8]
    // Keys retired by a rotation, newest first: tried in turn when `key` does not open a box. A box
    // carries no key ID, so data sealed before a rotation costs one failed tag check per newer key.
    private let retired: [[UInt8]]

    /// Creates a cipher that seals under `key` and opens with it or any of `retired`.
    public init(key: SecretKey, retired: [SecretKey] = []) {
        self.key = key.bytes
        self.retired = retired.map(\.bytes)
    }

    /// Seals `plaintext` into `output`, which must hold `plaintext.count + overhead` bytes; returns the box length.
    public func seal(_ plaintext: UnsafeRawBufferPointer, associatedData: UnsafeRawBufferPointer?, into output: UnsafeMutableRawBufferPointer) -> Int {
        precondition(output.count >= plaintext.count + Self.overhead)
        let nonce = UnsafeMutableRawBufferPointer(rebasing: output[0..<Self.nonceSize])
        precondition(RAND_bytes(nonce.baseAddress!.assumingMemoryBound(to: UInt8.self), Int32(Self.nonceSize)) == 1, "RAND_bytes failed")
        let body = output.baseAddress!.advanced(by: Self.nonceSize).assumingMemoryBound(to: UInt8.self)
        let ok = crypt(key: key, encrypt: true, nonce: UnsafeRawBufferPointer(nonce), aad: associatedData, input: plaintext, output: body,
                       tag: body.advanced(by: plaintext.count))
        precondition(ok, "AES-GCM encryption failed")
        return plaintext.count + Self.overhead
    }

    /// Opens `box` into `output`, which must hold `box.count - overhead` bytes; returns the plaintext length.
    public func open(_ box: UnsafeRawBufferPointer, associatedData: UnsafeRawBufferPointer?, into output: UnsafeMutableRawBufferPointer) throws(CryptoError) -> Int {
        guard box.count >= Self.overhead else { throw .truncated(box.count) }
        let length = box.count - Self.overhead
        precondition(output.count >= length)
        let tag = UnsafeMutablePointer(mutating: box.baseAddress!.advanced(by: Self.nonceSize + length).assumingMemoryBound(to: UInt8.self))
        // Every blob read comes through here: the current key first, with no array built for the
        // common case of a repository that was never rotated.
        func opens(_ candidate: [UInt8]) -> Bool {
            crypt(key: candidate, encrypt: false, nonce: UnsafeRawBufferPointer(rebasing: box[0..<Self.nonceSize]), aad: associatedData,
                  input: UnsafeRawBufferPointer(rebasing: box[Self.nonceSize..<(Self.nonceSize + length)]),
                  output: output.baseAddress?.assumingMemoryBound(to: UInt8.self), tag: tag)
        }
        if opens(key) { return length }
        for candidate in retired where opens(candidate) { return length }
        throw .authenticationFailed
    }

    /// Seals `plaintext`, binding `associatedData`, and appends the box to `output`.
    public func seal(_ plaintext: UnsafeRawBufferPointer, associatedData: UnsafeRawBufferPointer? = nil, appendingTo output: inout [UInt8]) {
        let start = output.count
        output.append(contentsOf: repeatElement(0, count: plaintext.count + Self.overhead))
        _ = output.withUnsafeMutableBytes { out in
            seal(plaintext, associatedData: associatedData, into: UnsafeMutableRawBufferPointer(rebasing: out[start...]))
        }
    }

    /// Seals a byte array and returns the box.
    public func seal(_ plaintext: [UInt8], associatedData: [UInt8] = []) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(plaintext.count + Self.overhead)
        plaintext.withUnsafeBytes { p in
            associatedData.withUnsafeBytes { a in seal(p, associatedData: a, appendingTo: &out) }
        }
        return out
    }

    /// Opens a box sealed by `seal`, replacing `output` with the plaintext.
    public func open(_ box: UnsafeRawBufferPointer, associatedData: UnsafeRawBufferPointer? = nil, into output: inout [UInt8]) throws(CryptoError) {
        guard box.count >= Self.overhead else { throw .truncated(box.count) }
        let length = box.count - Self.overhead
        if output.count > length { output.removeSubrange(length...) }
        else if output.count < length { output.append(contentsOf: repeatElement(0, count: length - output.count)) }
        let result: Result<Int, CryptoError> = output.withUnsafeMutableBytes { out in
            Result { () throws(CryptoError) -> Int in try open(box, associatedData: associatedData, into: out) }
        }
        _ = try result.get()
    }

    /// Opens a box and returns the plaintext.
    public func open(_ box: [UInt8], associatedData: [UInt8] = []) throws(CryptoError) -> [UInt8] {
        var out: [UInt8] = []
        let result: Result<Void, CryptoError> = box.withUnsafeBytes { b in
            associatedData.withUnsafeBytes { a in Result { () throws(CryptoError) in try open(b, associatedData: a, into: &out) } }
        }
        try result.get()
        return out
    }

    private func crypt(key: [UInt8], encrypt: Bool, nonce: UnsafeRawBufferPointer, aad: UnsafeRawBufferPointer?, input: UnsafeRawBufferPointer,
                       output: UnsafeMutablePointer<UInt8>?, tag: UnsafeMutablePointer<UInt8>) -> Bool {
        guard let ctx = EVP_CIPHER_CTX_new() else { return false }
        defer { EVP_CIPHER_CTX_free(ctx) }
        let enc: Int32 = encrypt ? 1 : 0
        var outLen: Int32 = 0
        let initOK = key.withUnsafeBufferPointer { k in
            EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), nil, k.baseAddress, nonce.baseAddress?.assumingMemoryBound(to: UInt8.self), enc) == 1
        }
        guard initOK else { return false }
        if let aad, aad.count > 0 {
            guard EVP_CipherUpdate(ctx, nil, &outLen, aad.baseAddress!.assumingMemoryBound(to: UInt8.self), Int32(aad.count)) == 1 else { return false }
        }
        // OpenSSL takes int lengths; feed large inputs in pieces.
        var done = 0
        while done < input.count {
            let piece = min(input.count - done, 1 << 30)
            guard EVP_CipherUpdate(ctx, output!.advanced(by: done), &outLen,
                                   input.baseAddress!.advanced(by: done).assumingMemoryBound(to: UInt8.self), Int32(piece)) == 1 else { return false }
            done += piece
        }
        if !encrypt {
            guard EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, Int32(Self.tagSize), tag) == 1 else { return false }
        }
        var finalLen: Int32 = 0
        // GCM emits nothing at finalisation; the 16-byte scratch only satisfies the API.
        let finalOK = withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 16) { scratch in
            EVP_CipherFinal_ex(ctx, scratch.baseAddress, &finalLen) == 1
        }
        guard finalOK else { return false }
        if encrypt {
            guard EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, Int32(Self.tagSize), tag) == 1 else { return false }
        }
        return true
    }
}

/// scrypt parameters, stored in each key slot so they can be raised later without breaking old slots.
public struct ScryptParameters: Codable, Sendable, Equatable {
    /// CPU/memory cost; a power of two.
    public var n: UInt64
    /// Block size.
    public var r: UInt64
    /// Parallelism.
    public var p: UInt64

    /// Creates parameters.
    public init(n: UInt64, r: UInt64, p: UInt64) {
        self.n = n
        self.r = r
        self.p = p
    }

    /// 2^15 · 8 · 1: 32 MiB and roughly 0.1 s per derivation on this class of machine.
    public static let `default` = ScryptParameters(n: 1 << 15, r: 8, p: 1)

    /// Memory the derivation needs, in bytes.
    public var memory: UInt64 { 128 * r * n * p + 128 * r * 256 }

    /// Most memory a derivation may use (1 GiB): parameters come from key slots anyone with write
    /// access may have planted, so each limit alone is not enough (2^24 · 64 · 16 passes them all).
    public static let maximumMemory: UInt64 = 1 << 30
    /// Most work a derivation may cost, as N · r · p (2^26: 256 times the default, some seconds).
    public static let maximumWork: UInt64 = 1 << 26

    /// Throws unless the parameters are well formed and their combined memory and work within bounds.
    public func validate() throws(CryptoError) {
        guard n >= 2, n.nonzeroBitCount == 1, n <= 1 << 24 else { throw .invalidKDFParameters("N=\(n) must be a power of two up to 2^24") }
        guard (1...64).contains(r), (1...16).contains(p) else { throw .invalidKDFParameters("r=\(r) p=\(p) out of range") }
        guard memory <= Self.maximumMemory else {
            throw .invalidKDFParameters("N=\(n) r=\(r) p=\(p) needs \(memory >> 20) MiB, more than \(Self.maximumMemory >> 20) MiB")
        }
        guard n * r * p <= Self.maximumWork else { throw .invalidKDFParameters("N=\(n) r=\(r) p=\(p) costs more work than allowed") }
    }

    /// Derives a 32-byte key from `password` and `salt`.
    public func deriveKey(password: [UInt8], salt: [UInt8]) throws(CryptoError) -> SecretKey {
        try validate()
        var key = [UInt8](repeating: 0, count: 32)
        let maxMemory = memory + (1 << 20)
        let rc = password.withUnsafeBufferPointer { pw in
            salt.withUnsafeBufferPointer { s in
                key.withUnsafeMutableBufferPointer { k in
                    // An empty password still needs a valid pointer.
                    UnsafeRawPointer(pw.baseAddress ?? UnsafePointer(k.baseAddress!)).withMemoryRebound(to: CChar.self, capacity: 1) { pwc in
                        EVP_PBE_scrypt(pwc, pw.count, s.baseAddress, s.count, n, r, p, maxMemory, k.baseAddress, 32)
                    }
                }
            }
        }
        guard rc == 1 else { throw .library("EVP_PBE_scrypt") }
        return try SecretKey(bytes: key)
    }
}

/// Derives the FastCDC gear table from a repository's chunker secret.
public enum GearTable {
    /// 256 pseudo-random 64-bit values: HMAC-SHA256(secret, "modvault-gear" ‖ block index), split into words.
    public static func derive(secret: SecretKey) -> [UInt64] {
        let mac = ContentMAC(key: secret)
        var table: [UInt64] = []
        table.reserveCapacity(256)
        for block in 0..<64 {
            let input = Array("modvault-gear".utf8) + [UInt8(block)]
            let words = mac.id(input).bytes
            for w in 0..<4 {
                var v: UInt64 = 0
                for b in 0..<8 { v = v << 8 | UInt64(words[w * 8 + b]) }
                table.append(v)
            }
        }
        return table
    }
}

/// Standard base64 with padding, for keys and salts in JSON.
public enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    /// Encodes bytes.
    public static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var i = 0
        while i < bytes.count {
            let b0 = bytes[i], b1 = i + 1 < bytes.count ? bytes[i + 1] : 0, b2 = i + 2 < bytes.count ? bytes[i + 2] : 0
            out.append(alphabet[Int(b0 >> 2)])
            out.append(alphabet[Int((b0 & 3) << 4 | b1 >> 4)])
            out.append(i + 1 < bytes.count ? alphabet[Int((b1 & 0xF) << 2 | b2 >> 6)] : UInt8(ascii: "="))
            out.append(i + 2 < bytes.count ? alphabet[Int(b2 & 0x3F)] : UInt8(ascii: "="))
            i += 3
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes; nil on malformed input.
    public static func decode(_ text: String) -> [UInt8]? {
        var lookup = [Int8](repeating: -1, count: 256)
        for (i, c) in alphabet.enumerated() { lookup[Int(c)] = Int8(i) }
        let chars = Array(text.utf8)
        guard chars.count % 4 == 0 else { return nil }
        var out: [UInt8] = []
        var i = 0
        while i < chars.count {
            var vals = [Int](repeating: 0, count: 4)
            var pad = 0
            for j in 0..<4 {
                let c = chars[i + j]
                if c == UInt8(ascii: "=") {
                    guard i + 4 == chars.count, j >= 2 else { return nil }
                    pad += 1
                } else {
                    guard pad == 0, lookup[Int(c)] >= 0 else { return nil }
                    vals[j] = Int(lookup[Int(c)])
                }
            }
            out.append(UInt8(vals[0] << 2 | vals[1] >> 4))
            if pad < 2 { out.append(UInt8((vals[1] & 0xF) << 4 | vals[2] >> 2)) }
            if pad < 1 { out.append(UInt8((vals[2] & 0x3) << 6 | vals[3])) }
            i += 4
        }
        return out
    }
}
