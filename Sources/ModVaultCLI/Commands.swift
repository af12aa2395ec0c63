internal import CMalloc
import Foundation
import Glibc
import ArgumentParser
import ModVaultCore
import ModVaultStore
import ModVaultArchive
import ModVaultChunking
import ModVaultCodecs
import ModVaultCrypto
import ModVaultFormats

/// The `modvault` command.
@available(macOS 10.15, *)
public struct ModVaultCommand: AsyncParsableCommand {
    /// Command metadata.
    public static let configuration = CommandConfiguration(
        commandName: "modvault",
        abstract: "Deduplicating, encrypted versions of game-mod folders.",
        discussion: """
            Snapshot a mod folder before every change, compare versions, and restore any
            of them byte for byte. Only changed chunks are stored; everything is encrypted
            with a key only your password opens.

            Quick start:
              export MODVAULT_REPO=~/modvault-repo MODVAULT_PASSWORD_FILE=~/.modvault-pass
              modvault init
              modvault snapshot ~/Games/Fallout4/Data --tag before-update
              modvault snapshots
              modvault diff <id> latest
              modvault restore latest --target /tmp/Data-restored

            Environment: MODVAULT_REPO, MODVAULT_PASSWORD_FILE, MODVAULT_PASSWORD.

            Sync a folder between machines through a shared remote:
              modvault sync ~/MO2/mods --remote team     # the first time binds the folder
              modvault sync ~/MO2/mods --watch           # keep it in step until stopped
              modvault status ~/MO2/mods; modvault log team

            Exit codes: 0 ok, 1 error, 2 usage, 3 done with warnings (a snapshot with
            unreadable files, a pull or clone that refused planted files, a sync that left
            files changed during the run), 4 damaged data found, 5 sync finished but
            conflicts wait for 'modvault resolve', 10 no repository, 11 locked, 12 wrong
            password.
            """,
        version: "0.1.0",
        subcommands: [Init.self, SnapshotCommand.self, Snapshots.self, List.self, Diff.self, Restore.self, Check.self, Stats.self,
                      Forget.self, Prune.self, Optimize.self, Key.self, Unlock.self, Repair.self,
                      RemoteCommand.self, Push.self, Pull.self, Clone.self, MirrorCommand.self,
                      SyncCommand.self, StatusCommand.self, ConflictsCommand.self, ResolveCommand.self, LogCommand.self, WatchCommand.self,
                      ShareCommand.self, JoinCommand.self, MembersCommand.self, InvitesCommand.self, ServeCommand.self, MergePluginCommand.self, Chunks.self]
    )

    /// Creates the command.
    public init() {}

    /// Parses arguments, runs the command and exits with a meaningful code.
    public static func execute() async {
        boundHeapRetention()
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
            Glibc.exit(0)
        } catch let done as ExitWith {
            Glibc.exit(done.status.rawValue)
        } catch let failure as ModVaultFailure {
            FileHandle.standardError.write(Data("modvault: \(failure.description)\n".utf8))
            Glibc.exit(ExitStatus.of(failure).rawValue)
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                print(fullMessage(for: error))
                Glibc.exit(0)
            }
            let message = fullMessage(for: error)
            let isUsage = code == .validationFailure || error is ValidationError || error is CleanExit
            // "modvault: Error: …" says the same thing twice.
            let text = message.hasPrefix("Error: ") ? String(message.dropFirst("Error: ".count)) : message
            FileHandle.standardError.write(Data("modvault: \(text)\n".utf8))
            if isUsage || message.hasPrefix("Error:") || code.rawValue == 64 { Glibc.exit(ExitStatus.usage.rawValue) }
            Glibc.exit(ExitStatus.failure.rawValue)
        }
    }
}

