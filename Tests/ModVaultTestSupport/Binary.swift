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
