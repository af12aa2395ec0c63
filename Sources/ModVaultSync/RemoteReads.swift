import Foundation
import ModVaultCore
import ModVaultStore
import ModVaultCrypto

/// Reads of a remote repository's metadata, shared by sync and mirror: every object of a kind,
/// the decoded index, and verified snapshots. Each file is checked against its SHA-256 name and
/// opened with the repository's cipher before it is trusted.
struct RemoteReads: Sendable {
    let remote: any Remote
    let cipher: AEAD

    /// Every object name of one kind, following pages.
    func names(_ kind: FileKind) async throws -> Set<String> {
        var names = Set<String>()
        var after: String? = nil
        while true {
            let page = try await remote.list(kind, after: after, limit: 1000)
            for entry in page { names.insert(entry.name.name) }
            guard page.count == 1000, let last = page.last else { return names }
            after = last.name.name
        }
    }

    /// Downloads, verifies and decrypts one file named by its SHA-256; also returns the bytes downloaded.
    func open(_ kind: FileKind, name: String) async throws -> (plain: [UInt8], downloaded: Int) {
        let sealed = try await remote.load(ObjectName(kind: kind, name: name), range: nil)
        guard let id = ObjectID(hex: name), SHA256Digest.hash(sealed) == id,
              let plain = try? cipher.open(sealed, associatedData: Array(kind.rawValue.utf8)) else {
            throw SyncError.corruptDownload(remote: remote.location, object: "\(kind.rawValue)/\(name)", reason: "failed authentication")
        }
        return (plain, sealed.count)
    }

    /// Every index file, decoded in memory into blob locations.
    func index() async throws -> [BlobHandle: BlobLocation] {
        var out: [BlobHandle: BlobLocation] = [:]
        for name in try await names(.index).sorted() {
            let file = try IndexFile.decode(try await open(.index, name: name).plain, path: "\(remote.location)/index/\(name)")
            for pack in file.packs {
                for e in pack.entries {
                    out[e.handle] = BlobLocation(pack: pack.id, offset: e.offset, length: e.length, rawLength: e.rawLength, codec: e.codec)
                }
            }
        }
        return out
    }

    /// One snapshot, verified, with the bytes downloaded.
    func snapshot(_ name: String) async throws -> (snapshot: Snapshot, downloaded: Int) {
        let (plain, downloaded) = try await open(.snapshot, name: name)
        return (try Repository.decodeSnapshotJSON(plain, path: "\(remote.location)/snapshots/\(name)"), downloaded)
    }
}
