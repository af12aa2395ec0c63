import Foundation
import Testing
import ModVaultCore
@testable import ModVaultCrypto

@Suite("X25519 member keys")
struct MemberKeyTests {
    // RFC 7748 section 6.1.
    static let alicePrivate = "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"
    static let alicePublic = "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"
    static let bobPrivate = "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"
    static let bobPublic = "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"
    static let shared = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742"

    @Test(arguments: [(alicePrivate, alicePublic, bobPublic), (bobPrivate, bobPublic, alicePublic)])
    func rfc7748DiffieHellman(privateKey: String, publicKey: String, peerPublic: String) throws {
        let own = try MemberPrivateKey(bytes: hex(privateKey))
        #expect(own.publicKey.bytes == hex(publicKey))
        #expect(try own.sharedSecret(with: MemberPublicKey(bytes: hex(peerPublic))) == hex(Self.shared))
    }

    // RFC 7748 section 5.2: scalar multiplication by arbitrary u-coordinates, including one with the top bit set.
    @Test(arguments: [
        ("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
         "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
         "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552"),
        ("4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
         "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",
         "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957"),
    ])
    func rfc7748ScalarMultiplication(scalar: String, u: String, expected: String) throws {
        let key = try MemberPrivateKey(bytes: hex(scalar))
        #expect(try key.sharedSecret(with: MemberPublicKey(bytes: hex(u))) == hex(expected))
    }

    // Points of order 1, 2, 4 or 8 (0, 1 and the order-8 point, plus p and p + 1, non-canonical
    // encodings of 0 and 1) give an all-zero secret whatever the private key.
    static let lowOrderPoints = [
        String(repeating: "00", count: 32),
        "01" + String(repeating: "00", count: 31),
        "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
        "ed" + String(repeating: "ff", count: 30) + "7f",
        "ee" + String(repeating: "ff", count: 30) + "7f",
    ]

    @Test(arguments: lowOrderPoints)
    func lowOrderPeerIsRejected(point: String) throws {
        let peer = try MemberPublicKey(bytes: hex(point))
        let error = #expect(throws: CryptoError.self) { try MemberPrivateKey.random().sharedSecret(with: peer) }
        #expect(error == X25519.lowOrderPeer)
        #expect(error?.kind == .invalidInput)
        #expect(throws: CryptoError.self) { try RecipientBox.seal([1, 2, 3], to: peer, associatedData: []) }
    }

    @Test(arguments: [0, 1, 31, 33, 64])
    func wrongLengthsAreRejected(length: Int) {
        let bytes = [UInt8](repeating: 9, count: length)
        #expect(throws: CryptoError.invalidKeyLength(length)) { try MemberPrivateKey(bytes: bytes) }
        #expect(throws: CryptoError.invalidKeyLength(length)) { try MemberPublicKey(bytes: bytes) }
    }

    @Test func randomKeysDifferAndAgree() throws {
        let a = MemberPrivateKey.random(), b = MemberPrivateKey.random()
        #expect(a != b)
        #expect(a.publicKey != b.publicKey)
        #expect(a.publicKey == a.publicKey)
        #expect(try a.sharedSecret(with: b.publicKey) == b.sharedSecret(with: a.publicKey))
    }

    @Test func keysAreCodableAsBase64() throws {
        let privateKey = try MemberPrivateKey(bytes: hex(Self.alicePrivate))
        let publicKey = privateKey.publicKey
        let json = try JSONEncoder().encode([publicKey])
        #expect(String(decoding: json, as: UTF8.self) == "[\"hSDwCYkwp1R0i33ctD73Wg2\\/Og0mOBr066SpjqqbTmo=\"]")
        #expect(try JSONDecoder().decode([MemberPublicKey].self, from: json) == [publicKey])
        let privateJSON = try JSONEncoder().encode([privateKey])
        #expect(try JSONDecoder().decode([MemberPrivateKey].self, from: privateJSON) == [privateKey])
        #expect(Set([publicKey, publicKey, MemberPrivateKey.random().publicKey]).count == 2)
        for bad in ["[\"AAEC\"]", "[\"not base64!\"]", "[7]"] {
            #expect(throws: DecodingError.self) { try JSONDecoder().decode([MemberPublicKey].self, from: Data(bad.utf8)) }
            #expect(throws: DecodingError.self) { try JSONDecoder().decode([MemberPrivateKey].self, from: Data(bad.utf8)) }
        }
    }
}

