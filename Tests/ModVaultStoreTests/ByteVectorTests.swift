import Foundation
import Testing
import ModVaultCore
@testable import ModVaultStore
import ModVaultCrypto

/// Fixed bytes for structures Docs/FORMAT.md specifies, written out by hand from it: a change to an
/// encoder and its decoder together would still fail here.
@Suite("Byte vectors")
struct ByteVectorTests {
    static func id(_ byte: UInt8) -> ObjectID { ObjectID(bytes: [UInt8](repeating: byte, count: 32))! }
    static func le64(_ v: Int64) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }

    /// Version 1 (§9): a folder, a file of data blobs and a link, sorted by name.
    @Test func treeVersionOne() throws {
        let tree = Tree(nodes: [
            TreeNode(name: "l", type: .symlink, mode: 0o777, mtimeNanos: 7, size: 1, linkTarget: "t"),
            TreeNode(name: "f", type: .regular, mode: 0o644, mtimeNanos: 1, ctimeNanos: 2, inode: 3, device: 4, size: 5,
                     content: .inline([BlobHandle(id: Self.id(0xAA), type: .data)])),
            TreeNode(name: "d", type: .directory, mode: 0o755, mtimeNanos: 0, size: 0, subtree: Self.id(0xBB)),
        ])
        var expected: [UInt8] = [1, 3]
        expected += [1, UInt8(ascii: "d"), 1, 0xED, 0x03] + Self.le64(0) + Self.le64(0) + [0, 0, 0] + [UInt8](repeating: 0xBB, count: 32)
        expected += [1, UInt8(ascii: "f"), 0, 0xA4, 0x03] + Self.le64(1) + Self.le64(2) + [3, 4, 5] + [1] + [UInt8](repeating: 0xAA, count: 32)
        expected += [1, UInt8(ascii: "l"), 2, 0xFF, 0x03] + Self.le64(7) + Self.le64(0) + [0, 0, 1] + [1, UInt8(ascii: "t")]
        #expect(tree.encoded() == expected)
        #expect(try Tree.decode(expected) == tree)
    }

    /// Version 2 (§9): once a file names a stream blob, every handle carries its type byte.
    @Test func treeVersionTwo() throws {
        let tree = Tree(nodes: [
            TreeNode(name: "a.ba2", type: .regular, mode: 0o600, mtimeNanos: 9, size: 300,
                     content: .inline([BlobHandle(id: Self.id(0x01), type: .data), BlobHandle(id: Self.id(0x02), type: .stream)])),
        ])
        var expected: [UInt8] = [2, 1]
        expected += [5] + Array("a.ba2".utf8) + [0, 0x80, 0x03] + Self.le64(9) + Self.le64(0) + [0, 0, 0xAC, 0x02]
        expected += [2, 0] + [UInt8](repeating: 0x01, count: 32) + [2] + [UInt8](repeating: 0x02, count: 32)
        #expect(tree.encoded() == expected)
        #expect(try Tree.decode(expected) == tree)
    }

    /// An index file's plaintext (§7): version, superseded files, then per pack its blobs.
    @Test func indexFile() throws {
        let file = IndexFile(packs: [IndexedPack(id: Self.id(0x11), entries: [
            PackEntry(handle: BlobHandle(id: Self.id(0x22), type: .tree), codec: .zstd, length: 300, rawLength: 1000, offset: 5),
        ])], supersedes: [Self.id(0x33)])
        var expected: [UInt8] = [1, 1] + [UInt8](repeating: 0x33, count: 32) + [1] + [UInt8](repeating: 0x11, count: 32) + [1]
        expected += [1] + [UInt8](repeating: 0x22, count: 32) + [2, 5, 0xAC, 0x02, 0xE8, 0x07]
        #expect(file.encoded() == expected)
        #expect(try IndexFile.decode(expected, path: "index/x") == file)
    }

    /// A pack header's plaintext (§6): version, count, then per blob its type, ID, codec, sealed and
    /// plaintext lengths. The sealed header is opened with the key to compare the plaintext, and a pack
    /// assembled by hand from that plaintext is read back to the same entries and offsets.
    @Test func packHeader() throws {
        let cipher = AEAD(key: try SecretKey(bytes: [UInt8](repeating: 5, count: 32)))
        let entries = [
            PackEntry(handle: BlobHandle(id: Self.id(0x44), type: .data), codec: .none, length: 40, rawLength: 12, offset: 0),
            PackEntry(handle: BlobHandle(id: Self.id(0x55), type: .list), codec: .lz4, length: 200, rawLength: 300, offset: 40),
        ]
        var plain: [UInt8] = [1, 2]
        plain += [0] + [UInt8](repeating: 0x44, count: 32) + [0, 40, 12]
        plain += [3] + [UInt8](repeating: 0x55, count: 32) + [1, 0xC8, 0x01, 0xAC, 0x02]
        let sealed = PackFormat.sealedHeader(entries, cipher: cipher)
        let boxLength = sealed.count - 4
        #expect(Array(sealed.suffix(4)) == [UInt8(boxLength & 0xFF), UInt8(boxLength >> 8), 0, 0])
        #expect(try cipher.open(Array(sealed.prefix(boxLength)), associatedData: Array("modvault-pack-header".utf8)) == plain)

        let box = cipher.seal(plain, associatedData: Array("modvault-pack-header".utf8))
        let pack = [UInt8](repeating: 0xEE, count: 240) + box + [UInt8(box.count), 0, 0, 0]
        let read = try PackFormat.readHeader(packSize: Int64(pack.count), cipher: cipher, path: "data/x") { offset, count in
            Array(pack[Int(offset)..<Int(offset) + count])
        }
        #expect(read == entries)
    }

    /// A snapshot's plaintext (§9): JSON with sorted keys, times in RFC 3339 with nanoseconds, IDs in hex.
    @Test func snapshotJSON() throws {
        var summary = SnapshotSummary(filesNew: 1, filesChanged: 2, filesUnchanged: 3, directories: 4, bytesRead: 5,
                                      bytesTotal: 6, bytesAdded: 7, blobsAdded: 8, errors: 0, seconds: 0.5)
        summary.streams = nil
        let snapshot = Snapshot(
            time: Timestamp.parse("2026-12-04T23:05:17.250000000Z")!, host: "pc", username: "ann", device: "d1",
            paths: ["/mods"], tags: ["t"], parents: [Self.id(0x0A)], tree: Self.id(0x0B), summary: summary)
        let parent = String(repeating: "0a", count: 32), tree = String(repeating: "0b", count: 32)
        let expected = #"{"device":"d1","host":"pc","parents":[""# + parent + #""],"paths":["\/mods"],"#
            + #""summary":{"blobsAdded":8,"bytesAdded":7,"bytesRead":5,"bytesTotal":6,"directories":4,"errors":0,"#
            + #""filesChanged":2,"filesNew":1,"filesUnchanged":3,"seconds":0.5},"#
            + #""tags":["t"],"time":"2026-12-04T23:05:17.250000000Z","tree":""# + tree + #"","username":"ann","version":1}"#
        #expect(String(decoding: try Repository.jsonEncoder.encode(snapshot), as: UTF8.self) == expected)
        #expect(try Repository.decodeSnapshotJSON(Array(expected.utf8), path: "snapshots/x") == snapshot)
    }
}
