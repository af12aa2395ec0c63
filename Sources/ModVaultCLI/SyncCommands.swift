import Foundation
import Glibc
import Synchronization
import ArgumentParser
import ModVaultCore
import ModVaultStore
import ModVaultSync
import ModVaultFormats

/// Set by SIGINT/SIGTERM during `sync --watch` and `watch`: the step in progress finishes, then the loop ends.
private let stopRequested = Atomic<Bool>(false)

/// Makes SIGINT and SIGTERM request a clean stop instead of ending the process at once.
private func catchStopSignals() {
    signal(SIGINT) { _ in stopRequested.store(true, ordering: .relaxed) }
    signal(SIGTERM) { _ in stopRequested.store(true, ordering: .relaxed) }
}

/// Set when the remote reports a push, taken by the loop of `sync --watch`.
private final class NewsFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    func raise() { flag.store(true, ordering: .relaxed) }
    var isRaised: Bool { flag.load(ordering: .relaxed) }
    /// True once per raise.
    func take() -> Bool { flag.exchange(false, ordering: .relaxed) }
}

/// A push log entry as `log --json` and `watch --json` print it.
private func entryJSON(_ e: PushEntry) -> [String: Any] {
    ["seq": e.seq, "snapshot": e.snapshot.hex, "parents": e.parents.map(\.hex), "author": e.author, "device": e.device,
     "time": Timestamp.format(e.time), "summary": ["added": e.summary.added, "changed": e.summary.changed, "removed": e.summary.removed]]
}

/// One line for a push log entry.
private func entryLine(_ e: PushEntry) -> String {
    let merge = e.parents.count > 1 ? " merge" : ""
    return "#\(e.seq)  \(Format.time(e.time))  \(e.snapshot.short)\(merge)  \(e.author) (\(e.device.prefix(8)))  "
        + "+\(e.summary.added) ~\(e.summary.changed) -\(e.summary.removed)"
}

/// Opens the folder's state and checks it belongs to this repository; nil when never synced.
private func folderState(_ folder: String, repository: Repository) throws -> FolderSyncState? {
    guard let state = try FolderSyncState.load(folder) else { return nil }
    guard state.repository == repository.config.id else {
        throw SyncFolderError.boundElsewhere(folder: folder, detail: "repository \(state.repository.short), not \(repository.config.id.short)")
    }
    return state
}

/// A folder already synced: its state, and the sync of it through the remote it is bound to.
private func boundFolder(_ folder: String, repository: Repository) throws -> (path: String, state: FolderSyncState, sync: FolderSync) {
    let path = FileSystem.absolute(folder)
    guard let state = try folderState(path, repository: repository) else { throw SyncFolderError.notBound(folder: path) }
    let remote = try RemoteFactory.make(try RemoteFactory.url(for: state.remote, repo: repository.path))
    return (path, state, FolderSync(repository: repository, remote: remote, folder: path))
}

private func conflictJSON(_ c: SyncConflict) -> [String: Any] {
    var obj: [String: Any] = ["path": c.path, "kind": c.kind.rawValue, "resolution": c.resolution]
    if let copy = c.copy { obj["copy"] = copy }
    if let theirs = c.theirs { obj["theirs"] = theirs.hex }
    if let records = c.records {
        obj["records"] = records.map { ["form_id": $0.formID, "type": $0.type, "editor_id": $0.editorID as Any? ?? NSNull(), "kind": $0.kind] as [String: Any] }
    }
    return obj
}

