public import ModVaultCore

/// How a tree node names its file's content: the blob handles themselves, or the root of a list.
///
/// Short lists stay inline in the tree; longer ones live in `list` blobs cut at content-defined
/// boundaries over the ID list, so a change to a few chunks rewrites a few small list blobs and the
/// folder's tree holds one reference per file whatever the file's size (Docs/FORMAT.md §9a).
public enum FileContent: Sendable, Hashable {
    /// The handles, in order, stored in the tree node.
    case inline([BlobHandle])
    /// The root list blob and the number of content handles below it.
    case list(ObjectID, count: UInt64)

    /// No content (an empty file, or a node that is not a file).
    public static let empty = FileContent.inline([])

    /// How many content handles the file has.
    public var count: UInt64 {
        switch self {
        case .inline(let handles): return UInt64(handles.count)
        case .list(_, let count): return count
        }
    }

    /// The handles when they are inline; nil for a list (expand it with `ContentListWalk`).
    public var inlineHandles: [BlobHandle]? {
        if case .inline(let handles) = self { return handles }
        return nil
    }

    /// The archive blob the file is rebuilt from, when that is its content: an archive blob is always
    /// the only (inline) handle of its file (§8b).
    public var archive: BlobHandle? {
        guard case .inline(let handles) = self, handles.count == 1, handles[0].type == .archive else { return nil }
        return handles[0]
    }

    /// `u8 form ‖ form 0: varint count ‖ count × (u8 blob type ‖ ID); form 1: root list ID ‖ varint count`:
    /// the reference as an archive blob's base and `digest` write it.
    public func encode(into w: inout ByteWriter) {
        switch self {
        case .inline(let handles):
            w.u8(0)
            w.varint(UInt64(handles.count))
            for h in handles {
                w.u8(h.type.rawValue)
                w.id(h.id)
            }
        case .list(let root, let count):
            w.u8(1)
            w.id(root)
            w.varint(count)
        }
    }

    /// Reads what `encode(into:)` writes, accepting inline handles of the `allowed` types only.
    public static func decode(from r: inout ByteReader, allowed: Set<BlobType>) throws -> FileContent {
        switch try r.u8() {
        case 0:
            let n = try r.count(limit: r.remaining / 33)
            var handles: [BlobHandle] = []
            handles.reserveCapacity(n)
            for _ in 0..<n {
                let raw = try r.u8()
                guard let t = BlobType(rawValue: raw), allowed.contains(t) else { throw ByteReader.Malformed(what: "content blob type \(raw)") }
                handles.append(BlobHandle(id: try r.id(), type: t))
            }
            return .inline(handles)
        case 1:
            return .list(try r.id(), count: try r.varint())
        case let form:
            throw ByteReader.Malformed(what: "content form \(form)")
        }
    }
}

/// The plaintext of a `list` blob: one level of a file's content list.
///
/// Level 0 holds content handles (data or stream blobs); level *n* > 0 holds level-*n*−1 lists, each
/// with the number of content handles below it, so a reader checks every count before it loads more.
public struct ContentList: Sendable, Equatable {
    /// One entry of a list.
    public enum Entry: Sendable, Equatable {
        /// A content blob (level 0).
        case content(BlobHandle)
        /// A child list one level down, with the content handles it covers (level > 0).
        case child(ObjectID, count: UInt64)
    }

    /// Encoding version.
    public static let version: UInt8 = 1
    /// Deepest level a reader accepts; 64 entries per list on average reach 2^48 handles long before.
    public static let maximumLevel: UInt8 = 8
    /// Most entries one list may hold (the writer's forced cut).
    public static let maximumEntries = 1024

    /// 0 for content handles, n for lists of level n−1.
    public var level: UInt8
    /// The entries, in file order.
    public var entries: [Entry]

    /// Creates a list.
    public init(level: UInt8, entries: [Entry]) {
        self.level = level
        self.entries = entries
    }

    /// `u8 version ‖ u8 level ‖ varint count ‖ entries`; level 0: `u8 type ‖ ID`, otherwise `ID ‖ varint count`.
    public func encoded() -> [UInt8] {
        var w = ByteWriter(capacity: 8 + entries.count * 36)
        w.u8(Self.version)
        w.u8(level)
        w.varint(UInt64(entries.count))
        for entry in entries {
            switch entry {
            case .content(let h):
                w.u8(h.type.rawValue)
                w.id(h.id)
            case .child(let id, let count):
                w.id(id)
                w.varint(count)
            }
        }
        return w.bytes
    }

