import Foundation
import Testing
import ModVaultCore
import ModVaultStore
import ModVaultArchive

@Suite("retention policy")
struct RetentionTests {
    static let utc: Calendar = {
        var c = Calendar(identifier: .gregorian)
        c.timeZone = TimeZone(identifier: "UTC")!
        return c
    }()

    /// Snapshots at fixed UTC times, named by a label so expectations read naturally.
    static let times: [(String, String, [String])] = [
        ("a", "2026-01-01T10:00:00Z", []),
        ("b", "2026-01-01T18:00:00Z", []),
        ("c", "2026-01-02T09:00:00Z", ["release"]),
        ("d", "2026-01-08T09:00:00Z", []),
        ("e", "2026-02-01T12:00:00Z", []),
        ("f", "2026-02-01T12:30:00Z", []),
        ("g", "2026-02-03T08:00:00Z", []),
        ("h", "2027-01-01T00:00:00Z", []),
    ]

    static func records() -> [SnapshotRecord] {
        times.enumerated().map { i, t in
            var bytes = [UInt8](repeating: 0, count: 32)
            bytes[31] = UInt8(i + 1)
            let snap = Snapshot(time: Timestamp.parse(t.1)!, host: "pc", username: "u", device: "d", paths: ["/Data"],
                                tags: t.2, parents: [], tree: ObjectID.zero, summary: nil)
            return SnapshotRecord(id: ObjectID(bytes: bytes)!, snapshot: snap)
        }
    }

    static func label(_ r: SnapshotRecord) -> String { times[Int(r.id.bytes[31]) - 1].0 }

    struct Case: Sendable, CustomStringConvertible {
        var name: String
        var policy: RetentionPolicy
        var kept: String
        var description: String { name }
    }

    static let cases: [Case] = {
        func p(_ f: (inout RetentionPolicy) -> Void) -> RetentionPolicy { var x = RetentionPolicy(); f(&x); return x }
        return [
            Case(name: "last 3", policy: p { $0.last = 3 }, kept: "fgh"),
            Case(name: "hourly 3", policy: p { $0.hourly = 3 }, kept: "fgh"),
            Case(name: "daily 4", policy: p { $0.daily = 4 }, kept: "dfgh"),
            Case(name: "daily 10", policy: p { $0.daily = 10 }, kept: "bcdfgh"),
            // ISO weeks: Sunday 1 Feb belongs to the week before Tuesday 3 Feb.
            Case(name: "weekly 3", policy: p { $0.weekly = 3 }, kept: "fgh"),
            Case(name: "weekly 4", policy: p { $0.weekly = 4 }, kept: "dfgh"),
            Case(name: "monthly 2", policy: p { $0.monthly = 2 }, kept: "gh"),
            Case(name: "monthly 3", policy: p { $0.monthly = 3 }, kept: "dgh"),
            Case(name: "yearly 5", policy: p { $0.yearly = 5 }, kept: "gh"),
            Case(name: "within 400d", policy: p { $0.within = 400 * 86400 }, kept: "abcdefgh"),
            Case(name: "within 340d", policy: p { $0.within = 340 * 86400 }, kept: "efgh"),
            Case(name: "within 1d", policy: p { $0.within = 86400 }, kept: "h"),
            Case(name: "tag release", policy: p { $0.tags = ["release"] }, kept: "c"),
            Case(name: "last 1 + tag", policy: p { $0.last = 1; $0.tags = ["release"] }, kept: "ch"),
            Case(name: "last 2 + monthly 3", policy: p { $0.last = 2; $0.monthly = 3 }, kept: "dgh"),
        ]
    }()

    @Test(arguments: cases)
    func keptSet(_ c: Case) {
        let decisions = c.policy.apply(to: Self.records(), calendar: Self.utc)
        let kept = decisions.filter(\.keep).map { Self.label($0.record) }.joined()
        #expect(kept == c.kept)
        for d in decisions {
            #expect(d.keep == !d.reasons.isEmpty)
        }
    }

    @Test func groupsByHostAndPath() {
        var records = Self.records()
        records[0].snapshot.paths = ["/Other"]
        var policy = RetentionPolicy()
        policy.last = 1
        let kept = policy.apply(to: records, calendar: Self.utc).filter(\.keep).map { Self.label($0.record) }.sorted().joined()
        #expect(kept == "ah")
    }

    @Test(arguments: [("30d", 30.0 * 86400), ("2w", 14.0 * 86400), ("1y6m", 545.0 * 86400), ("12h", 43200.0), ("90s", 90.0)])
    func durations(text: String, seconds: Double) {
        #expect(RetentionPolicy.parseDuration(text) == seconds)
    }

    @Test(arguments: ["", "d", "10", "5x", "-3d"])
    func badDurations(text: String) {
        #expect(RetentionPolicy.parseDuration(text) == nil)
    }
}