struct Init: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create a new, empty repository.",
        discussion: """
            The repository folder must not exist or be empty. The password comes from
            --password-file, $MODVAULT_PASSWORD_FILE, $MODVAULT_PASSWORD, or a prompt
            (asked twice). Chunk sizes are fixed at init.
            """)

    @OptionGroup var global: RepositoryOptionsGroup

    @Option(help: ArgumentHelp("Blob compression: zstd (default), lz4, zlib or none.", valueName: "codec"))
    var compression = "zstd"

    @Option(help: ArgumentHelp("Compression level (zstd 1-19, zlib 1-9).", valueName: "n"))
    var compressionLevel: Int?

    @Option(help: ArgumentHelp("Minimum chunk size, e.g. 256K.", valueName: "size"))
    var chunkMin: String?

    @Option(help: ArgumentHelp("Average chunk size (a power of two), e.g. 1M.", valueName: "size"))
    var chunkAvg: String?

    @Option(help: ArgumentHelp("Maximum chunk size, e.g. 4M.", valueName: "size"))
    var chunkMax: String?

    @Option(help: ArgumentHelp("Target pack file size, e.g. 16M.", valueName: "size"))
    var packSize: String?

    @Flag(help: "Print the result as JSON.")
    var json = false

    func run() async throws {
        var options = RepositoryOptions()
        guard let codec = Codec(name: compression) else { throw ValidationError("unknown compression '\(compression)' (use zstd, lz4, zlib or none)") }
        options.compression = codec
        options.compressionLevel = compressionLevel
        func size(_ text: String?, _ fallback: Int, _ name: String) throws -> Int {
            guard let text else { return fallback }
            guard let n = Format.parseSize(text) else { throw ValidationError("invalid \(name) '\(text)'") }
            return n
        }
        let d = ChunkerParameters.default
        options.chunker = ChunkerParameters(minSize: try size(chunkMin, d.minSize, "--chunk-min"),
                                            averageSize: try size(chunkAvg, d.averageSize, "--chunk-avg"),
                                            maxSize: try size(chunkMax, d.maxSize, "--chunk-max"))
        options.packSize = try size(packSize, options.packSize, "--pack-size")
        if let work = ProcessInfo.processInfo.environment["MODVAULT_TEST_SCRYPT_N"], let n = UInt64(work) {
            // Test suites lower the KDF cost to keep hundreds of CLI runs fast; never set this for real repositories.
            options.scrypt = ScryptParameters(n: n, r: 8, p: 1)
        }
        let path = try global.repositoryPath()
        let repo = try Repository.initialize(at: path, password: try global.password(confirm: true), options: options)
        if json {
            print(JSON.line(["id": repo.config.id.hex, "path": repo.path, "chunker": repo.config.chunker.description,
                             "compression": repo.config.compression]))
        } else {
            print("created repository \(repo.config.id.short) at \(repo.path)")
            print("chunks \(repo.config.chunker), compression \(repo.config.compression), packs \(Format.bytes(Int64(repo.config.packSize)))")
            print("keep your password safe: without it the data cannot be recovered")
        }
    }
}

