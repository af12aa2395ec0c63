import Foundation
import Testing
import ModVaultCore
import ModVaultCrypto

func hex(_ text: String) -> [UInt8] { Hex.decode(text)! }

/// HMAC-SHA256 assembled from `SHA256Digest` by the RFC 2104 definition, as an independent reference for `ContentMAC`.
func referenceHMAC(key: [UInt8], message: [UInt8]) -> [UInt8] {
    var k = key.count > 64 ? SHA256Digest.hash(key).bytes : key
    k += [UInt8](repeating: 0, count: 64 - k.count)
    let inner = SHA256Digest.hash(k.map { $0 ^ 0x36 } + message).bytes
    return SHA256Digest.hash(k.map { $0 ^ 0x5C } + inner).bytes
}

@Suite("SHA-256")
struct SHA256Tests {
    // FIPS 180-2, appendix B.
    @Test(arguments: [
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
    ])
    func publishedDigests(message: String, digest: String) {
        #expect(SHA256Digest.hash(Array(message.utf8)).hex == digest)
    }

    @Test func millionAs() {
        let input = [UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)
        #expect(SHA256Digest.hash(input).hex == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test func pointerAndArrayFormsAgree() {
        let input = Array("modvault".utf8)
        #expect(input.withUnsafeBytes { SHA256Digest.hash($0) } == SHA256Digest.hash(input))
    }
}

@Suite("HMAC-SHA256 / ContentMAC")
struct ContentMACTests {
    // RFC 4231 test cases 1, 2 and 4 validate the reference construction used below.
    @Test(arguments: [
        ([UInt8](repeating: 0x0B, count: 20), Array("Hi There".utf8),
         "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
        (Array("Jefe".utf8), Array("what do ya want for nothing?".utf8),
         "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
        ((1...25).map { UInt8($0) }, [UInt8](repeating: 0xCD, count: 50),
         "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"),
    ])
    func rfc4231Vectors(key: [UInt8], message: [UInt8], expected: String) {
        #expect(Hex.encode(referenceHMAC(key: key, message: message)) == expected)
    }

    // ContentMAC only takes 32-byte keys, which no RFC 4231 case uses. These vectors use the key
    // 00 01 02 … 1f and were produced with Python's standard library:
    //   python3 -c 'import hmac,hashlib; print(hmac.new(bytes(range(32)), MSG, hashlib.sha256).hexdigest())'
    @Test(arguments: [
        ("", "d38b42096d80f45f826b44a9d5607de72496a415d3f4a1a8c88e3bb9da8dc1cb"),
        ("abc", "f0133729c4163dede81e21cd47839256da58171238c8a0d874397c73b14e1e47"),
        ("The quick brown fox jumps over the lazy dog", "f87ad256151fc7b4c5dffa4adb3ebe911a8eeb8a8ebdee3c2a4a8e5f5ec02c32"),
    ])
    func contentMACFixedVectors(message: String, expected: String) throws {
        let mac = ContentMAC(key: try SecretKey(bytes: (0..<32).map { UInt8($0) }))
        #expect(mac.id(Array(message.utf8)).hex == expected)
    }

    @Test func contentMACMatchesReferenceConstruction() throws {
        var g: UInt64 = 12345
        for size in [0, 1, 55, 56, 63, 64, 65, 1000, 100_000] {
            let keyBytes = (0..<32).map { i -> UInt8 in g = g &* 6364136223846793005 &+ 1442695040888963407; return UInt8(truncatingIfNeeded: g >> 33) ^ UInt8(i) }
            let message = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ size) }
            let mac = ContentMAC(key: try SecretKey(bytes: keyBytes))
            #expect(mac.id(message).bytes == referenceHMAC(key: keyBytes, message: message), "size \(size)")
        }
    }

    @Test func emptyInputThroughNilPointer() throws {
        let mac = ContentMAC(key: try SecretKey(bytes: (0..<32).map { UInt8($0) }))
        let viaNil = mac.id(UnsafeRawBufferPointer(start: nil, count: 0))
        #expect(viaNil.hex == "d38b42096d80f45f826b44a9d5607de72496a415d3f4a1a8c88e3bb9da8dc1cb")
    }

    @Test func differentKeysGiveDifferentIDs() {
        let data = Array("same content".utf8)
        let a = ContentMAC(key: .random()).id(data)
        let b = ContentMAC(key: .random()).id(data)
        #expect(a != b)
        #expect(a != SHA256Digest.hash(data))
    }
}

