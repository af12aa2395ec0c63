import Foundation

/// Finding the programs the package builds, for tests that run them as a person would.
public enum BuiltProgram {
    /// The `modvault` executable built beside the test bundle (or `$MODVAULT_BIN`).
    public static let modvault: String = locate("modvault", environment: "MODVAULT_BIN")

    /// The executable `name` in the build folder holding the running test bundle, looking up to four
    /// folders up; `environment` names a variable that overrides the search.
    public static func locate(_ name: String, environment: String) -> String {
        if let env = ProcessInfo.processInfo.environment[environment] { return env }
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent(name).path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent(name).path
    }
}

extension Process {
    /// Waits for the process to end and returns its exit status, without holding a thread.
    ///
    /// `waitUntilExit` blocks the calling thread; in an async test that thread is one of the
    /// cooperative pool's, as many as there are cores. Two tests blocked there on a 2-core machine
    /// stall every other test's task, and their wall-clock timeouts then fire for no fault of theirs.
    public func exited() async -> Int32 {
        while isRunning { try? await Task.sleep(for: .milliseconds(20)) }
        waitUntilExit()  // already ended: returns at once, after Foundation has recorded the status
        return terminationStatus
    }
}