struct SyncCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync",
        abstract: "Keep a folder in step with a shared remote: snapshot, merge, push, update the folder.",
        discussion: """
            The first sync binds the folder to a remote (--remote NAME or URL); later
            ones use it. Each run snapshots the folder (so every version stays in
            history), reads the remote's push log, merges the remote's changes three-way
            with the folder's, pushes the result as the next log entry, and writes the
            merged result into the folder through temporary files. Pushes from several
            devices never overwrite each other: a device that loses the race for the
            next entry merges again and retries.

            Conflicts (both sides changed one path differently) are settled by
            --strategy, then by the rules in FOLDER/.modvault/sync-rules ('PATTERN
            STRATEGY' lines, e.g. '*.esp manual'), then by the defaults: manual for
            plugins (.esp .esm .esl) and load-order files, keep-both for the rest. A
            path modified on one side and deleted on the other keeps the modification
            unless a strategy was chosen for it. plugins.txt, loadorder.txt and
            modlist.txt merge line by line first.
              ours       keep this folder's version
              theirs     take the remote's version
              newest     the later snapshot wins (ties: the larger device ID)
              keep-both  the newest stays, the other is kept beside it as
                         NAME.modvault-conflict-DEVICE-SNAPSHOT, which
                         neither the game nor Mod Organizer 2 loads
              manual     the folder keeps its version, nothing is pushed,
                         and 'modvault resolve' settles it
            A plugin changed on both sides is first merged record by record
            (see 'modvault merge-plugin --help'); only record conflicts remain.

            A pull that would delete more than half of the folder's files stops unless
            --allow-mass-delete. The remote must refuse a second create of one name
            (disk, PocketBase, S3 servers with If-None-Match); for one that cannot
            ('rclone serve s3'), --single-writer accepts it when only one device writes.

            Exit codes: 0 in step, 5 conflicts wait for 'modvault resolve' (their paths
            are left as they were), 3 some files could not be read or changed during the
            run (the next sync takes them), others as for every command.
            """)

    @OptionGroup var global: RepositoryOptionsGroup
    @Argument(help: "The folder to sync.") var folder: String
    @Option(help: ArgumentHelp("Remote name or URL (needed the first time; binds the folder to it).", valueName: "remote")) var remote: String?
    @Option(help: ArgumentHelp("Settle every conflict this way: ours, theirs, newest, keep-both or manual.", valueName: "strategy"))
    var strategy: String?
    @Flag(help: "Bring the remote's changes in; push nothing.") var pullOnly = false
    @Flag(help: "Push local changes; refuse if the remote has pushes not merged here.") var pushOnly = false
    @Flag(help: "Show what would change; change neither the folder nor the remote.") var dryRun = false
    @Flag(help: "Allow a pull to delete more than half of the folder's files.") var allowMassDelete = false
    @Flag(help: "Accept a remote without create-if-absent writes, when this is the only device writing.") var singleWriter = false
    @Flag(help: "Keep syncing until SIGINT or SIGTERM: on every change in the folder, and when the remote has new pushes.") var watch = false
    @Option(help: ArgumentHelp("With --watch: seconds between checks of the remote.", valueName: "seconds")) var interval: Double = 5
    @Option(help: ArgumentHelp("With --watch: seconds the folder must be quiet before a change is synced.", valueName: "seconds")) var settle: Double = 1
    @Option(help: ArgumentHelp("Objects in flight at once.", valueName: "n")) var transfers = 8
    @Flag(help: "Print a JSON summary as the last line of stdout (one line per run with --watch).") var json = false

    func validate() throws {
        if let strategy, ConflictStrategy(rawValue: strategy) == nil {
            throw ValidationError("--strategy must be one of \(ConflictStrategy.allCases.map(\.rawValue).joined(separator: ", ")), not '\(strategy)'")
        }
        if pullOnly && pushOnly { throw ValidationError("--pull-only and --push-only exclude each other") }
        guard interval > 0, settle >= 0 else { throw ValidationError("--interval must be above 0 and --settle 0 or more") }
        _ = try Transfers.check(transfers)
    }

    func run() async throws {
        let opened = try global.open()
        let path = FileSystem.absolute(folder)
        guard FileSystem.isDirectory(path) else { throw CLIError("\(path) is not a folder", kind: .notFound) }
        var state: FolderSyncState
        if let existing = try folderState(path, repository: opened) {
            state = existing
            if let remote, remote != existing.remote,
               (try? RemoteFactory.url(for: remote, repo: opened.path).location) != existing.remoteLocation {
                throw SyncFolderError.boundElsewhere(folder: path, detail: "remote '\(existing.remote)' (\(existing.remoteLocation)), not '\(remote)'")
            }
        } else {
            guard let remote else { throw SyncFolderError.notBound(folder: path) }
            let url = try RemoteFactory.url(for: remote, repo: opened.path)
            state = FolderSyncState(repository: opened.config.id, remote: remote, remoteLocation: url.location)
        }
        let url = try RemoteFactory.url(for: state.remote, repo: opened.path)
        let target = try RemoteFactory.make(url, forWriting: true)
        let repo = try await global.adoptingRotatedKey(opened, from: target)
        var sync = FolderSync(repository: repo, remote: target, folder: path)
        sync.remoteLabel = url.description
        var options = FolderSyncOptions()
        options.strategy = strategy.flatMap(ConflictStrategy.init(rawValue:))
        options.direction = pullOnly ? .pullOnly : (pushOnly ? .pushOnly : .both)
        options.dryRun = dryRun
        options.allowMassDelete = allowMassDelete
        options.singleWriter = singleWriter
        options.transfers = transfers
        options.lockWait = global.retryLock
        if !global.quiet { options.notice = { FileHandle.standardError.write(Data("modvault: \($0)\n".utf8)) } }

        guard watch else {
            let report = try await sync.run(state: state, options: options)
            try finish(report, repository: repo, folder: path)
            return
        }
        catchStopSignals()
        let watcher = try FolderWatcher(root: path)
        // On PocketBase the remote's news comes from the same realtime stream 'watch' follows, and a
        // heartbeat shows this member online; other remotes are asked every --interval seconds.
        let remoteNews = NewsFlag()
        var live: [Task<Void, Never>] = []
        if let pb = try pocketBase(url) {
            var feed = ProjectWatch(remote: target, repository: repo)
            feed.signals = projectSignals(pb)
            feed.interval = interval
            let start = state.seq, stream = feed
            // Any new log entry is news, also one this key cannot open yet (sealed after a rotation:
            // the sync it triggers takes the new key first).
            live.append(Task {
                try? await stream.run(after: start) { event in
                    switch event {
                    case .push, .refused: remoteNews.raise()
                    default: break
                    }
                }
            })
            live.append(Task { await sendHeartbeats(pb) })
        }
        defer { live.forEach { $0.cancel() } }
        var failures = 0
        var due = true
        while !stopRequested.load(ordering: .relaxed) {
            if due {
                do {
                    // An admin may rotate the key while this runs: take the new key before pushing, so
                    // nothing this device writes afterwards opens with the retired one.
                    let keyed = try await global.adoptingRotatedKey(sync.repository, from: target)
                    if keyed.masterKey != sync.repository.masterKey {
                        let label = sync.remoteLabel
                        sync = FolderSync(repository: keyed, remote: target, folder: path)
                        sync.remoteLabel = label
                    }
                    let current = try FolderSyncState.load(path) ?? state
                    let report = try await sync.run(state: current, options: options)
                    try? finish(report, repository: sync.repository, folder: path)
                    failures = 0
                } catch let error as ExitWith {
                    _ = error
                } catch {
                    // A dropped connection or a remote that is down: say so, and try again later.
                    failures += 1
                    Terminal.warn("sync failed (\(failures) in a row), retrying: \((error as? ModVaultFailure)?.description ?? "\(error)")")
                }
            }
            let backoff = failures == 0 ? interval : min(60, interval * Double(1 << min(failures, 6)))
            let changed = try watcher.wait(timeout: backoff, quiet: settle) { stopRequested.load(ordering: .relaxed) || remoteNews.isRaised }
            if stopRequested.load(ordering: .relaxed) { break }
            due = changed || failures > 0 || remoteNews.take()
            if !due, live.isEmpty, let current = try FolderSyncState.load(path) {
                // Nothing here changed: sync only when the remote has news (one listing of the log).
                due = (try? await PushLog(remote: target, repository: sync.repository).read(after: current.seq).lastSeq > current.seq) ?? true
            }
        }
        if !global.quiet { FileHandle.standardError.write(Data("modvault: stopped watching \(path)\n".utf8)) }
    }

    private func finish(_ r: FolderSyncReport, repository: Repository, folder: String) throws {
        for w in r.warnings { Terminal.warn(w) }
        for s in r.skipped { Terminal.warn("\(folder)/\(s) changed while syncing; left as it is for the next sync") }
        if json {
            var obj: [String: Any] = [
                "head": r.head?.hex as Any? ?? NSNull(), "remote_head": r.remoteHead?.hex as Any? ?? NSNull(), "seq": r.seq,
                "pushed": r.pushed, "pulled": r.pulled, "merged": r.merged, "snapshotted": r.snapshotted,
                "files_written": r.filesWritten, "files_removed": r.filesRemoved,
                "bytes_uploaded": r.bytesUploaded, "bytes_downloaded": r.bytesDownloaded,
                "conflicts": r.conflicts.map(conflictJSON), "skipped": r.skipped, "warnings": r.warnings,
                "seconds": (r.seconds * 1000).rounded() / 1000, "dry_run": dryRun,
            ]
            if dryRun { obj["planned"] = r.planned }
            print(JSON.line(obj))
        } else if !global.quiet {
            if dryRun {
                print("dry run: would write \(r.planned.filter { !$0.hasPrefix("-") }.count) and remove \(r.planned.filter { $0.hasPrefix("-") }.count) files"
                      + (r.pushed ? ", and push" : ""))
                for p in r.planned { print("  " + (p.hasPrefix("-") ? "remove " + p.dropFirst() : "write  " + p)) }
            } else {
                var parts: [String] = []
                if r.snapshotted { parts.append("snapshotted local changes") }
                if r.merged { parts.append("merged") }
                if r.pulled { parts.append("wrote \(r.filesWritten) and removed \(r.filesRemoved) files") }
                if r.pushed { parts.append("pushed #\(r.seq) (\(Format.bytes(r.bytesUploaded)) up)") }
                if r.bytesDownloaded > 0 { parts.append("\(Format.bytes(r.bytesDownloaded)) down") }
                print(parts.isEmpty ? "in step with #\(r.seq)" : parts.joined(separator: ", "))
            }
            for c in r.conflicts {
                let copy = c.copy.map { " (other version: \($0))" } ?? ""
                print("conflict \(c.kind.rawValue) \(c.path): \(c.resolution == "manual" ? "kept this folder's version; run 'modvault resolve'" : c.resolution)\(copy)")
                for r in c.records ?? [] { print("  record \(r.kind): \(r.type) \(r.formID)" + (r.editorID.map { " \"\($0)\"" } ?? "")) }
            }
        }
        if r.unresolved { throw ExitWith(status: .conflicts) }
        if !r.skipped.isEmpty || !r.warnings.isEmpty { throw ExitWith(status: .partial) }
    }
}

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show a synced folder's state: ahead/behind, local changes, pending conflicts, last sync.",
        discussion: """
            Local changes are found from file sizes and times, without reading content.
            'behind' counts pushes on the remote not merged here; with --offline (or
            when the remote cannot be reached) it is left out.
            """)
    @OptionGroup var global: RepositoryOptionsGroup
    @Argument(help: "The synced folder.") var folder: String
    @Flag(help: "Do not contact the remote.") var offline = false
    @Flag(help: "Print one JSON object.") var json = false

    func run() async throws {
        let repo = try global.open()
        let (path, state, sync) = try boundFolder(folder, repository: repo)
        let changes = try sync.localChanges(state: state)
        let ahead = sync.ahead(state: state)
        var behind: Int? = nil
        var remoteError: String? = nil
        if !offline {
            do {
                let reading = try await PushLog(remote: sync.remote, repository: repo).read(after: state.mergedSeq ?? state.seq)
                behind = reading.entries.count
            } catch {
                remoteError = (error as? ModVaultFailure)?.description ?? "\(error)"
            }
        }
        if json {
            var obj: [String: Any] = [
                "folder": path, "remote": state.remote, "head": state.head?.hex as Any? ?? NSNull(),
                "remote_head": state.remoteHead?.hex as Any? ?? NSNull(), "seq": state.seq, "ahead": ahead,
                "behind": behind as Any? ?? NSNull(), "local_changes": changes, "conflicts": state.conflicts.map(conflictJSON),
                "last_sync": state.lastSync.map(Timestamp.format) as Any? ?? NSNull(),
            ]
            if let remoteError { obj["remote_error"] = remoteError }
            print(JSON.line(obj))
            return
        }
        print("folder \(path) syncs with \(state.remote) (\(state.remoteLocation))")
        print("head \(state.head?.short ?? "none"), remote head \(state.remoteHead?.short ?? "none") at #\(state.seq)")
        print("ahead \(ahead), behind " + (behind.map(String.init) ?? "unknown" + (remoteError.map { " (\($0))" } ?? "")))
        print("last sync " + (state.lastSync.map(Format.time) ?? "never"))
        if changes.isEmpty { print("no local changes") } else {
            print("\(changes.count) local changes:")
            for c in changes.prefix(50) { print("  " + c) }
            if changes.count > 50 { print("  … and \(changes.count - 50) more") }
        }
        for c in state.conflicts { print("conflict \(c.kind.rawValue) \(c.path): waiting for 'modvault resolve'") }
    }
}

