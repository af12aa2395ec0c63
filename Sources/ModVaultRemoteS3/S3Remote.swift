public import Foundation
public import ModVaultCore
public import ModVaultRemoteSupport
internal import Synchronization

/// Tuning for an `S3Remote`.
public struct S3Options: Sendable, Equatable {
    /// Whether `If-None-Match: *` is enforced; nil probes the server once (two conditional writes of a
    /// scratch object), because servers that ignore the header (rclone serve s3) just overwrite.
    public var createIfAbsent: Bool?
    /// Keys per ListObjectsV2 request (S3's maximum is 1000).
    public var listPageSize: Int
    /// Seconds without progress before a request times out.
    public var requestTimeout: TimeInterval
    /// Also send `x-amz-checksum-sha256` on upload (AWS verifies it); `Content-MD5` is always sent.
    public var sendSHA256Checksum: Bool
    /// Files larger than this are sent as a multipart upload (`save(_:file:ifAbsent:)`).
    public var multipartThreshold: Int64
    /// Bytes per part of a multipart upload (S3 needs at least 5 MiB for every part but the last;
    /// larger parts are used when a file would otherwise need more than 10,000).
    public var partSize: Int
    /// Parts of one upload in flight at once; memory held is about `partSize` times this per upload.
    public var partConcurrency: Int

    /// Creates options.
    public init(createIfAbsent: Bool? = nil, listPageSize: Int = 1000, requestTimeout: TimeInterval = 60, sendSHA256Checksum: Bool = true,
                multipartThreshold: Int64 = 64 << 20, partSize: Int = 16 << 20, partConcurrency: Int = 2) {
        self.createIfAbsent = createIfAbsent
        self.listPageSize = max(1, min(1000, listPageSize))
        self.requestTimeout = requestTimeout
        self.sendSHA256Checksum = sendSHA256Checksum
        self.multipartThreshold = max(5 << 20, multipartThreshold)
        self.partSize = max(5 << 20, partSize)
        self.partConcurrency = max(1, min(16, partConcurrency))
    }
}

/// A remote in an S3-compatible bucket (AWS, MinIO, R2, B2, Supabase, rclone serve s3, moto), under a key prefix.
///
/// Objects are stored under `prefix/` + their repository path. Requests are signed with SigV4;
/// uploads carry `Content-MD5` (and `x-amz-checksum-sha256`) so damaged transfers are refused.
/// Wrap in `RetryingRemote` for retries: this type makes exactly one request per call.
public final class S3Remote: Remote, Sendable {
    /// Where the objects are.
    public let address: S3Address
    /// The signing region.
    public let region: String
    /// The addressing style in use.
    public let style: S3AddressingStyle
    /// Tuning.
    public let options: S3Options
    private let signer: SigV4Signer
    private let client: RemoteHTTPClient
    private let endpoint: Endpoint
    private let createIfAbsentProbe = Mutex<Task<Bool, any Error>?>(nil)

    private struct Endpoint: Sendable {
        var scheme: String
        var host: String
        var port: Int?
        var basePath: String
    }

    /// A remote at `address` signing with `credentials`. The region is `address.region`, else `region`,
    /// else `us-east-1`.
    public init(address: S3Address, credentials: AWSCredentials, region: String? = nil, options: S3Options = S3Options(),
                transport: any HTTPTransport = AsyncHTTPTransport.shared) throws {
        self.address = address
        self.options = address.createIfAbsent.map { forced in
            var o = options
            o.createIfAbsent = forced
            return o
        } ?? options
        self.region = address.region ?? region ?? "us-east-1"
        let endpointText = address.endpoint ?? "https://s3.\(self.region).amazonaws.com"
        guard let parts = URLComponents(string: endpointText), let scheme = parts.scheme?.lowercased(),
              scheme == "http" || scheme == "https", let host = parts.host, !host.isEmpty else {
            throw RemoteError(.invalidConfiguration, location: address.location, detail: "bad endpoint '\(endpointText)'")
        }
        let defaultPort = scheme == "https" ? 443 : 80
        var basePath = parts.percentEncodedPath
        while basePath.hasSuffix("/") { basePath.removeLast() }
        endpoint = Endpoint(scheme: scheme, host: host, port: parts.port == defaultPort ? nil : parts.port, basePath: basePath)
        // Dotted bucket names break TLS wildcard certificates when virtual-hosted.
        style = address.style ?? (address.endpoint == nil && !address.bucket.contains(".") ? .virtual : .path)
        signer = SigV4Signer(credentials: credentials, region: self.region, service: "s3")
        client = RemoteHTTPClient(transport: transport, location: address.location)
    }

