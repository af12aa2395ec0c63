import Foundation
public import ModVaultCore
public import ModVaultCrypto
public import ModVaultChunking

/// The repository's master secrets. Never written anywhere except sealed inside key slots.
public struct MasterKey: Codable, Sendable, Equatable {
    /// AES-256-GCM key for every object written from now on.
    public var encryption: SecretKey
    /// HMAC-SHA256 key that turns blob plaintext into content IDs.
    public var mac: SecretKey
    /// Encryption keys retired by `members remove --rotate`, newest first: they still open what was
    /// written before each rotation, and never seal anything new. Absent before the first rotation.
    public var retired: [SecretKey]?
    /// This slot holder's own X25519 key, to which admins seal the new key at a rotation. Each
    /// member's slots carry their own; it is never handed on (`sharable` drops it).
    public var member: MemberPrivateKey?

    /// Creates master secrets.
    public init(encryption: SecretKey, mac: SecretKey, retired: [SecretKey]? = nil, member: MemberPrivateKey? = nil) {
        self.encryption = encryption
        self.mac = mac
        self.retired = retired
        self.member = member
    }

    /// Fresh random master secrets.
    public static func random() -> MasterKey { MasterKey(encryption: .random(), mac: .random()) }

    /// The keys every member shares: these secrets without this holder's member key.
    public var sharable: MasterKey { MasterKey(encryption: encryption, mac: mac, retired: retired, member: nil) }

    /// The cipher for repository objects: seals with `encryption`, opens with it or a retired key.
    public var cipher: AEAD { AEAD(key: encryption, retired: retired ?? []) }

    /// After a rotation: `fresh` seals from now on, the current key joins the retired ones.
    public func rotated(to fresh: SecretKey = .random()) -> MasterKey {
        MasterKey(encryption: fresh, mac: mac, retired: [encryption] + (retired ?? []), member: member)
    }
}

/// A key slot: the master key sealed under a key derived from one password.
///
/// Stored in plaintext JSON as `keys/<random id>` so that a password can be checked
/// before anything else is read; adding or changing a password touches only its own slot.
public struct KeySlot: Codable, Sendable {
    /// Slot format version.
    public var version: Int
    /// When the slot was created.
    public var created: Date
    /// Host that created it.
    public var host: String
    /// User that created it.
    public var username: String
    /// Always "scrypt" in version 1.
    public var kdf: String
    /// scrypt cost parameters.
    public var scrypt: ScryptParameters
    /// Random salt, base64.
    public var salt: String
    /// The sealed master key JSON, base64 (AES-256-GCM under the derived key, associated data "modvault-key").
    public var data: String

    static let associatedData = Array("modvault-key".utf8)
    /// Key slot files are readable by their owner only: with one, a password can be attacked offline.
    public static let fileMode: UInt32 = 0o400

    /// Seals `master` under `password`.
    public static func seal(_ master: MasterKey, password: [UInt8], parameters: ScryptParameters = .default) throws -> KeySlot {
        let salt = SecureRandom.bytes(32)
        let wrapping = try parameters.deriveKey(password: password, salt: salt)
        let plaintext = Array(try JSONEncoder().encode(master))
        let box = AEAD(key: wrapping).seal(plaintext, associatedData: associatedData)
        return KeySlot(version: 1, created: Date(), host: Host.name, username: Host.user, kdf: "scrypt",
                       scrypt: parameters, salt: Base64.encode(salt), data: Base64.encode(box))
    }

    /// Why the slot cannot be tried at all (an unknown KDF, parameters out of bounds, damaged fields), or nil.
    public var unusableReason: String? {
        guard kdf == "scrypt" else { return "unknown key derivation '\(kdf)'" }
        do { try scrypt.validate() } catch { return "\(error)" }
        guard Base64.decode(salt) != nil, Base64.decode(data) != nil else { return "salt or sealed key is not base64" }
        return nil
    }

    /// Opens the slot with `password`; nil if the password is wrong.
    public func open(password: [UInt8]) throws -> MasterKey? {
        if let reason = unusableReason { throw StoreError.corruptObject(path: "keys", reason: "unusable key slot: \(reason)") }
        guard let saltBytes = Base64.decode(salt), let box = Base64.decode(data) else {
            throw StoreError.corruptObject(path: "keys", reason: "unreadable key slot")
        }
        let wrapping = try scrypt.deriveKey(password: password, salt: saltBytes)
        guard let plaintext = try? AEAD(key: wrapping).open(box, associatedData: Self.associatedData) else { return nil }
        return try JSONDecoder().decode(MasterKey.self, from: Data(plaintext))
    }

    /// Parses a slot file.
    public static func decode(_ bytes: [UInt8]) throws -> KeySlot {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try decoder.decode(KeySlot.self, from: Data(bytes))
    }
}

/// A rotated master key sealed to one member's X25519 public key (`keys/<random id>` on a shared
/// remote, owned by that member): how remaining members receive the new key after
/// `members remove --rotate`. Plain JSON; `data` is a `RecipientBox` with associated data `modvault-grant`.
public struct KeyGrant: Codable, Sendable, Equatable {
    /// Always "grant".
    public var type: String
    /// Grant format version (1).
    public var version: Int
    /// When the grant was made.
    public var created: Date
    /// The recipient's public key, base64.
    public var recipient: String
    /// The sealed `MasterKey` JSON (without any member key), base64.
    public var data: String