struct ConflictsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "conflicts",
        abstract: "List a synced folder's conflicts: those waiting for resolve, and keep-both copies.")
    @OptionGroup var global: RepositoryOptionsGroup
    @Argument(help: "The synced folder.") var folder: String
    @Flag(help: "Print a JSON array.") var json = false

    func run() async throws {
        let repo = try global.open()
        let (_, state, sync) = try boundFolder(folder, repository: repo)
        let copies = try sync.files().keys.filter(SyncRules.isConflictCopy).sorted()
        if json {
            let rows = state.conflicts.map(conflictJSON) + copies.map { ["path": $0, "kind": "copy", "resolution": "keep-both"] as [String: Any] }
            let data = try JSONSerialization.data(withJSONObject: rows, options: [.sortedKeys, .withoutEscapingSlashes])
            print(String(decoding: data, as: UTF8.self))
            return
        }
        if state.conflicts.isEmpty && copies.isEmpty { print("no conflicts"); return }
        for c in state.conflicts {
            print("\(c.kind.rawValue)  \(c.path)  (waiting: modvault resolve \(folder) \"\(c.path)\" --take ours|theirs|both)")
            for r in c.records ?? [] {
                let how = r.formID == "-" ? "whole plugin only" : "--record \(r.formID)=ours|theirs"
                print("    \(r.kind)  \(r.type)  \(r.formID)\(r.editorID.map { " (\($0))" } ?? "")  ours \(r.ours), theirs \(r.theirs)  (\(how))")
            }
        }
        for c in copies { print("copy  \(c)  (the other side's version, kept by keep-both; delete it when done)") }
    }
}

