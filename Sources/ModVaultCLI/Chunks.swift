import Foundation
import ArgumentParser
import ModVaultCore
import ModVaultStore
import ModVaultChunking
import ModVaultCrypto
import ModVaultFormats
import ModVaultArchive

struct Chunks: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show how one file is split: format, segments, compression recipes and chunks.",
        discussion: """
            A debugging tool. Chunk boundaries depend on the repository's secret gear
            table: with a repository ($MODVAULT_REPO) they are the real ones; without,
            default sizes and an all-zero secret are used. JSON: {format, segments:
            [{kind, offset, length}], recipes: [...], chunks: [{offset, length}]}.
            """)

    @OptionGroup var global: RepositoryOptionsGroup
    @Argument(help: "The file to analyse.") var file: String
    @Flag(help: "Print one JSON object.") var json = false
    @Flag(help: "Also try to reproduce each compressed stream (slow for big archives).") var recipes = false

    func run() async throws {
        let path = FileSystem.absolute(file)
        let handle: OpenFile
        do { handle = try OpenFile.openForReading(path) } catch let e as SystemCallError { throw CLIError(e.description, kind: .notFound) }
        let reader = try FileRangeReader(file: handle)
        let repo: Repository? = (try? global.repositoryPath()).flatMap { p in FileSystem.exists(p + "/config") ? try? global.open() : nil }
        let repoChunker = try repo?.chunker ?? FastCDC(parameters: .default, gear: GearTable.derive(secret: try SecretKey(bytes: [UInt8](repeating: 0, count: 32))))
        let plan = FormatCuts.plan(for: handle, path: path, chunker: repoChunker)
        let chunker = plan.chunker, cuts = plan.cuts
        let segmentation = FormatSegmenter.segments(of: reader, path: path, options: SegmentationOptions(pluginTargetSize: chunker.parameters.averageSize))

        // Chunk the file exactly as a snapshot would.
        let bytes = try FileSystem.readFile(path)
        let chunks: [(Int64, Int)] = bytes.withUnsafeBytes { raw in
            chunker.chunkRanges(raw, cuts: cuts).map { (Int64($0.lowerBound), $0.count) }
        }

        var recipeRows: [[String: Any]] = []
        if recipes {
            for s in segmentation.segments {
                guard let stream = s.stream, stream.codec == .zlib else { continue }
                let compressed = Array(bytes[Int(stream.offset)..<Int(stream.offset + stream.length)])
                var row: [String: Any] = ["offset": stream.offset, "length": stream.length, "raw_size": stream.rawSize]
                switch Recipe.find(compressed: compressed, rawSize: stream.rawSize) {
                case .reproducible(let r, _):
                    row["reproduced"] = true
                    row["parameters"] = r.parameters.description
                case .notReproducible(let why):
                    row["reproduced"] = false
                    row["reason"] = "\(why)"
                }
                recipeRows.append(row)
            }
        }

        if json {
            var obj: [String: Any] = [
                "file": path, "size": bytes.count, "format": segmentation.format.rawValue,
                "segments": segmentation.segments.map { s -> [String: Any] in
                    var row: [String: Any] = ["kind": s.kind.rawValue, "offset": s.offset, "length": s.length]
                    if let name = s.name { row["name"] = name }
                    if let stream = s.stream { row["stream"] = ["codec": stream.codec.rawValue, "raw_size": stream.rawSize] }
                    return row
                },
                "chunks": chunks.map { ["offset": $0.0, "length": $0.1] },
                "chunker": chunker.parameters.description,
            ]
            if recipes { obj["recipes"] = recipeRows }
            if let w = segmentation.warning { obj["warning"] = w }
            print(JSON.line(obj))
            return
        }
        print("\(path): \(segmentation.format.rawValue), \(bytes.count) bytes")
        if let w = segmentation.warning { print("treated as opaque: \(w)") }
        print("segments (\(segmentation.segments.count)):")
        for s in segmentation.segments.prefix(200) {
            print(String(format: "  %12llu %10llu  %@%@", s.offset, s.length, s.kind.rawValue, s.name.map { "  " + $0 } ?? ""))
        }
        if segmentation.segments.count > 200 { print("  … \(segmentation.segments.count - 200) more") }
        for r in recipeRows {
            print("recipe at \(r["offset"] ?? 0): \((r["reproduced"] as? Bool) == true ? "reproduced with \(r["parameters"] ?? "")" : "not reproducible (\(r["reason"] ?? ""))")")
        }
        print("chunks (\(chunks.count), \(chunker.parameters)):")
        for (o, n) in chunks.prefix(200) { print(String(format: "  %12lld %10d", o, n)) }
        if chunks.count > 200 { print("  … \(chunks.count - 200) more") }
    }
}