struct SnapshotCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "snapshot",
        abstract: "Save the current state of a folder.",
        discussion: """
            Stores only chunks the repository does not have. Files whose size, mtime,
            ctime and inode match the parent snapshot (the latest of the same folder,
            or --parent) are not read again. Unreadable files are reported, left out,
            and the command exits with code 3.

            Compressed streams inside BA2 archives and plugins (zlib members, texture
            chunks, compressed records) can be stored decompressed, with a recipe that
            recompresses them byte for byte: a texture then dedupes against the same
            texture repacked at another zlib level or extracted as a loose DDS. The
            price is a recompression (about 30 MB/s per core) when the recipe is found
            and at every restore of the stream; a stream seen before is never
            processed again. --normalize chooses when:
              auto  (default) only on snapshots that have a parent: a new stream is
                    stored decompressed when at least a quarter of its content is
                    already stored, within --normalize-budget CPU seconds; the rest
                    stays compressed, so restores stay fast
              all   every new stream: the smallest repository and the best dedup
                    later, at the cost of slower snapshots and restores
              none  never (streams already stored decompressed are still reused)
            """)

    @OptionGroup var global: RepositoryOptionsGroup

    @Argument(help: "The folder to snapshot.")
    var source: String

    @Option(name: .long, help: ArgumentHelp("Add a tag (repeatable).", valueName: "tag"))
    var tag: [String] = []

    @Option(help: ArgumentHelp("Compare against this snapshot instead of the latest of the same folder.", valueName: "id"))
    var parent: String?

    @Flag(help: "Read every file, even those unchanged since the parent.")
    var forceRead = false

    @Flag(help: "Cut chunks by content alone, ignoring BA2, DDS and plugin structure.")
    var noFormatAware = false

    @Option(help: ArgumentHelp("When to store new compressed streams decompressed: auto, all or none.", valueName: "when"))
    var normalize: String = "auto"

    @Option(help: ArgumentHelp("CPU seconds --normalize auto may spend finding recipes.", valueName: "seconds"))
    var normalizeBudget: Double = 120

    @Flag(help: "Print a JSON summary as the last line of stdout.")
    var json = false

    func validate() throws {
        guard NormalizePolicy(rawValue: normalize) != nil else {
            throw ValidationError("--normalize must be auto, all or none, not '\(normalize)'")
        }
        guard normalizeBudget >= 0 else { throw ValidationError("--normalize-budget must be 0 or more") }
    }

    func run() async throws {
        let repo = try global.open()
        var options = SnapshotOptions()
        options.normalize = NormalizePolicy(rawValue: normalize) ?? .auto
        options.normalizeBudget = normalizeBudget
        options.tags = tag
        options.parent = parent
        options.forceRead = forceRead
        options.formatAware = !noFormatAware
        options.lockWait = global.retryLock
        if !global.quiet { options.notice = { FileHandle.standardError.write(Data("modvault: \($0)\n".utf8)) } }
        let progress = ProgressLine.make(label: "snapshot", quiet: global.quiet)
        options.progress = progress?.handler
        let result = try await Archiver(repository: repo).snapshot(source: source, options: options)
        progress?.finish()
        for w in result.warnings { Terminal.warn(w.description) }
        let s = result.record.snapshot.summary ?? SnapshotSummary()
        if json {
            var obj = JSON.summary(s)
            obj["snapshot"] = result.record.id.hex
            obj["short_id"] = result.record.id.short
            obj["parents"] = result.record.snapshot.parents.map(\.hex)
            obj["warnings"] = result.warnings.map { ["path": $0.path, "message": $0.message] }
            print(JSON.line(obj))
        } else if !global.quiet {
            print("files: \(s.filesNew) new, \(s.filesChanged) changed, \(s.filesUnchanged) unchanged; \(s.directories) folders")
            print("read \(Format.bytes(s.bytesRead)) of \(Format.bytes(s.bytesTotal)); added \(Format.bytes(s.bytesAdded)) to the repository in \(String(format: "%.2f", s.seconds)) s")
            let t = result.streams
            if t.total > 0 {
                var parts = ["\(t.reused) already stored", "\(t.normalized) stored decompressed"]
                if t.linked > 0 { parts.append("\(t.linked) found in streams already stored (repacked or loose copies)") }
                if t.verbatim > 0 { parts.append("\(t.verbatim) with no recipe that reproduces them") }
                if t.kept > 0 { parts.append("\(t.kept) (\(Format.bytes(t.keptBytes))) kept compressed") }
                print("compressed streams: " + parts.joined(separator: ", "))
            }
            if t.repacked > 0 { print("archives repacked since the parent: \(t.repacked), each stored as its previous version plus a recompression plan") }
            print("snapshot \(result.record.id.short) saved")
        } else {
            print(result.record.id.hex)
        }
        let unreadable = result.warnings.contains { !$0.message.hasPrefix("changed while") }
        if unreadable {
            Terminal.warn("snapshot \(result.record.id.short) is incomplete: \(s.errors) entries could not be read")
            throw ExitWith(status: .partial)
        }
    }
}

