import Foundation
import ArgumentParser
import ModVaultCore
import ModVaultStore
import ModVaultArchive
import ModVaultCrypto

struct Forget: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Remove snapshots by ID or by a retention policy.",
        discussion: """
            Snapshots are grouped by host and folder; the policy applies to each group. A
            snapshot is kept if any rule keeps it, and the reasons are printed. Data is
            freed only by 'prune' (or --prune). Examples:
              modvault forget --keep-last 10 --keep-daily 7 --keep-weekly 4 --dry-run
              modvault forget --keep-within 30d --keep-tag release --prune
              modvault forget 3f2a91c0
            """)

    @OptionGroup var global: RepositoryOptionsGroup

    @Argument(help: "Snapshots to remove (IDs or prefixes). Without them, the policy decides.")
    var snapshots: [String] = []

    @Option(help: "Keep the newest N snapshots.") var keepLast = 0
    @Option(help: "Keep the newest snapshot of each of the last N hours.") var keepHourly = 0
    @Option(help: "Keep the newest snapshot of each of the last N days.") var keepDaily = 0
    @Option(help: "Keep the newest snapshot of each of the last N weeks.") var keepWeekly = 0
    @Option(help: "Keep the newest snapshot of each of the last N months.") var keepMonthly = 0
    @Option(help: "Keep the newest snapshot of each of the last N years.") var keepYearly = 0
    @Option(help: ArgumentHelp("Keep snapshots within this duration of the newest (e.g. 30d, 2w, 1y6m, 12h).", valueName: "duration"))
    var keepWithin: String?
    @Option(help: ArgumentHelp("Keep snapshots with this tag (repeatable).", valueName: "tag")) var keepTag: [String] = []

    @Flag(help: "Show what would be removed without removing anything.") var dryRun = false
    @Flag(help: "Run prune afterwards to free the space.") var prune = false
    @Option(help: ArgumentHelp("With --prune: repack packs with more than this share unused (e.g. 10%).", valueName: "percent"))
    var maxUnused = "10%"
    @Flag(help: "Print a JSON object.") var json = false

    func run() async throws {
        let repo = try global.open()
        var policy = RetentionPolicy()
        policy.last = keepLast; policy.hourly = keepHourly; policy.daily = keepDaily
        policy.weekly = keepWeekly; policy.monthly = keepMonthly; policy.yearly = keepYearly
        policy.tags = keepTag
        if let keepWithin {
            guard let d = RetentionPolicy.parseDuration(keepWithin) else { throw ValidationError("invalid duration '\(keepWithin)' (use e.g. 30d, 2w, 1y6m, 12h)") }
            policy.within = d
        }
        let lock = try RepositoryLock.acquire(repo, exclusive: false, operation: "forget", wait: global.retryLock)
        defer { lock.release() }
        let all = try repo.snapshots()
        var decisions: [RetentionDecision]
        if !snapshots.isEmpty {
            guard policy.isEmpty else { throw ValidationError("give either snapshot IDs or --keep-* options, not both") }
            let remove = Set(try snapshots.map { try repo.resolveSnapshot($0, among: all).id })
            decisions = all.map { RetentionDecision(record: $0, keep: !remove.contains($0.id), reasons: remove.contains($0.id) ? [] : ["not named"]) }
        } else {
            guard !policy.isEmpty else { throw ValidationError("no policy given: use --keep-last, --keep-daily, ... or name snapshots (refusing to remove everything)") }
            decisions = policy.apply(to: all)
        }
        let removed = decisions.filter { !$0.keep }
        if !dryRun {
            for d in removed { try repo.removeSnapshot(d.record.id) }
        }
        if json {
            let keep = decisions.filter(\.keep).map { ["id": $0.record.id.hex, "time": Timestamp.format($0.record.snapshot.time), "reasons": $0.reasons] as [String: Any] }
            let rm = removed.map { ["id": $0.record.id.hex, "time": Timestamp.format($0.record.snapshot.time)] as [String: Any] }
            print(JSON.line(["keep": keep, "remove": rm, "dry_run": dryRun]))
        } else if !global.quiet {
            for d in decisions {
                let mark = d.keep ? "keep  " : (dryRun ? "would remove" : "remove")
                print("\(mark) \(d.record.id.short) \(Format.time(d.record.snapshot.time)) \(d.record.snapshot.paths.joined(separator: ","))\(d.keep ? "  (" + d.reasons.joined(separator: ", ") + ")" : "")")
            }
            print("\(decisions.count - removed.count) kept, \(removed.count) \(dryRun ? "would be removed" : "removed")")
        }
        if prune && !dryRun {
            lock.release()
            try await Prune.run(repo: repo, global: global, maxUnused: maxUnused, dryRun: false, json: json)
        }
    }
}