    /// A remote at `address` with credentials and region from `environment` and the AWS shared files
    /// (see `AWSCredentials.resolve`).
    public convenience init(address: S3Address, environment: [String: String] = ProcessInfo.processInfo.environment,
                            options: S3Options = S3Options(), transport: any HTTPTransport = AsyncHTTPTransport.shared) throws {
        let credentials = try AWSCredentials.resolve(environment: environment, location: address.location)
        let region = AWSCredentials.region(environment: environment, location: address.location)
        try self.init(address: address, credentials: credentials, region: region, options: options, transport: transport)
    }

    /// `s3://bucket/prefix`.
    public var location: String { address.location }

    /// True when the server enforces `If-None-Match: *` (from options, or probed once and remembered;
    /// concurrent callers share one probe). A failed probe answers false without being remembered,
    /// so a later call probes again.
    public var supportsCreateIfAbsent: Bool {
        get async {
            if let forced = options.createIfAbsent { return forced }
            let probe = createIfAbsentProbe.withLock { current in
                if let current { return current }
                let started = Task { try await self.probeCreateIfAbsent() }
                current = started
                return started
            }
            do {
                return try await probe.value
            } catch {
                createIfAbsentProbe.withLock { if $0 == probe { $0 = nil } }
                return false
            }
        }
    }

    /// Writes a scratch object twice with `If-None-Match: *` and reports whether the second write was refused.
    public func probeCreateIfAbsent() async throws -> Bool {
        let key = keyPrefix + ".modvault-probe-" + Hex.encode((0..<12).map { _ in UInt8.random(in: 0...255) })
        let body = Array("modvault create-if-absent probe".utf8)
        var supported = false
        do {
            _ = try await put(key: key, data: body, ifNoneMatch: true, object: nil)
            _ = try await put(key: key, data: body, ifNoneMatch: true, object: nil)
        } catch let error as RemoteError where error.reason == .alreadyExists {
            supported = true
        } catch let error as RemoteError where error.status == 501 || error.reason == .unexpectedResponse {
            // Servers that reject the header outright (501 NotImplemented, 400) do not support it.
        } catch {
            _ = try? await request("DELETE", key: key, object: nil)
            throw error
        }
        _ = try? await request("DELETE", key: key, object: nil)
        return supported
    }

    /// Creates the bucket (for tests and `remote init`); an existing bucket owned by the caller is fine.
    public func createBucket() async throws {
        var body: [UInt8]?
        if region != "us-east-1" {
            body = Array(("<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
                + "<LocationConstraint>\(S3XML.escape(region))</LocationConstraint></CreateBucketConfiguration>").utf8)
        }
        let response = try await request("PUT", key: nil, body: body, object: nil)
        if (200..<300).contains(response.status) { return }
        let error = failure(response, object: nil)
        if response.status == 409, error.detail?.contains("BucketAlreadyOwnedByYou") == true { return }
        throw error
    }

    /// Uploads `data` in one PUT; with `ifAbsent`, refuses an existing name (atomically when the server
    /// supports it, otherwise by checking first).
    public func save(_ name: ObjectName, data: [UInt8], ifAbsent: Bool) async throws {
        try RemoteLayout.validate(name, location: location)
        let conditional = try await sendIfNoneMatch(name, ifAbsent: ifAbsent)
        _ = try await put(key: key(for: name), data: data, ifNoneMatch: conditional, object: name.relativePath)
    }

    /// Whether a create-if-absent write sends `If-None-Match: *`; where the server ignores it, the
    /// name is checked first instead (best effort, as `supportsCreateIfAbsent` says).
    private func sendIfNoneMatch(_ name: ObjectName, ifAbsent: Bool) async throws -> Bool {
        guard ifAbsent else { return false }
        if await supportsCreateIfAbsent { return true }
        if try await stat(name) != nil { throw RemoteError(.alreadyExists, location: location, name: name) }
        return false
    }

