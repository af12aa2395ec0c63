import Foundation
import Testing
import ModVaultCore
import ModVaultRemoteSupport

/// Everything that needs the servers, started once around all of it.
@Suite("Remotes on live servers", .remoteServers)
struct LiveRemoteTests {}

extension LiveRemoteTests {
    /// The contract of `Remote`, checked the same way on every back end.
    @Suite("Conformance")
    struct Conformance {
        @Test("save then load returns the same bytes; stat gives the size", arguments: RemoteKind.allCases)
        func saveLoadRoundTrip(_ kind: RemoteKind) async throws {
            let remote = try await kind.makeRemote()
            for (i, size) in [1, 1000, 300_000].enumerated() {
                let name = Fixture.name(.pack)
                let data = Fixture.bytes(size, seed: UInt64(i))
                try await remote.save(name, data: data, ifAbsent: false)
                #expect(try await remote.load(name, range: nil) == data)
                #expect(try await remote.stat(name) == Int64(size))
            }
        }

        @Test("ranged loads: start, middle, end, single bytes, whole", arguments: RemoteKind.allCases)
        func rangedLoad(_ kind: RemoteKind) async throws {
            let remote = try await kind.makeRemote()
            let name = Fixture.name(.pack)
            let data = Fixture.bytes(10_000, seed: 7)
            try await remote.save(name, data: data, ifAbsent: false)
            let ranges: [Range<Int64>] = [0..<1, 0..<100, 4000..<6000, 9900..<10_000, 9999..<10_000, 5000..<5001, 0..<10_000]
            for range in ranges {
                let part = try await remote.load(name, range: range)
                #expect(part == Array(data[Int(range.lowerBound)..<Int(range.upperBound)]), "range \(range)")
            }
        }

        @Test("a range past the end fails instead of returning short data", arguments: RemoteKind.allCases)
        func rangePastEnd(_ kind: RemoteKind) async throws {
            let remote = try await kind.makeRemote()
            let name = Fixture.name(.index)
            try await remote.save(name, data: Fixture.bytes(100, seed: 1), ifAbsent: false)
            let error = await Fixture.remoteError { _ = try await remote.load(name, range: 50..<200) }
            #expect(error != nil)
            #expect(error?.description.contains(remote.location) == true)
        }

        @Test("stat of a missing object is nil; load of it is notFound", arguments: RemoteKind.allCases)
        func statAndLoadMissing(_ kind: RemoteKind) async throws {
            let remote = try await kind.makeRemote()
            let missing = Fixture.name(.snapshot)
            #expect(try await remote.stat(missing) == nil)
            let error = await Fixture.remoteError { _ = try await remote.load(missing, range: nil) }
            #expect(error?.reason == .notFound)
            #expect(error?.isRemoteNotFound == true)
            #expect(error?.description.contains(missing.relativePath) == true)
            let present = Fixture.name(.snapshot)
            try await remote.save(present, data: [1, 2, 3], ifAbsent: false)
            #expect(try await remote.stat(present) == 3)
        }

        @Test("list pages across more objects than one page, in name order, one kind only", arguments: RemoteKind.allCases)
        func listPaging(_ kind: RemoteKind) async throws {
            let remote = try await kind.makeRemote(pageSize: 4)
            var expected: [RemoteEntry] = []
            for i in 0..<25 {
                let name = Fixture.name(.index)
                try await remote.save(name, data: Fixture.bytes(10 + i, seed: UInt64(i)), ifAbsent: false)
                expected.append(RemoteEntry(name: name, size: Int64(10 + i)))
            }
            try await remote.save(Fixture.name(.snapshot), data: [9], ifAbsent: false)
            expected.sort { RemoteLayout.precedes($0.name.name, $1.name.name) }
            #expect(try await remote.list(.index, after: nil, limit: 1000) == expected)
            #expect(try await Fixture.listAll(remote, .index, limit: 7) == expected)
            #expect(try await remote.list(.snapshot, after: nil, limit: 1000).count == 1)
            #expect(try await remote.list(.key, after: nil, limit: 1000).isEmpty)
        }

        @Test("after and limit: the next names strictly after the cursor, at most limit", arguments: RemoteKind.allCases)
        func listAfterAndLimit(_ kind: RemoteKind) async throws {
            let remote = try await kind.makeRemote(pageSize: 3)
            var names: [String] = []
            for i in 0..<16 {
                let name = Fixture.name(.pack)
                try await remote.save(name, data: [UInt8(i)], ifAbsent: false)
                names.append(name.name)
            }
            names.sort { RemoteLayout.precedes($0, $1) }
            #expect(try await remote.list(.pack, after: nil, limit: 5).map(\.name.name) == Array(names[0..<5]))
            #expect(try await remote.list(.pack, after: names[9], limit: 4).map(\.name.name) == Array(names[10..<14]))
            #expect(try await remote.list(.pack, after: names[13], limit: 100).map(\.name.name) == Array(names[14...]))
            #expect(try await remote.list(.pack, after: names[15], limit: 10).isEmpty)
            #expect(try await remote.list(.pack, after: nil, limit: 0).isEmpty)
            // A cursor that names no object still works: everything sorting after it.
            let cursor = String(names[6].dropLast()) + "-"
            let after = try await remote.list(.pack, after: cursor, limit: 100).map(\.name.name)
            #expect(after == names.filter { RemoteLayout.precedes(cursor, $0) })
        }