struct Snapshots: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List snapshots, oldest first.")

    @OptionGroup var global: RepositoryOptionsGroup

    @Flag(help: "Print a JSON array.")
    var json = false

    func run() async throws {
        let repo = try global.open()
        let all = try repo.snapshots()
        if json {
            let data = try JSONSerialization.data(withJSONObject: all.map(JSON.snapshot), options: [.sortedKeys, .withoutEscapingSlashes])
            print(String(decoding: data, as: UTF8.self))
            return
        }
        print("ID        Time                 Host            Tags                 Size        Path")
        for r in all {
            let s = r.snapshot
            let size = Format.bytes(s.summary?.bytesTotal ?? 0)
            print(String(format: "%@  %@  %@  %@  %@  %@",
                         r.id.short, Format.time(s.time), pad(s.host, 14), pad(s.tags.joined(separator: ","), 19),
                         pad(size, 10), s.paths.joined(separator: ", ")))
        }
        print("\(all.count) snapshots")
    }

    private func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
}

struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ls", abstract: "List the files in a snapshot, optionally below a path.")

    @OptionGroup var global: RepositoryOptionsGroup

    @Argument(help: "Snapshot ID, unique prefix, or 'latest'.")
    var snapshot: String

    @Argument(help: "Only entries at or below this path (e.g. Textures/).")
    var path: String?

    @Flag(help: "Print a JSON array.")
    var json = false

    func run() async throws {
        let repo = try global.open()
        let record = try repo.resolveSnapshot(snapshot)
        let prefix = path.map { $0.split(separator: "/").joined(separator: "/") } ?? ""
        var rows: [[String: Any]] = []
        var found = prefix.isEmpty
        try TreeWalker(repository: repo).walk(record.snapshot.tree) { entry in
            let inside = prefix.isEmpty || entry.path == prefix || entry.path.hasPrefix(prefix + "/")
            let above = prefix.hasPrefix(entry.path + "/")
            if inside {
                found = true
                let n = entry.node
                if json {
                    var row: [String: Any] = ["path": entry.path, "type": "\(n.type)", "mode": n.mode, "size": n.size,
                                              "mtime": Timestamp.format(Date(timeIntervalSince1970: Double(n.mtimeNanos) / 1e9))]
                    if let t = n.linkTarget { row["link_target"] = t }
                    rows.append(row)
                } else {
                    let link = n.linkTarget.map { " -> \(Format.printable($0))" } ?? ""
                    print("\(Format.mode(n.type, n.mode)) \(String(format: "%12lld", n.size)) \(Format.time(Date(timeIntervalSince1970: Double(n.mtimeNanos) / 1e9))) \(Format.printable(entry.path))\(link)")
                }
            }
            return inside || above
        }
        if !found { throw ArchiveError.pathNotFound(prefix) }
        if json {
            let data = try JSONSerialization.data(withJSONObject: rows, options: [.sortedKeys, .withoutEscapingSlashes])
            print(String(decoding: data, as: UTF8.self))
        }
    }
}