    static let associatedData = Array("modvault-grant".utf8)

    /// Seals `master` (its sharable part) to `recipient`.
    public static func seal(_ master: MasterKey, to recipient: MemberPublicKey) throws -> KeyGrant {
        let box = try RecipientBox.seal(Array(try JSONEncoder().encode(master.sharable)), to: recipient, associatedData: associatedData)
        return KeyGrant(type: "grant", version: 1, created: Date(), recipient: Base64.encode(recipient.bytes), data: Base64.encode(box))
    }

    /// Opens the grant with `key`; nil when it is for someone else or was altered.
    public func open(with key: MemberPrivateKey) -> MasterKey? {
        guard recipient == Base64.encode(key.publicKey.bytes), let box = Base64.decode(data),
              let plain = try? RecipientBox.open(box, with: key, associatedData: Self.associatedData) else { return nil }
        return try? JSONDecoder().decode(MasterKey.self, from: Data(plain))
    }

    /// The grant as JSON.
    public func encoded() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        return Array(try encoder.encode(self))
    }

    /// Parses a grant; throws for anything else (a key slot included).
    public static func decode(_ bytes: [UInt8]) throws -> KeyGrant {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        let grant = try decoder.decode(KeyGrant.self, from: Data(bytes))
        guard grant.type == "grant", grant.version == 1 else {
            throw StoreError.corruptObject(path: "keys", reason: "not a version-1 key grant")
        }
        return grant
    }
}

/// The `type` field that tells grants and invites apart from key slots (which have none).
private struct TypedKeyObject: Decodable { var type: String }

/// A key slot left out because it cannot be tried, with the reason.
public struct SkippedKeySlot: Sendable, Equatable, CustomStringConvertible {
    /// The slot's file name.
    public var name: String
    /// Why it was left out.
    public var reason: String

    /// "key slot NAME skipped: REASON".
    public var description: String { "key slot \(name.prefix(8)) skipped: \(reason)" }
}

/// Trying a password against a set of key slots: the one place local and remote repositories unlock.
public enum KeySlots {
    /// What trying a password found: the master key and the slot that opened it (nil when none
    /// did), the usable slots, and those skipped.
    public struct Outcome: Sendable {
        /// The master key, if a slot opened.
        public var master: MasterKey?
        /// The name of the slot that opened.
        public var name: String?
        /// Slots that parse and can be tried, by name (what a clone copies).
        public var usable: [String]
        /// Slots that were left out, and why.
        public var skipped: [SkippedKeySlot]
    }

    /// Tries `password` against each slot in turn. A slot that does not parse, names an unknown
    /// KDF or asks for more memory or work than allowed is skipped, never fatal, so one bad slot
    /// (planted or damaged) cannot lock out the others.
    public static func unlock(_ slots: [(name: String, bytes: [UInt8])], password: [UInt8]) -> Outcome {
        var outcome = Outcome(master: nil, name: nil, usable: [], skipped: [])
        for (name, bytes) in slots {
            let slot: KeySlot
            do { slot = try KeySlot.decode(bytes) } catch {
                // Grants (for one member's X25519 key) and invites (for one code's secret) live beside
                // the slots but never open with a password: not an error, and not usable here.
                if let typed = try? JSONDecoder().decode(TypedKeyObject.self, from: Data(bytes)), ["grant", "invite"].contains(typed.type) { continue }
                outcome.skipped.append(SkippedKeySlot(name: name, reason: "not a key slot"))
                continue
            }
            if let reason = slot.unusableReason {
                outcome.skipped.append(SkippedKeySlot(name: name, reason: reason))
                continue
            }
            outcome.usable.append(name)
            guard outcome.master == nil else { continue }
            do {
                if let master = try slot.open(password: password) {
                    outcome.master = master
                    outcome.name = name
                }
            } catch {
                outcome.usable.removeLast()
                outcome.skipped.append(SkippedKeySlot(name: name, reason: "\(error)"))
            }
        }
        return outcome
    }
}

/// Facts about the machine, recorded in snapshots and key slots.
public enum Host {
    /// The host name.
    public static var name: String {
        var buf = [CChar](repeating: 0, count: 256)
        gethostname(&buf, buf.count)
        return String(cString: buf)
    }

    /// The login name, or the numeric UID.
    public static var user: String {
        if let pw = getpwuid(getuid()), let n = pw.pointee.pw_name { return String(cString: n) }
        return String(getuid())
    }
}

/// The repository configuration: sealed with the master key and stored as `config`.
public struct RepositoryConfig: Codable, Sendable, Equatable {
    /// Format version; this build writes and reads 1.
    public var version: Int
    /// Random repository ID; remotes holding another ID are refused.
    public var id: ObjectID
    /// FastCDC sizes.
    public var chunker: ChunkerParameters
    /// Secret from which the gear table is derived.
    public var chunkerSecret: SecretKey
    /// Default codec name for blobs.
    public var compression: String
    /// Codec level (zstd 1–19, zlib 1–9; ignored otherwise).
    public var compressionLevel: Int
    /// Target pack size in bytes.
    public var packSize: Int

    /// The current format version.
    public static let currentVersion = 2
    /// Versions this build reads: 1 (before content lists; read as it is, and new trees written into
    /// it may use lists) and 2.
    public static let readableVersions = 1...2
}

