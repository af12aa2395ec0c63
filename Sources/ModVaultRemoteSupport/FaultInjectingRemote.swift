public import ModVaultCore
internal import Synchronization

/// A `Remote` for tests that makes a fraction of another remote's operations fail, reproducibly.
///
/// Each operation draws from a seeded generator. Of the faulty ones, half fail before reaching the
/// remote (a refused or reset connection, or a 503), and half time out: a save that "times out" has
/// already been carried out, like a request whose answer was lost, so retry logic must cope with
/// finding its own object.
public final class FaultInjectingRemote: Remote, Sendable {
    /// The kind of fault injected.
    public enum Fault: String, Sendable, CaseIterable {
        /// The connection is refused before anything is sent.
        case refused
        /// The connection breaks; nothing reached the remote.
        case reset
        /// The remote answers 503.
        case unavailable
        /// No answer arrives; for a save, the write did happen.
        case timeout
    }

    /// The remote being wrapped.
    public let base: any Remote
    /// The fraction of operations that fail, 0...1.
    public let failureRate: Double
    private let timeoutDelay: Duration
    private let state: Mutex<(generator: SplitMix64, counts: [Fault: Int], operations: Int)>

    /// Wraps `base`, failing `failureRate` of operations, drawing from `seed`; a timeout takes `timeoutDelay`.
    public init(_ base: any Remote, failureRate: Double = 0.1, seed: UInt64, timeoutDelay: Duration = .milliseconds(20)) {
        self.base = base
        self.failureRate = failureRate
        self.timeoutDelay = timeoutDelay
        self.state = Mutex((SplitMix64(seed: seed), [:], 0))
    }

    /// The wrapped remote's location.
    public var location: String { base.location }

    /// How many faults of each kind were injected so far.
    public var injectedFaults: [Fault: Int] { state.withLock { $0.counts } }

    /// How many operations were attempted so far, failed or not.
    public var operationCount: Int { state.withLock { $0.operations } }

    /// The wrapped remote's answer (never faulty: it is a property, not a request).
    public var supportsCreateIfAbsent: Bool { get async { await base.supportsCreateIfAbsent } }

    /// Saves, or fails; a timed-out save has been carried out.
    public func save(_ name: ObjectName, data: [UInt8], ifAbsent: Bool) async throws {
        try await faultySave(name) { try await base.save(name, data: data, ifAbsent: ifAbsent) }
    }

    /// Saves a file, or fails, as `save(_:data:ifAbsent:)` does.
    public func save(_ name: ObjectName, file path: String, ifAbsent: Bool) async throws {
        try await faultySave(name) { try await base.save(name, file: path, ifAbsent: ifAbsent) }
    }

    /// Draws a fault for a save: a timeout carries the save out and then fails; other faults fail first.
    private func faultySave(_ name: ObjectName, _ save: () async throws -> Void) async throws {
        let fault = draw()
        if fault == .timeout {
            try await save()
            try await Task.sleep(for: timeoutDelay)
        }
        try inject(fault, name)
        try await save()
    }

    /// Cancels stale uploads (never faulty: it only tidies up).
    public func abortIncompleteUploads(olderThan age: Double) async throws -> Int {
        try await base.abortIncompleteUploads(olderThan: age)
    }

    /// Loads, or fails.
    public func load(_ name: ObjectName, range: Range<Int64>?) async throws -> [UInt8] {
        try await before(draw(), name)
        return try await base.load(name, range: range)
    }

    /// Stats, or fails.
    public func stat(_ name: ObjectName) async throws -> Int64? {
        try await before(draw(), name)
        return try await base.stat(name)
    }

    /// Lists, or fails.
    public func list(_ kind: FileKind, after: String?, limit: Int) async throws -> [RemoteEntry] {
        try await before(draw(), nil)
        return try await base.list(kind, after: after, limit: limit)
    }

    /// Removes, or fails.
    public func remove(_ name: ObjectName) async throws {
        try await before(draw(), name)
        try await base.remove(name)
    }

    private func draw() -> Fault? {
        state.withLock { s in
            s.operations += 1
            let roll = Double(s.generator.next() >> 11) / Double(1 << 53)
            guard roll < failureRate else { return nil }
            // Half the faults are timeouts, the rest split between the three early failures.
            let fault: Fault = roll < failureRate / 2 ? .timeout : [.refused, .reset, .unavailable][Int(s.generator.next() % 3)]
            s.counts[fault, default: 0] += 1
            return fault
        }
    }

    private func before(_ fault: Fault?, _ name: ObjectName?) async throws {
        if fault == .timeout { try await Task.sleep(for: timeoutDelay) }
        try inject(fault, name)
    }

    private func inject(_ fault: Fault?, _ name: ObjectName?) throws {
        guard let fault else { return }
        let object = name?.relativePath
        switch fault {
        case .refused: throw RemoteError(.unreachable, location: location, object: object, detail: "injected: connection refused")
        case .reset: throw RemoteError(.connectionLost, location: location, object: object, detail: "injected: connection reset")
        case .unavailable: throw RemoteError(.serverError, location: location, object: object, detail: "injected: 503", status: 503)
        case .timeout: throw RemoteError(.timedOut, location: location, object: object, detail: "injected: no answer")
        }
    }
}
