public import ModVaultCore
internal import Synchronization

/// How often and how long `RetryingRemote` tries: bounded both in attempts and in total time.
public struct RetryPolicy: Sendable, Equatable {
    /// Attempts per operation, the first included (at least 1).
    public var maxAttempts: Int
    /// The backoff before the second attempt; it doubles for each further one.
    public var initialDelay: Duration
    /// The backoff never exceeds this.
    public var maxDelay: Duration
    /// No attempt starts once this much time has passed since the first.
    public var maxTotalTime: Duration

    /// Creates a policy.
    public init(maxAttempts: Int, initialDelay: Duration, maxDelay: Duration, maxTotalTime: Duration) {
        self.maxAttempts = max(1, maxAttempts)
        self.initialDelay = initialDelay
        self.maxDelay = maxDelay
        self.maxTotalTime = maxTotalTime
    }

    /// For real networks: 8 attempts, 0.25 s doubling to at most 15 s, 3 minutes in all.
    public static let standard = RetryPolicy(
        maxAttempts: 8, initialDelay: .milliseconds(250), maxDelay: .seconds(15), maxTotalTime: .seconds(180))

    /// No retries.
    public static let none = RetryPolicy(maxAttempts: 1, initialDelay: .zero, maxDelay: .zero, maxTotalTime: .zero)

    /// The upper bound of the backoff before attempt `attempt + 1` (attempt counts from 1).
    public func backoffCeiling(afterAttempt attempt: Int) -> Duration {
        var delay = initialDelay
        for _ in 1..<max(1, attempt) {
            delay *= 2
            if delay >= maxDelay { return maxDelay }
        }
        return min(delay, maxDelay)
    }
}

/// A `Remote` that retries transient failures of another with exponential backoff and full jitter.
///
/// Only errors that say so are retried (`RemoteError.isRetryable`: timeouts, resets, refused connections,
/// 5xx, throttling); everything else fails at once. Attempts and total time are both bounded, so an
/// unreachable host fails after at most `policy.maxTotalTime` plus one request timeout.
public struct RetryingRemote: Remote {
    /// The remote being wrapped.
    public let base: any Remote
    /// The retry bounds.
    public let policy: RetryPolicy
    private let jitter: JitterSource

    /// Wraps `base`. Give `seed` for a reproducible jitter sequence (tests); nil uses the system generator.
    public init(_ base: any Remote, policy: RetryPolicy = .standard, seed: UInt64? = nil) {
        self.base = base
        self.policy = policy
        self.jitter = JitterSource(seed: seed)
    }

    /// The wrapped remote's location.
    public var location: String { base.location }

    /// The wrapped remote's answer.
    public var supportsCreateIfAbsent: Bool { get async { await base.supportsCreateIfAbsent } }

    /// Saves with retries. A create-if-absent write that meets `alreadyExists` after an attempt whose
    /// outcome is unknown (timeout, reset) reads the object back: if it holds `data`, the earlier attempt
    /// succeeded and the save counts as done.
    public func save(_ name: ObjectName, data: [UInt8], ifAbsent: Bool) async throws {
        try await saving(name, ifAbsent: ifAbsent, bytes: { data }) { try await base.save(name, data: data, ifAbsent: ifAbsent) }
    }

    /// Saves a file with retries, as `save(_:data:ifAbsent:)` does; each attempt sends it from the start.
    public func save(_ name: ObjectName, file path: String, ifAbsent: Bool) async throws {
        try await saving(name, ifAbsent: ifAbsent, bytes: { try FileSystem.readFile(path) }) {
            try await base.save(name, file: path, ifAbsent: ifAbsent)
        }
    }

    /// Runs `attempt` with retries; `bytes` gives what was saved, for the read-back that settles a
    /// create-if-absent conflict met after an attempt whose outcome is unknown.
    private func saving(_ name: ObjectName, ifAbsent: Bool, bytes: () throws -> [UInt8],
                        attempt: () async throws -> Void) async throws {
        var outcomeUnknown = false
        try await retrying { _ in
            do {
                try await attempt()
            } catch let error as RemoteError where error.reason == .alreadyExists && ifAbsent && outcomeUnknown {
                // The read-back is retried like any read; if it cannot be done, the conflict stands.
                if let stored = try? await load(name, range: nil), stored == (try? bytes()) { return }
                throw error
            } catch let error as RemoteError where error.isRetryable {
                outcomeUnknown = true
                throw error
            }
        }
    }

    /// Cancels stale uploads, with retries.
    public func abortIncompleteUploads(olderThan age: Double) async throws -> Int {
        try await retrying { _ in try await base.abortIncompleteUploads(olderThan: age) }
    }

    /// Loads with retries.
    public func load(_ name: ObjectName, range: Range<Int64>?) async throws -> [UInt8] {
        try await retrying { _ in try await base.load(name, range: range) }
    }

    /// Stats with retries.
    public func stat(_ name: ObjectName) async throws -> Int64? {
        try await retrying { _ in try await base.stat(name) }
    }

    /// Lists with retries.
    public func list(_ kind: FileKind, after: String?, limit: Int) async throws -> [RemoteEntry] {
        try await retrying { _ in try await base.list(kind, after: after, limit: limit) }
    }

    /// Removes with retries (removing is idempotent, so a lost answer is harmless).
    public func remove(_ name: ObjectName) async throws {
        try await retrying { _ in try await base.remove(name) }
    }

    private func retrying<T>(_ operation: (Int) async throws -> T) async throws -> T {
        let clock = ContinuousClock()
        let start = clock.now
        var attempt = 1
        while true {
            do {
                return try await operation(attempt)
            } catch var error as RemoteError {
                guard error.isRetryable, attempt < policy.maxAttempts else {
                    if attempt > 1 { error.attempts = attempt }
                    throw error
                }
                let ceiling = policy.backoffCeiling(afterAttempt: attempt)
                let delay = ceiling * jitter.fraction()
                guard clock.now + delay - start < policy.maxTotalTime else {
                    error.attempts = attempt
                    if error.detail?.contains("retry time limit") != true {
                        error.detail = (error.detail.map { $0 + "; " } ?? "") + "retry time limit \(policy.maxTotalTime) reached"
                    }
                    throw error
                }
                try await Task.sleep(for: delay)
                attempt += 1
            }
        }
    }
}

/// Uniform fractions in [0, 1) for jitter, from a seeded generator or the system one.
final class JitterSource: Sendable {
    private let state: Mutex<SplitMix64?>

    init(seed: UInt64?) { state = Mutex(seed.map(SplitMix64.init(seed:))) }

    func fraction() -> Double {
        state.withLock { generator in
            if generator == nil { return Double.random(in: 0..<1) }
            return Double(generator!.next() >> 11) / Double(1 << 53)
        }
    }
}

