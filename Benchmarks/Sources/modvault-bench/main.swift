// modvault-bench: micro-benchmarks that the shell harness (run.sh) calls for figures the CLI
// cannot give, such as raw chunker throughput on one core.

import ModVaultChunking
import ModVaultCore

#if canImport(Glibc)
    import Glibc
#else
    #error("modvault-bench targets Linux (Glibc)")
#endif


/// Seeds; any fixed values do. The gear seed spells "ModVault" in ASCII.
let gearSeed: UInt64 = 0x4D6F_6456_6175_6C74
let dataSeed: UInt64 = 0x0123_4567_89AB_CDEF

func fail(_ message: String) -> Never {
    var err = StandardError()
    print("modvault-bench: \(message)", to: &err)
    exit(2)
}

struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        var text = string
        text.withUTF8 { bytes in _ = Glibc.write(2, bytes.baseAddress, bytes.count) }
    }
}

func seconds(_ d: Duration) -> Double {
    let c = d.components
    return Double(c.seconds) + Double(c.attoseconds) * 1e-18
}

func format(_ value: Double, decimals: Int) -> String {
    var scale = 1.0
    for _ in 0..<decimals { scale *= 10 }
    let rounded = (value * scale).rounded() / scale
    var text = String(rounded)
    if let dot = text.firstIndex(of: ".") {
        let have = text.distance(from: dot, to: text.endIndex) - 1
        if have < decimals { text += String(repeating: "0", count: decimals - have) }
    } else if decimals > 0 {
        text += "." + String(repeating: "0", count: decimals)
    }
    return text
}

let usage = """
    Usage: modvault-bench chunker [--mib N] [--min KIB] [--avg KIB] [--max KIB] [--runs R] [--json]

      chunker   fills N MiB (default 512) with deterministic pseudo-random bytes, then splits them
                with FastCDC on one core, R times (default 3), and prints the best and median
                throughput in MB/s (10^6 bytes per second) and the chunk count.
                Sizes default to 256/1024/4096 KiB. The gear table comes from a fixed SplitMix64
                seed. --json adds one JSON object as the last line of output.
           modvault-bench scenario reorder|repack INPUT.ba2 OUTPUT.ba2

      scenario  rewrites a GNRL BA2 with the same member contents: reversed member order with the
                same compression (reorder), or recompressed at zlib level 9 / windowBits 12 (repack).
                Used by Benchmarks/formats.sh; the ideal repository growth for both is zero.
    """

func runChunker(_ args: ArraySlice<String>) {
    var mib = 512
    var minKiB = 256
    var avgKiB = 1024
    var maxKiB = 4096
    var runs = 3
    var json = false
    var rest = args
    func value(_ flag: String) -> Int {
        guard let text = rest.popFirst(), let n = Int(text), n > 0 else {
            fail("\(flag) needs a positive integer")
        }
        return n
    }
    while let arg = rest.popFirst() {
        switch arg {
        case "--mib": mib = value(arg)
        case "--min": minKiB = value(arg)
        case "--avg": avgKiB = value(arg)
        case "--max": maxKiB = value(arg)
        case "--runs": runs = value(arg)
        case "--json": json = true
        case "-h", "--help":
            print(usage)
            exit(0)
        default: fail("unknown argument \(arg)\n\(usage)")
        }
    }

    let parameters = ChunkerParameters(minSize: minKiB << 10, averageSize: avgKiB << 10, maxSize: maxKiB << 10)
    var gearRNG = SplitMix64(seed: gearSeed)
    let gear = (0..<256).map { _ in gearRNG.next() }
    let chunker: FastCDC
    do {
        chunker = try FastCDC(parameters: parameters, gear: gear)
    } catch {
        fail("\(error)")
    }

    let size = mib << 20
    var dataRNG = SplitMix64(seed: dataSeed)
    let data = [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
        let raw = UnsafeMutableRawBufferPointer(buffer)
        var offset = 0
        while offset + 8 <= size {
            raw.storeBytes(of: dataRNG.next(), toByteOffset: offset, as: UInt64.self)
            offset += 8
        }
        var tail = dataRNG.next()
        while offset < size {
            raw[offset] = UInt8(truncatingIfNeeded: tail)
            tail >>= 8
            offset += 1
        }
        count = size
    }

    let clock = ContinuousClock()
    var rates: [Double] = []
    var chunkCount = 0
    var smallest = Int.max
    var largest = 0
    data.withUnsafeBytes { bytes in
        for _ in 0..<runs {
            var lengths: [Int] = []
            let elapsed = clock.measure { lengths = chunker.split(bytes) }
            // Using the result keeps the optimizer honest and checks the split covers the buffer.
            let total = lengths.reduce(0, +)
            if total != size { fail("chunks cover \(total) bytes, expected \(size)") }
            chunkCount = lengths.count
            smallest = lengths.dropLast().min() ?? lengths.first ?? 0
            largest = lengths.max() ?? 0
            rates.append(Double(size) / 1e6 / seconds(elapsed))
        }
    }
    rates.sort()
    let best = rates.last ?? 0
    let median = rates[rates.count / 2]
    let meanKiB = Double(size) / Double(max(chunkCount, 1)) / 1024

    print(
        "chunker: \(mib) MiB, \(parameters), best of \(runs): \(format(best, decimals: 1)) MB/s "
            + "(median \(format(median, decimals: 1))), \(chunkCount) chunks, mean \(format(meanKiB, decimals: 1)) KiB, "
            + "smallest \(smallest >> 10) KiB, largest \(largest >> 10) KiB"
    )
    if json {
        print(
            "{\"mode\": \"chunker\", \"mib\": \(mib), \"min\": \(parameters.minSize), \"avg\": \(parameters.averageSize), "
                + "\"max\": \(parameters.maxSize), \"runs\": \(runs), \"mb_per_s\": \(format(best, decimals: 1)), "
                + "\"median_mb_per_s\": \(format(median, decimals: 1)), \"chunks\": \(chunkCount), "
                + "\"mean_chunk_bytes\": \(Int(meanKiB * 1024)), \"smallest_chunk_bytes\": \(smallest), "
                + "\"largest_chunk_bytes\": \(largest)}"
        )
    }
}

let arguments = CommandLine.arguments.dropFirst()
switch arguments.first {
case "chunker": runChunker(arguments.dropFirst())
case "scenario": runScenario(arguments.dropFirst())
case "-h", "--help", nil: print(usage)
default: fail("unknown subcommand \(arguments.first!)\n\(usage)")
}