struct ResolveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resolve",
        abstract: "Settle a conflict that sync left for you; the next sync completes the merge.",
        discussion: """
            A whole path:
              --take ours    keep the folder's version (pushed over the remote's by the next sync)
              --take theirs  put the remote's version in the folder
              --take both    keep ours, and put the remote's beside it as
                             NAME.modvault-conflict-DEVICE-SNAPSHOT
            A plugin whose records conflict, record by record ('modvault conflicts' lists them):
              --record Foo.esp:000803=theirs --record Fallout4.esm:01A2B3=ours
            Each conflicting record (or, for placements changed in one cell on both sides, the
            cell) takes the chosen side; the other records stay merged. Once every record has a
            side, the next sync merges the plugin with these choices and writes it to the folder.
            """)
    @OptionGroup var global: RepositoryOptionsGroup
    @Argument(help: "The synced folder.") var folder: String
    @Argument(help: "The conflicting path, relative to the folder.") var path: String
    @Option(help: ArgumentHelp("ours, theirs or both, for the whole path.", valueName: "side")) var take: String?
    @Option(name: .customLong("record"), help: ArgumentHelp("FORMID=ours|theirs for one conflicting plugin record (repeatable).", valueName: "formid=side"))
    var records: [String] = []

    func validate() throws {
        guard (take == nil) != records.isEmpty else { throw ValidationError("give either --take ours|theirs|both or one or more --record FORMID=ours|theirs") }
        if let take, FolderSync.Take(rawValue: take) == nil { throw ValidationError("--take must be ours, theirs or both, not '\(take)'") }
        _ = try choices()
    }

    func choices() throws -> [String: PluginMerge.Side] {
        var out: [String: PluginMerge.Side] = [:]
        for item in records {
            guard let eq = item.lastIndex(of: "="), let side = PluginMerge.Side(rawValue: String(item[item.index(after: eq)...])),
                  eq != item.startIndex else {
                throw ValidationError("--record takes FORMID=ours or FORMID=theirs (for example Foo.esp:000803=theirs), not '\(item)'")
            }
            out[String(item[..<eq])] = side
        }
        return out
    }

    func run() async throws {
        let repo = try global.open()
        let (_, state, sync) = try boundFolder(folder, repository: repo)
        let after: FolderSyncState
        let what: String
        if let take {
            after = try sync.resolve(path, take: FolderSync.Take(rawValue: take)!, state: state)
            what = take
        } else {
            after = try sync.resolve(path, records: try choices(), state: state)
            let left = after.conflicts.first { $0.path == path }?.records?.count ?? 0
            what = "\(records.count) records" + (left > 0 ? ", \(left) records still conflict" : "")
        }
        if !global.quiet {
            print("resolved \(path) (\(what)); \(after.conflicts.count) conflicts left" + (after.conflicts.isEmpty ? ": run 'modvault sync \(folder)' to finish the merge" : ""))
        }
    }
}