        @Test("remove deletes; removing a missing object is not an error", arguments: RemoteKind.allCases)
        func removeObjects(_ kind: RemoteKind) async throws {
            let remote = try await kind.makeRemote()
            let keep = Fixture.name(.lock), drop = Fixture.name(.lock)
            try await remote.save(keep, data: [1], ifAbsent: false)
            try await remote.save(drop, data: [2], ifAbsent: false)
            try await remote.remove(drop)
            #expect(try await remote.stat(drop) == nil)
            #expect(try await remote.list(.lock, after: nil, limit: 10).map(\.name) == [keep])
            try await remote.remove(drop)
            try await remote.remove(Fixture.name(.lock))
            #expect(try await remote.stat(keep) == 1)
        }

        @Test("save without ifAbsent replaces an object", arguments: RemoteKind.allCases)
        func overwrite(_ kind: RemoteKind) async throws {
            let remote = try await kind.makeRemote()
            let name = ObjectName.config
            try await remote.save(name, data: Fixture.bytes(500, seed: 1), ifAbsent: false)
            let replacement = Fixture.bytes(700, seed: 2)
            try await remote.save(name, data: replacement, ifAbsent: false)
            #expect(try await remote.load(name, range: nil) == replacement)
            #expect(try await remote.stat(name) == 700)
        }

        @Test("supportsCreateIfAbsent tells the truth about each server", arguments: RemoteKind.allCases)
        func createIfAbsentProbe(_ kind: RemoteKind) async throws {
            let remote = try await kind.makeRemote()
            #expect(await remote.supportsCreateIfAbsent == kind.expectedCreateIfAbsent)
        }

        @Test("create-if-absent: a second write of a name fails with alreadyExists and changes nothing",
              arguments: RemoteKind.allCases.filter(\.writesThroughRemote))
        func createIfAbsent(_ kind: RemoteKind) async throws {
            let remote = try await kind.makeRemote()
            let name = Fixture.name(.key)
            let first = Fixture.bytes(64, seed: 1)
            try await remote.save(name, data: first, ifAbsent: true)
            let error = await Fixture.remoteError { try await remote.save(name, data: Fixture.bytes(80, seed: 2), ifAbsent: true) }
            #expect(error?.reason == .alreadyExists)
            #expect(error?.isRemoteAlreadyExists == true)
            #expect(error?.description.contains(name.relativePath) == true)
            #expect(try await remote.load(name, range: nil) == first)
        }

        @Test("concurrent creates of one name: exactly one wins",
              arguments: RemoteKind.allCases.filter { $0.writesThroughRemote && $0.expectedCreateIfAbsent })
        func concurrentCreates(_ kind: RemoteKind) async throws {
            let remote = try await kind.makeRemote()
            #expect(await remote.supportsCreateIfAbsent)
            let name = Fixture.name(.lock)
            let contenders = 8
            let outcomes = await withTaskGroup(of: (Int, Bool?).self) { group in
                for i in 0..<contenders {
                    group.addTask {
                        do {
                            try await remote.save(name, data: Fixture.bytes(1000, seed: UInt64(100 + i)), ifAbsent: true)
                            return (i, true)
                        } catch let error as RemoteError where error.reason == .alreadyExists {
                            return (i, false)
                        } catch {
                            return (i, nil)
                        }
                    }
                }
                var all: [(Int, Bool?)] = []
                for await outcome in group { all.append(outcome) }
                return all
            }
            let winners = outcomes.filter { $0.1 == true }.map(\.0)
            #expect(winners.count == 1)
            #expect(outcomes.filter { $0.1 == false }.count == contenders - 1)
            if let winner = winners.first {
                #expect(try await remote.load(name, range: nil) == Fixture.bytes(1000, seed: UInt64(100 + winner)))
            }
        }

        @Test("a 20 MiB object round-trips, whole and by range", arguments: RemoteKind.allCases)
        func largeObject(_ kind: RemoteKind) async throws {
            let remote = try await kind.makeRemote()
            let name = Fixture.name(.pack)
            let data = Fixture.bytes(20 << 20, seed: 20)
            try await remote.save(name, data: data, ifAbsent: false)
            #expect(try await remote.stat(name) == Int64(data.count))
            let loaded = try await remote.load(name, range: nil)
            #expect(loaded.count == data.count)
            #expect(loaded == data)
            let tail: Range<Int64> = Int64(data.count - 4096)..<Int64(data.count)
            #expect(try await remote.load(name, range: tail) == Array(data.suffix(4096)))
        }