struct Prune: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Delete data that no snapshot references.",
        discussion: """
            Deletes packs whose blobs are all unused and repacks packs with more than
            --max-unused of them unused. Takes an exclusive lock: it waits for (or,
            without --retry-lock, refuses to run beside) snapshots. A crash at any point
            leaves the repository valid.
            """)

    @OptionGroup var global: RepositoryOptionsGroup
    @Option(help: ArgumentHelp("Repack packs with more than this share unused (e.g. 10%).", valueName: "percent"))
    var maxUnused = "10%"
    @Flag(help: "Report what would be freed without changing anything.") var dryRun = false
    @Flag(help: "Print a JSON object.") var json = false

    func run() async throws {
        try await Self.run(repo: try global.open(), global: global, maxUnused: maxUnused, dryRun: dryRun, json: json)
    }

    static func run(repo: Repository, global: RepositoryOptionsGroup, maxUnused: String, dryRun: Bool, json: Bool) async throws {
        let text = maxUnused.hasSuffix("%") ? String(maxUnused.dropLast()) : maxUnused
        guard let percent = Double(text), (0...100).contains(percent) else { throw ValidationError("invalid --max-unused '\(maxUnused)'") }
        let lock = try RepositoryLock.acquire(repo, exclusive: true, operation: "prune", wait: global.retryLock)
        defer { lock.release() }
        try lock.ensureHeld()
        let r = try Pruner(repository: repo).prune(maxUnused: percent / 100, dryRun: dryRun)
        if json {
            print(JSON.line(["packs_deleted": r.packsDeleted, "packs_repacked": r.packsRepacked, "packs_written": r.packsWritten,
                             "unused_blobs": r.unusedBlobs, "bytes_deleted": r.bytesDeleted, "bytes_repacked": r.bytesRepacked,
                             "bytes_freed": r.bytesFreed, "dry_run": dryRun]))
        } else if !global.quiet {
            print("\(r.unusedBlobs) unused blobs; \(r.packsDeleted) packs deleted, \(r.packsRepacked) repacked into \(r.packsWritten)")
            print("\(dryRun ? "would free" : "freed") \(Format.bytes(r.bytesFreed))")
        }
    }
}

struct Unlock: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Remove stale locks left by processes that died.",
        discussion: "A lock is stale when its process no longer runs on this host, or it was not refreshed for 30 minutes.")

    @OptionGroup var global: RepositoryOptionsGroup
    @Flag(help: "Remove every lock, even live ones (only when you are sure nothing else uses the repository).")
    var removeAll = false

    func run() async throws {
        let repo = try global.open()
        let removed = try RepositoryLock.removeStale(repo, all: removeAll)
        print("removed \(removed.count) lock\(removed.count == 1 ? "" : "s")")
    }
}

struct Key: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage the passwords (key slots) that open the repository.",
        subcommands: [KeyList.self, KeyAdd.self, KeyRemove.self, KeyPasswd.self])
}

/// The new password from --new-password-file or a prompt asked twice.
func newPassword(file: String?) throws -> [UInt8] {
    if let file {
        guard var bytes = try? FileSystem.readFile(file) else { throw CLIError("cannot read new password file \(file)") }
        while let last = bytes.last, last == 0x0A || last == 0x0D { bytes.removeLast() }
        guard !bytes.isEmpty else { throw CLIError("new password file \(file) is empty") }
        return bytes
    }
    guard isatty(0) == 1 else { throw CLIError("no new password: use --new-password-file or run on a terminal") }
    let first = Terminal.readSecret("enter new password: ")
    let second = Terminal.readSecret("enter new password again: ")
    guard first == second else { throw CLIError("passwords do not match") }
    guard !first.isEmpty else { throw CLIError("empty password refused") }
    return first
}

func scryptForNewKeys() -> ScryptParameters {
    if let n = ProcessInfo.processInfo.environment["MODVAULT_TEST_SCRYPT_N"].flatMap(UInt64.init) { return ScryptParameters(n: n, r: 8, p: 1) }
    return .default
}

