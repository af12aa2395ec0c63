import Foundation
import ArgumentParser
import ModVaultCore
import ModVaultStore
import ModVaultArchive

/// Exit codes, stable across releases so scripts can rely on them.
enum ExitStatus: Int32 {
    case success = 0
    case failure = 1
    case usage = 2
    case partial = 3
    case damaged = 4
    case conflicts = 5
    case repositoryMissing = 10
    case locked = 11
    case wrongPassword = 12

    static func of(_ error: Error) -> ExitStatus {
        guard let failure = error as? ModVaultFailure else { return .failure }
        switch failure.kind {
        case .wrongPassword: return .wrongPassword
        case .repositoryMissing: return .repositoryMissing
        case .locked: return .locked
        case .corrupt: return .damaged
        case .invalidInput: return .failure
        default: return .failure
        }
    }
}

/// Thrown by commands that finished but must exit non-zero (after printing their own report).
struct ExitWith: Error {
    let status: ExitStatus
}

/// Options every repository command takes.
struct RepositoryOptionsGroup: ParsableArguments {
    @Option(name: [.customShort("r"), .long], help: ArgumentHelp("Repository folder (default: $MODVAULT_REPO).", valueName: "path"))
    var repo: String?

    @Option(name: .long, help: ArgumentHelp("Read the password from this file (default: $MODVAULT_PASSWORD_FILE).", valueName: "file"))
    var passwordFile: String?

    @Flag(name: [.customShort("q"), .long], help: "Print only errors and the final result.")
    var quiet = false

    @Option(help: ArgumentHelp("Keep retrying for this many seconds when the repository is locked.", valueName: "seconds"))
    var retryLock: Double = 0

    func repositoryPath() throws -> String {
        if let repo, !repo.isEmpty { return repo }
        if let env = ProcessInfo.processInfo.environment["MODVAULT_REPO"], !env.isEmpty { return env }
        throw ValidationError("no repository given: pass --repo PATH or set MODVAULT_REPO")
    }

    /// The password from --password-file, $MODVAULT_PASSWORD_FILE, $MODVAULT_PASSWORD, or a no-echo prompt.
    func password(confirm: Bool = false) throws -> [UInt8] {
        let env = ProcessInfo.processInfo.environment
        if let file = passwordFile ?? env["MODVAULT_PASSWORD_FILE"], !file.isEmpty {
            guard let bytes = try? FileSystem.readFile(file) else {
                throw CLIError("cannot read password file \(file)")
            }
            var text = bytes
            while let last = text.last, last == 0x0A || last == 0x0D { text.removeLast() }
            return text
        }
        if let pw = env["MODVAULT_PASSWORD"] { return Array(pw.utf8) }
        guard isatty(0) == 1 else {
            throw CLIError("no password: set MODVAULT_PASSWORD_FILE or MODVAULT_PASSWORD, or run on a terminal")
        }
        let first = Terminal.readSecret("enter password for repository: ")
        if confirm {
            let second = Terminal.readSecret("enter password again: ")
            guard first == second else { throw CLIError("passwords do not match") }
            guard !first.isEmpty else { throw CLIError("empty password refused") }
        }
        return first
    }

    func open() throws -> Repository {
        let repository = try Repository.open(at: try repositoryPath(), password: try password())
        for slot in repository.skippedKeySlots { Terminal.warn("\(slot) (\(repository.path)/keys/\(slot.name))") }
        return repository
    }
}

/// A plain CLI-level error message.
struct CLIError: ModVaultFailure {
    let message: String
    let kind: FailureKind
    init(_ message: String, kind: FailureKind = .invalidInput) {
        self.message = message
        self.kind = kind
    }
    var description: String { message }
}

enum Terminal {
    static var stderrIsTTY: Bool { isatty(2) == 1 }

    /// Reads a line from the terminal with echo off.
    static func readSecret(_ prompt: String) -> [UInt8] {
        FileHandle.standardError.write(Data(prompt.utf8))
        var old = termios()
        tcgetattr(0, &old)
        var quiet = old
        quiet.c_lflag &= ~tcflag_t(ECHO)
        tcsetattr(0, TCSAFLUSH, &quiet)
        defer {
            tcsetattr(0, TCSAFLUSH, &old)
            FileHandle.standardError.write(Data("\n".utf8))
        }
        return Array((readLine(strippingNewline: true) ?? "").utf8)
    }

    static func warn(_ text: String) {
        FileHandle.standardError.write(Data(("warning: " + text + "\n").utf8))
    }
}

/// Renders a progress line on stderr when it is a terminal.
final class ProgressLine: @unchecked Sendable {
    private let label: String
    private let lock = NSLock()
    private var shown = false

