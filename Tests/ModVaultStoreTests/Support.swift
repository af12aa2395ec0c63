import Foundation
import Testing
import ModVaultCore
import ModVaultCrypto
import ModVaultStore

/// A fresh folder under the system temporary directory; `remove()` deletes it and everything in it.
struct TemporaryFolder {
    let path: String

    init() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("modvault-store-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        path = url.path
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

enum Fixture {
    static let password = Array("correct horse battery staple".utf8)

    /// Cheap key derivation and small packs, so tests stay fast and cover several packs.
    static var options: RepositoryOptions {
        var o = RepositoryOptions()
        o.scrypt = ScryptParameters(n: 1024, r: 8, p: 1)
        o.packSize = 1 << 20
        return o
    }

    static func makeRepository(in folder: TemporaryFolder, name: String = "repo") throws -> Repository {
        try Repository.initialize(at: folder.path + "/" + name, password: password, options: options)
    }

    /// 128 KiB of text-like words, generated once.
    static let baseText: [UInt8] = {
        let words = ["meshes", "textures", "plugin", "armor", "record", "the", "and", "of", "quest", "npc", "0x1A2B"]
        var out: [UInt8] = []
        out.reserveCapacity(140_000)
        var i = 1
        while out.count < 128 << 10 {
            i = i &* 1_103_515_245 &+ 12345
            out.append(contentsOf: words[((i >> 16) & 0x7FFF) % words.count].utf8)
            out.append(i & 0x1000 == 0 ? UInt8(ascii: " ") : UInt8(ascii: "\n"))
        }
        return out
    }()

    /// Text-like, compressible bytes (up to 128 KiB), different for each seed.
    static func text(_ count: Int, seed: Int) -> [UInt8] {
        let base = baseText
        let rotation = (seed &* 7919) % (base.count - 1) + 1
        var out = Array((base[rotation...] + base[..<rotation]).prefix(count))
        let tag = Array("<\(seed)>".utf8)
        for (i, b) in tag.enumerated() where i < out.count { out[i] = b }
        return out
    }
}

/// Replaces a (read-only) repository file with modified bytes.
func rewrite(_ path: String, _ change: (inout [UInt8]) -> Void) throws {
    var bytes = try FileSystem.readFile(path)
    change(&bytes)
    try FileSystem.remove(path)
    try FileSystem.writeAtomically(path, bytes: bytes)
}

extension Repository {
    func load(_ handle: BlobHandle) throws -> [UInt8] {
        var out: [UInt8] = []
        try loadBlob(handle, into: &out)
        return out
    }
}

func randomID() -> ObjectID { SecureRandom.objectID() }
