public import Foundation
import ModVaultCore

/// How an S3 request names its bucket.
public enum S3AddressingStyle: String, Sendable, Equatable {
    /// `https://endpoint/bucket/key`: works everywhere, needed for IP endpoints and most self-hosted servers.
    case path
    /// `https://bucket.endpoint/key`: AWS's default.
    case virtual
}

/// Where an S3 remote lives: bucket, key prefix, and optionally endpoint, region and addressing style.
public struct S3Address: Sendable, Equatable {
    /// The bucket.
    public var bucket: String
    /// The key prefix inside the bucket, without leading or trailing slash; empty for the bucket root.
    public var prefix: String
    /// A custom endpoint such as `http://127.0.0.1:9000`; nil means AWS.
    public var endpoint: String?
    /// The signing region; nil means the environment's or `us-east-1`.
    public var region: String?
    /// The addressing style; nil means virtual-hosted for AWS and path-style for custom endpoints.
    public var style: S3AddressingStyle?
    /// Forces the create-if-absent answer (`?createIfAbsent=true|false`); nil means probe the server.
    public var createIfAbsent: Bool?

    /// Creates an address.
    public init(bucket: String, prefix: String = "", endpoint: String? = nil, region: String? = nil,
                style: S3AddressingStyle? = nil, createIfAbsent: Bool? = nil) {
        self.bucket = bucket
        self.prefix = prefix.split(separator: "/").joined(separator: "/")
        self.endpoint = endpoint
        self.region = region
        self.style = style
        self.createIfAbsent = createIfAbsent
    }

    /// `s3://bucket/prefix`, the form shown in messages.
    public var location: String { prefix.isEmpty ? "s3://\(bucket)" : "s3://\(bucket)/\(prefix)" }
}

/// Where a PocketBase remote lives: the server and the collection holding the objects.
public struct PocketBaseAddress: Sendable, Equatable {
    /// The server's base URL, e.g. `http://127.0.0.1:8090` (no trailing slash).
    public var baseURL: String
    /// The collection name.
    public var collection: String

    /// Creates an address.
    public init(baseURL: String, collection: String) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.collection = collection
    }

    /// `pocketbase+http://host:port/collection`, the form shown in messages.
    public var location: String { "pocketbase+\(baseURL)/\(collection)" }
}

/// A parsed remote URL: one of the forms `modvault remote add` accepts.
///
/// Credentials never appear in these URLs; they come from the environment or credentials files.
public enum RemoteURL: Sendable, Equatable, CustomStringConvertible {
    /// A folder: a plain path or `file:///path`.
    case disk(path: String)
    /// An S3 bucket: `s3://bucket/prefix[?endpoint=URL&region=R&style=path|virtual&createIfAbsent=true|false]`.
    case s3(S3Address)
    /// A PocketBase collection: `pocketbase+http(s)://host:port/collection`.
    case pocketBase(PocketBaseAddress)
    /// A read-only static host: `http(s)://host/path`.
    case http(baseURL: String)

