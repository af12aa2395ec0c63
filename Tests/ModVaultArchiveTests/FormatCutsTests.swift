import Foundation
import Testing
import ModVaultCore
import ModVaultChunking
import ModVaultStore
import ModVaultArchive
import ModVaultFixtures
import ModVaultFormats

@Suite("format-aware cut points")
struct FormatCutsTests {
    struct Case: Sendable, CustomStringConvertible {
        var name: String
        var segments: [(Int64, Int64)]
        var cuts: [Int64]
        var description: String { name }
    }

    static let cases: [Case] = [
        Case(name: "one segment needs no cut", segments: [(0, 500)], cuts: []),
        Case(name: "small header before a large member is cut off", segments: [(0, 24), (24, 300), (324, 40)], cuts: [24, 324]),
        Case(name: "small neighbours merge up to the minimum", segments: [(0, 40), (40, 40), (80, 40), (120, 40), (160, 40)], cuts: [120]),
        Case(name: "large segments always start and end a chunk", segments: [(0, 150), (150, 150), (300, 10)], cuts: [150, 300]),
    ]

    @Test(arguments: cases)
    func boundaries(_ c: Case) {
        #expect(FormatCuts.boundaries(c.segments.map { (offset: $0.0, length: $0.1) }, minSize: 100) == c.cuts)
    }

    /// Inserting records into a plugin and a member near the front of an archive stores less with
    /// format-aware cuts than with content-defined cuts alone, on the same data.
    @Test func formatAwareStoresLessForTheNextVersion() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("modvault-fmt-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let options = FixtureOptions(seed: 3, scaleBytes: 4 << 20)
        _ = try FixtureGenerator.writeBase(options, to: root + "/src")
        var growth: [Bool: Int64] = [:]
        for aware in [true, false] {
            let ws = try Workspace(chunker: ChunkerParameters(minSize: 8 << 10, averageSize: 32 << 10, maxSize: 128 << 10))
            try FileManager.default.copyItem(atPath: root + "/src", toPath: ws.root + "/data")
            var snapshotOptions = SnapshotOptions()
            snapshotOptions.formatAware = aware
            _ = try await Archiver(repository: ws.repository).snapshot(source: ws.root + "/data", options: snapshotOptions)
            _ = try FixtureGenerator.writeNext(options, to: ws.root + "/data")
            let next = try await Archiver(repository: ws.repository).snapshot(source: ws.root + "/data", options: snapshotOptions)
            growth[aware] = try #require(next.record.snapshot.summary).bytesAdded
            #expect(try Checker(repository: ws.repository).check(readData: true).isHealthy)
        }
        #expect(try #require(growth[true]) < #require(growth[false]))
    }
}
