import Foundation
public import ModVaultCore
public import ModVaultStore

/// Which snapshots `forget` keeps. Snapshots are grouped by host and paths; each group is judged on its own.
public struct RetentionPolicy: Sendable, Equatable {
    /// Keep the newest N.
    public var last = 0
    /// Keep the newest snapshot of each of the last N hours that have one.
    public var hourly = 0
    /// Same per day.
    public var daily = 0
    /// Same per ISO week.
    public var weekly = 0
    /// Same per month.
    public var monthly = 0
    /// Same per year.
    public var yearly = 0
    /// Keep everything within this many seconds of the group's newest snapshot.
    public var within: TimeInterval? = nil
    /// Keep every snapshot carrying any of these tags.
    public var tags: [String] = []

    /// An empty policy (keeps nothing, so `forget` refuses it).
    public init() {}

    /// True when no rule is set.
    public var isEmpty: Bool {
        last == 0 && hourly == 0 && daily == 0 && weekly == 0 && monthly == 0 && yearly == 0 && within == nil && tags.isEmpty
    }
}

/// The verdict on one snapshot.
public struct RetentionDecision: Sendable {
    /// The snapshot.
    public var record: SnapshotRecord
    /// Kept or to be removed.
    public var keep: Bool
    /// Why it is kept, e.g. ["last snapshot", "daily snapshot"]; empty when removed.
    public var reasons: [String]

    /// Creates a decision.
    public init(record: SnapshotRecord, keep: Bool, reasons: [String]) {
        self.record = record
        self.keep = keep
        self.reasons = reasons
    }
}

extension RetentionPolicy {
    /// Applies the policy to `snapshots`; the calendar decides hour/day/week boundaries (local time by default).
    public func apply(to snapshots: [SnapshotRecord], calendar: Calendar = .current) -> [RetentionDecision] {
        let groups = Dictionary(grouping: snapshots) { "\($0.snapshot.host)\u{0}\($0.snapshot.paths.joined(separator: "\u{0}"))" }
        var decisions: [RetentionDecision] = []
        for (_, group) in groups.sorted(by: { $0.key < $1.key }) {
            let newestFirst = group.sorted { ($0.snapshot.time, $0.id) > ($1.snapshot.time, $1.id) }
            var reasons = [[String]](repeating: [], count: newestFirst.count)
            func bucketRule(_ count: Int, _ name: String, _ key: (Int, Date) -> [Int]) {
                var remaining = count
                var lastKey: [Int]? = nil
                for (i, r) in newestFirst.enumerated() where remaining > 0 {
                    let k = key(i, r.snapshot.time)
                    if k != lastKey {
                        reasons[i].append(name)
                        remaining -= 1
                        lastKey = k
                    }
                }
            }
            // Weeks are ISO 8601 weeks (Monday first) whatever the locale, so results do not depend on it.
            var iso = calendar
            iso.firstWeekday = 2
            iso.minimumDaysInFirstWeek = 4
            bucketRule(last, "last snapshot") { i, _ in [i] }
            bucketRule(hourly, "hourly snapshot") { let c = calendar.dateComponents([.year, .month, .day, .hour], from: $1); return [c.year!, c.month!, c.day!, c.hour!] }
            bucketRule(daily, "daily snapshot") { let c = calendar.dateComponents([.year, .month, .day], from: $1); return [c.year!, c.month!, c.day!] }
            bucketRule(weekly, "weekly snapshot") { let c = iso.dateComponents([.yearForWeekOfYear, .weekOfYear], from: $1); return [c.yearForWeekOfYear!, c.weekOfYear!] }
            bucketRule(monthly, "monthly snapshot") { let c = calendar.dateComponents([.year, .month], from: $1); return [c.year!, c.month!] }
            bucketRule(yearly, "yearly snapshot") { [calendar.component(.year, from: $1)] }
            if let within, let newest = newestFirst.first?.snapshot.time {
                for (i, r) in newestFirst.enumerated() where newest.timeIntervalSince(r.snapshot.time) <= within {
                    reasons[i].append("within \(Self.describe(within))")
                }
            }
            if !tags.isEmpty {
                for (i, r) in newestFirst.enumerated() {
                    let hit = r.snapshot.tags.filter { tags.contains($0) }
                    if !hit.isEmpty { reasons[i].append("tagged \(hit.joined(separator: ","))") }
                }
            }
            for (i, r) in newestFirst.enumerated() {
                decisions.append(RetentionDecision(record: r, keep: !reasons[i].isEmpty, reasons: reasons[i]))
            }
        }
        return decisions.sorted { ($0.record.snapshot.time, $0.record.id) < ($1.record.snapshot.time, $1.record.id) }
    }

    /// Parses durations such as `2y5m7d3h` (y=365d, m=30d, w=7d, d, h, s).
    public static func parseDuration(_ text: String) -> TimeInterval? {
        var total: TimeInterval = 0
        var number = ""
        for ch in text.lowercased() {
            if ch.isNumber { number.append(ch); continue }
            guard let n = Double(number) else { return nil }
            switch ch {
            case "y": total += n * 365 * 86400
            case "m": total += n * 30 * 86400
            case "w": total += n * 7 * 86400
            case "d": total += n * 86400
            case "h": total += n * 3600
            case "s": total += n
            default: return nil
            }
            number = ""
        }
        guard number.isEmpty, total > 0 else { return nil }
        return total
    }

    static func describe(_ seconds: TimeInterval) -> String {
        let days = Int(seconds / 86400)
        return days > 0 ? "\(days)d" : "\(Int(seconds / 3600))h"
    }
}
