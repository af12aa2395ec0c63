public import Foundation
import ModVaultRemoteSupport

/// Signs requests with AWS Signature Version 4 (header form), as S3 and every other AWS API expect.
///
/// Each step is public so it can be checked against AWS's published examples: the canonical request,
/// the string to sign, the signing key and the signature.
public struct SigV4Signer: Sendable {
    /// The key pair (and session token) to sign with.
    public var credentials: AWSCredentials
    /// The region in the credential scope, e.g. `us-east-1`.
    public var region: String
    /// The service in the credential scope: `s3`, `iam`, …
    public var service: String

    /// The SHA-256 of an empty payload, in hex.
    public static let emptyPayloadHash = Digest.hex(Digest.sha256([UInt8]()))

    /// Creates a signer.
    public init(credentials: AWSCredentials, region: String, service: String) {
        self.credentials = credentials
        self.region = region
        self.service = service
    }

    /// The request parts SigV4 covers.
    public struct Request: Sendable {
        /// The HTTP method.
        public var method: String
        /// The path, already URI-encoded as it goes on the wire (S3 does not encode it twice).
        public var encodedPath: String
        /// Query parameters, not yet encoded; order does not matter.
        public var query: [(name: String, value: String)]
        /// The headers to sign, including `host`; names in any case.
        public var headers: [(name: String, value: String)]
        /// The hex SHA-256 of the payload, or `UNSIGNED-PAYLOAD`.
        public var payloadHash: String

        /// Creates the request parts.
        public init(method: String, encodedPath: String, query: [(name: String, value: String)] = [],
                    headers: [(name: String, value: String)], payloadHash: String) {
            self.method = method
            self.encodedPath = encodedPath
            self.query = query
            self.headers = headers
            self.payloadHash = payloadHash
        }
    }

    /// `YYYYMMDD'T'HHMMSS'Z'` in UTC, the `x-amz-date` form.
    public static func timestamp(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let year = Int(parts.tm_year) + 1900
        let day = "\(year)\(two(parts.tm_mon + 1))\(two(parts.tm_mday))"
        return "\(day)T\(two(parts.tm_hour))\(two(parts.tm_min))\(two(parts.tm_sec))Z"
    }

    /// The query string in canonical form: each name and value encoded, sorted by name then value.
    public static func canonicalQuery(_ query: [(name: String, value: String)]) -> String {
        let encoded: [(name: String, value: String)] = query.map {
            (HTTPSupport.percentEncode($0.name), HTTPSupport.percentEncode($0.value))
        }
        let sorted = encoded.sorted { a, b in a.name == b.name ? a.value < b.value : a.name < b.name }
        return sorted.map { pair -> String in pair.name + "=" + pair.value }.joined(separator: "&")
    }

    /// Lowercase names sorted, values trimmed with inner runs of spaces collapsed; repeated names joined by commas.
    static func canonicalHeaders(_ headers: [(name: String, value: String)]) -> [(name: String, value: String)] {
        var merged: [String: [String]] = [:]
        for (name, value) in headers {
            let collapsed = value.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
            merged[name.lowercased(), default: []].append(collapsed.trimmingCharacters(in: .whitespaces))
        }
        return merged.keys.sorted().map { ($0, merged[$0]!.joined(separator: ",")) }
    }

    /// The signed header names, `;`-separated.
    public static func signedHeaders(_ headers: [(name: String, value: String)]) -> String {
        canonicalHeaders(headers).map(\.name).joined(separator: ";")
    }

    /// The canonical request (task 1 of SigV4).
    public static func canonicalRequest(_ request: Request) -> String {
        let headers = canonicalHeaders(request.headers)
        return [
            request.method,
            request.encodedPath.isEmpty ? "/" : request.encodedPath,
            canonicalQuery(request.query),
            headers.map { "\($0.name):\($0.value)\n" }.joined(),
            headers.map(\.name).joined(separator: ";"),
            request.payloadHash,
        ].joined(separator: "\n")
    }

    /// `date/region/service/aws4_request` for the day of `timestamp`.
    public func scope(timestamp: String) -> String {
        "\(timestamp.prefix(8))/\(region)/\(service)/aws4_request"
    }

    /// The string to sign (task 2).
    public func stringToSign(canonicalRequest: String, timestamp: String) -> String {
        [
            "AWS4-HMAC-SHA256",
            timestamp,
            scope(timestamp: timestamp),
            Digest.hex(Digest.sha256(canonicalRequest)),
        ].joined(separator: "\n")
    }

    /// The signing key for the day `yyyymmdd` (task 3).
    public func signingKey(day: String) -> [UInt8] {
        let dateKey = Digest.hmacSHA256(key: Array("AWS4\(credentials.secretAccessKey)".utf8), message: day)
        let regionKey = Digest.hmacSHA256(key: dateKey, message: region)
        let serviceKey = Digest.hmacSHA256(key: regionKey, message: service)
        return Digest.hmacSHA256(key: serviceKey, message: "aws4_request")
    }

    /// The hex signature of `request` at `timestamp`.
    public func signature(_ request: Request, timestamp: String) -> String {
        let toSign = stringToSign(canonicalRequest: Self.canonicalRequest(request), timestamp: timestamp)
        return Digest.hex(Digest.hmacSHA256(key: signingKey(day: String(timestamp.prefix(8))), message: toSign))
    }

    /// The `Authorization` header value for `request` at `timestamp`.
    public func authorization(_ request: Request, timestamp: String) -> String {
        "AWS4-HMAC-SHA256 Credential=\(credentials.accessKeyID)/\(scope(timestamp: timestamp)),"
            + "SignedHeaders=\(Self.signedHeaders(request.headers)),Signature=\(signature(request, timestamp: timestamp))"
    }
}