    /// Parses `text`. For S3, `endpoint` and `region` default to `AWS_ENDPOINT_URL` and
    /// `AWS_REGION` (or `AWS_DEFAULT_REGION`) from `environment`; query parameters win.
    public static func parse(_ text: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> RemoteURL {
        // Never echo a password someone put in the URL: messages show it with the user part masked.
        func invalid(_ why: String) -> RemoteError {
            RemoteError(.invalidConfiguration, location: redactingUserInfo(text), detail: why)
        }
        let noCredentials = "credentials do not belong in the URL (they would be saved in remotes.json and shown in messages)"
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty else { throw invalid("empty remote URL") }
        guard let schemeEnd = trimmed.range(of: "://") else {
            return .disk(path: FileSystem.absolute(trimmed))
        }
        let scheme = trimmed[..<schemeEnd.lowerBound].lowercased()
        if let url = URLComponents(string: scheme.hasPrefix("pocketbase+") ? String(trimmed.dropFirst("pocketbase+".count)) : trimmed),
           url.user != nil || url.password != nil {
            switch scheme {
            case "s3": throw invalid(noCredentials + "; use AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or ~/.aws/credentials")
            case "pocketbase+http", "pocketbase+https":
                throw invalid(noCredentials + "; use POCKETBASE_EMAIL and POCKETBASE_PASSWORD, or POCKETBASE_TOKEN")
            default: throw invalid(noCredentials)
            }
        }
        switch scheme {
        case "file":
            guard let url = URLComponents(string: trimmed), url.host == nil || url.host == "" || url.host == "localhost" else {
                throw invalid("file URLs name a local folder: file:///path")
            }
            let path = url.percentEncodedPath.removingPercentEncoding ?? url.percentEncodedPath
            guard path.hasPrefix("/") else { throw invalid("file URLs need an absolute path: file:///path") }
            return .disk(path: FileSystem.absolute(path))
        case "s3":
            guard let url = URLComponents(string: trimmed), let bucket = url.host, !bucket.isEmpty else {
                throw invalid("expected s3://bucket/prefix")
            }
            var query: [String: String] = [:]
            for item in url.queryItems ?? [] { query[item.name] = item.value ?? "" }
            let known: Set = ["endpoint", "region", "style", "createIfAbsent"]
            if let unknown = query.keys.sorted().first(where: { !known.contains($0) }) {
                throw invalid("unknown option '\(unknown)' (known: endpoint, region, style, createIfAbsent)")
            }
            var style: S3AddressingStyle?
            if let value = query["style"] {
                guard let parsed = S3AddressingStyle(rawValue: value) else { throw invalid("style must be path or virtual") }
                style = parsed
            }
            var createIfAbsent: Bool?
            if let value = query["createIfAbsent"] {
                guard value == "true" || value == "false" else { throw invalid("createIfAbsent must be true or false") }
                createIfAbsent = value == "true"
            }
            let endpoint = query["endpoint"] ?? environment["AWS_ENDPOINT_URL_S3"] ?? environment["AWS_ENDPOINT_URL"]
            if let endpoint {
                guard let e = URLComponents(string: endpoint), e.scheme == "http" || e.scheme == "https", e.host != nil else {
                    throw invalid("endpoint must be an http(s) URL, got '\(redactingUserInfo(endpoint))'")
                }
                guard e.user == nil, e.password == nil else {
                    // The endpoint may sit percent-encoded in the query: leave the whole query out of the message.
                    let shown = trimmed.split(separator: "?", maxSplits: 1).first.map(String.init) ?? ""
                    throw RemoteError(.invalidConfiguration, location: redactingUserInfo(shown), detail: "endpoint: " + noCredentials)
                }
            }
            let region = query["region"] ?? environment["AWS_REGION"] ?? environment["AWS_DEFAULT_REGION"]
            let prefix = url.percentEncodedPath.removingPercentEncoding ?? url.percentEncodedPath
            return .s3(S3Address(
                bucket: bucket, prefix: prefix, endpoint: endpoint.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 },
                region: region, style: style, createIfAbsent: createIfAbsent))
        case "pocketbase+http", "pocketbase+https":
            let inner = String(trimmed.dropFirst("pocketbase+".count))
            guard let url = URLComponents(string: inner), let host = url.host, !host.isEmpty else {
                throw invalid("expected pocketbase+http(s)://host:port/collection")
            }
            let parts = url.percentEncodedPath.split(separator: "/").map(String.init)
            guard let collection = parts.last, parts.count >= 1 else {
                throw invalid("the URL must end with the collection name: pocketbase+http://host:8090/collection")
            }
            guard collection.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }) else {
                throw invalid("collection names are letters, digits and _")
            }
            var base = "\(url.scheme!)://\(host)"
            if let port = url.port { base += ":\(port)" }
            let basePath = parts.dropLast().joined(separator: "/")
            if !basePath.isEmpty { base += "/" + basePath }
            return .pocketBase(PocketBaseAddress(baseURL: base, collection: collection))
        case "http", "https":
            guard let url = URLComponents(string: trimmed), let host = url.host, !host.isEmpty else {
                throw invalid("expected http(s)://host/path")
            }
            guard url.query == nil, url.fragment == nil else { throw invalid("query and fragment are not allowed") }
            var base = trimmed
            while base.hasSuffix("/") { base.removeLast() }
            return .http(baseURL: base)
        default:
            throw invalid("unknown scheme '\(scheme)' (use a path, file://, s3://, pocketbase+http(s)://, or http(s)://)")
        }
    }

    /// `text` with any `user:password@` part of a URL replaced by `***@`, for messages.
    public static func redactingUserInfo(_ text: String) -> String {
        guard let schemeEnd = text.range(of: "://") else { return text }
        let rest = text[schemeEnd.upperBound...]
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
        guard let at = rest[..<authorityEnd].lastIndex(of: "@") else { return text }
        return String(text[..<schemeEnd.upperBound]) + "***" + String(rest[at...])
    }

    /// The remote as shown in messages: the `location` its remote reports.
    public var location: String {
        switch self {
        case .disk(let path): return path
        case .s3(let address): return address.location
        case .pocketBase(let address): return address.location
        case .http(let base): return base
        }
    }

    /// The canonical URL text, suitable for saving and parsing again.
    public var description: String {
        switch self {
        case .disk(let path): return path
        case .s3(let a):
            var options: [String] = []
            if let e = a.endpoint { options.append("endpoint=\(HTTPSupport.percentEncode(e))") }
            if let r = a.region { options.append("region=\(r)") }
            if let s = a.style { options.append("style=\(s.rawValue)") }
            if let c = a.createIfAbsent { options.append("createIfAbsent=\(c)") }
            return a.location + (options.isEmpty ? "" : "?" + options.joined(separator: "&"))
        case .pocketBase(let a): return a.location
        case .http(let base): return base
        }
    }
}
