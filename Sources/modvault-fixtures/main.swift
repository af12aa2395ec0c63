import Foundation
import ModVaultFixtures

let usage = """
    Usage: modvault-fixtures [--seed N] [--scale SIZE] [--next | --scenario NAME | --flat-base]
                             [--flat-members N] [--flat-plugins N] [--jobs N] OUTPUT_DIR

    Writes a deterministic MO2-style Fallout 4 mod folder (mods/<Mod>/..., profiles/Default/...) into
    OUTPUT_DIR and prints a one-line JSON summary; --flat-base and --scenario flat-data write a flat
    Data folder instead. The same options always give the same bytes.

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
                  new-mod       a new mod added (its archives, plugin and loose files)
                      all           all of the above (repack skips the archives the others touch)
                      flat-data     not part of all: its base is the flat layout of --flat-base, and
                                    the change is 40 records edited in one of its plugins
                    The summary has "scenario", "scenarioChanges" and "idealNewBytes".
      --flat-base   Write the base of the flat-data scenario instead of the MO2 folder: one flat folder,
                    OUTPUT_DIR/Data/, holding 200 plugins and GNRL BA2s (meshes, materials, scripts,
                    voice files) with 100,000 members in all. --scale sets its approximate size (about
                    5 % plugins), but every member keeps a ~1 KB floor: 100,000 members need ~130M.
                    The summary has "layout": "flat-data" and "archiveMembers".
      --flat-members N
                    Archive members of the flat layout (default 100000).
      --flat-plugins N
                    Plugins of the flat layout (default 200).
      --jobs N      Files written in parallel (default 2); the output does not depend on it. Each job
                    holds one file's working set, up to ~35 MiB (a 4K BC7 mip and its zlib stream).
      -h, --help    Show this help.
    """

struct UsageError: Error { var message: String }

/// What to write: the MO2 folder (base, next or a scenario) or the flat-data layout (base or edited).
enum Mode {
    case base, next, scenario(FixtureScenario), flatBase, flatData
}

/// The name `--scenario` takes for the flat-data layout's edit; it is no ``FixtureScenario`` (another base).
let flatScenarioName = "flat-data"

func parse(_ arguments: [String]) throws -> (FixtureOptions, FlatDataOptions, Mode, output: String)? {
    var options = FixtureOptions()
    options.jobs = 2
    var layout = FlatDataOptions()
    var layoutGiven = false
    var modes: [(String, Mode)] = []
    var output: String?
    var index = 0
    func value(_ name: String, inline: String?) throws -> String {
        if let inline { return inline }
        index += 1
        guard index < arguments.count else { throw UsageError(message: "\(name) needs a value") }
        return arguments[index]
    }
    // A repeated option replaces its earlier value; two different tree options are an error below.
    func pick(_ name: String, _ mode: Mode) {
        modes.removeAll { $0.0 == name }
        modes.append((name, mode))
    }
    func count(_ name: String, _ text: String, _ range: ClosedRange<Int>) throws -> Int {
        guard let n = Int(text), range.contains(n) else {
            throw UsageError(message: "\(name) expects \(range.lowerBound)...\(range.upperBound), got '\(text)'")
        }
        return n
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
            pick(name, .next)
        case "--flat-base":
            guard inline == nil else { throw UsageError(message: "--flat-base takes no value") }
            pick(name, .flatBase)
        case "--flat-members":
            layout.members = try count(name, try value(name, inline: inline), FlatDataOptions.memberRange)
            layoutGiven = true
        case "--flat-plugins":
            layout.plugins = try count(name, try value(name, inline: inline), FlatDataOptions.pluginRange)
            layoutGiven = true
        case "--scenario":
            let text = try value(name, inline: inline)
            if text == flatScenarioName {
                pick(name, .flatData)
            } else if let named = FixtureScenario(rawValue: text) {
                pick(name, .scenario(named))
            } else {
                let names = FixtureScenario.allCases.map(\.rawValue) + [flatScenarioName]
                throw UsageError(message: "--scenario expects one of \(names.joined(separator: ", ")), got '\(text)'")
            }
        default:
            if argument.hasPrefix("-") && argument != "-" { throw UsageError(message: "unknown option '\(argument)'") }
            guard output == nil else { throw UsageError(message: "more than one output directory given ('\(output!)', '\(argument)')") }
            output = argument
        }
        index += 1
    }
    guard let output else { throw UsageError(message: "missing OUTPUT_DIR") }
    if modes.count > 1 {
        throw UsageError(message: "\(modes.map(\.0).joined(separator: " and ")) cannot be combined (--next, --scenario and --flat-base each pick a tree)")
    }
    let mode = modes.first?.1 ?? .base
    if layoutGiven {
        switch mode {
        case .flatBase, .flatData: break
        default: throw UsageError(message: "--flat-members and --flat-plugins only apply to --flat-base and --scenario flat-data")
        }
    }
    return (options, layout, mode, output)
}

do {
    guard let (options, layout, mode, output) = try parse(Array(CommandLine.arguments.dropFirst())) else {
        print(usage)
        exit(0)
    }
    let summary = switch mode {
    case .base: try FixtureGenerator.writeBase(options, to: output)
    case .next: try FixtureGenerator.writeNext(options, to: output)
    case .scenario(let scenario): try FixtureGenerator.writeScenario(scenario, options, to: output)
    case .flatBase: try FixtureGenerator.writeFlatData(options, layout: layout, edited: false, to: output)
    case .flatData: try FixtureGenerator.writeFlatData(options, layout: layout, edited: true, to: output)
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