    /// Uploads the file: in one PUT up to `S3Options.multipartThreshold`, above it as a multipart
    /// upload read from the file part by part, so memory stays at a few parts whatever its size. A
    /// failed multipart upload is aborted before the error is thrown, so its parts are not left stored.
    public func save(_ name: ObjectName, file path: String, ifAbsent: Bool) async throws {
        let size = try FileSystem.status(path).size
        try RemoteLayout.validate(name, location: location)
        let conditional = try await sendIfNoneMatch(name, ifAbsent: ifAbsent)
        if size > options.multipartThreshold {
            try await multipartUpload(key: key(for: name), path: path, size: size, ifNoneMatch: conditional, object: name.relativePath)
        } else {
            _ = try await put(key: key(for: name), body: .file(FileRange(path: path, length: size)), ifNoneMatch: conditional, object: name.relativePath)
        }
    }

    /// The part size for a file of `size` bytes: the configured size, or larger to stay within 10,000 parts.
    public static func partSize(for size: Int64, configured: Int) -> Int {
        let needed = (size + 9_999) / 10_000
        return Int(max(Int64(configured), (needed + (1 << 20) - 1) / (1 << 20) * (1 << 20)))
    }

    private func multipartUpload(key: String, path: String, size: Int64, ifNoneMatch: Bool, object: String) async throws {
        let created = try await request("POST", key: key, query: [("uploads", "")], object: object)
        guard created.status == 200 else { throw failure(created, object: object) }
        guard let uploadID = S3XML.value(of: "UploadId", in: created.text[...]), !uploadID.isEmpty else {
            throw RemoteError(.unexpectedResponse, location: location, object: object, detail: "CreateMultipartUpload without UploadId")
        }
        do {
            let partSize = Self.partSize(for: size, configured: options.partSize)
            let count = Int((size + Int64(partSize) - 1) / Int64(partSize))
            var etags = [String](repeating: "", count: count)
            try await withThrowingTaskGroup(of: (Int, String).self) { group in
                var next = 0
                func start() {
                    let index = next
                    next += 1
                    group.addTask {
                        let offset = Int64(index) * Int64(partSize)
                        let part = FileRange(path: path, offset: offset, length: min(Int64(partSize), size - offset))
                        let digests = try part.digests()
                        let response = try await self.request(
                            "PUT", key: key, query: [("partNumber", String(index + 1)), ("uploadId", uploadID)],
                            headers: [("content-md5", Digest.base64(digests.md5))], body: .file(part, sha256: digests.sha256), object: object)
                        guard (200..<300).contains(response.status) else { throw self.failure(response, object: object) }
                        guard let etag = response.header("etag"), !etag.isEmpty else {
                            throw RemoteError(.unexpectedResponse, location: self.location, object: object, detail: "UploadPart without ETag")
                        }
                        return (index, etag)
                    }
                }
                while next < min(count, options.partConcurrency) { start() }
                while let (index, etag) = try await group.next() {
                    etags[index] = etag
                    if next < count { start() }
                }
            }
            var body = "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
            for (i, etag) in etags.enumerated() {
                body += "<Part><PartNumber>\(i + 1)</PartNumber><ETag>\(S3XML.escape(etag))</ETag></Part>"
            }
            body += "</CompleteMultipartUpload>"
            let completed = try await request("POST", key: key, query: [("uploadId", uploadID)],
                                              headers: ifNoneMatch ? [("if-none-match", "*")] : [], body: Array(body.utf8), object: object)
            // S3 may answer 200 and still report an error in the body, once it has started its reply.
            guard completed.status == 200, !completed.text.contains("<Error>") else {
                throw completed.status == 200
                    ? RemoteError(.serverError, location: location, object: object,
                                  detail: "CompleteMultipartUpload: " + (S3XML.value(of: "Code", in: completed.text[...]) ?? "error"), status: 500)
                    : failure(completed, object: object)
            }
        } catch {
            _ = try? await request("DELETE", key: key, query: [("uploadId", uploadID)], object: object)
            throw error
        }
    }