struct KeyList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List key slots.")
    @OptionGroup var global: RepositoryOptionsGroup
    @Flag(help: "Print a JSON array.") var json = false

    func run() async throws {
        let repo = try global.open()
        let slots = try repo.keySlots()
        if json {
            let rows = slots.map { ["id": $0.id, "current": $0.id == repo.keyID, "host": $0.slot.host, "username": $0.slot.username,
                                    "created": Timestamp.format($0.slot.created)] as [String: Any] }
            let data = try JSONSerialization.data(withJSONObject: rows, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
            return
        }
        for s in slots {
            print("\(s.id == repo.keyID ? "*" : " ") \(s.id.prefix(8))  \(s.slot.username)@\(s.slot.host)  \(Format.time(s.slot.created))")
        }
    }
}

struct KeyAdd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "add", abstract: "Add a password.")
    @OptionGroup var global: RepositoryOptionsGroup
    @Option(help: ArgumentHelp("Read the new password from this file.", valueName: "file")) var newPasswordFile: String?

    func run() async throws {
        let repo = try global.open()
        let id = try repo.addKey(password: try newPassword(file: newPasswordFile), parameters: scryptForNewKeys())
        print("added key \(id.prefix(8))")
    }
}

struct KeyRemove: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove", abstract: "Remove a password by key ID (not the last one, not the one in use).")
    @OptionGroup var global: RepositoryOptionsGroup
    @Argument(help: "Key ID or unique prefix (see 'key list').") var id: String

    func run() async throws {
        let repo = try global.open()
        let matches = try repo.keySlots().filter { $0.id.hasPrefix(id) }
        guard matches.count == 1, let match = matches.first else {
            throw CLIError(matches.isEmpty ? "no key matches '\(id)'" : "key prefix '\(id)' is ambiguous", kind: .notFound)
        }
        try repo.removeKey(match.id)
        print("removed key \(match.id.prefix(8)); each remote loses it at its next 'modvault push'")
    }
}

struct KeyPasswd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "passwd", abstract: "Change the password of the key in use (only that slot is rewritten).")
    @OptionGroup var global: RepositoryOptionsGroup
    @Option(help: ArgumentHelp("Read the new password from this file.", valueName: "file")) var newPasswordFile: String?

    func run() async throws {
        let repo = try global.open()
        let id = try repo.changePassword(to: try newPassword(file: newPasswordFile), parameters: scryptForNewKeys())
        print("password changed; new key \(id.prefix(8)) replaces \(repo.keyID.prefix(8)); remotes change at their next 'modvault push', until then the old password still opens them")
    }
}

struct Repair: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Rebuild the index or remove snapshots whose data is gone.",
        subcommands: [RepairIndex.self, RepairSnapshots.self])
}

struct RepairIndex: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "index", abstract: "Rebuild the index from the pack files themselves.")
    @OptionGroup var global: RepositoryOptionsGroup

    func run() async throws {
        let repo = try global.open()
        let lock = try RepositoryLock.acquire(repo, exclusive: true, operation: "repair index", wait: global.retryLock)
        defer { lock.release() }
        let before = try repo.list(.index).count
        let result = try repo.rebuildIndexFromPacks { Terminal.warn($0) }
        print("indexed \(result.indexed) packs into one index file (replacing \(before)); \(result.damaged.count) unreadable packs")
        for pack in result.damaged { print("unreadable pack: \(repo.filePath(ObjectName(kind: .pack, id: pack)))") }
    }
}

struct RepairSnapshots: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "snapshots", abstract: "List snapshots whose data is missing; with --forget, remove them.")
    @OptionGroup var global: RepositoryOptionsGroup
    @Flag(help: "Remove the damaged snapshots (asks for confirmation on a terminal).") var forget = false
    @Flag(name: .customLong("yes"), help: "Do not ask for confirmation.") var assumeYes = false

    func run() async throws {
        let repo = try global.open()
        let report = try Checker(repository: repo).check(readData: false)
        let damaged = Set(report.affected.compactMap { $0.split(separator: ":").first.map { String($0.dropFirst("snapshot ".count)) } })
        let records = try repo.snapshots().filter { damaged.contains($0.id.short) }
        for r in records { print("damaged: snapshot \(r.id.short) \(Format.time(r.snapshot.time)) \(r.snapshot.paths.joined(separator: ","))") }
        print("\(records.count) snapshots have missing data")
        guard forget, !records.isEmpty else { return }
        if !assumeYes {
            guard isatty(0) == 1 else { throw CLIError("refusing to remove snapshots without confirmation: add --yes") }
            FileHandle.standardError.write(Data("remove \(records.count) snapshots? [y/N] ".utf8))
            guard readLine()?.lowercased().hasPrefix("y") == true else { print("nothing removed"); return }
        }
        let lock = try RepositoryLock.acquire(repo, exclusive: false, operation: "repair snapshots", wait: global.retryLock)
        defer { lock.release() }
        for r in records { try repo.removeSnapshot(r.id) }
        print("removed \(records.count) snapshots")
    }
}

