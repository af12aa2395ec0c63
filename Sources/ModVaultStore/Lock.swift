import Foundation
public import ModVaultCore
import ModVaultCrypto

/// A lock file in `locks/`: shared for writers (snapshot), exclusive for prune and key removal.
///
/// Writers never block each other, because everything they write has a unique name. Only
/// operations that delete data take an exclusive lock, and they refuse to start while any
/// other live lock exists. A lock whose process is gone (same host, PID not running) or that
/// has not been refreshed for `staleAfter` seconds is stale and ignored.
public struct LockInfo: Codable, Sendable {
    /// Exclusive (delete) or shared (write).
    public var exclusive: Bool
    /// Host name of the holder.
    public var host: String
    /// Process ID of the holder.
    public var pid: Int32
    /// User of the holder.
    public var username: String
    /// When the lock was taken or last refreshed.
    public var time: Date
    /// What the holder is doing, e.g. "snapshot".
    public var operation: String

    /// Creates lock contents.
    public init(exclusive: Bool, host: String, pid: Int32, username: String, time: Date, operation: String) {
        self.exclusive = exclusive
        self.host = host
        self.pid = pid
        self.username = username
        self.time = time
        self.operation = operation
    }
}

/// A held lock; call `release()` when done. Refreshes itself while held.
public final class RepositoryLock: @unchecked Sendable {
    /// Seconds after which a lock that was not refreshed counts as stale.
    public static let staleAfter: TimeInterval = 30 * 60
    static let refreshEvery: TimeInterval = 5 * 60

    let repository: Repository
    let info: LockInfo
    private var refresher: Thread?
    // `stop` guards everything below: the refresh thread and the holder both use them.
    private let stop = NSCondition()
    private var released = false
    private var currentFile: String
    private var lastRefresh: Date
    private var refreshFailure: String?

    private init(repository: Repository, file: String, info: LockInfo) {
        self.repository = repository
        self.currentFile = file
        self.info = info
        self.lastRefresh = info.time
    }

    /// The lock file as it is now (a refresh replaces it).
    var file: String {
        stop.lock()
        defer { stop.unlock() }
        return currentFile
    }

    /// Throws `.lockLost` unless the lock is still in place and fresh enough that no other host can
    /// have taken it for stale: call it before doing what the lock protects (saving a snapshot,
    /// deleting packs). A refresh that failed is reported here rather than ignored.
    public func ensureHeld(now: Date = Date()) throws {
        stop.lock()
        defer { stop.unlock() }
        guard FileSystem.exists(currentFile) else { throw StoreError.lockLost(path: currentFile, reason: "its file was removed") }
        let age = now.timeIntervalSince(lastRefresh)
        if age > Self.staleAfter - Self.refreshEvery {
            throw StoreError.lockLost(path: currentFile, reason: (refreshFailure.map { "refresh failed: \($0)" } ?? "not refreshed")
                                      + " for \(Int(age)) s")
        }
    }

    /// Takes a lock, retrying for up to `wait` seconds while another process holds a conflicting one.
    public static func acquire(_ repository: Repository, exclusive: Bool, operation: String, wait: TimeInterval) throws -> RepositoryLock {
        let deadline = Date().addingTimeInterval(wait)
        while true {
            do {
                return try acquire(repository, exclusive: exclusive, operation: operation)
            } catch StoreError.locked(let path, let holder) {
                if Date() >= deadline { throw StoreError.locked(path: path, holder: holder) }
                // Random back-off keeps two waiting processes from colliding again in lockstep.
                usleep(UInt32.random(in: 200_000...800_000))
            }
        }
    }

    /// Takes a lock. An exclusive lock fails with `.locked` when another live lock exists; a shared
    /// lock fails only when a live exclusive lock exists.
    public static func acquire(_ repository: Repository, exclusive: Bool, operation: String) throws -> RepositoryLock {
        let info = LockInfo(exclusive: exclusive, host: Host.name, pid: getpid(), username: Host.user, time: Date(), operation: operation)
        let file = try write(info, repository: repository)
        let lock = RepositoryLock(repository: repository, file: file, info: info)
        // Check after writing our own lock, so two racing processes see each other and at least one backs off.
        let others = try liveLocks(repository).filter { $0.path != file }
        if let conflict = others.first(where: { exclusive || $0.info.exclusive }) {
            lock.release()
            throw StoreError.locked(path: conflict.path, holder: conflict.info)
        }
        lock.startRefreshing()
        return lock
    }

    private static func write(_ info: LockInfo, repository: Repository) throws -> String {
        let file = repository.path + "/locks/" + SecureRandom.objectID().hex
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        let bytes = Array(try encoder.encode(info))
        try storeIO { try FileSystem.writeAtomically(file, bytes: bytes, mode: 0o644) }
        return file
    }

    /// Every lock file with its parsed contents and whether it is stale.
    public static func all(_ repository: Repository) throws -> [(path: String, info: LockInfo, stale: Bool)] {
        let dir = repository.path + "/locks"
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        var out: [(String, LockInfo, Bool)] = []
        for name in try storeIO({ try FileSystem.list(dir) }) where !name.hasPrefix(".") {
            let path = dir + "/" + name
            guard let bytes = try? FileSystem.readFile(path), let info = try? decoder.decode(LockInfo.self, from: Data(bytes)) else { continue }
            out.append((path, info, isStale(info)))
        }
        return out
    }

    static func liveLocks(_ repository: Repository) throws -> [(path: String, info: LockInfo)] {
        try all(repository).filter { !$0.stale }.map { ($0.path, $0.info) }
    }

    /// True when the holder is provably gone or silent for too long. On this host the process is
    /// asked directly: a live holder is never stale, however old its file (a suspended snapshot must
    /// not lose its packs to a prune); a lock from another host is stale after `staleAfter`.
    public static func isStale(_ info: LockInfo, now: Date = Date()) -> Bool {
        if info.host == Host.name {
            return kill(info.pid, 0) != 0 && errno == ESRCH
        }
        return now.timeIntervalSince(info.time) > staleAfter
    }

    /// Removes stale locks (or all locks with `all`); returns the paths removed.
    public static func removeStale(_ repository: Repository, all removeAll: Bool = false) throws -> [String] {
        var removed: [String] = []
        for lock in try all(repository) where removeAll || lock.stale {
            try? FileSystem.remove(lock.path)
            removed.append(lock.path)
        }
        return removed
    }

    private func startRefreshing() {
        let thread = Thread { [weak self] in
            while true {
                guard let self else { return }
                self.stop.lock()
                if !self.released { _ = self.stop.wait(until: Date().addingTimeInterval(Self.refreshEvery)) }
                let done = self.released
                self.stop.unlock()
                if done { return }
                self.refresh()
            }
        }
        refresher = thread
        thread.start()
    }

    // A fresh file with a new time replaces the old one, so the lock never looks stale while held.
    // Under `stop`, so a release in between cannot leave the new file behind.
    private func refresh() {
        stop.lock()
        defer { stop.unlock() }
        guard !released else { return }
        var fresh = info
        fresh.time = Date()
        do {
            let newFile = try Self.write(fresh, repository: repository)
            try? FileSystem.remove(currentFile)
            currentFile = newFile
            lastRefresh = fresh.time
            refreshFailure = nil
        } catch {
            refreshFailure = "\(error)"
        }
    }

    /// Releases the lock.
    public func release() {
        stop.lock()
        released = true
        stop.broadcast()
        let last = currentFile
        stop.unlock()
        try? FileSystem.remove(last)
    }
}