    /// Lists the multipart uploads of repository objects under this remote's prefix and aborts those
    /// begun before `age` seconds ago (ListMultipartUploads, then AbortMultipartUpload for each).
    public func abortIncompleteUploads(olderThan age: Double) async throws -> Int {
        let cutoff = Date().addingTimeInterval(-age)
        var aborted = 0
        var markers: (key: String, upload: String)?
        for _ in 0..<1000 {
            var query: [(name: String, value: String)] = [("uploads", ""), ("prefix", keyPrefix)]
            if let markers { query += [("key-marker", markers.key), ("upload-id-marker", markers.upload)] }
            let response = try await request("GET", key: nil, query: query, object: nil)
            guard response.status == 200 else { throw failure(response, object: nil) }
            let text = response.text
            for upload in S3XML.blocks("Upload", in: text) {
                // Only repository objects: another program's uploads in the same bucket are not ours to cancel.
                guard let key = S3XML.value(of: "Key", in: upload), key.hasPrefix(keyPrefix),
                      RemoteLayout.objectName(forRelativePath: String(key.dropFirst(keyPrefix.count))) != nil,
                      let id = S3XML.value(of: "UploadId", in: upload),
                      let initiated = S3XML.value(of: "Initiated", in: upload).flatMap(Self.parseTime), initiated < cutoff else { continue }
                let done = try await request("DELETE", key: key, query: [("uploadId", id)], object: String(key.dropFirst(keyPrefix.count)))
                if (200..<300).contains(done.status) || done.status == 404 { aborted += 1 } else { throw failure(done, object: key) }
            }
            guard S3XML.value(of: "IsTruncated", in: text[...]) == "true",
                  let key = S3XML.value(of: "NextKeyMarker", in: text[...]),
                  let upload = S3XML.value(of: "NextUploadIdMarker", in: text[...]) else { break }
            markers = (key, upload)
        }
        return aborted
    }

    /// An S3 timestamp (ISO 8601, with or without fractional seconds).
    static func parseTime(_ text: String) -> Date? {
        let withFraction = ISO8601DateFormatter()
        withFraction.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return withFraction.date(from: text) ?? ISO8601DateFormatter().date(from: text)
    }

    /// Downloads the object or `range` of it with one GET.
    public func load(_ name: ObjectName, range: Range<Int64>?) async throws -> [UInt8] {
        try RemoteLayout.validate(name, location: location)
        if let range, range.isEmpty || range.lowerBound < 0 {
            throw RemoteError(.invalidRange, location: location, name: name, detail: "empty or negative range")
        }
        var headers: [(name: String, value: String)] = []
        if let range { headers.append(("range", HTTPSupport.rangeHeader(range))) }
        let response = try await request("GET", key: key(for: name), headers: headers, object: name.relativePath, reading: (name, range))
        guard (200..<300).contains(response.status) else { throw failure(response, object: name.relativePath) }
        return try HTTPSupport.rangedBody(response, requested: range, location: location, object: name.relativePath)
    }

    /// The object's size from a HEAD request, or nil when it does not exist.
    public func stat(_ name: ObjectName) async throws -> Int64? {
        try RemoteLayout.validate(name, location: location)
        let response = try await request("HEAD", key: key(for: name), object: name.relativePath)
        if response.status == 404 { return nil }
        guard (200..<300).contains(response.status) else { throw failure(response, object: name.relativePath) }
        guard let length = response.header("content-length").flatMap({ Int64($0) }) else {
            throw RemoteError(.unexpectedResponse, location: location, name: name, detail: "HEAD without Content-Length")
        }
        return length
    }

