import Foundation
import Testing
import ModVaultCore
import ModVaultStore

@Suite("Stream key cache")
struct StreamKeyCacheTests {
    static func source(_ seed: UInt8, blobs: Int = 3) -> StreamKeyCache.Source {
        StreamKeyCache.Source(rawLength: 10_000 + UInt64(seed), storedLength: 4_000,
                              blobs: (0..<blobs).map { ObjectID(bytes: [UInt8](repeating: seed &+ UInt8($0), count: 32))! })
    }

    @Test func notedStreamsAreCandidatesOnlyAfterCommit() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let repository = try Fixture.makeRepository(in: folder)
        let key = ObjectID(bytes: [UInt8](repeating: 7, count: 32))!
        repository.streamKeys.note(prefix: key, source: Self.source(1))
        repository.streamKeys.note(prefix: key, source: Self.source(2, blobs: 1))
        #expect(repository.streamKeys.candidates(prefix: key).isEmpty)
        repository.streamKeys.commit()
        #expect(Set(repository.streamKeys.candidates(prefix: key)) == [Self.source(1), Self.source(2, blobs: 1)])
        // Noting the same stream again changes nothing.
        repository.streamKeys.note(prefix: key, source: Self.source(1))
        repository.streamKeys.commit()
        #expect(repository.streamKeys.candidates(prefix: key).count == 2)

        // A failed run's notes are dropped.
        let other = ObjectID(bytes: [UInt8](repeating: 9, count: 32))!
        repository.streamKeys.note(prefix: other, source: Self.source(3))
        repository.streamKeys.discardPending()
        repository.streamKeys.commit()
        #expect(repository.streamKeys.candidates(prefix: other).isEmpty)

        // Reopening the repository keeps the committed candidates.
        let reopened = try Repository.open(at: repository.path, password: Fixture.password)
        #expect(reopened.streamKeys.candidates(prefix: key).count == 2)
    }

    @Test func aDamagedCacheStartsAgainEmpty() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let repository = try Fixture.makeRepository(in: folder)
        let key = ObjectID(bytes: [UInt8](repeating: 7, count: 32))!
        repository.streamKeys.note(prefix: key, source: Self.source(1))
        repository.streamKeys.commit()
        let path = repository.streamKeys.path
        for suffix in ["-wal", "-shm"] { try? FileSystem.remove(path + suffix) }
        try FileSystem.writeAtomically(path, bytes: Array("this is not a database, just text long enough to look like one".utf8))
        let reopened = try Repository.open(at: repository.path, password: Fixture.password)
        #expect(reopened.streamKeys.candidates(prefix: key).isEmpty)
        reopened.streamKeys.note(prefix: key, source: Self.source(4))
        reopened.streamKeys.commit()
        #expect(reopened.streamKeys.candidates(prefix: key) == [Self.source(4)])
    }
}