struct Diff: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show files added, removed and changed between two snapshots, and what changed inside them.",
        discussion: """
            Lines start with + (added), - (removed), M (content changed) or U (only mode
            or time changed). Inside changed BA2 archives: members added, removed, changed
            or only repacked (same content, other compression); inside plugins: records by
            FormID with type and EditorID, master list and header flags; inside DDS
            textures: dimensions, format and mip count. --no-formats lists files only.
            """)

    @OptionGroup var global: RepositoryOptionsGroup

    @Argument(help: "The older snapshot.")
    var from: String

    @Argument(help: "The newer snapshot.")
    var to: String

    @Flag(help: "Do not look inside BA2, plugin and DDS files.")
    var noFormats = false

    @Flag(help: "Print a JSON object.")
    var json = false

    func run() async throws {
        let repo = try global.open()
        let all = try repo.snapshots()
        let a = try repo.resolveSnapshot(from, among: all)
        let b = try repo.resolveSnapshot(to, among: all)
        let changes = try Differ(repository: repo).diff(a.snapshot.tree, b.snapshot.tree)
        var inside: [String: FormatChange] = [:]
        if !noFormats {
            for c in changes where c.kind == .modified {
                if let old = c.old, let new = c.new, let change = try FormatDiffer.diff(path: c.path, old: old, new: new, repository: repo) {
                    inside[c.path] = change
                }
            }
        }
        let delta = changes.reduce(Int64(0)) { $0 + $1.sizeAfter - $1.sizeBefore }
        func count(_ k: ChangeKind) -> Int { changes.filter { $0.kind == k }.count }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            let list = try changes.map { c -> [String: Any] in
                var row: [String: Any] = ["kind": c.kind.rawValue, "path": c.path, "type": c.type, "size_before": c.sizeBefore, "size_after": c.sizeAfter]
                if let f = inside[c.path] { row["format"] = try JSONSerialization.jsonObject(with: encoder.encode(f)) }
                return row
            }
            print(JSON.line(["from": a.id.hex, "to": b.id.hex, "changes": list, "added": count(.added), "removed": count(.removed),
                             "modified": count(.modified), "metadata": count(.metadata), "size_delta": delta]))
            return
        }
        for c in changes {
            let mark = c.kind == .added ? "+" : c.kind == .removed ? "-" : c.kind == .modified ? "M" : "U"
            print("\(mark) \(Format.printable(c.path))")
            if let f = inside[c.path] { for line in f.lines { print("    " + line) } }
        }
        let sign = delta >= 0 ? "+" : "-"
        print("\(count(.added)) added, \(count(.removed)) removed, \(count(.modified)) changed, \(count(.metadata)) metadata only; size \(sign)\(Format.bytes(abs(delta)))")
    }
}

struct Restore: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a snapshot's contents into a folder.",
        discussion: """
            Restores the contents of the snapshotted folder into --target, byte for byte,
            with modes and times. Every chunk is verified. The target must be empty unless
            --overwrite is given.
            """)

    @OptionGroup var global: RepositoryOptionsGroup

    @Argument(help: "Snapshot ID, unique prefix, or 'latest'.")
    var snapshot: String

    @Option(help: ArgumentHelp("Folder to restore into.", valueName: "dir"))
    var target: String

    @Option(help: ArgumentHelp("Restore only this file or folder (relative path; repeatable).", valueName: "path"))
    var include: [String] = []

    @Flag(help: "Write into a non-empty target, replacing files that exist.")
    var overwrite = false

    @Flag(help: "Print a JSON summary.")
    var json = false

    func run() async throws {
        let repo = try global.open()
        let record = try repo.resolveSnapshot(snapshot)
        var options = RestoreOptions(target: target)
        options.include = include
        options.overwrite = overwrite
        options.lockWait = global.retryLock
        let progress = ProgressLine.make(label: "restore", quiet: global.quiet)
        options.progress = progress?.handler
        let summary = try await Restorer(repository: repo).restore(record.snapshot, options: options)
        progress?.finish()
        if json {
            print(JSON.line(["snapshot": record.id.hex, "files": summary.files, "dirs": summary.directories, "symlinks": summary.symlinks,
                             "bytes": summary.bytes, "seconds": summary.seconds]))
        } else if !global.quiet {
            print("restored \(summary.files) files, \(summary.directories) folders, \(summary.symlinks) links (\(Format.bytes(summary.bytes))) from \(record.id.short) to \(target) in \(String(format: "%.2f", summary.seconds)) s")
        }
    }
}

