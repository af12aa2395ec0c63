public import Foundation
public import ModVaultCore
import ModVaultCrypto
public import ModVaultStore
public import ModVaultRemotePocketBase
import ModVaultRemoteSupport

/// Making and redeeming invites, the one way for every front end (CLI and web UI): on a PocketBase
/// project the server records and enforces the invite; other remotes hold it as a key object
/// (`keys/<SHA-256 of "modvault-invite:<id>">`) that only the code's holder can find and open.
public enum Sharing {
    /// What an S3 or disk remote holds for an invite: role and expiry (advisory: such a remote
    /// cannot enforce them) and the invite's key slot.
    struct StoredInvite: Codable {
        var type = "invite"
        var version = 1
        var role: String
        var expires: Date
        var slot: String
    }

    /// Where an invite lives on an S3 or disk remote; its name cannot be steered by the code.
    static func storedInviteName(_ id: String) -> ObjectName {
        ObjectName(kind: .key, id: SHA256Digest.hash(Array("modvault-invite:\(id)".utf8)))
    }

    /// `repository`, reopened with a member key of its own if it had none (rotation seals new keys
    /// to members' public keys, the inviter's included).
    public static func withMemberKey(_ repository: Repository, password: [UInt8]) throws -> Repository {
        guard repository.masterKey.member == nil else { return repository }
        var master = repository.masterKey
        master.member = MemberPrivateKey.random()
        _ = try repository.replaceMasterKey(with: master, password: password)
        return try Repository.open(at: repository.path, password: password)
    }

    /// Creates an invite for `role` until `expires` on `remote` (whose URL text is `remoteURL`), and
    /// returns its code. `pocketBase` is the same remote when it is a PocketBase project. The
    /// repository must have a member key (`withMemberKey`).
    public static func invite(repository: Repository, remote: any Remote, pocketBase: PocketBaseRemote?, remoteURL: String,
                              role: ProjectRole, expires: Date) async throws -> InviteCode {
        let id = pocketBase != nil ? PocketBaseProject.newRecordID() : Hex.encode(SecureRandom.bytes(12))
        let code = InviteCode(remote: remoteURL, invite: id, expires: expires, role: role.rawValue, repository: repository.config.id.hex)
        let slot = try InviteSlot.seal(repository.masterKey, for: code)
        if let pocketBase {
            try await pocketBase.heartbeat(device: Host.name, publicKey: repository.masterKey.member.map { Base64.encode($0.publicKey.bytes) })
            _ = try await pocketBase.createInvite(id: id, secret: code.secret, role: role, expires: code.expires, slot: slot)
        } else {
            let encoder = JSONEncoder()
            encoder.dateEncodingStrategy = .iso8601
            encoder.outputFormatting = [.sortedKeys]
            let stored = StoredInvite(role: role.rawValue, expires: code.expires, slot: slot)
            try await remote.save(storedInviteName(id), data: Array(try encoder.encode(stored)), ifAbsent: true)
        }
        return code
    }

    /// Redeems `code` for the account `pocketBase` signs in with (or, on other remotes, whoever holds
    /// the credentials of `remote`): the master key and the role recorded for the invite.
    public static func redeem(_ code: InviteCode, remote: any Remote, pocketBase: PocketBaseRemote?) async throws -> (master: MasterKey, role: String) {
        if code.isExpired() { throw InviteError.expired(invite: code.invite, at: code.expires) }
        if let pocketBase {
            let redeemed = try await pocketBase.redeemInvite(id: code.invite, secret: code.secret, expires: code.expires)
            return (try InviteSlot.open(redeemed.slot, with: code), redeemed.role.rawValue)
        }
        let stored: StoredInvite
        do {
            let decoder = JSONDecoder()
            decoder.dateDecodingStrategy = .iso8601
            stored = try decoder.decode(StoredInvite.self, from: Data(try await remote.load(storedInviteName(code.invite), range: nil)))
        } catch let error as RemoteError where error.reason == .notFound {
            throw InviteError.gone(invite: code.invite, remote: remote.location)
        }
        if stored.expires <= Date() { throw InviteError.expired(invite: code.invite, at: stored.expires) }
        return (try InviteSlot.open(stored.slot, with: code), stored.role)
    }

    /// After joining through a remote that cannot enforce single use: removes the invite, if the
    /// joiner's credentials may. Returns the failure to report otherwise.
    public static func discardStoredInvite(_ code: InviteCode, remote: any Remote) async -> (any Error)? {
        do { try await remote.remove(storedInviteName(code.invite)) } catch { return error }
        return nil
    }
}
