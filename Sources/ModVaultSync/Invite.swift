public import Foundation
public import ModVaultCore
public import ModVaultCrypto
public import ModVaultStore

/// An invite code: where the project lives, the invite's ID, a one-time secret and an expiry.
///
/// Text form `mvinv1:` ‖ base64url(JSON, keys sorted). Nothing in it grants access except the
/// one-time secret, and only once: the remote keeps its hash, and the key slot it opens is removed
/// when the invite is redeemed. It never carries credentials (a remote URL with user info is refused
/// when parsed). `role` is shown to the joiner; the role granted is the one the server recorded.
public struct InviteCode: Sendable, Equatable, Codable {
    /// The text every code starts with.
    public static let prefix = "mvinv1:"

    /// The remote's URL, as `RemoteURL.description` writes it.
    public var remote: String
    /// The invite's ID on the remote.
    public var invite: String
    /// The one-time secret (40 hex digits).
    public var secret: String
    /// When the invite stops working (whole seconds).
    public var expires: Date
    /// The role the invite was created with (informational).
    public var role: String
    /// The repository's ID, hex, so the joiner can check what they received.
    public var repository: String

    /// Creates a code with a fresh secret.
    public init(remote: String, invite: String, expires: Date, role: String, repository: String,
                secret: String = Hex.encode(SecureRandom.bytes(20))) {
        self.remote = remote
        self.invite = invite
        self.secret = secret
        self.expires = Date(timeIntervalSince1970: expires.timeIntervalSince1970.rounded(.down))
        self.role = role
        self.repository = repository
    }

    private enum CodingKeys: String, CodingKey { case remote, invite, secret, expires, role, repository }

    /// The code as text.
    public var text: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .secondsSince1970
        let json = (try? encoder.encode(self)) ?? Data()
        return Self.prefix + Base64URL.encode(Array(json))
    }

    /// Parses a code; throws `InviteError.malformed` naming what is wrong.
    public static func parse(_ text: String) throws(InviteError) -> InviteCode {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard trimmed.hasPrefix(prefix) else { throw .malformed("an invite code starts with \(prefix)") }
        guard trimmed.count < 4096, let bytes = Base64URL.decode(String(trimmed.dropFirst(prefix.count))) else {
            throw .malformed("the text after \(prefix) is not base64url")
        }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .secondsSince1970
        guard let code = try? decoder.decode(InviteCode.self, from: Data(bytes)) else { throw .malformed("the code's fields do not parse") }
        guard code.secret.count >= 32, code.secret.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }) else { throw .malformed("the secret is not 32+ hex digits") }
        guard !code.invite.isEmpty, code.invite.count <= 64 else { throw .malformed("no invite ID") }
        return code
    }

    /// True when the code's expiry has passed.
    public func isExpired(now: Date = Date()) -> Bool { expires <= now }
}

/// Why an invite could not be made or used.
public enum InviteError: ModVaultFailure, Equatable {
    /// The code text is not an invite code.
    case malformed(String)
    /// The invite's key slot does not open with the code's secret (altered slot or code).
    case slotDoesNotOpen(invite: String)
    /// The repository the slot opened is not the one the code names.
    case wrongRepository(expected: String, found: String)
    /// The invite's expiry has passed.
    case expired(invite: String, at: Date)
    /// The remote no longer holds the invite (used or revoked).
    case gone(invite: String, remote: String)

    /// The broad cause.
    public var kind: FailureKind {
        switch self {
        case .malformed: return .invalidInput
        case .slotDoesNotOpen, .wrongRepository, .expired, .gone: return .wrongPassword
        }
    }

    /// One line naming the cause.
    public var description: String {
        switch self {
        case .malformed(let why): return "not a valid invite code: \(why)"
        case .slotDoesNotOpen(let id): return "invite \(id): its key slot does not open with the code's secret (altered code or slot)"
        case .wrongRepository(let e, let f): return "the invite opened repository \(f), but the code names \(e)"
        case .expired(let id, let at): return "invite \(id) expired at \(ISO8601DateFormatter().string(from: at)); ask for a new code"
        case .gone(let id, let r): return "invite \(id) was already used or revoked (\(r) no longer holds it)"
        }
    }
}

/// The key slot an invite carries: the master key sealed under a key derived from the code's secret.
///
/// Text form: base64 of the AEAD box (§5) of the master key JSON, associated data
/// `modvault-invite:<invite ID>` (so a slot moved to another invite does not open).
public enum InviteSlot {
    /// Seals `master` for the holder of `code`.
    public static func seal(_ master: MasterKey, for code: InviteCode) throws -> String {
        let key = try InviteKey.derive(secret: Array(code.secret.utf8), inviteID: code.invite)
        let plaintext = Array(try JSONEncoder().encode(master.sharable))
        return Base64.encode(AEAD(key: key).seal(plaintext, associatedData: associatedData(code.invite)))
    }

    /// Opens the slot with `code`'s secret.
    public static func open(_ slot: String, with code: InviteCode) throws -> MasterKey {
        let key = try InviteKey.derive(secret: Array(code.secret.utf8), inviteID: code.invite)
        guard let box = Base64.decode(slot), let plaintext = try? AEAD(key: key).open(box, associatedData: associatedData(code.invite)),
              let master = try? JSONDecoder().decode(MasterKey.self, from: Data(plaintext)) else {
            throw InviteError.slotDoesNotOpen(invite: code.invite)
        }
        return master
    }

    private static func associatedData(_ invite: String) -> [UInt8] { Array("modvault-invite:\(invite)".utf8) }
}

/// base64url without padding (RFC 4648 §5), for codes that survive chat and shells.
enum Base64URL {
    static func encode(_ bytes: [UInt8]) -> String {
        Base64.encode(bytes).replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func decode(_ text: String) -> [UInt8]? {
        guard text.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 | 0x20 >= 97 && $0 | 0x20 <= 122) || $0 == 45 || $0 == 95 }) else { return nil }
        var s = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while s.count % 4 != 0 { s += "=" }
        return Base64.decode(s)
    }
}