    /// Parses a list blob; malformed input throws, never traps.
    public static func decode(_ bytes: [UInt8]) throws(ByteReader.Malformed) -> ContentList {
        var r = ByteReader(bytes)
        do {
            guard try r.u8() == version else { throw ByteReader.Malformed(what: "list blob version") }
            let level = try r.u8()
            guard level <= maximumLevel else { throw ByteReader.Malformed(what: "list level \(level) is deeper than \(maximumLevel)") }
            let count = try r.count(limit: min(maximumEntries, r.remaining / 33))
            guard count > 0 else { throw ByteReader.Malformed(what: "empty list blob") }
            var entries: [Entry] = []
            entries.reserveCapacity(count)
            for _ in 0..<count {
                if level == 0 {
                    let raw = try r.u8()
                    guard let type = BlobType(rawValue: raw), type == .data || type == .stream else {
                        throw ByteReader.Malformed(what: "content blob type \(raw) in list")
                    }
                    entries.append(.content(BlobHandle(id: try r.id(), type: type)))
                } else {
                    let id = try r.id()
                    let n = try r.varint()
                    guard n > 0 else { throw ByteReader.Malformed(what: "child list covering no content") }
                    entries.append(.child(id, count: n))
                }
            }
            guard r.isAtEnd else { throw ByteReader.Malformed(what: "trailing bytes in list blob") }
            return ContentList(level: level, entries: entries)
        } catch let e as ByteReader.Malformed {
            throw e
        } catch {
            throw ByteReader.Malformed(what: "\(error)")
        }
    }
}

/// Builds and reads content lists: the one place that knows where lists are cut and how they nest.
public enum ContentLists {
    /// Files with at most this many handles keep them inline: a list blob would cost more than it saves.
    public static let inlineLimit = 8

    /// A list ends after an entry whose ID's first byte has its low three bits set (8 entries on
    /// average, about 270 bytes) or at `ContentList.maximumEntries`. IDs are keyed MACs, so the cuts
    /// depend on the content alone and fall in the same places before and after an insertion
    /// elsewhere. Small lists because scattered edits (a plugin's records) each rewrite a list or two:
    /// 40 records edited in a 1.5 GiB corpus's plugin sync 169 KB at 64 entries, 117 KB at 16, 107 KB at 8.
    static func endsList(after id: ObjectID) -> Bool {
        id.withBytes { $0[0] & 0x07 == 0x07 }
    }

    /// The content reference for `handles`, handing each new list blob's plaintext to `store`
    /// (which names it by its MAC and returns that ID). Deterministic: the same handles give the same lists.
    public static func make(_ handles: [BlobHandle], store: ([UInt8]) throws -> ObjectID) rethrows -> FileContent {
        guard handles.count > inlineLimit else { return .inline(handles) }
        // Level 0, then each level above it, until one list covers everything.
        var level: UInt8 = 0
        var current: [(entry: ContentList.Entry, id: ObjectID, count: UInt64)] = handles.map { (.content($0), $0.id, 1) }
        while true {
            var next: [(entry: ContentList.Entry, id: ObjectID, count: UInt64)] = []
            var group: [ContentList.Entry] = []
            var covered: UInt64 = 0
            func close() throws {
                let id = try store(ContentList(level: level, entries: group).encoded())
                next.append((.child(id, count: covered), id, covered))
                group.removeAll(keepingCapacity: true)
                covered = 0
            }
            // The deepest level readers accept holds everything left in one list, so a run of IDs that
            // all end lists (each level has a small chance of not shrinking) can never pass it.
            let mayCut = level < ContentList.maximumLevel
            for (i, item) in current.enumerated() {
                group.append(item.entry)
                covered += item.count
                if i < current.count - 1 && ((mayCut && endsList(after: item.id)) || group.count == ContentList.maximumEntries) { try close() }
            }
            try close()
            if next.count == 1 { return .list(next[0].id, count: next[0].count) }
            current = next
            level += 1
        }
    }
}

