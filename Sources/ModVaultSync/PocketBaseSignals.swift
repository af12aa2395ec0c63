import Foundation
import Synchronization
public import ModVaultCore
public import ModVaultRemotePocketBase

/// The members a watcher knows of, by membership record ID, across reconnects: what a reconnect
/// finds changed is reported as joins and removals, and a member counts as joined once their row
/// carries their email (their own heartbeat sets it right after the invite creates the row).
private final class MemberRoster: Sendable {
    private let state = Mutex<(members: [String: (email: String, role: String)], seeded: Bool)>(([:], false))

    /// Replaces the roster with a listing; the changes since the last one (none the first time).
    func reconcile(_ listed: [ProjectMember]) -> [ProjectSignal] {
        state.withLock { s in
            var now: [String: (email: String, role: String)] = [:]
            for m in listed { now[m.id] = (m.email, m.role.rawValue) }
            defer { s.members = now; s.seeded = true }
            guard s.seeded else { return [] }
            var out: [ProjectSignal] = []
            for (id, m) in now.sorted(by: { $0.key < $1.key }) where !m.email.isEmpty && (s.members[id]?.email ?? "").isEmpty {
                out.append(.memberJoined(user: m.email, role: m.role))
            }
            for (id, m) in s.members.sorted(by: { $0.key < $1.key }) where now[id] == nil && !m.email.isEmpty {
                out.append(.memberRemoved(user: m.email, role: m.role))
            }
            return out
        }
    }

    /// The signal one change of a membership row means, if any.
    func apply(_ event: PocketBaseEvent) -> ProjectSignal? {
        state.withLock { s in
            let email = event.fields["email"] ?? "", role = event.fields["role"] ?? ""
            let before = s.members[event.recordID]
            switch event.action {
            case "delete":
                s.members[event.recordID] = nil
                return .memberRemoved(user: email.isEmpty ? (before?.email ?? "") : email, role: role)
            default:
                s.members[event.recordID] = (email, role)
                return !email.isEmpty && (before?.email ?? "").isEmpty ? .memberJoined(user: email, role: role) : nil
            }
        }
    }
}

/// A factory of PocketBase realtime connections to the project behind `pb` (for `ProjectWatch.signals`), as `ProjectSignal`s: the
/// push log's creations, membership and invite changes (invites only reach admins: the server
/// filters by each collection's rules).
public func projectSignals(_ pb: PocketBaseRemote) -> @Sendable () -> AsyncThrowingStream<ProjectSignal, any Error> {
    let roster = MemberRoster()
    let c = pb.address.collection, members = PocketBaseProject.members(c), invites = PocketBaseProject.invites(c)
    return {
        AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    for try await message in pb.realtime(topics: [c + "/*", members + "/*", invites + "/*"]) {
                        switch message {
                        case .subscribed:
                            for signal in roster.reconcile((try? await pb.members()) ?? []) { continuation.yield(signal) }
                            continuation.yield(.subscribed)
                        case .event(let e) where e.collection == c:
                            if e.action == "create", e.fields["kind"] == FileKind.push.rawValue { continuation.yield(.logChanged) }
                        case .event(let e) where e.collection == members:
                            if let signal = roster.apply(e) { continuation.yield(signal) }
                        case .event(let e) where e.collection == invites:
                            switch e.action {
                            case "create":
                                continuation.yield(.inviteCreated(id: e.recordID, role: e.fields["role"] ?? "",
                                                                  expires: PocketBaseProject.parseDate(e.fields["expires"] ?? "")))
                            case "delete": continuation.yield(.inviteRevoked(id: e.recordID))
                            default: if e.fields["used"] == "true" { continuation.yield(.inviteUsed(id: e.recordID)) }
                            }
                        case .event:
                            break
                        }
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }
}
