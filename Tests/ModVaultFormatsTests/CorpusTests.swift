import Testing
import Foundation
import ModVaultCore
@testable import ModVaultFormats

/// Runs over a whole folder (e.g. output of `modvault-fixtures`) when MODVAULT_FORMATS_CORPUS names one:
/// every file must segment with an exact cover and no fallback, and every zlib stream must either
/// get a recipe that rebuilds it exactly or be reported. Prints the statistics.
@Suite("Corpus statistics", .enabled(if: ProcessInfo.processInfo.environment["MODVAULT_FORMATS_CORPUS"] != nil))
struct CorpusTests {
    @Test func segmentAndFindRecipesForEveryStream() throws {
        let root = ProcessInfo.processInfo.environment["MODVAULT_FORMATS_CORPUS"]!
        let files = FileManager.default.enumerator(atPath: root)!.compactMap { $0 as? String }.sorted()
        var formats: [FileFormat: Int] = [:]
        var kinds: [SegmentKind: Int] = [:]
        var byParameters: [String: Int] = [:]
        var failures: [String: Int] = [:]
        var streams = 0, rawBytes: UInt64 = 0, storedBytes: UInt64 = 0
        let engine = RecipeEngine()
        for relative in files {
            let path = root + "/" + relative
            guard (try? FileSystem.status(path))?.type == .regular else { continue }
            let reader = try FileRangeReader(path: path)
            let s = FormatSegmenter.segments(of: reader, path: relative)
            #expect(s.covers(size: reader.size), "\(relative)")
            #expect(s.warning == nil, "\(s.warning ?? "")")
            formats[s.format, default: 0] += 1
            switch s.format {
            case .plugin: _ = try PluginFile.parse(reader, path: relative)
            case .dds: _ = try DDSTexture.parse(reader, path: relative)
            default: break
            }
            for seg in s.segments {
                kinds[seg.kind, default: 0] += 1
                guard let st = seg.stream, st.codec == .zlib else { continue }
                streams += 1
                let stored = try reader.read(offset: st.offset, count: Int(st.length))
                storedBytes += st.length
                rawBytes += st.rawSize
                switch engine.find(compressed: stored, rawSize: st.rawSize) {
                case .reproducible(let recipe, let content):
                    byParameters["level \(recipe.parameters.level) / windowBits \(recipe.parameters.windowBits)", default: 0] += 1
                    #expect(try engine.rebuild(recipe, decompressed: content) == stored)
                case .notReproducible(let reason):
                    failures[reason.description, default: 0] += 1
                }
            }
        }
        print("corpus \(root): \(files.count) paths; formats \(formats.map { "\($0.key.rawValue)=\($0.value)" }.sorted())")
        print("segments: \(kinds.map { "\($0.key.rawValue)=\($0.value)" }.sorted())")
        print("zlib streams: \(streams) (\(storedBytes) stored bytes, \(rawBytes) raw bytes); reproduced: \(byParameters.sorted { $0.key < $1.key }); not reproduced: \(failures)")
        #expect(failures.isEmpty)
    }
}
