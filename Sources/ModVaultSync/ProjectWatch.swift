public import Foundation
public import ModVaultCore
public import ModVaultStore
import ModVaultRemoteSupport

/// What a live connection to a project reports (PocketBase realtime, mapped by the caller).
public enum ProjectSignal: Sendable, Equatable {
    /// The subscriptions are active: everything from now on arrives, so a listing now misses nothing.
    case subscribed
    /// An entry was added to the push log (read it from the log, which orders and verifies it).
    case logChanged
    /// Someone became a member.
    case memberJoined(user: String, role: String)
    /// A member was removed.
    case memberRemoved(user: String, role: String)
    /// An admin created an invite.
    case inviteCreated(id: String, role: String, expires: Date?)
    /// An invite was redeemed.
    case inviteUsed(id: String)
    /// An admin revoked an invite.
    case inviteRevoked(id: String)
}

/// One event `watch` reports.
public enum ProjectEvent: Sendable {
    /// A verified push log entry.
    case push(PushEntry)
    /// A membership or invite change.
    case team(ProjectSignal)
    /// The live connection dropped; it is being reopened (and the log caught up), after `failures` tries.
    case reconnecting(reason: String, failures: Int)
    /// A push log slot that does not verify.
    case refused(RefusedObject)
    /// The live connection is (re)established: every change from now on is reported.
    case live
}

/// Follows a project: every push once and in order, and team changes where the remote reports them.
///
/// With `signals` (PocketBase realtime), the log is read once each time the subscription is (re)made
/// and then only when an entry is created, so after a dropped connection the listing from the last
/// number seen catches up with no gap and no duplicate. Without it (S3, disk) every `interval`
/// seconds one request asks whether the next entry exists, and the log is listed after the last
/// name seen only when it does.
public struct ProjectWatch: Sendable {
    /// The remote holding the push log.
    public let remote: any Remote
    /// The repository whose key opens the log.
    public let repository: Repository
    /// A factory of live connections, or nil to poll.
    public var signals: (@Sendable () -> AsyncThrowingStream<ProjectSignal, any Error>)?
    /// Seconds between listings when polling, and the first pause after a failure.
    public var interval: Double = 2

    /// A watch of `remote`'s log.
    public init(remote: any Remote, repository: Repository) {
        self.remote = remote
        self.repository = repository
    }

    /// Reports events after log number `seen` until the task is cancelled.
    public func run(after seen: UInt64, emit: @Sendable (ProjectEvent) -> Void) async throws {
        let log = PushLog(remote: remote, repository: repository)
        var last = seen
        var failures = 0
        var polls = 0
        func catchUp() async throws {
            let reading = try await log.read(after: last)
            for entry in reading.entries { emit(.push(entry)) }
            for refused in reading.refused { emit(.refused(refused)) }
            last = reading.lastSeq
        }
        while !Task.isCancelled {
            do {
                if let signals {
                    for try await signal in signals() {
                        switch signal {
                        case .subscribed:
                            emit(.live)
                            try await catchUp()
                            failures = 0
                        case .logChanged:
                            try await catchUp()
                            failures = 0
                        default:
                            emit(.team(signal))
                        }
                    }
                    // A stream that ends without an error still means the connection is gone.
                    throw RemoteError(.connectionLost, location: remote.location, detail: "realtime connection closed")
                } else {
                    // One HEAD of the next entry's name per poll; the listing only when it exists (and
                    // every 30th poll, in case an entry was ever skipped).
                    var due = polls % 30 == 0
                    if !due { due = try await remote.stat(PushLog.name(last + 1)) != nil }
                    if due { try await catchUp() }
                    polls += 1
                    failures = 0
                    try await Task.sleep(for: .seconds(interval))
                }
            } catch is CancellationError {
                return
            } catch {
                if Task.isCancelled { return }
                failures += 1
                emit(.reconnecting(reason: (error as? ModVaultFailure)?.description ?? "\(error)", failures: failures))
                try? await Task.sleep(for: .seconds(min(30, interval * Double(1 << min(failures - 1, 4)))))
            }
        }
    }
}
