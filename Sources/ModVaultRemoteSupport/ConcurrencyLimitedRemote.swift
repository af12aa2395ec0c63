public import ModVaultCore

/// A `Remote` that lets at most `limit` operations of another run at once; the rest wait their turn in order.
///
/// Wrap it outside `RetryingRemote` so a waiting retry does not hold a slot:
/// `ConcurrencyLimitedRemote(RetryingRemote(s3), limit: 8)` bounds requests in flight, not retries asleep.
public struct ConcurrencyLimitedRemote: Remote {
    /// The remote being wrapped.
    public let base: any Remote
    /// The most operations in flight at once.
    public let limit: Int
    private let semaphore: AsyncSemaphore

    /// Wraps `base`, allowing `limit` (at least 1) concurrent operations.
    public init(_ base: any Remote, limit: Int) {
        self.base = base
        self.limit = max(1, limit)
        self.semaphore = AsyncSemaphore(permits: max(1, limit))
    }

    /// The wrapped remote's location.
    public var location: String { base.location }

    /// The wrapped remote's answer.
    public var supportsCreateIfAbsent: Bool { get async { await base.supportsCreateIfAbsent } }

    /// Saves once a slot is free.
    public func save(_ name: ObjectName, data: [UInt8], ifAbsent: Bool) async throws {
        try await semaphore.withPermit { try await base.save(name, data: data, ifAbsent: ifAbsent) }
    }

    /// Saves a file once a slot is free.
    public func save(_ name: ObjectName, file path: String, ifAbsent: Bool) async throws {
        try await semaphore.withPermit { try await base.save(name, file: path, ifAbsent: ifAbsent) }
    }

    /// Cancels stale uploads once a slot is free.
    public func abortIncompleteUploads(olderThan age: Double) async throws -> Int {
        try await semaphore.withPermit { try await base.abortIncompleteUploads(olderThan: age) }
    }

    /// Loads once a slot is free.
    public func load(_ name: ObjectName, range: Range<Int64>?) async throws -> [UInt8] {
        try await semaphore.withPermit { try await base.load(name, range: range) }
    }

    /// Stats once a slot is free.
    public func stat(_ name: ObjectName) async throws -> Int64? {
        try await semaphore.withPermit { try await base.stat(name) }
    }

    /// Lists once a slot is free.
    public func list(_ kind: FileKind, after: String?, limit: Int) async throws -> [RemoteEntry] {
        try await semaphore.withPermit { try await base.list(kind, after: after, limit: limit) }
    }

    /// Removes once a slot is free.
    public func remove(_ name: ObjectName) async throws {
        try await semaphore.withPermit { try await base.remove(name) }
    }
}

/// A counting semaphore for async code: FIFO waiters, no thread ever blocked.
public actor AsyncSemaphore {
    private var available: Int
    private var waiters: [CheckedContinuation<Void, Never>] = []

    /// Creates a semaphore with `permits` permits.
    public init(permits: Int) { available = permits }

    /// Waits for a permit.
    public func acquire() async {
        if available > 0 {
            available -= 1
            return
        }
        await withCheckedContinuation { waiters.append($0) }
    }

    /// Returns a permit, waking the longest waiter.
    public func release() {
        if waiters.isEmpty {
            available += 1
        } else {
            // The permit passes straight to the waiter.
            waiters.removeFirst().resume()
        }
    }

    /// Runs `body` holding a permit.
    public nonisolated func withPermit<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        await acquire()
        do {
            let result = try await body()
            await release()
            return result
        } catch {
            await release()
            throw error
        }
    }
}