        @Test("an object saved from a file round-trips, and replaces or refuses as from memory", arguments: RemoteKind.allCases)
        func savedFromFile(_ kind: RemoteKind) async throws {
            let remote = try await kind.makeRemote()
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("modvault-file-\(UUID().uuidString)").path
            try FileSystem.makeDirectories(folder)
            defer { try? FileManager.default.removeItem(atPath: folder) }
            let data = Fixture.bytes(3 << 20, seed: 31), path = folder + "/pack"
            try FileSystem.writeAtomically(path, bytes: data)
            let name = Fixture.name(.pack)
            try await remote.save(name, file: path, ifAbsent: false)
            #expect(try await remote.stat(name) == Int64(data.count))
            #expect(try await remote.load(name, range: nil) == data)
            // A lock saved again from a file is refused under ifAbsent (where the server can), and replaced without it.
            let lock = Fixture.name(.lock), small = folder + "/lock"
            try FileSystem.writeAtomically(small, bytes: Array("first".utf8))
            try await remote.save(lock, file: small, ifAbsent: true)
            if kind.writesThroughRemote && kind.expectedCreateIfAbsent {
                await #expect(throws: RemoteError.self) { try await remote.save(lock, file: small, ifAbsent: true) }
            }
            try FileSystem.remove(small)
            try FileSystem.writeAtomically(small, bytes: Array("second, longer".utf8))
            try await remote.save(lock, file: small, ifAbsent: false)
            #expect(try await remote.load(lock, range: nil) == Array("second, longer".utf8))
        }

        @Test("an object is never seen half-written while it is being saved", arguments: RemoteKind.allCases)
        func neverHalfWritten(_ kind: RemoteKind) async throws {
            let remote = try await kind.makeRemote()
            let name = Fixture.name(.pack)
            let data = Fixture.bytes(12 << 20, seed: 12)
            let writer = Task { try await remote.save(name, data: data, ifAbsent: false) }
            var sightings = 0
            var observations = 0
            while observations < 400 {
                observations += 1
                if let size = try await remote.stat(name) {
                    #expect(size == Int64(data.count), "visible with \(size) of \(data.count) bytes")
                    let tail = try await remote.load(name, range: Int64(data.count - 16)..<Int64(data.count))
                    #expect(tail == Array(data.suffix(16)))
                    sightings += 1
                    if sightings >= 2 { break }
                }
            }
            try await writer.value
            #expect(try await remote.load(name, range: nil) == data)
        }

        @Test("objects of every kind are stored, listed and loaded under their own folder", arguments: RemoteKind.allCases)
        func everyFileKind(_ kind: RemoteKind) async throws {
            let remote = try await kind.makeRemote()
            var stored: [FileKind: (ObjectName, [UInt8])] = [:]
            for (i, fileKind) in FileKind.allCases.enumerated() {
                let name = Fixture.name(fileKind)
                let data = Fixture.bytes(100 + i, seed: UInt64(i))
                try await remote.save(name, data: data, ifAbsent: false)
                stored[fileKind] = (name, data)
            }
            for fileKind in FileKind.allCases {
                let (name, data) = stored[fileKind]!
                #expect(try await remote.list(fileKind, after: nil, limit: 100) == [RemoteEntry(name: name, size: Int64(data.count))],
                        "\(fileKind)")
                #expect(try await remote.load(name, range: nil) == data, "\(fileKind)")
                #expect(try await remote.stat(name) == Int64(data.count), "\(fileKind)")
            }
        }

        @Test("a manifest written through the remote reads back as its listing",
              arguments: RemoteKind.allCases.filter(\.writesThroughRemote))
        func manifestRoundTrip(_ kind: RemoteKind) async throws {
            let remote = try await kind.makeRemote()
            for fileKind in [FileKind.key, .index, .snapshot, .pack] {
                try await remote.save(Fixture.name(fileKind), data: Fixture.bytes(33, seed: 3), ifAbsent: false)
            }
            try await remote.save(.config, data: [1, 2], ifAbsent: false)
            let written = try await RemoteManifest.write(to: remote)
            #expect(written.objects["index"]?.count == 1)
            #expect(written.objects["config"]?.map(\.name) == ["config"])
            #expect(try await RemoteManifest.read(from: remote) == written)
        }

        @Test("invalid names are refused before any request", arguments: RemoteKind.allCases)
        func invalidNames(_ kind: RemoteKind) async throws {
            let remote = try await kind.makeRemote()
            for bad in [ObjectName(kind: .index, name: ""), ObjectName(kind: .index, name: "../x"), ObjectName(kind: .snapshot, name: ".tmp-1"),
                        ObjectName(kind: .pack, name: "a"), ObjectName(kind: .config, name: "data")] {
                let error = await Fixture.remoteError { _ = try await remote.stat(bad) }
                #expect(error?.reason == .invalidName, "\(bad.relativePath)")
            }
        }
    }
}
