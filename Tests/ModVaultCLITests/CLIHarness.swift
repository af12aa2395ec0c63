import Foundation
import Testing
import ModVaultTestSupport

/// Runs the built `modvault` binary in a scratch folder with its own repository and password.
final class CLIHarness {
    let root: String
    let repo: String
    let passwordFile: String
    var extraEnvironment: [String: String] = [:]

    struct Result {
        let status: Int32
        let stdout: String
        let stderr: String

        /// The last line of stdout parsed as a JSON object.
        func lastJSON() throws -> [String: Any] {
            let line = stdout.split(separator: "\n").last.map(String.init) ?? ""
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8))
            return try #require(object as? [String: Any])
        }
    }

    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("modvault-cli-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        repo = root + "/repo"
        passwordFile = root + "/password"
        try "correct horse\n".write(toFile: passwordFile, atomically: true, encoding: .utf8)
    }

    deinit {
        // Restored trees may contain read-only folders; make them writable before removing.
        _ = try? Self.run(["/bin/chmod", "-R", "u+rwX", root], environment: [:])
        try? FileManager.default.removeItem(atPath: root)
    }

    /// The `modvault` executable built next to the test bundle.
    static var binary: String { BuiltProgram.modvault }

    /// Runs `modvault ARGS` against this harness's repository.
    @discardableResult
    func modvault(_ args: [String], password: String? = nil, prefix: [String] = []) throws -> Result {
        var env = ProcessInfo.processInfo.environment
        env["MODVAULT_REPO"] = repo
        env["MODVAULT_TEST_SCRYPT_N"] = "1024"
        if let password {
            env["MODVAULT_PASSWORD"] = password
            env.removeValue(forKey: "MODVAULT_PASSWORD_FILE")
        } else {
            env["MODVAULT_PASSWORD_FILE"] = passwordFile
        }
        env.merge(extraEnvironment) { $1 }
        return try Self.run(prefix + [Self.binary] + args, environment: env)
    }

    static func run(_ argv: [String], environment: [String: String]) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: argv[0])
        process.arguments = Array(argv.dropFirst())
        process.environment = environment
        // Output goes to files, so a chatty child can never block on a full pipe.
        let stamp = UUID().uuidString
        let outPath = NSTemporaryDirectory() + "/modvault-out-\(stamp)", errPath = NSTemporaryDirectory() + "/modvault-err-\(stamp)"
        FileManager.default.createFile(atPath: outPath, contents: nil)
        FileManager.default.createFile(atPath: errPath, contents: nil)
        defer {
            try? FileManager.default.removeItem(atPath: outPath)
            try? FileManager.default.removeItem(atPath: errPath)
        }
        let out = try #require(FileHandle(forWritingAtPath: outPath)), err = try #require(FileHandle(forWritingAtPath: errPath))
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        try out.close()
        try err.close()
        let outData = try Data(contentsOf: URL(fileURLWithPath: outPath))
        let errData = try Data(contentsOf: URL(fileURLWithPath: errPath))
        return Result(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                      stderr: String(decoding: errData, as: UTF8.self))
    }
}

/// A recursive description of a folder (paths, types, modes, mtimes, contents) for byte-exact comparison.
func describeTree(_ root: String) throws -> [String: String] {
    var out: [String: String] = [:]
    let fm = FileManager.default
    guard let walker = fm.enumerator(atPath: root) else { return out }
    while let rel = walker.nextObject() as? String {
        let path = root + "/" + rel
        var st = stat()
        guard lstat(path, &st) == 0 else { continue }
        let mode = String(st.st_mode & 0o7777, radix: 8)
        switch st.st_mode & S_IFMT {
        case S_IFDIR:
            out[rel] = "dir \(mode)"
        case S_IFLNK:
            out[rel] = "link " + ((try? fm.destinationOfSymbolicLink(atPath: path)) ?? "?")
        default:
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            out[rel] = "file \(mode) \(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec) \(data.count) \(fnv1a(data))"
        }
    }
    return out
}

/// Copies the public fixture samples (real Creation Kit and bsa-rs files) into `dir`.
func copyPublicSamples(to dir: String) throws {
    let here = URL(fileURLWithPath: #filePath)
    let package = here.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let candidates = [package.appendingPathComponent("Fixtures/public").path,
                      package.deletingLastPathComponent().appendingPathComponent("shared/fixtures/public").path]
    let source = try #require(candidates.first { FileManager.default.fileExists(atPath: $0) })
    try FileManager.default.copyItem(atPath: source, toPath: dir)
}

/// FNV-1a over every byte: enough to tell contents apart in a test.
func fnv1a(_ data: Data) -> UInt64 {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    data.withUnsafeBytes { raw in
        for b in raw {
            h = (h ^ UInt64(b)) &* 0x100_0000_01b3
        }
    }
    return h
}
