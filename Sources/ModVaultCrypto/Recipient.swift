internal import CLibCrypto

/// An X25519 private key of a team member (32 bytes).
public struct MemberPrivateKey: Sendable, Equatable, Codable {
    /// The raw key (32 bytes); X25519 clamps it at use, so any 32 bytes are a valid key.
    public let bytes: [UInt8]

    /// Wraps 32 raw bytes, as stored in a member's key file.
    public init(bytes: [UInt8]) throws(CryptoError) {
        guard bytes.count == X25519.keySize else { throw .invalidKeyLength(bytes.count) }
        self.bytes = bytes
    }

    /// A fresh key from the CSPRNG, for a new member or a one-time sender.
    public static func random() -> MemberPrivateKey { try! MemberPrivateKey(bytes: SecureRandom.bytes(X25519.keySize)) }

    /// The public half, recomputed on each call so a decoded private key can never disagree with it.
    public var publicKey: MemberPublicKey {
        guard let key = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nil, bytes, bytes.count) else {
            preconditionFailure("EVP_PKEY_new_raw_private_key failed on a 32-byte key")
        }
        defer { EVP_PKEY_free(key) }
        var raw = [UInt8](repeating: 0, count: X25519.keySize)
        var length = raw.count
        precondition(EVP_PKEY_get_raw_public_key(key, &raw, &length) == 1 && length == X25519.keySize, "EVP_PKEY_get_raw_public_key failed")
        return try! MemberPublicKey(bytes: raw)
    }

    /// Raw X25519 (RFC 7748); internal because the output is not uniformly random and must go through HKDF before use.
    func sharedSecret(with peer: MemberPublicKey) throws(CryptoError) -> [UInt8] {
        guard let own = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nil, bytes, bytes.count) else {
            throw .library("EVP_PKEY_new_raw_private_key")
        }
        defer { EVP_PKEY_free(own) }
        guard let other = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nil, peer.bytes, peer.bytes.count) else {
            throw .library("EVP_PKEY_new_raw_public_key")
        }
        defer { EVP_PKEY_free(other) }
        guard let ctx = EVP_PKEY_CTX_new(own, nil) else { throw .library("EVP_PKEY_CTX_new") }
        defer { EVP_PKEY_CTX_free(ctx) }
        guard EVP_PKEY_derive_init(ctx) == 1, EVP_PKEY_derive_set_peer(ctx, other) == 1 else {
            throw .library("EVP_PKEY_derive_init/set_peer")
        }
        var secret = [UInt8](repeating: 0, count: X25519.keySize)
        var length = secret.count
        // OpenSSL 3 itself fails the derivation when the result is all zero, so a failure here means
        // a low-order peer key as surely as the explicit check does on libraries that let it through.
        guard EVP_PKEY_derive(ctx, &secret, &length) == 1, length == X25519.keySize, secret.reduce(0, |) != 0 else {
            throw X25519.lowOrderPeer
        }
        return secret
    }

    /// Decodes from base64, as `SecretKey` does.
    public init(from decoder: Decoder) throws { bytes = try X25519.decodeKey(decoder) }

    /// Encodes as base64, as `SecretKey` does.
    public func encode(to encoder: Encoder) throws { try X25519.encodeKey(bytes, encoder) }
}

/// An X25519 public key (32 bytes).
public struct MemberPublicKey: Sendable, Equatable, Codable, Hashable {
    /// The raw key (32 bytes), as RFC 7748 encodes it.
    public let bytes: [UInt8]

    /// Wraps 32 raw bytes; low-order keys are caught at key agreement, where the all-zero result shows them.
    public init(bytes: [UInt8]) throws(CryptoError) {
        guard bytes.count == X25519.keySize else { throw .invalidKeyLength(bytes.count) }
        self.bytes = bytes
    }

    /// Decodes from base64, so member lists in JSON stay readable.
    public init(from decoder: Decoder) throws { bytes = try X25519.decodeKey(decoder) }

    /// Encodes as base64, so member lists in JSON stay readable.
    public func encode(to encoder: Encoder) throws { try X25519.encodeKey(bytes, encoder) }
}

/// What the two key types share: their size, their JSON form and the low-order error.
enum X25519 {
    static let keySize = 32

    // CryptoError has no case of its own for this; the shared secret is the HKDF input it poisons.
    static let lowOrderPeer = CryptoError.invalidKDFParameters("X25519 shared secret is all zero (low-order public key)")

    static func decodeKey(_ decoder: Decoder) throws -> [UInt8] {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let raw = Base64.decode(text), raw.count == keySize else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "bad X25519 key"))
        }
        return raw
    }

    static func encodeKey(_ bytes: [UInt8], _ encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(Base64.encode(bytes))
    }
}

/// HKDF-SHA256 (RFC 5869).
public enum HKDF {
    /// Most output one HKDF-SHA256 call can give: 255 blocks of the 32-byte hash (RFC 5869 §2.3).
    public static let maximumCount = 255 * 32
    /// Longest info OpenSSL 3's HKDF takes (its HKDF_MAXINFO, 32 KiB); checked here so the error says so.
    public static let maximumInfoCount = 32 * 1024