@Suite("HKDF-SHA256")
struct HKDFTests {
    struct Vector: Sendable, CustomTestStringConvertible {
        var name: String
        var ikm: [UInt8]
        var salt: [UInt8]
        var info: [UInt8]
        var okm: String
        var testDescription: String { name }
    }

    // RFC 5869 appendix A, test cases 1-3 (the SHA-256 ones).
    static let vectors = [
        Vector(name: "test case 1", ikm: [UInt8](repeating: 0x0B, count: 22), salt: (0x00...0x0C).map { UInt8($0) },
               info: (0xF0...0xF9).map { UInt8($0) },
               okm: "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"),
        Vector(name: "test case 2", ikm: (0x00...0x4F).map { UInt8($0) }, salt: (0x60...0xAF).map { UInt8($0) },
               info: (0xB0...0xFF).map { UInt8($0) },
               okm: "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c"
                   + "59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71"
                   + "cc30c58179ec3e87c14c01d5c1f3434f1d87"),
        Vector(name: "test case 3", ikm: [UInt8](repeating: 0x0B, count: 22), salt: [], info: [],
               okm: "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"),
    ]

    @Test(arguments: vectors)
    func rfc5869Vectors(v: Vector) throws {
        let okm = hex(v.okm)
        #expect(try HKDF.deriveKey(secret: v.ikm, salt: v.salt, info: v.info, count: okm.count) == okm)
        // A shorter output is a prefix of the longer one.
        #expect(try HKDF.deriveKey(secret: v.ikm, salt: v.salt, info: v.info) == Array(okm.prefix(32)))
    }

    @Test func emptySaltEqualsZeroSalt() throws {
        let ikm = Array("input keying material".utf8)
        #expect(try HKDF.deriveKey(secret: ikm, salt: [], info: [1])
            == HKDF.deriveKey(secret: ikm, salt: [UInt8](repeating: 0, count: 32), info: [1]))
    }

    @Test(arguments: [0, -1, HKDF.maximumCount + 1])
    func outOfRangeCountsAreRejected(count: Int) {
        let error = #expect(throws: CryptoError.self) { try HKDF.deriveKey(secret: [1], salt: [], info: [], count: count) }
        if case .invalidKDFParameters? = error {} else { Issue.record("got \(String(describing: error))") }
    }

    @Test func longestOutputIsAllowed() throws {
        #expect(try HKDF.deriveKey(secret: [1], salt: [2], info: [3], count: HKDF.maximumCount).count == 8160)
    }

    // The longest info OpenSSL takes is still hashed whole; the expected value is from Python's hmac/hashlib.
    @Test func longestInfoIsAllowedAndLongerRejected() throws {
        let info = (0..<HKDF.maximumInfoCount).map { UInt8(truncatingIfNeeded: $0) }
        #expect(try HKDF.deriveKey(secret: [1], salt: [2], info: info)
            == hex("a0d016683f276453cca50cc698c040f5a5f1fa2f5fed6e8e96f72d4694334320"))
        let error = #expect(throws: CryptoError.self) { try HKDF.deriveKey(secret: [1], salt: [2], info: info + [0]) }
        if case .invalidKDFParameters? = error {} else { Issue.record("got \(String(describing: error))") }
    }
}

@Suite("Recipient boxes")
struct RecipientBoxTests {
    static let member = try! MemberPrivateKey(bytes: hex(MemberKeyTests.bobPrivate))
    static let ad = Array("team/keys/slot-7".utf8)