@Suite("AES-256-GCM")
struct AEADTests {
    struct GCMVector: Sendable, CustomTestStringConvertible {
        var name: String
        var key: String
        var iv: String
        var plaintext: String
        var aad: String
        var ciphertext: String
        var tag: String
        var testDescription: String { name }
    }

    // McGrew & Viega, "The Galois/Counter Mode of Operation", test cases 13–16 (AES-256, 96-bit IV).
    static let vectors = [
        GCMVector(name: "test case 13", key: String(repeating: "0", count: 64), iv: String(repeating: "0", count: 24),
                  plaintext: "", aad: "", ciphertext: "", tag: "530f8afbc74536b9a963b4f1c4cb738b"),
        GCMVector(name: "test case 14", key: String(repeating: "0", count: 64), iv: String(repeating: "0", count: 24),
                  plaintext: String(repeating: "0", count: 32), aad: "",
                  ciphertext: "cea7403d4d606b6e074ec5d3baf39d18", tag: "d0d1c8a799996bf0265b98b5d48ab919"),
        GCMVector(name: "test case 15",
                  key: "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
                  iv: "cafebabefacedbaddecaf888",
                  plaintext: "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255",
                  aad: "",
                  ciphertext: "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad",
                  tag: "b094dac5d93471bdec1a502270e3cc6c"),
        GCMVector(name: "test case 16",
                  key: "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
                  iv: "cafebabefacedbaddecaf888",
                  plaintext: "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
                  aad: "feedfacedeadbeeffeedfacedeadbeefabaddad2",
                  ciphertext: "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
                  tag: "76fc6ece0f4e1768cddf8853bb2d551b"),
    ]

    @Test(arguments: vectors)
    func publishedVectorOpens(v: GCMVector) throws {
        let aead = AEAD(key: try SecretKey(bytes: hex(v.key)))
        let box = hex(v.iv) + hex(v.ciphertext) + hex(v.tag)
        #expect(try aead.open(box, associatedData: hex(v.aad)) == hex(v.plaintext))

        // The same box fails with the wrong associated data or a damaged tag.
        #expect(throws: CryptoError.authenticationFailed) { try aead.open(box, associatedData: hex(v.aad) + [0]) }
        var badTag = box
        badTag[badTag.count - 1] ^= 1
        #expect(throws: CryptoError.authenticationFailed) { try aead.open(badTag, associatedData: hex(v.aad)) }
    }

    static let key = try! SecretKey(bytes: (0..<32).map { UInt8(0x40 + $0) })

    @Test(arguments: [0, 1, 15, 16, 17, 1 << 20])
    func roundTrip(size: Int) throws {
        let aead = AEAD(key: Self.key)
        let plaintext = SecureRandom.bytes(size)
        for ad in [[UInt8](), Array("modvault-pack-header".utf8)] {
            let box = aead.seal(plaintext, associatedData: ad)
            #expect(box.count == size + AEAD.overhead)
            #expect(try aead.open(box, associatedData: ad) == plaintext)
        }
        // Nonces are random: sealing twice gives different boxes.
        let small = Array(plaintext.prefix(17))
        let first = aead.seal(small), second = aead.seal(small)
        #expect(first.prefix(AEAD.nonceSize) != second.prefix(AEAD.nonceSize))
        #expect(first != second)
    }

    @Test func sealAppendsAndOpenReplacesOutput() throws {
        let aead = AEAD(key: Self.key)
        let plaintext = Array("appended after a prefix".utf8)
        var buffer: [UInt8] = [1, 2, 3]
        plaintext.withUnsafeBytes { aead.seal($0, appendingTo: &buffer) }
        #expect(Array(buffer[0..<3]) == [1, 2, 3])
        let box = Array(buffer[3...])
        var out = [UInt8](repeating: 0xEE, count: 500)  // longer stale contents are trimmed
        try box.withUnsafeBytes { try aead.open($0, into: &out) }
        #expect(out == plaintext)
        var short: [UInt8] = [9]
        try box.withUnsafeBytes { try aead.open($0, into: &short) }
        #expect(short == plaintext)
    }