    /// Extract-then-expand `count` bytes; an empty salt means RFC 5869's default of 32 zero bytes.
    public static func deriveKey(secret: [UInt8], salt: [UInt8], info: [UInt8], count: Int = 32) throws(CryptoError) -> [UInt8] {
        guard (1...maximumCount).contains(count) else {
            throw .invalidKDFParameters("HKDF-SHA256 output of \(count) bytes; must be 1 to \(maximumCount)")
        }
        guard info.count <= maximumInfoCount else {
            throw .invalidKDFParameters("HKDF info of \(info.count) bytes; at most \(maximumInfoCount)")
        }
        guard let secretLength = Int32(exactly: secret.count), let saltLength = Int32(exactly: salt.count) else {
            throw .invalidKDFParameters("HKDF secret or salt over 2 GiB")
        }
        guard let ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, nil) else { throw .library("EVP_PKEY_CTX_new_id(HKDF)") }
        defer { EVP_PKEY_CTX_free(ctx) }
        guard EVP_PKEY_derive_init(ctx) == 1, EVP_PKEY_CTX_set_hkdf_md(ctx, EVP_sha256()) == 1 else {
            throw .library("HKDF init")
        }
        // Empty salt and info are left unset: HMAC pads an absent key with zeros, which is RFC 5869's
        // default salt, and OpenSSL would otherwise be handed a null pointer it may reject.
        if !salt.isEmpty {
            guard EVP_PKEY_CTX_set1_hkdf_salt(ctx, salt, saltLength) == 1 else { throw .library("EVP_PKEY_CTX_set1_hkdf_salt") }
        }
        guard EVP_PKEY_CTX_set1_hkdf_key(ctx, secret, secretLength) == 1 else { throw .library("EVP_PKEY_CTX_set1_hkdf_key") }
        if !info.isEmpty {
            guard EVP_PKEY_CTX_add1_hkdf_info(ctx, info, Int32(info.count)) == 1 else { throw .library("EVP_PKEY_CTX_add1_hkdf_info") }
        }
        var out = [UInt8](repeating: 0, count: count)
        var length = count
        guard EVP_PKEY_derive(ctx, &out, &length) == 1, length == count else { throw .library("EVP_PKEY_derive(HKDF)") }
        return out
    }
}

/// Sealing to a public key: ephemeral X25519 → shared secret → HKDF-SHA256 → AES-256-GCM.
public enum RecipientBox {
    /// The only format so far; the byte exists so the suite can change without guessing at old boxes.
    public static let version: UInt8 = 1
    /// Bytes a box adds to its plaintext: version, ephemeral public key, nonce and tag.
    public static let overhead = 1 + X25519.keySize + AEAD.overhead

    /// Longest associated data: it goes into the HKDF info after an 18-byte label, and OpenSSL caps the info.
    public static let maximumAssociatedDataCount = HKDF.maximumInfoCount - infoPrefix.count

    private static let infoPrefix = Array("modvault-recipient".utf8)

    /// box = u8 version (1) ‖ ephemeral public key (32) ‖ AEAD box; HKDF salt = ephemeral pub ‖ recipient pub, info = "modvault-recipient" ‖ associatedData
    public static func seal(_ plaintext: [UInt8], to recipient: MemberPublicKey, associatedData: [UInt8]) throws(CryptoError) -> [UInt8] {
        let ephemeral = MemberPrivateKey.random()
        let ephemeralPublic = ephemeral.publicKey
        let key = try boxKey(shared: ephemeral.sharedSecret(with: recipient), ephemeral: ephemeralPublic, recipient: recipient,
                             associatedData: associatedData)
        // The header needs no AEAD associated data: a changed key in it derives a different box key,
        // and a changed version byte is refused before any key is derived.
        return [version] + ephemeralPublic.bytes + AEAD(key: key).seal(plaintext)
    }

    /// nil when the box is not for this key or was altered; throws for a malformed box (too short, unknown version)
    public static func open(_ box: [UInt8], with key: MemberPrivateKey, associatedData: [UInt8]) throws(CryptoError) -> [UInt8]? {
        guard box.count >= overhead else { throw .truncated(box.count) }
        // CryptoError has no version case; the version byte names the key-derivation suite, so this one fits best.
        guard box[0] == version else { throw .invalidKDFParameters("recipient box version \(box[0]) is not supported") }
        let ephemeralPublic = try MemberPublicKey(bytes: Array(box[1...X25519.keySize]))
        let sealed = Array(box[(1 + X25519.keySize)...])
        do {
            // A low-order ephemeral key is never made by `seal`, so it counts as an altered box.
            let shared = try key.sharedSecret(with: ephemeralPublic)
            let derived = try boxKey(shared: shared, ephemeral: ephemeralPublic, recipient: key.publicKey, associatedData: associatedData)
            return try AEAD(key: derived).open(sealed)
        } catch .authenticationFailed {
            return nil
        } catch let error where error == X25519.lowOrderPeer {
            return nil
        }
    }

    private static func boxKey(shared: [UInt8], ephemeral: MemberPublicKey, recipient: MemberPublicKey,
                               associatedData: [UInt8]) throws(CryptoError) -> SecretKey {
        try SecretKey(bytes: HKDF.deriveKey(secret: shared, salt: ephemeral.bytes + recipient.bytes, info: infoPrefix + associatedData))
    }
}

/// Key wrapping for invite codes: the one-time secret (≥16 random bytes) → HKDF-SHA256(salt: invite ID bytes, info: "modvault-invite") → 32-byte SecretKey.
public enum InviteKey {
    /// Shortest secret accepted: 128 bits, so a leaked invite ID alone cannot be brute-forced into the key.
    public static let minimumSecretLength = 16

    /// The key an invite's payload is sealed under; the ID (as UTF-8) salts it so two invites never share a key.
    public static func derive(secret: [UInt8], inviteID: String) throws(CryptoError) -> SecretKey {
        guard secret.count >= minimumSecretLength else {
            throw .invalidKDFParameters("invite secret of \(secret.count) bytes; needs at least \(minimumSecretLength)")
        }
        return try SecretKey(bytes: HKDF.deriveKey(secret: secret, salt: Array(inviteID.utf8), info: Array("modvault-invite".utf8)))
    }
}
