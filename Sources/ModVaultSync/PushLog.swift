import Foundation
public import ModVaultCore
public import ModVaultStore
import ModVaultCrypto
import ModVaultRemoteSupport

/// What one push changed, counted against its first parent.
public struct PushSummary: Codable, Sendable, Equatable {
    /// Files added.
    public var added = 0
    /// Files whose content, type or mode changed.
    public var changed = 0
    /// Files removed.
    public var removed = 0

    /// Creates a summary.
    public init(added: Int = 0, changed: Int = 0, removed: Int = 0) {
        self.added = added
        self.changed = changed
        self.removed = removed
    }
}

/// One entry of a shared remote's push log: who made the remote's head which snapshot, and when.
public struct PushEntry: Codable, Sendable, Equatable {
    /// Position in the log, from 1; the entry with the highest `seq` names the remote's head.
    public var seq: UInt64
    /// The snapshot pushed.
    public var snapshot: ObjectID
    /// Its parents (two for a merge).
    public var parents: [ObjectID]
    /// `user@host` of the pusher.
    public var author: String
    /// The pushing device's stable ID.
    public var device: String
    /// When the entry was written.
    public var time: Date
    /// Files added, changed and removed against the first parent.
    public var summary: PushSummary

    /// Creates an entry.
    public init(seq: UInt64, snapshot: ObjectID, parents: [ObjectID], author: String, device: String, time: Date, summary: PushSummary) {
        self.seq = seq
        self.snapshot = snapshot
        self.parents = parents
        self.author = author
        self.device = device
        self.time = time
        self.summary = summary
    }
}

/// The push log of one remote (`pushes/<seq>`, Docs/FORMAT.md §12).
///
/// Each entry is written with create-if-absent under the next free number, so two devices pushing at
/// once cannot both take it: the loser sees `.alreadyExists`, reads the new entries, merges and tries
/// the next number. Entries are sealed with the repository key and bound to their number, so a remote
/// (or anyone who can write to it without the key) can hide entries but never forge or move one.
public struct PushLog: Sendable {
    /// The remote holding the log.
    public let remote: any Remote
    let cipher: AEAD

    /// A log on `remote`, read and written with `repository`'s key.
    public init(remote: any Remote, repository: Repository) {
        self.remote = remote
        cipher = repository.cipher
    }

    /// The object name of entry `seq`: 20 decimal digits, so name order is number order.
    public static func name(_ seq: UInt64) -> ObjectName {
        let digits = String(seq)
        return ObjectName(kind: .push, name: String(repeating: "0", count: max(0, 20 - digits.count)) + digits)
    }

    /// The number a log object's name spells, or nil for any other name.
    public static func seq(of name: String) -> UInt64? {
        guard name.utf8.count == 20, name.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        return UInt64(name)
    }

    private static func associatedData(_ seq: UInt64) -> [UInt8] { Array(name(seq).relativePath.utf8) }

    /// Seals an entry for its slot.
    func seal(_ entry: PushEntry) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        return cipher.seal(Array(try encoder.encode(entry)), associatedData: Self.associatedData(entry.seq))
    }

    /// Opens the sealed bytes found in slot `seq`; nil when they were not written by a key holder for that slot.
    func open(_ sealed: [UInt8], seq: UInt64) -> PushEntry? {
        guard let plain = try? cipher.open(sealed, associatedData: Self.associatedData(seq)) else { return nil }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        guard let entry = try? decoder.decode(PushEntry.self, from: Data(plain)), entry.seq == seq else { return nil }
        return entry
    }

    /// What reading the log found after a given number.
    public struct Reading: Sendable {
        /// Verified entries, in order.
        public var entries: [PushEntry] = []
        /// The highest number taken, by a verified entry or not (a slot holding junk is still taken).
        public var lastSeq: UInt64 = 0
        /// Slots whose content failed verification: planted or damaged, never trusted.
        public var refused: [RefusedObject] = []
    }

    /// Every entry after `seq`, verified; numbers taken by unverifiable objects are reported, not trusted.
    public func read(after seq: UInt64) async throws -> Reading {
        var reading = Reading()
        reading.lastSeq = seq
        var cursor: String? = seq == 0 ? nil : Self.name(seq).name
        while true {
            let page = try await remote.list(.push, after: cursor, limit: 1000)
            for item in page {
                guard let n = Self.seq(of: item.name.name), n > seq else { continue }
                reading.lastSeq = max(reading.lastSeq, n)
                guard item.size <= FileKind.push.maximumObjectLength else {
                    reading.refused.append(RefusedObject(object: item.name.relativePath, reason: "claims \(item.size) bytes"))
                    continue
                }
                let sealed: [UInt8]
                do { sealed = try await remote.load(item.name, range: nil) } catch let e as RemoteError where e.reason == .notFound {
                    continue
                }
                if let entry = open(sealed, seq: n) {
                    reading.entries.append(entry)
                } else {
                    reading.refused.append(RefusedObject(object: item.name.relativePath, reason: "does not open with the repository key"))
                }
            }
            guard page.count == 1000, let last = page.last else { break }
            cursor = last.name.name
        }
        reading.entries.sort { $0.seq < $1.seq }
        return reading
    }

    /// Writes `entry` into its slot unless the slot is taken; returns false when another device took it first.
    public func append(_ entry: PushEntry) async throws -> Bool {
        precondition(entry.seq > 0)
        do {
            try await remote.save(Self.name(entry.seq), data: try seal(entry), ifAbsent: true)
            return true
        } catch let e as RemoteError where e.reason == .alreadyExists {
            return false
        }
    }
}
