internal import CLibCrypto
import ModVaultCore

/// Hashes and MACs the remote protocols need (SigV4, Content-MD5, checksums), over OpenSSL's libcrypto.
///
/// ModVaultCrypto's `ContentMAC` only takes 32-byte keys; SigV4 chains HMACs whose first key is
/// `"AWS4" + secret`, so this module has its own general HMAC-SHA256.
public enum Digest {
    /// SHA-256 of `bytes`.
    public static func sha256(_ bytes: [UInt8]) -> [UInt8] {
        evpDigest(bytes, EVP_sha256(), length: 32)
    }

    /// SHA-256 of the UTF-8 bytes of `text`.
    public static func sha256(_ text: String) -> [UInt8] {
        sha256(Array(text.utf8))
    }

    /// MD5 of `bytes`, only for S3's Content-MD5 transfer check (never for security).
    public static func md5(_ bytes: [UInt8]) -> [UInt8] {
        evpDigest(bytes, EVP_md5(), length: 16)
    }

    /// HMAC-SHA256 of `message` under a key of any length.
    public static func hmacSHA256(key: [UInt8], message: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 32
        key.withUnsafeBytes { k in
            message.withUnsafeBytes { m in
                out.withUnsafeMutableBytes { o in
                    // A non-null key pointer is required even for an empty key.
                    let keyPointer = k.baseAddress ?? UnsafeRawPointer(o.baseAddress!)
                    let result = HMAC(
                        EVP_sha256(), keyPointer, Int32(k.count),
                        m.baseAddress?.assumingMemoryBound(to: UInt8.self), m.count,
                        o.baseAddress!.assumingMemoryBound(to: UInt8.self), &length)
                    precondition(result != nil && length == 32, "HMAC-SHA256 failed in libcrypto")
                }
            }
        }
        return out
    }

    /// HMAC-SHA256 of the UTF-8 bytes of `message`.
    public static func hmacSHA256(key: [UInt8], message: String) -> [UInt8] {
        hmacSHA256(key: key, message: Array(message.utf8))
    }

    /// Lowercase hex of `bytes`.
    public static func hex(_ bytes: [UInt8]) -> String { Hex.encode(bytes) }

    /// Standard base64 (with padding) of `bytes`.
    public static func base64(_ bytes: [UInt8]) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        var out = [UInt8]()
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var i = 0
        while i + 3 <= bytes.count {
            let v = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
            out += [alphabet[Int(v >> 18)], alphabet[Int(v >> 12 & 63)], alphabet[Int(v >> 6 & 63)], alphabet[Int(v & 63)]]
            i += 3
        }
        let rest = bytes.count - i
        if rest == 1 {
            let v = UInt32(bytes[i]) << 16
            out += [alphabet[Int(v >> 18)], alphabet[Int(v >> 12 & 63)], UInt8(ascii: "="), UInt8(ascii: "=")]
        } else if rest == 2 {
            let v = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8
            out += [alphabet[Int(v >> 18)], alphabet[Int(v >> 12 & 63)], alphabet[Int(v >> 6 & 63)], UInt8(ascii: "=")]
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func evpDigest(_ bytes: [UInt8], _ type: OpaquePointer?, length: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: length)
        var written: UInt32 = 0
        bytes.withUnsafeBytes { b in
            out.withUnsafeMutableBytes { o in
                let ok = EVP_Digest(
                    b.baseAddress, b.count, o.baseAddress!.assumingMemoryBound(to: UInt8.self), &written, type, nil)
                precondition(ok == 1 && Int(written) == length, "digest failed in libcrypto")
            }
        }
        return out
    }
}
