import Testing
import ModVaultRemoteSupport
import ModVaultRemoteS3

/// Known answers from AWS's published Signature Version 4 examples (S3 header-based auth, and the
/// IAM ListUsers walk-through), with their example key pair.
@Suite("SigV4 known answers")
struct SigV4Tests {
    static let s3Credentials = AWSCredentials(accessKeyID: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    static let s3Signer = SigV4Signer(credentials: s3Credentials, region: "us-east-1", service: "s3")
    static let emptyHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    @Test func s3GetObjectWithRange() {
        let request = SigV4Signer.Request(
            method: "GET", encodedPath: "/test.txt",
            headers: [("Host", "examplebucket.s3.amazonaws.com"), ("Range", "bytes=0-9"),
                      ("x-amz-content-sha256", Self.emptyHash), ("x-amz-date", "20130524T000000Z")],
            payloadHash: Self.emptyHash)
        let canonical = SigV4Signer.canonicalRequest(request)
        #expect(canonical == """
            GET
            /test.txt

            host:examplebucket.s3.amazonaws.com
            range:bytes=0-9
            x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
            x-amz-date:20130524T000000Z

            host;range;x-amz-content-sha256;x-amz-date
            e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
            """)
        #expect(Self.s3Signer.stringToSign(canonicalRequest: canonical, timestamp: "20130524T000000Z") == """
            AWS4-HMAC-SHA256
            20130524T000000Z
            20130524/us-east-1/s3/aws4_request
            7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972
            """)
        #expect(Self.s3Signer.authorization(request, timestamp: "20130524T000000Z")
            == "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
            + "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
            + "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
    }

    @Test func s3PutObjectWithEncodedKey() {
        let payload = Digest.hex(Digest.sha256("Welcome to Amazon S3."))
        #expect(payload == "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072")
        let request = SigV4Signer.Request(
            method: "PUT", encodedPath: "/" + HTTPSupport.percentEncode("test$file.text", keepSlash: true),
            headers: [("Host", "examplebucket.s3.amazonaws.com"), ("Date", "Fri, 24 May 2013 00:00:00 GMT"),
                      ("x-amz-date", "20130524T000000Z"), ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
                      ("x-amz-content-sha256", payload)],
            payloadHash: payload)
        let canonical = SigV4Signer.canonicalRequest(request)
        #expect(canonical.hasPrefix("PUT\n/test%24file.text\n\ndate:Fri, 24 May 2013 00:00:00 GMT\n"))
        #expect(Digest.hex(Digest.sha256(canonical)) == "9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d")
        #expect(Self.s3Signer.signature(request, timestamp: "20130524T000000Z")
            == "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd")
        #expect(SigV4Signer.signedHeaders(request.headers) == "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class")
    }

    @Test func s3ListObjectsWithQuery() {
        let request = SigV4Signer.Request(
            method: "GET", encodedPath: "/", query: [("prefix", "J"), ("max-keys", "2")],
            headers: [("Host", "examplebucket.s3.amazonaws.com"), ("x-amz-date", "20130524T000000Z"),
                      ("x-amz-content-sha256", Self.emptyHash)],
            payloadHash: Self.emptyHash)
        #expect(SigV4Signer.canonicalRequest(request).split(separator: "\n", omittingEmptySubsequences: false)[2] == "max-keys=2&prefix=J")
        #expect(Self.s3Signer.signature(request, timestamp: "20130524T000000Z")
            == "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7")
    }

    @Test func s3GetBucketLifecycleWithValuelessParameter() {
        let request = SigV4Signer.Request(
            method: "GET", encodedPath: "/", query: [("lifecycle", "")],
            headers: [("Host", "examplebucket.s3.amazonaws.com"), ("x-amz-date", "20130524T000000Z"),
                      ("x-amz-content-sha256", Self.emptyHash)],
            payloadHash: Self.emptyHash)
        #expect(Self.s3Signer.signature(request, timestamp: "20130524T000000Z")
            == "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543")
    }

    @Test func iamListUsersWalkThrough() {
        let signer = SigV4Signer(
            credentials: AWSCredentials(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
            region: "us-east-1", service: "iam")
        let request = SigV4Signer.Request(
            method: "GET", encodedPath: "/", query: [("Version", "2010-05-08"), ("Action", "ListUsers")],
            headers: [("Content-Type", "application/x-www-form-urlencoded; charset=utf-8"), ("Host", "iam.amazonaws.com"),
                      ("X-Amz-Date", "20150830T123600Z")],
            payloadHash: Self.emptyHash)
        let canonical = SigV4Signer.canonicalRequest(request)
        #expect(canonical == """
            GET
            /
            Action=ListUsers&Version=2010-05-08
            content-type:application/x-www-form-urlencoded; charset=utf-8
            host:iam.amazonaws.com
            x-amz-date:20150830T123600Z

            content-type;host;x-amz-date
            e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
            """)
        #expect(Digest.hex(Digest.sha256(canonical)) == "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59")
        #expect(signer.stringToSign(canonicalRequest: canonical, timestamp: "20150830T123600Z") == """
            AWS4-HMAC-SHA256
            20150830T123600Z
            20150830/us-east-1/iam/aws4_request
            f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59
            """)
        #expect(Digest.hex(signer.signingKey(day: "20150830")) == "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9")
        #expect(signer.signature(request, timestamp: "20150830T123600Z") == "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7")
    }

    @Test func headerValuesAreTrimmedAndCollapsed() {
        let a = SigV4Signer.Request(method: "GET", encodedPath: "/", headers: [("X-Test", "  a   b  "), ("host", "h")], payloadHash: Self.emptyHash)
        let b = SigV4Signer.Request(method: "GET", encodedPath: "/", headers: [("host", "h"), ("x-test", "a b")], payloadHash: Self.emptyHash)
        #expect(SigV4Signer.canonicalRequest(a) == SigV4Signer.canonicalRequest(b))
    }

    @Test func timestampIsUTCBasicFormat() {
        #expect(SigV4Signer.timestamp(.init(timeIntervalSince1970: 1_369_353_600)) == "20130524T000000Z")
        #expect(SigV4Signer.timestamp(.init(timeIntervalSince1970: 1_440_938_160.9)) == "20150830T123600Z")
    }
}

@Suite("Digests")
struct DigestTests {
    @Test func knownDigests() {
        #expect(Digest.hex(Digest.sha256("abc")) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(Digest.hex(Digest.md5(Array("abc".utf8))) == "900150983cd24fb0d6963f7d28e17f72")
        // RFC 4231 test case 2: a key shorter than the block size.
        #expect(Digest.hex(Digest.hmacSHA256(key: Array("Jefe".utf8), message: "what do ya want for nothing?"))
            == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        // RFC 4231 test case 6: a key longer than the block size.
        #expect(Digest.hex(Digest.hmacSHA256(key: [UInt8](repeating: 0xAA, count: 131),
                                             message: "Test Using Larger Than Block-Size Key - Hash Key First"))
            == "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")
    }

    @Test func base64MatchesRFC4648() {
        let cases = ["": "", "f": "Zg==", "fo": "Zm8=", "foo": "Zm9v", "foob": "Zm9vYg==", "fooba": "Zm9vYmE=", "foobar": "Zm9vYmFy"]
        for (plain, encoded) in cases { #expect(Digest.base64(Array(plain.utf8)) == encoded) }
        #expect(Digest.base64(Digest.md5(Array("hello world".utf8))) == "XrY7u+Ae7tCTyyK7j1rNww==")
    }
}