    /// Lists with ListObjectsV2, following continuation tokens until `limit` entries or the end.
    public func list(_ kind: FileKind, after: String?, limit: Int) async throws -> [RemoteEntry] {
        try RemoteLayout.validateCursor(after, location: location)
        guard limit > 0 else { return [] }
        let folder = keyPrefix + RemoteLayout.folder(of: kind)
        var out: [RemoteEntry] = []
        var token: String?
        repeat {
            var query: [(name: String, value: String)] = [
                ("list-type", "2"), ("prefix", folder), ("max-keys", String(min(options.listPageSize, limit - out.count))),
            ]
            // Root files only: the folders below are other kinds.
            if kind == .config { query.append(("delimiter", "/")) }
            if let token {
                query.append(("continuation-token", token))
            } else if let after {
                query.append(("start-after", keyPrefix + ObjectName(kind: kind, name: after).relativePath))
            }
            let response = try await request("GET", key: nil, query: query, object: nil)
            guard response.status == 200 else { throw failure(response, object: RemoteLayout.folder(of: kind)) }
            let text = response.text
            for contents in S3XML.blocks("Contents", in: text) {
                guard let key = S3XML.value(of: "Key", in: contents), key.hasPrefix(keyPrefix),
                      let name = RemoteLayout.objectName(forRelativePath: String(key.dropFirst(keyPrefix.count))),
                      name.kind == kind,
                      let size = S3XML.value(of: "Size", in: contents).flatMap({ Int64($0) }) else { continue }
                if let after, !RemoteLayout.precedes(after, name.name) { continue }
                out.append(RemoteEntry(name: name, size: size))
            }
            let truncated = S3XML.value(of: "IsTruncated", in: text[...]) == "true"
            token = truncated ? S3XML.value(of: "NextContinuationToken", in: text[...]) : nil
            if truncated && token == nil {
                throw RemoteError(.unexpectedResponse, location: location, detail: "truncated listing without NextContinuationToken")
            }
        } while token != nil && out.count < limit
        return Array(out.prefix(limit))
    }

    /// Deletes the object; S3 answers success for missing keys, and a 404 NoSuchKey is accepted too.
    public func remove(_ name: ObjectName) async throws {
        try RemoteLayout.validate(name, location: location)
        let response = try await request("DELETE", key: key(for: name), object: name.relativePath)
        if (200..<300).contains(response.status) { return }
        let error = failure(response, object: name.relativePath)
        if error.reason == .notFound { return }
        throw error
    }

    // MARK: Requests

    private var keyPrefix: String { address.prefix.isEmpty ? "" : address.prefix + "/" }

    private func key(for name: ObjectName) -> String { keyPrefix + name.relativePath }

    /// The URL of an object, as requests address it (path-style or virtual-hosted).
    public func objectURL(_ name: ObjectName) -> String {
        let (host, path) = hostAndPath(key: key(for: name))
        return "\(endpoint.scheme)://\(host)\(path)"
    }

    /// The Host header value and the encoded path for `key` (nil: the bucket itself).
    private func hostAndPath(key: String?) -> (host: String, path: String) {
        let port = endpoint.port.map { ":\($0)" } ?? ""
        let encodedKey = key.map { "/" + HTTPSupport.percentEncode($0, keepSlash: true) } ?? ""
        switch style {
        case .virtual:
            return ("\(address.bucket).\(endpoint.host)\(port)", endpoint.basePath + (encodedKey.isEmpty ? "/" : encodedKey))
        case .path:
            return ("\(endpoint.host)\(port)", endpoint.basePath + "/" + HTTPSupport.percentEncode(address.bucket) + encodedKey)
        }
    }

    /// What a PUT sends: bytes in memory, or a file range read as it goes (after one pass for its digests).
    private enum PutBody {
        case bytes([UInt8])
        case file(FileRange)
    }

    private func put(key: String, data: [UInt8], ifNoneMatch: Bool, object: String?) async throws -> HTTPResponse {
        try await put(key: key, body: .bytes(data), ifNoneMatch: ifNoneMatch, object: object)
    }

    private func put(key: String, body: PutBody, ifNoneMatch: Bool, object: String?) async throws -> HTTPResponse {
        let md5: [UInt8], sha256: [UInt8], sent: RequestBody
        switch body {
        case .bytes(let data):
            (md5, sha256) = (Digest.md5(data), Digest.sha256(data))
            sent = .bytes(data)
        case .file(let range):
            (md5, sha256) = try range.digests()
            sent = .file(range, sha256: sha256)
        }
        var headers: [(name: String, value: String)] = [
            ("content-type", "application/octet-stream"),
            ("content-md5", Digest.base64(md5)),
        ]
        if options.sendSHA256Checksum { headers.append(("x-amz-checksum-sha256", Digest.base64(sha256))) }
        if ifNoneMatch { headers.append(("if-none-match", "*")) }
        let response = try await request("PUT", key: key, headers: headers, body: sent, object: object)
        guard (200..<300).contains(response.status) else { throw failure(response, object: object) }
        return response
    }

