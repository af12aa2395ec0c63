import Testing
import ModVaultCore
import ModVaultCrypto
import ModVaultStore

/// An ID whose 32 bytes are all `byte`.
private func filled(_ byte: UInt8) -> ObjectID { ObjectID(bytes: [UInt8](repeating: byte, count: 32))! }

/// Lists kept in memory under their MACs, as a repository would hold them.
private final class ListStore {
    let mac = ContentMAC(key: try! SecretKey(bytes: [UInt8](repeating: 7, count: 32)))
    var lists: [ObjectID: [UInt8]] = [:]

    func store(_ plain: [UInt8]) -> ObjectID {
        let id = plain.withUnsafeBytes { mac.id($0) }
        lists[id] = plain
        return id
    }

    func load(_ id: ObjectID) throws -> ContentList {
        guard let bytes = lists[id] else { throw ContentListError(reason: "missing \(id.short)") }
        return try ContentList.decode(bytes)
    }
}

private func handles(_ n: Int, seed: UInt64) -> [BlobHandle] {
    var g = SplitMix64(seed: seed)
    return (0..<n).map { _ in
        let words = [g.next(), g.next(), g.next(), g.next()]
        return BlobHandle(id: words.withUnsafeBytes { ObjectID(pointer: $0) }, type: .data)
    }
}

@Suite("Content lists")
struct ContentListTests {
    /// Docs/FORMAT.md §9a, pinned: a change to encoder and decoder together must not pass unnoticed.
    @Test func levelZeroByteVector() throws {
        let list = ContentList(level: 0, entries: [.content(BlobHandle(id: filled(0xAA), type: .data)),
                                                   .content(BlobHandle(id: filled(0xBB), type: .stream))])
        let expected: [UInt8] = [1, 0, 2, 0] + [UInt8](repeating: 0xAA, count: 32) + [2] + [UInt8](repeating: 0xBB, count: 32)
        #expect(list.encoded() == expected)
        #expect(try ContentList.decode(expected) == list)
    }

    @Test func upperLevelByteVector() throws {
        let list = ContentList(level: 1, entries: [.child(filled(0x11), count: 300), .child(filled(0x22), count: 5)])
        // 300 = 0xAC 0x02 as a varint.
        let expected: [UInt8] = [1, 1, 2] + [UInt8](repeating: 0x11, count: 32) + [0xAC, 0x02] + [UInt8](repeating: 0x22, count: 32) + [5]
        #expect(list.encoded() == expected)
        #expect(try ContentList.decode(expected) == list)
    }

    @Test func treeVersionThreeByteVector() throws {
        let node = TreeNode(name: "a", type: .regular, mode: 0o644, mtimeNanos: 1, ctimeNanos: 2, inode: 3, device: 4, size: 5,
                            content: .list(filled(0xCC), count: 9))
        var expected: [UInt8] = [3, 1, 1, UInt8(ascii: "a"), 0, 0xA4, 0x03]
        expected += [1, 0, 0, 0, 0, 0, 0, 0] + [2, 0, 0, 0, 0, 0, 0, 0] + [3, 4, 5]
        expected += [1] + [UInt8](repeating: 0xCC, count: 32) + [9]
        let tree = Tree(nodes: [node])
        #expect(tree.encoded() == expected)
        #expect(try Tree.decode(expected) == tree)
        // Inline content inside a version-3 tree carries a form byte 0 and typed handles.
        let inline = TreeNode(name: "b", type: .regular, mode: 0o644, mtimeNanos: 0, size: 1,
                              content: .inline([BlobHandle(id: filled(0xDD), type: .data)]))
        let mixed = Tree(nodes: [node, inline])
        #expect(mixed.encoded().first == 3)
        #expect(try Tree.decode(mixed.encoded()) == mixed)
    }

    @Test(arguments: [0, 1, 8, 9, 64, 1000, 5000, 20_000])
    func roundTrip(count: Int) throws {
        let store = ListStore()
        let original = handles(count, seed: UInt64(count))
        let content = ContentLists.make(original, store: store.store)
        if count <= ContentLists.inlineLimit {
            #expect(content == .inline(original))
        } else {
            guard case .list(_, let n) = content else { Issue.record("expected a list"); return }
            #expect(n == UInt64(count))
        }
        #expect(try ContentListWalk.expand(content, size: Int64(count) * 10, load: store.load) == original)
        // Deterministic: the same handles give the same lists.
        #expect(ContentLists.make(original, store: ListStore().store) == content)
    }