struct LogCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "log",
        abstract: "Show a remote's push log: who pushed which snapshot, when, and what it changed.")
    @OptionGroup var global: RepositoryOptionsGroup
    @Argument(help: "Remote name or URL.") var remote: String
    @Option(help: ArgumentHelp("Only the last N entries.", valueName: "n")) var last: Int?
    @Flag(help: "Print a JSON array, oldest first.") var json = false

    func run() async throws {
        let repo = try global.open()
        let source = try RemoteFactory.make(try RemoteFactory.url(for: remote, repo: repo.path))
        let reading = try await PushLog(remote: source, repository: repo).read(after: 0)
        var entries = reading.entries
        if let last { entries = Array(entries.suffix(max(0, last))) }
        for r in reading.refused { Terminal.warn("\(source.location)/\(r.object): refused: \(r.reason)") }
        if json {
            let data = try JSONSerialization.data(withJSONObject: entries.map(entryJSON), options: [.sortedKeys, .withoutEscapingSlashes])
            print(String(decoding: data, as: UTF8.self))
            return
        }
        if entries.isEmpty { print("no pushes on \(source.location)") }
        for e in entries { print(entryLine(e)) }
    }
}

struct WatchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch",
        abstract: "Follow a project: one line per push or team change as it happens, until SIGINT or SIGTERM.",
        discussion: """
            On PocketBase it subscribes to the project through the realtime API (pushes,
            members joining and leaving, and for admins invites created, used and
            revoked), and counts you as online while it runs. After a dropped connection
            it reconnects and lists the push log from the last number seen, so no push
            is missed or shown twice. Other remotes are asked every --interval seconds
            whether the next entry exists (one HEAD), and listed after the last entry
            seen only when it does.

            With --json each event is one JSON object per line: type (push,
            member_joined, member_removed, invite_created, invite_used, invite_revoked),
            and seq, snapshot, parents, author, device, time, summary for a push; user
            and role for members; id, role and expires for invites.
            """)
    @OptionGroup var global: RepositoryOptionsGroup
    @Argument(help: "Remote name or URL.") var remote: String
    @Option(help: ArgumentHelp("Seconds between listings of the log when polling.", valueName: "seconds")) var interval: Double = 2
    @Option(help: ArgumentHelp("Also show the pushes after this number that are already in the log (0: all).", valueName: "seq")) var since: UInt64?
    @Flag(help: "One JSON object per line.") var json = false

    func validate() throws { guard interval > 0 else { throw ValidationError("--interval must be above 0") } }

    func run() async throws {
        let opened = try global.open()
        let url = try RemoteFactory.url(for: remote, repo: opened.path)
        let source = try RemoteFactory.make(url)
        let repo = try await global.adoptingRotatedKey(opened, from: source)
        var seen = since ?? 0
        if since == nil { seen = try await PushLog(remote: source, repository: repo).read(after: 0).lastSeq }
        var watch = ProjectWatch(remote: source, repository: repo)
        watch.interval = interval
        let pb = try pocketBase(url)
        if let pb { watch.signals = projectSignals(pb) }
        if !global.quiet && !json {
            FileHandle.standardError.write(Data("modvault: watching \(source.location) after #\(seen)\(pb != nil ? " (realtime)" : "")\n".utf8))
        }
        catchStopSignals()
        let json = self.json, start = seen, watcher = watch
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await watcher.run(after: start) { event in
                    if let line = eventOutput(event, json: json) { print(line) }
                    fflush(nil)  // all streams: piped stdout is block-buffered, and a watcher must see each line at once
                }
            }
            if let pb { group.addTask { await sendHeartbeats(pb) } }
            group.addTask { while !stopRequested.load(ordering: .relaxed) { try await Task.sleep(for: .milliseconds(50)) } }
            _ = try await group.next()
            group.cancelAll()
        }
    }
}