struct Optimize: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Store the compressed streams of snapshots decompressed, with recipes.",
        discussion: """
            A first snapshot keeps the zlib streams of BA2 archives and plugins as they
            are, so it runs at full speed. optimize converts them afterwards, reading
            them from the repository: each stream is decompressed, recompressed to find
            the recipe that reproduces it byte for byte, and stored as its content
            plus the recipe. The snapshot is then replaced by one whose files refer to
            the converted streams (same time, folder, tags and parents; new ID).
            Later snapshots reuse those streams, so a repack at another zlib level, a
            member reorder or a texture extracted as a loose DDS stores little.
            Costs about 30 MB/s per core now and at every restore of those streams;
            --max-seconds stops early and a later run goes on. Run 'modvault prune'
            afterwards to free the compressed copies no snapshot uses any more.
            Examples:
              modvault optimize                      # the latest snapshot of each folder
              modvault optimize 3f2a91c0 --max-seconds 300
            """)

    @OptionGroup var global: RepositoryOptionsGroup
    @Argument(help: ArgumentHelp("Snapshots to optimise (default: the latest of each folder).", valueName: "snapshot"))
    var snapshots: [String] = []
    @Option(help: ArgumentHelp("CPU seconds to spend finding recipes (default: no limit).", valueName: "seconds"))
    var maxSeconds: Double?
    @Flag(help: "Print one JSON object per snapshot.") var json = false

    func validate() throws {
        if let maxSeconds, maxSeconds < 0 { throw ValidationError("--max-seconds must be 0 or more") }
    }

    func run() async throws {
        let repo = try global.open()
        let all = try repo.snapshots()
        var targets: [SnapshotRecord] = []
        if snapshots.isEmpty {
            var latest: [[String]: SnapshotRecord] = [:]
            for r in all where latest[r.snapshot.paths].map({ $0.snapshot.time < r.snapshot.time }) ?? true { latest[r.snapshot.paths] = r }
            targets = latest.values.sorted { $0.snapshot.time < $1.snapshot.time }
        } else {
            targets = try snapshots.map { try repo.resolveSnapshot($0, among: all) }
        }
        var spent = 0.0
        var replaced = false
        for record in targets {
            var options = OptimizeOptions()
            options.lockWait = global.retryLock
            if let maxSeconds { options.budget = max(0, maxSeconds - spent) }
            let r = try await Optimizer(repository: repo).optimize(record, options: options)
            spent += r.streams.recipeSeconds
            replaced = replaced || r.replacement != nil
            if json {
                print(JSON.line(["snapshot": r.snapshot.hex, "replacement": r.replacement?.hex ?? NSNull(), "files_rewritten": r.filesRewritten,
                                 "normalized": r.streams.normalized, "verbatim": r.streams.verbatim, "reused": r.streams.reused,
                                 "left": r.streamsLeft, "bytes_added": r.bytesAdded, "seconds": r.seconds]))
            } else if !global.quiet {
                let outcome = r.replacement.map { "replaced by \($0.short)" } ?? "unchanged"
                print("snapshot \(r.snapshot.short): \(r.streams.normalized) streams stored decompressed, \(r.streams.reused) already were, "
                      + "\(r.streams.verbatim) without a recipe; \(r.filesRewritten) files rewritten, \(Format.bytes(r.bytesAdded)) added; \(outcome)")
                if r.streamsLeft > 0 { print("  \(r.streamsLeft) streams left for a later run (--max-seconds reached)") }
            }
        }
        if !json && !global.quiet && replaced { print("run 'modvault prune' to free the compressed copies no snapshot uses any more") }
    }
}