    @Test(arguments: [0, 1, 16, 100, 1 << 16])
    func roundTripAndLayout(size: Int) throws {
        let plaintext = SecureRandom.bytes(size)
        let box = try RecipientBox.seal(plaintext, to: Self.member.publicKey, associatedData: Self.ad)
        #expect(box.count == 1 + 32 + 12 + size + 16)
        #expect(box.count == size + RecipientBox.overhead)
        #expect(box[0] == 1)
        #expect(try RecipientBox.open(box, with: Self.member, associatedData: Self.ad) == plaintext)
    }

    @Test func longestAssociatedDataIsAllowed() throws {
        let ad = [UInt8](repeating: 0xAD, count: RecipientBox.maximumAssociatedDataCount)
        let box = try RecipientBox.seal([1, 2, 3], to: Self.member.publicKey, associatedData: ad)
        #expect(try RecipientBox.open(box, with: Self.member, associatedData: ad) == [1, 2, 3])
        #expect(throws: CryptoError.self) { try RecipientBox.seal([1, 2, 3], to: Self.member.publicKey, associatedData: ad + [0]) }
        #expect(throws: CryptoError.self) { try RecipientBox.open(box, with: Self.member, associatedData: ad + [0]) }
    }

    @Test func followsDocumentedConstruction() throws {
        let plaintext = Array("a repository key".utf8)
        let recipient = Self.member.publicKey
        let box = try RecipientBox.seal(plaintext, to: recipient, associatedData: Self.ad)
        let ephemeral = try MemberPublicKey(bytes: Array(box[1..<33]))
        let shared = try Self.member.sharedSecret(with: ephemeral)
        let key = try SecretKey(bytes: HKDF.deriveKey(secret: shared, salt: ephemeral.bytes + recipient.bytes,
                                                      info: Array("modvault-recipient".utf8) + Self.ad))
        #expect(try AEAD(key: key).open(Array(box[33...])) == plaintext)
    }

    @Test func everySealUsesAFreshEphemeralKey() throws {
        let a = try RecipientBox.seal([7], to: Self.member.publicKey, associatedData: [])
        let b = try RecipientBox.seal([7], to: Self.member.publicKey, associatedData: [])
        #expect(a[1..<33] != b[1..<33])
    }

    @Test func wrongPrivateKeyGivesNil() throws {
        let box = try RecipientBox.seal([1, 2, 3], to: Self.member.publicKey, associatedData: Self.ad)
        #expect(try RecipientBox.open(box, with: .random(), associatedData: Self.ad) == nil)
        #expect(try RecipientBox.open(box, with: MemberPrivateKey(bytes: hex(MemberKeyTests.alicePrivate)), associatedData: Self.ad) == nil)
    }

    @Test func wrongAssociatedDataGivesNil() throws {
        let box = try RecipientBox.seal([1, 2, 3], to: Self.member.publicKey, associatedData: Self.ad)
        for ad in [[], Array(Self.ad.dropLast()), Self.ad + [0], Array("team/keys/slot-8".utf8)] {
            #expect(try RecipientBox.open(box, with: Self.member, associatedData: ad) == nil)
        }
    }

    @Test func everyAlteredByteGivesNil() throws {
        let box = try RecipientBox.seal(Array("seventeen bytes!!".utf8), to: Self.member.publicKey, associatedData: Self.ad)
        // Byte 0 is the version, which throws instead. The top bit of byte 32 is ignored by X25519
        // itself, so flipping it is caught only because the ephemeral key also salts HKDF.
        for i in 1..<box.count {
            for mask: UInt8 in [0x01, 0x80] {
                var damaged = box
                damaged[i] ^= mask
                #expect(try RecipientBox.open(damaged, with: Self.member, associatedData: Self.ad) == nil, "byte \(i) mask \(mask)")
            }
        }
        #expect(try RecipientBox.open(box + [0], with: Self.member, associatedData: Self.ad) == nil)
        #expect(try RecipientBox.open(Array(box.dropLast()), with: Self.member, associatedData: Self.ad) == nil)
    }