/// One event as `watch` prints it (warnings go to stderr and print nothing).
private func eventOutput(_ event: ProjectEvent, json: Bool) -> String? {
    switch event {
    case .push(let e):
        if !json { return entryLine(e) }
        var obj = entryJSON(e)
        obj["type"] = "push"
        return JSON.line(obj)
    case .team(let signal):
        let time = Timestamp.format(Date())
        var obj: [String: Any]
        var text: String
        switch signal {
        case .memberJoined(let user, let role):
            obj = ["type": "member_joined", "user": user, "role": role]; text = "+ \(user) joined as \(role)"
        case .memberRemoved(let user, let role):
            obj = ["type": "member_removed", "user": user, "role": role]; text = "- \(user) (\(role)) was removed"
        case .inviteCreated(let id, let role, let expires):
            obj = ["type": "invite_created", "id": id, "role": role, "expires": expires.map(Timestamp.format) as Any? ?? NSNull()]
            text = "invite \(id) created for a \(role)"
        case .inviteUsed(let id):
            obj = ["type": "invite_used", "id": id]; text = "invite \(id) was used"
        case .inviteRevoked(let id):
            obj = ["type": "invite_revoked", "id": id]; text = "invite \(id) was revoked"
        case .subscribed, .logChanged:
            return nil
        }
        obj["time"] = time
        return json ? JSON.line(obj) : "\(Format.time(Date()))  \(text)"
    case .reconnecting(let reason, let failures):
        Terminal.warn("connection to the project lost (\(failures) in a row), reconnecting: \(reason)")
        return nil
    case .refused(let r):
        Terminal.warn("\(r.object): refused: \(r.reason)")
        return nil
    case .live:
        // On stderr, so scripts (and tests) can wait until nothing will be missed before acting.
        FileHandle.standardError.write(Data("modvault: subscribed: every change is reported from now on\n".utf8))
        return nil
    }
}