/// Why a file's content list cannot be used.
public struct ContentListError: ModVaultFailure, Sendable {
    /// What is wrong.
    public var reason: String
    /// Always `.corrupt`: the list came from storage.
    public var kind: FailureKind { .corrupt }
    /// Creates the error.
    public init(reason: String) { self.reason = reason }
    /// A message.
    public var description: String { reason }
}

/// Expands a file's content list level by level, checking every count and level before loading more.
///
/// The caller loads the lists it is asked for (from the local repository or a remote, in any order
/// or in parallel) and hands them back; the walk never holds more handles than the root claims, and
/// the root may claim no more handles than the file has bytes. Levels must fall by one at each step,
/// so a list cannot contain itself or nest deeper than `ContentList.maximumLevel`.
public struct ContentListWalk: Sendable {
    /// Lists still to load for the current level, in order (an ID may repeat).
    public private(set) var pending: [ObjectID]
    private var claims: [UInt64]
    private var expectedLevel: UInt8?
    private let total: UInt64
    /// The handles, once `pending` is empty.
    public private(set) var handles: [BlobHandle] = []

    /// Starts a walk of `content` for a file of `size` bytes.
    public init(_ content: FileContent, size: Int64) throws(ContentListError) {
        switch content {
        case .inline(let h):
            pending = []
            claims = []
            total = UInt64(h.count)
            handles = h
        case .list(let root, let count):
            guard count > 0, count <= UInt64(max(0, size)) else {
                throw ContentListError(reason: "list \(root.short) claims \(count) content blobs for a file of \(size) bytes")
            }
            pending = [root]
            claims = [count]
            total = count
        }
    }

    /// Feeds the lists of the current level (every ID in `pending`) and moves one level down.
    public mutating func advance(_ loaded: [ObjectID: ContentList]) throws(ContentListError) {
        var nextPending: [ObjectID] = []
        var nextClaims: [UInt64] = []
        var level: UInt8? = nil
        for (id, claim) in zip(pending, claims) {
            guard let list = loaded[id] else { throw ContentListError(reason: "list \(id.short) was not loaded") }
            if let expectedLevel, list.level != expectedLevel {
                throw ContentListError(reason: "list \(id.short) is at level \(list.level), expected \(expectedLevel)")
            }
            if let level, list.level != level { throw ContentListError(reason: "lists of one level disagree about their level") }
            level = list.level
            var sum: UInt64 = 0
            for entry in list.entries {
                switch entry {
                case .content(let h):
                    guard list.level == 0 else { throw ContentListError(reason: "list \(id.short) mixes content and lists") }
                    sum += 1
                    guard sum <= claim else { break }
                    handles.append(h)
                case .child(let child, let count):
                    guard list.level > 0 else { throw ContentListError(reason: "list \(id.short) mixes content and lists") }
                    let (s, overflow) = sum.addingReportingOverflow(count)
                    guard !overflow, s <= claim else {
                        throw ContentListError(reason: "list \(id.short) covers more content blobs than its parent claims (\(claim))")
                    }
                    sum = s
                    nextPending.append(child)
                    nextClaims.append(count)
                }
            }
            guard sum == claim else {
                throw ContentListError(reason: "list \(id.short) covers \(sum) content blobs, its parent claims \(claim)")
            }
        }
        if let level, level > 0 { expectedLevel = level - 1 } else if level == 0 { expectedLevel = nil }
        pending = nextPending
        claims = nextClaims
        if pending.isEmpty && UInt64(handles.count) != total {
            throw ContentListError(reason: "content list holds \(handles.count) blobs, its root claims \(total)")
        }
    }

    /// Expands `content`, loading one list at a time with `load` (callers that can batch a level's
    /// reads, as mirror does, drive `pending` and `advance` themselves).
    public static func expand(_ content: FileContent, size: Int64, load: (ObjectID) throws -> ContentList) throws -> [BlobHandle] {
        var walk = try ContentListWalk(content, size: size)
        while !walk.pending.isEmpty {
            var loaded: [ObjectID: ContentList] = [:]
            for id in walk.pending where loaded[id] == nil { loaded[id] = try load(id) }
            try walk.advance(loaded)
        }
        return walk.handles
    }
}