    @Test func everySingleByteFlipIsDetected() throws {
        let aead = AEAD(key: Self.key)
        let ad = Array("tree".utf8)
        let box = aead.seal(Array("seventeen bytes!!".utf8), associatedData: ad)
        #expect(box.count == 17 + AEAD.overhead)
        // Every byte of nonce, ciphertext and tag, and a few different flips of each.
        for i in 0..<box.count {
            for mask: UInt8 in [0x01, 0x80, 0xFF] {
                var damaged = box
                damaged[i] ^= mask
                #expect(throws: CryptoError.authenticationFailed, "byte \(i) mask \(mask)") {
                    try aead.open(damaged, associatedData: ad)
                }
            }
        }
    }

    @Test func changedAssociatedDataOrKeyIsDetected() throws {
        let aead = AEAD(key: Self.key)
        let box = aead.seal(Array("payload".utf8), associatedData: [0, 1, 2, 3])
        for ad: [UInt8] in [[], [0, 1, 2], [0, 1, 2, 4], [1, 1, 2, 3], [0, 1, 2, 3, 0]] {
            #expect(throws: CryptoError.authenticationFailed) { try aead.open(box, associatedData: ad) }
        }
        #expect(throws: CryptoError.authenticationFailed) {
            try AEAD(key: .random()).open(box, associatedData: [0, 1, 2, 3])
        }
        #expect(try aead.open(box, associatedData: [0, 1, 2, 3]) == Array("payload".utf8))
        // Moving bytes between the ciphertext and the end also fails.
        #expect(throws: CryptoError.authenticationFailed) { try aead.open(box + [0], associatedData: [0, 1, 2, 3]) }
        #expect(throws: CryptoError.authenticationFailed) { try aead.open(Array(box.dropLast()), associatedData: [0, 1, 2, 3]) }
    }

    @Test func truncatedBoxesThrowTruncated() throws {
        let aead = AEAD(key: Self.key)
        let box = aead.seal([1, 2, 3])
        for n in 0..<AEAD.overhead {
            #expect(throws: CryptoError.truncated(n)) { try aead.open(Array(box.prefix(n))) }
        }
        #expect(AEAD.overhead == 28)
        #expect(CryptoError.truncated(3).kind == .corrupt)
        #expect(CryptoError.authenticationFailed.kind == .corrupt)
    }
}

@Suite("scrypt")
struct ScryptTests {
    // RFC 7914 section 12; the first 32 of the 64 published bytes.
    @Test func rfc7914Vector() throws {
        let key = try ScryptParameters(n: 1024, r: 8, p: 16).deriveKey(password: Array("password".utf8), salt: Array("NaCl".utf8))
        #expect(key.bytes == hex("fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162"))
    }

    @Test func rfc7914EmptyPasswordVector() throws {
        let key = try ScryptParameters(n: 16, r: 1, p: 1).deriveKey(password: [], salt: [])
        #expect(key.bytes == hex("77d6576238657b203b19ca42c18a0497f16b4844e3074ae8dfdffa3fede21442"))
    }

    @Test func deterministicAndSaltSensitive() throws {
        let p = ScryptParameters(n: 1024, r: 8, p: 1)
        let a = try p.deriveKey(password: Array("hunter2".utf8), salt: [1, 2, 3])
        let b = try p.deriveKey(password: Array("hunter2".utf8), salt: [1, 2, 3])
        let c = try p.deriveKey(password: Array("hunter2".utf8), salt: [1, 2, 4])
        let d = try p.deriveKey(password: Array("hunter3".utf8), salt: [1, 2, 3])
        #expect(a == b)
        #expect(a != c)
        #expect(a != d)
    }

    @Test(arguments: [
        ScryptParameters(n: 0, r: 8, p: 1),
        ScryptParameters(n: 1, r: 8, p: 1),
        ScryptParameters(n: 1000, r: 8, p: 1),
        ScryptParameters(n: 1 << 25, r: 8, p: 1),
        ScryptParameters(n: 1024, r: 0, p: 1),
        ScryptParameters(n: 1024, r: 65, p: 1),
        ScryptParameters(n: 1024, r: 8, p: 0),
        ScryptParameters(n: 1024, r: 8, p: 17),
    ])
    func invalidParametersAreRejected(parameters: ScryptParameters) {
        let error = #expect(throws: CryptoError.self) { try parameters.deriveKey(password: [1], salt: [2]) }
        if case .invalidKDFParameters? = error {} else { Issue.record("got \(String(describing: error))") }
        #expect(error?.kind == .invalidInput)
    }

