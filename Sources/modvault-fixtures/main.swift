import Foundation
import ModVaultFixtures

let usage = """
    Usage: modvault-fixtures [--seed N] [--scale SIZE] [--next | --scenario NAME] [--jobs N] OUTPUT_DIR

    Writes a deterministic MO2-style Fallout 4 mod folder (mods/<Mod>/..., profiles/Default/...) into
    OUTPUT_DIR and prints a one-line JSON summary. The same seed and scale always give the same bytes.

    Options:
      --seed N      Seed of all random choices (default 1).
      --scale SIZE  Approximate total size: plain bytes or a number with K, M, G or T (powers of 1024),
                    e.g. 512K, 64M, 1.5G (default 64M, minimum 1M).
      --next        Write the "next version" instead of the base: a replaced texture inside a BA2, edited
                    and inserted plugin records, a repacked BA2, an added and a removed mod, renamed files.
                    Writing it over the base tree of the same seed and scale turns that tree into it.
      --scenario NAME
                    Write the base with one change applied alone, to measure each kind of edit
                    (writing over the base tree turns it into the scenario tree, as with --next):
                      texture       one texture replaced inside a DX10 BA2
                      script-front  a new script inserted as the first member of a GNRL BA2
                      plugin        40 records edited and 50 inserted in one plugin
                      repack        every BA2's zlib members recompressed at level 9 (raw stay raw)
                      reorder       the largest GNRL BA2 with its members in reverse order
                      loose-dds     every texture of one DX10 BA2 also written as a loose DDS beside it
                      rename        five loose files moved into a subfolder
                      all           all of the above (repack skips the archives the others touch)
                    The summary has "scenario", "scenarioChanges" and "idealNewBytes".
      --jobs N      Files written in parallel (default 2); the output does not depend on it. Each job
                    holds one file's working set, up to ~35 MiB (a 4K BC7 mip and its zlib stream).
      -h, --help    Show this help.
    """

struct UsageError: Error { var message: String }

func parse(_ arguments: [String]) throws -> (FixtureOptions, next: Bool, scenario: FixtureScenario?, output: String)? {
    var options = FixtureOptions()
    options.jobs = 2
    var next = false
    var scenario: FixtureScenario?
    var output: String?
    var index = 0
    func value(_ name: String, inline: String?) throws -> String {
        if let inline { return inline }
        index += 1
        guard index < arguments.count else { throw UsageError(message: "\(name) needs a value") }
        return arguments[index]
    }
    while index < arguments.count {
        let argument = arguments[index]
        let parts = argument.split(separator: "=", maxSplits: 1).map(String.init)
        let name = argument.hasPrefix("--") ? parts[0] : argument
        let inline = argument.hasPrefix("--") && parts.count == 2 ? parts[1] : nil
        switch name {
        case "-h", "--help":
            return nil
        case "--seed":
            let text = try value(name, inline: inline)
            guard let seed = UInt64(text) else { throw UsageError(message: "--seed expects an unsigned integer, got '\(text)'") }
            options.seed = seed
        case "--scale":
            let text = try value(name, inline: inline)
            guard let scale = FixtureOptions.parseSize(text) else { throw UsageError(message: "--scale expects a size such as 64M, 1G, 512K or plain bytes, got '\(text)'") }
            guard scale >= FixtureOptions.minimumScale else { throw UsageError(message: "--scale must be at least 1M, got '\(text)'") }
            options.scaleBytes = scale
        case "--jobs":
            let text = try value(name, inline: inline)
            guard let jobs = Int(text), (1...64).contains(jobs) else { throw UsageError(message: "--jobs expects 1...64, got '\(text)'") }
            options.jobs = jobs
        case "--next":
            guard inline == nil else { throw UsageError(message: "--next takes no value") }
            next = true
        case "--scenario":
            let text = try value(name, inline: inline)
            guard let named = FixtureScenario(rawValue: text) else {
                throw UsageError(message: "--scenario expects one of \(FixtureScenario.allCases.map(\.rawValue).joined(separator: ", ")), got '\(text)'")
            }
            scenario = named
        default:
            if argument.hasPrefix("-") && argument != "-" { throw UsageError(message: "unknown option '\(argument)'") }
            guard output == nil else { throw UsageError(message: "more than one output directory given ('\(output!)', '\(argument)')") }
            output = argument
        }
        index += 1
    }
    guard let output else { throw UsageError(message: "missing OUTPUT_DIR") }
    if next && scenario != nil { throw UsageError(message: "--next and --scenario cannot be combined") }
    return (options, next, scenario, output)
}

do {
    guard let (options, next, scenario, output) = try parse(Array(CommandLine.arguments.dropFirst())) else {
        print(usage)
        exit(0)
    }
    let summary = if let scenario {
        try FixtureGenerator.writeScenario(scenario, options, to: output)
    } else if next {
        try FixtureGenerator.writeNext(options, to: output)
    } else {
        try FixtureGenerator.writeBase(options, to: output)
    }
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    print(String(decoding: try encoder.encode(summary), as: UTF8.self))
} catch let error as UsageError {
    FileHandle.standardError.write(Data("modvault-fixtures: \(error.message)\nRun 'modvault-fixtures --help' for usage.\n".utf8))
    exit(2)
} catch {
    FileHandle.standardError.write(Data("modvault-fixtures: \(error)\n".utf8))
    exit(1)
}