    @Test func anInsertionRewritesAFewSmallLists() throws {
        let store = ListStore()
        var list = handles(30_000, seed: 1)
        _ = ContentLists.make(list, store: store.store)
        let before = Set(store.lists.keys)
        list.insert(contentsOf: handles(3, seed: 2), at: 10_000)
        list.remove(at: 25_000)
        let content = ContentLists.make(list, store: store.store)
        let added = Set(store.lists.keys).subtracting(before)
        let addedBytes = added.reduce(0) { $0 + store.lists[$1]!.count }
        // Two edits, each rewriting one leaf and its ancestors (five levels at 30,000 handles).
        #expect(added.count <= 10, "\(added.count) new lists")
        #expect(addedBytes < 32 << 10, "\(addedBytes) bytes of new lists")
        #expect(try ContentListWalk.expand(content, size: 1 << 30, load: store.load) == list)
    }

    @Test func rootClaimingMoreThanTheFileSizeIsRefused() {
        let store = ListStore()
        let content = ContentLists.make(handles(100, seed: 3), store: store.store)
        #expect(throws: ContentListError.self) { try ContentListWalk.expand(content, size: 99, load: store.load) }
    }

    @Test func countsThatDisagreeAreRefused() throws {
        let store = ListStore()
        let leaf = store.store(ContentList(level: 0, entries: handles(3, seed: 4).map { .content($0) }).encoded())
        // The parent claims 4 handles below a leaf holding 3.
        let lying = store.store(ContentList(level: 1, entries: [.child(leaf, count: 4)]).encoded())
        #expect(throws: ContentListError.self) { try ContentListWalk.expand(.list(lying, count: 4), size: 100, load: store.load) }
        // The root claims 2 of a list covering 3.
        #expect(throws: ContentListError.self) { try ContentListWalk.expand(.list(leaf, count: 2), size: 100, load: store.load) }
    }

    @Test func loopsAndSelfReferencesAreRefused() throws {
        // Listed under chosen IDs, as a hostile store could serve them: A names itself, B and C name each other.
        var lists: [ObjectID: ContentList] = [:]
        let a = filled(1), b = filled(2), c = filled(3)
        lists[a] = ContentList(level: 1, entries: [.child(a, count: 1)])
        lists[b] = ContentList(level: 2, entries: [.child(c, count: 1)])
        lists[c] = ContentList(level: 1, entries: [.child(b, count: 1)])
        let load: (ObjectID) throws -> ContentList = { try #require(lists[$0]) }
        #expect(throws: ContentListError.self) { try ContentListWalk.expand(.list(a, count: 1), size: 10, load: load) }
        #expect(throws: ContentListError.self) { try ContentListWalk.expand(.list(b, count: 1), size: 10, load: load) }
        // The reachability walk refuses the same shapes instead of going round.
        var walk = Reachability(roots: [])
        #expect(throws: StoreError.self) {
            try walk.add(.list(lists[b]!), for: BlobHandle(id: b, type: .list))
            try walk.add(.list(lists[c]!), for: BlobHandle(id: c, type: .list))
            try walk.add(.list(lists[b]!), for: BlobHandle(id: b, type: .list))
        }
    }

    @Test func malformedListsAreRefused() {
        let good = ContentList(level: 0, entries: [.content(BlobHandle(id: filled(0xAA), type: .data))]).encoded()
        for keep in 0..<good.count {
            #expect(throws: ByteReader.Malformed.self) { try ContentList.decode(Array(good[0..<keep])) }
        }
        var tooDeep = good
        tooDeep[1] = ContentList.maximumLevel + 1
        var badType = good
        badType[3] = BlobType.tree.rawValue
        var empty = good
        empty[2] = 0
        for bytes in [tooDeep, badType, Array(empty[0..<3]), good + [0], [2] + good.dropFirst()] {
            #expect(throws: ByteReader.Malformed.self) { try ContentList.decode(bytes) }
        }
        // An entry count larger than the bytes can hold is refused before anything is allocated.
        #expect(throws: ByteReader.Malformed.self) { try ContentList.decode([1, 0, 0xFF, 0xFF, 0xFF, 0x7F]) }
    }
}