    @Test func memoryEstimate() {
        #expect(ScryptParameters.default.memory == 128 * 8 * 32768 + 128 * 8 * 256)
        #expect(ScryptParameters.default == ScryptParameters(n: 32768, r: 8, p: 1))
    }
}

@Suite("Keys and gear tables")
struct KeyTests {
    @Test(arguments: [0, 1, 16, 31, 33, 64])
    func secretKeyRejectsWrongLengths(length: Int) {
        #expect(throws: CryptoError.invalidKeyLength(length)) { try SecretKey(bytes: [UInt8](repeating: 1, count: length)) }
    }

    @Test func secretKeyCodableAsBase64() throws {
        let key = try SecretKey(bytes: (0..<32).map { UInt8($0) })
        let json = try JSONEncoder().encode([key])
        #expect(String(decoding: json, as: UTF8.self) == "[\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"]")
        #expect(try JSONDecoder().decode([SecretKey].self, from: json) == [key])
        #expect(throws: DecodingError.self) { try JSONDecoder().decode([SecretKey].self, from: Data("[\"AAEC\"]".utf8)) }
        #expect(throws: DecodingError.self) { try JSONDecoder().decode([SecretKey].self, from: Data("[\"not base64!\"]".utf8)) }
    }

    @Test func randomKeysAndIDsDiffer() {
        #expect(SecretKey.random() != SecretKey.random())
        #expect(SecretKey.random().bytes.count == 32)
        #expect(SecureRandom.bytes(0).isEmpty)
        #expect(SecureRandom.bytes(100).count == 100)
        #expect(SecureRandom.objectID() != SecureRandom.objectID())
    }

    @Test func gearTableIsDeterministicAndKeyed() throws {
        let secret = try SecretKey(bytes: (0..<32).map { UInt8($0) })
        let a = GearTable.derive(secret: secret)
        let b = GearTable.derive(secret: try SecretKey(bytes: (0..<32).map { UInt8($0) }))
        let c = GearTable.derive(secret: try SecretKey(bytes: (0..<32).map { UInt8($0 + 1) }))
        #expect(a.count == 256)
        #expect(a == b)
        #expect(c.count == 256)
        #expect(a != c)
        #expect(zip(a, c).filter { $0 == $1 }.count == 0)
        // Values look random: all distinct, and bits are roughly balanced.
        #expect(Set(a).count == 256)
        let ones = a.reduce(0) { $0 + $1.nonzeroBitCount }
        #expect(ones > 256 * 64 * 45 / 100 && ones < 256 * 64 * 55 / 100)
    }

    @Test func gearTableFollowsItsDocumentedConstruction() throws {
        // Entry 4·k+w is word w (big-endian) of HMAC-SHA256(secret, "modvault-gear" ‖ k).
        let keyBytes = (0..<32).map { UInt8(255 - $0) }
        let table = GearTable.derive(secret: try SecretKey(bytes: keyBytes))
        for block in [0, 1, 63] {
            let mac = referenceHMAC(key: keyBytes, message: Array("modvault-gear".utf8) + [UInt8(block)])
            for w in 0..<4 {
                let word = mac[(w * 8)..<(w * 8 + 8)].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
                #expect(table[block * 4 + w] == word)
            }
        }
    }
}

@Suite("Base64")
struct Base64Tests {
    // RFC 4648 section 10.
    @Test(arguments: [
        ("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"),
        ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="), ("foobar", "Zm9vYmFy"),
    ])
    func rfc4648Vectors(plain: String, encoded: String) {
        #expect(Base64.encode(Array(plain.utf8)) == encoded)
        #expect(Base64.decode(encoded) == Array(plain.utf8))
    }

    @Test func allLengthsAndByteValuesRoundTrip() {
        let all = (0...255).map { UInt8($0) }
        for n in 0...all.count {
            let bytes = Array(all[0..<n].reversed())
            let text = Base64.encode(bytes)
            #expect(text.count == (n + 2) / 3 * 4)
            #expect(Base64.decode(text) == bytes)
        }
        #expect(Base64.encode([0xFB, 0xFF, 0xBF]) == "+/+/")
    }

    @Test(arguments: ["Z", "Zg", "Zg=", "Zm9vY", "Z===", "====", "Zg==Zg==", "Zg=a", "Zm9v!A==", "Zm 9v", "Zm9v\n", "é123"])
    func malformedInputIsRejected(text: String) {
        #expect(Base64.decode(text) == nil)
    }
}