    @Test(arguments: MemberKeyTests.lowOrderPoints)
    func lowOrderEphemeralKeyGivesNil(point: String) throws {
        var box = try RecipientBox.seal([1, 2, 3], to: Self.member.publicKey, associatedData: Self.ad)
        box.replaceSubrange(1..<33, with: hex(point))
        #expect(try RecipientBox.open(box, with: Self.member, associatedData: Self.ad) == nil)
    }

    @Test func truncatedBoxesThrow() throws {
        let box = try RecipientBox.seal([], to: Self.member.publicKey, associatedData: [])
        #expect(box.count == RecipientBox.overhead)
        #expect(RecipientBox.overhead == 61)
        for n in 0..<box.count {
            #expect(throws: CryptoError.truncated(n)) { try RecipientBox.open(Array(box.prefix(n)), with: Self.member, associatedData: []) }
        }
        #expect(try RecipientBox.open(box, with: Self.member, associatedData: []) == [])
    }

    @Test(arguments: [0, 2, 0x81, 0xFF] as [UInt8])
    func unknownVersionThrows(version: UInt8) throws {
        var box = try RecipientBox.seal([1, 2, 3], to: Self.member.publicKey, associatedData: [])
        box[0] = version
        let error = #expect(throws: CryptoError.self) { try RecipientBox.open(box, with: Self.member, associatedData: []) }
        if case .invalidKDFParameters? = error {} else { Issue.record("got \(String(describing: error))") }
    }
}

@Suite("Invite keys")
struct InviteKeyTests {
    static let secret = (0..<16).map { UInt8($0) }

    @Test func sameInputsSameKey() throws {
        #expect(try InviteKey.derive(secret: Self.secret, inviteID: "inv-2f6c1e") == InviteKey.derive(secret: Self.secret, inviteID: "inv-2f6c1e"))
    }

    @Test func differentIDOrSecretGivesDifferentKey() throws {
        let key = try InviteKey.derive(secret: Self.secret, inviteID: "inv-2f6c1e")
        #expect(try InviteKey.derive(secret: Self.secret, inviteID: "inv-2f6c1f") != key)
        #expect(try InviteKey.derive(secret: Self.secret, inviteID: "") != key)
        var other = Self.secret
        other[15] ^= 1
        #expect(try InviteKey.derive(secret: other, inviteID: "inv-2f6c1e") != key)
        #expect(try InviteKey.derive(secret: Self.secret + [0], inviteID: "inv-2f6c1e") != key)
    }

    // Pinned with Python's standard library (RFC 5869 written out over hmac/hashlib):
    //   prk = hmac.new(ID.encode(), SECRET, hashlib.sha256).digest()
    //   okm = hmac.new(prk, b"modvault-invite" + b"\x01", hashlib.sha256).hexdigest()
    @Test(arguments: [
        ((0x00..<0x10).map { UInt8($0) }, "inv-2f6c1e", "64922c75ea90eceaf4158f06f34657a0058d3a48cc36586d11ece9f0ae818e42"),
        ((0xA0..<0xC0).map { UInt8($0) }, "einladung-ä", "22ec2ee047988162eb0b273f5b5c63431abcfc9f2eda477f1b63a1e26d2eac87"),
    ])
    func fixedVectors(secret: [UInt8], inviteID: String, expected: String) throws {
        #expect(try InviteKey.derive(secret: secret, inviteID: inviteID).bytes == hex(expected))
    }

    @Test(arguments: [0, 1, 15])
    func shortSecretsAreRejected(length: Int) {
        let error = #expect(throws: CryptoError.self) { try InviteKey.derive(secret: [UInt8](repeating: 1, count: length), inviteID: "x") }
        if case .invalidKDFParameters? = error {} else { Issue.record("got \(String(describing: error))") }
    }
}