    init(label: String) { self.label = label }

    static func make(label: String, quiet: Bool) -> ProgressLine? {
        (!quiet && Terminal.stderrIsTTY) ? ProgressLine(label: label) : nil
    }

    var handler: ProgressHandler {
        { [self] sample in self.show(sample) }
    }

    func show(_ s: ProgressSample) {
        let rate = s.elapsed > 0 ? Double(s.bytes) / s.elapsed : 0
        var line = "\(label) \(s.files)/\(s.totalFiles) files, \(Format.bytes(s.bytes))"
        if s.totalBytes > 0 { line += " of \(Format.bytes(s.totalBytes))" }
        line += String(format: ", %.1f MB/s", rate / 1e6)
        // The first fraction of a second gives no useful rate, so no ETA yet.
        if rate > 0, s.elapsed >= 1, s.totalBytes > s.bytes {
            line += ", ETA " + Format.duration(Double(s.totalBytes - s.bytes) / rate)
        }
        lock.lock()
        shown = true
        FileHandle.standardError.write(Data(("\r\u{1B}[K" + line).utf8))
        lock.unlock()
    }

    func finish() {
        lock.lock()
        if shown { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        lock.unlock()
    }
}

enum Format {
    static func bytes(_ n: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(n)
        var unit = 0
        while abs(value) >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(n) B" : String(format: "%.2f %@", value, units[unit])
    }

    static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
    }

    static func time(_ date: Date) -> String {
        // localtime_r rather than a DateFormatter per call: `ls` formats one time per entry.
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        localtime_r(&seconds, &parts)
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday)) \(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))"
    }

    /// `text` safe for a terminal: control characters (C0, DEL, C1), which a name from a hostile
    /// tree could use to rewrite the screen or the terminal's title, become `\xNN`; a backslash
    /// becomes `\\` so the output stays unambiguous. JSON output is escaped by the encoder instead.
    static func printable(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            let v = scalar.value
            if v < 0x20 || v == 0x7F || (0x80...0x9F).contains(v) {
                out += String(format: "\\x%02x", v)
            } else if scalar == "\\" {
                out += "\\\\"
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    static func mode(_ type: FileType, _ mode: UInt32) -> String {
        let kind: Character = type == .directory ? "d" : type == .symlink ? "l" : type == .other ? "?" : "-"
        var out = String(kind)
        let chars = Array("rwxrwxrwx")
        for i in 0..<9 { out.append(mode & (1 << (8 - i)) != 0 ? chars[i] : "-") }
        return out
    }

    /// Parses 512, 64K, 1M, 2G (binary units).
    static func parseSize(_ text: String) -> Int? {
        let t = text.uppercased().replacingOccurrences(of: "IB", with: "").replacingOccurrences(of: "B", with: "")
        let mult: Int
        var digits = Substring(t)
        switch t.last {
        case "K": mult = 1 << 10; digits = digits.dropLast()
        case "M": mult = 1 << 20; digits = digits.dropLast()
        case "G": mult = 1 << 30; digits = digits.dropLast()
        default: mult = 1
        }
        guard let n = Int(digits), n >= 0 else { return nil }
        return n * mult
    }
}

/// JSON output helpers.
enum JSON {
    static func line(_ object: Any) -> String {
        let data = try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self)
    }

    static func snapshot(_ r: SnapshotRecord) -> [String: Any] {
        var obj: [String: Any] = [
            "id": r.id.hex, "short_id": r.id.short, "time": Timestamp.format(r.snapshot.time), "host": r.snapshot.host,
            "username": r.snapshot.username, "device": r.snapshot.device, "paths": r.snapshot.paths, "tags": r.snapshot.tags,
            "parents": r.snapshot.parents.map(\.hex), "tree": r.snapshot.tree.hex,
        ]
        if let s = r.snapshot.summary { obj["summary"] = summary(s) }
        return obj
    }

    static func summary(_ s: SnapshotSummary) -> [String: Any] {
        var obj: [String: Any] = [
            "files_new": s.filesNew, "files_changed": s.filesChanged, "files_unchanged": s.filesUnchanged, "dirs": s.directories,
            "bytes_read": s.bytesRead, "bytes_total": s.bytesTotal, "bytes_added": s.bytesAdded, "blobs_added": s.blobsAdded,
            "errors": s.errors, "seconds": s.seconds]
        if let t = s.streams {
            obj["streams"] = ["reused": t.reused, "normalized": t.normalized, "verbatim": t.verbatim, "kept": t.kept,
                              "kept_bytes": t.keptBytes, "linked": t.linked, "repacked_archives": t.repacked,
                              "recipe_seconds": t.recipeSeconds]
        }
        return obj
    }
}
