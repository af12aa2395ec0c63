import Foundation
import ModVaultCore
import ModVaultRemoteSupport

/// An AWS key pair, with the session token that temporary credentials carry.
public struct AWSCredentials: Sendable, Equatable {
    /// The access key ID (`AKIA…`).
    public var accessKeyID: String
    /// The secret access key.
    public var secretAccessKey: String
    /// The session token of temporary credentials, sent as `x-amz-security-token`.
    public var sessionToken: String?

    /// Creates credentials.
    public init(accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
    }

    /// Credentials the standard way: `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` (with
    /// `AWS_SESSION_TOKEN`) when both are set; otherwise the profile `AWS_PROFILE` (or `default`) of
    /// the shared credentials file (`AWS_SHARED_CREDENTIALS_FILE`, or `~/.aws/credentials`).
    /// Throws `.invalidConfiguration` naming `location` when none are found.
    public static func resolve(environment: [String: String], location: String) throws -> AWSCredentials {
        if let key = environment["AWS_ACCESS_KEY_ID"], !key.isEmpty,
           let secret = environment["AWS_SECRET_ACCESS_KEY"], !secret.isEmpty {
            let token = environment["AWS_SESSION_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
            return AWSCredentials(accessKeyID: key, secretAccessKey: secret, sessionToken: token)
        }
        let profile = environment["AWS_PROFILE"].flatMap { $0.isEmpty ? nil : $0 } ?? "default"
        let file = sharedFilePath(environment: environment, variable: "AWS_SHARED_CREDENTIALS_FILE", name: "credentials")
        if let found = try fromSharedFile(path: file, profile: profile, location: location) { return found }
        throw RemoteError(
            .invalidConfiguration, location: location,
            detail: "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or add profile [\(profile)] to \(file)")
    }

    /// The profile's keys from a shared credentials file, or nil when the file or profile is absent.
    public static func fromSharedFile(path: String, profile: String, location: String) throws -> AWSCredentials? {
        guard let values = try SharedConfigFile.section(path: path, named: profile, location: location) else { return nil }
        guard let key = values["aws_access_key_id"], let secret = values["aws_secret_access_key"] else {
            throw RemoteError(.invalidConfiguration, location: location,
                              detail: "profile [\(profile)] in \(path) lacks aws_access_key_id or aws_secret_access_key")
        }
        return AWSCredentials(accessKeyID: key, secretAccessKey: secret, sessionToken: values["aws_session_token"])
    }

    /// The region for requests: `AWS_REGION`, `AWS_DEFAULT_REGION`, the profile's `region` in
    /// `~/.aws/config` (`AWS_CONFIG_FILE`) or the credentials file; nil when none is set.
    public static func region(environment: [String: String], location: String) -> String? {
        for variable in ["AWS_REGION", "AWS_DEFAULT_REGION"] {
            if let value = environment[variable], !value.isEmpty { return value }
        }
        let profile = environment["AWS_PROFILE"].flatMap { $0.isEmpty ? nil : $0 } ?? "default"
        let config = sharedFilePath(environment: environment, variable: "AWS_CONFIG_FILE", name: "config")
        // The config file names sections "profile NAME", except for the default profile.
        let sectionName = profile == "default" ? "default" : "profile \(profile)"
        if let values = try? SharedConfigFile.section(path: config, named: sectionName, location: location),
           let region = values["region"] { return region }
        let credentials = sharedFilePath(environment: environment, variable: "AWS_SHARED_CREDENTIALS_FILE", name: "credentials")
        return (try? SharedConfigFile.section(path: credentials, named: profile, location: location))??["region"]
    }

    private static func sharedFilePath(environment: [String: String], variable: String, name: String) -> String {
        if let path = environment[variable], !path.isEmpty { return path }
        let home = environment["HOME"] ?? "~"
        return "\(home)/.aws/\(name)"
    }
}

/// The INI format of `~/.aws/credentials` and `~/.aws/config`.
enum SharedConfigFile {
    /// The keys of section `[name]`, or nil when the file or the section does not exist.
    static func section(path: String, named name: String, location: String) throws -> [String: String]? {
        let bytes: [UInt8]
        do {
            bytes = try FileSystem.readFile(path)
        } catch let error as SystemCallError {
            if error.code == 2 /* ENOENT */ { return nil }
            throw RemoteError(.invalidConfiguration, location: location, detail: "\(path): \(error.reason)")
        }
        return parse(String(decoding: bytes, as: UTF8.self))[name]
    }

    /// Sections of an INI text: `[name]` headers, `key = value` lines, `#` and `;` comments.
    static func parse(_ text: String) -> [String: [String: String]] {
        var sections: [String: [String: String]] = [:]
        var current: String?
        for rawLine in text.split(whereSeparator: \.isNewline) {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("["), line.hasSuffix("]") {
                let name = line.dropFirst().dropLast().trimmingCharacters(in: .whitespaces)
                current = name
                if sections[name] == nil { sections[name] = [:] }
                continue
            }
            guard let current, let equals = line.firstIndex(of: "=") else { continue }
            let key = line[..<equals].trimmingCharacters(in: .whitespaces).lowercased()
            let value = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            sections[current]![key] = value
        }
        return sections
    }
}
