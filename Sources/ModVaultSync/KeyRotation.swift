public import Foundation
public import ModVaultCore
public import ModVaultCrypto
public import ModVaultStore

/// Starting a new repository key after a member leaves, and receiving it as a remaining member.
///
/// The admin seals the rotated master key to each remaining member's X25519 public key
/// (`KeyGrant`); each member, at their next sync, finds the grant for their key, checks that it
/// succeeds the key they hold (same MAC key, their current key among the retired ones) and
/// re-seals their own slot. Old keys stay in `retired`, so history stays readable; nothing written
/// after the rotation opens with a retired key alone.
public enum KeyRotation {
    /// The newest master key granted on `remote` to this repository's member key that succeeds the
    /// key it uses now, or nil (no member key, no grant, or only grants it already has).
    public static func pendingKey(for repository: Repository, on remote: any Remote) async throws -> MasterKey? {
        guard let member = repository.masterKey.member else { return nil }
        var best: MasterKey?
        for (_, bytes) in try await RemoteKeys.slots(of: remote) {
            guard let grant = try? KeyGrant.decode(bytes), let granted = grant.open(with: member) else { continue }
            guard succeeds(granted, repository.masterKey) else { continue }
            if best == nil || (granted.retired?.count ?? 0) > (best!.retired?.count ?? 0) { best = granted }
        }
        guard var key = best else { return nil }
        key.member = member
        return key
    }

    /// True when `new` is a later key of the same repository than `current`.
    static func succeeds(_ new: MasterKey, _ current: MasterKey) -> Bool {
        new.mac == current.mac && new.encryption != current.encryption && (new.retired ?? []).contains(current.encryption)
    }

    /// Adopts a pending key, if any: re-seals this repository's slot under `password` and returns the
    /// reopened repository, or nil when there was nothing to adopt.
    public static func adoptPendingKey(_ repository: Repository, from remote: any Remote, password: [UInt8]) async throws -> Repository? {
        guard let key = try await pendingKey(for: repository, on: remote) else { return nil }
        _ = try repository.replaceMasterKey(with: key, password: password)
        return try Repository.open(at: repository.path, password: password)
    }
}