struct Check: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Verify the repository.",
        discussion: """
            Without options, checks structure: snapshots and trees load, every
            referenced blob is indexed, every index entry lies inside an existing pack.
            --read-data also decrypts and verifies every blob. --rebuild-streams
            rebuilds every compressed stream stored decompressed, recompressing it as a
            restore would, and checks it against its ID (about 30 MB/s per core).
            On damage, names the snapshots and files affected and exits with code 4.
            """)

    @OptionGroup var global: RepositoryOptionsGroup

    @Flag(help: "Read, decrypt and verify every blob.")
    var readData = false

    @Flag(help: "Rebuild and verify every compressed stream stored decompressed.")
    var rebuildStreams = false

    @Flag(help: "Print the report as JSON.")
    var json = false

    func run() async throws {
        let repo = try global.open()
        let report = try Checker(repository: repo).check(readData: readData, rebuildStreams: rebuildStreams, lockWait: global.retryLock)
        if json {
            print(JSON.line(["healthy": report.isHealthy, "errors": report.errors, "notes": report.notes, "affected": report.affected,
                             "snapshots": report.snapshots, "packs": report.packs, "blobs_verified": report.blobsVerified,
                             "streams_rebuilt": report.streamsRebuilt]))
        } else {
            for note in report.notes where !global.quiet { print("note: \(note)") }
            for e in report.errors { print("error: \(e)") }
            for a in report.affected { print("affected: \(a)") }
            if report.isHealthy {
                print("no errors: \(report.snapshots) snapshots, \(report.packs) packs" + (readData ? ", \(report.blobsVerified) blobs verified" : "")
                      + (rebuildStreams ? ", \(report.streamsRebuilt) streams rebuilt" : ""))
            }
        }
        if !report.isHealthy {
            FileHandle.standardError.write(Data("modvault: check found \(report.errors.count) errors in \(repo.path)\n".utf8))
            throw ExitWith(status: .damaged)
        }
    }
}

struct Stats: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show repository size, deduplication and compression.")

    @OptionGroup var global: RepositoryOptionsGroup

    @Flag(help: "Print a JSON object.")
    var json = false

    func run() async throws {
        let s = try RepositoryStats.of(try global.open())
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(s), as: UTF8.self))
            return
        }
        print("snapshots:            \(s.snapshots)")
        print("blobs:                \(s.blobs) (\(s.dataBlobs) data, \(s.treeBlobs) tree, \(s.streamBlobs) stream, \(s.listBlobs) list, \(s.archiveBlobs) archive) in \(s.packs) packs")
        print("size of all snapshots: \(Format.bytes(s.snapshotBytesTotal))")
        print("unique data:          \(Format.bytes(s.rawBlobBytes))" + (s.rawBlobBytes > 0 ? String(format: " (dedup %.2fx)", s.deduplication) : ""))
        print("stored (compressed):  \(Format.bytes(s.storedBlobBytes))" + (s.storedBlobBytes > 0 ? String(format: " (compression %.2fx)", s.compression) : ""))
        print("repository on disk:   \(Format.bytes(s.repositoryBytes))")
    }
}

/// Keeps peak memory a function of what is in use, not of the largest buffer ever freed.
///
/// glibc raises its mmap threshold each time a large mmapped block is freed (up to 32 MiB), after
/// which buffers of that size come from the heap arenas and stay resident when freed; a snapshot that
/// met a 25 MB texture stream once then keeps tens of megabytes it no longer uses (133-148 MiB peak
/// on the 6 GiB next snapshot of `Benchmarks/run.sh`; 117 with this, 115 at 256 KiB, 127 at 4 MiB).
/// A fixed threshold of 1 MiB keeps every large buffer (streams, their content, big chunks) in its own
/// mapping, returned the moment it is freed; buffers reused in hot loops are pooled, so the extra
/// mmap calls and page faults are few.
private func boundHeapRetention() {
    _ = mallopt(M_MMAP_THRESHOLD, 1 << 20)
}