    /// A request's body: bytes in memory, or a file range with its SHA-256 (for the signed payload hash).
    private enum RequestBody {
        case bytes([UInt8])
        case file(FileRange, sha256: [UInt8])
    }

    /// Signs and sends one request.
    private func request(
        _ method: String, key: String?, query: [(name: String, value: String)] = [],
        headers extra: [(name: String, value: String)] = [], body: [UInt8]? = nil, object: String?,
        reading: (name: ObjectName, range: Range<Int64>?)? = nil
    ) async throws -> HTTPResponse {
        try await request(method, key: key, query: query, headers: extra, body: body.map { RequestBody.bytes($0) }, object: object, reading: reading)
    }

    private func request(
        _ method: String, key: String?, query: [(name: String, value: String)] = [],
        headers extra: [(name: String, value: String)] = [], body: RequestBody?, object: String?,
        reading: (name: ObjectName, range: Range<Int64>?)? = nil
    ) async throws -> HTTPResponse {
        let (host, path) = hostAndPath(key: key)
        let timestamp = SigV4Signer.timestamp(Date())
        let payloadHash: String
        switch body {
        case .bytes(let bytes)?: payloadHash = Digest.hex(Digest.sha256(bytes))
        case .file(_, let sha256)?: payloadHash = Digest.hex(sha256)
        case nil: payloadHash = SigV4Signer.emptyPayloadHash
        }
        var signed: [(name: String, value: String)] = [
            ("host", host), ("x-amz-date", timestamp), ("x-amz-content-sha256", payloadHash),
        ]
        if let token = signer.credentials.sessionToken { signed.append(("x-amz-security-token", token)) }
        signed += extra
        let signable = SigV4Signer.Request(method: method, encodedPath: path, query: query, headers: signed, payloadHash: payloadHash)
        let queryText = SigV4Signer.canonicalQuery(query)
        let urlText = "\(endpoint.scheme)://\(host)\(path)" + (queryText.isEmpty ? "" : "?" + queryText)
        guard let url = URL(string: urlText) else {
            throw RemoteError(.invalidConfiguration, location: location, object: object, detail: "bad URL \(urlText)")
        }
        // The transport sets Host itself, from the same URL.
        var sent = signed.filter { $0.name != "host" }
        sent.append(("authorization", signer.authorization(signable, timestamp: timestamp)))
        var request = HTTPRequest(method: method, url: url, headers: sent, timeout: options.requestTimeout)
        switch body {
        case .bytes(let bytes)?: request.body = bytes
        case .file(let range, _)?: request.bodyFile = range
        case nil: break
        }
        if let reading { request.limit(reading: reading.name, range: reading.range) }
        return try await client.send(request, object: object)
    }

    /// The `RemoteError` for an unsuccessful response.
    private func failure(_ response: HTTPResponse, object: String?) -> RemoteError {
        let text = response.text
        let code = S3XML.value(of: "Code", in: text[...])
        let message = S3XML.value(of: "Message", in: text[...])
        var detail = "\(response.status)"
        if let code { detail += " \(code)" } else if let message { detail += " \(message)" }
        let reason: RemoteError.Reason
        var retryable: Bool?
        switch (response.status, code ?? "") {
        case (401, _), (403, _), (400, "ExpiredToken"), (400, "InvalidToken"), (400, "AuthorizationHeaderMalformed"):
            reason = .accessDenied
        case (404, "NoSuchBucket"): reason = .containerMissing
        case (404, _): reason = .notFound
        case (412, _): reason = .alreadyExists
        case (409, "ConditionalRequestConflict"): reason = .conflict
        case (416, _): reason = .invalidRange
        case (429, _), (503, "SlowDown"): reason = .throttled
        case (500...599, _): reason = .serverError
        case (400, "RequestTimeout"): reason = .timedOut
        case (400, "BadDigest"), (400, "XAmzContentSHA256Mismatch"), (400, "InvalidDigest"):
            // The body was damaged in transit; sending it again may well work.
            reason = .corrupt
            retryable = true
        default: reason = .unexpectedResponse
        }
        var error = RemoteError(reason, location: location, object: reason == .containerMissing ? nil : object,
                                detail: detail, status: response.status)
        if let retryable { error.isRetryable = retryable }
        return error
    }
}
