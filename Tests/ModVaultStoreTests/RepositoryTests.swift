import Foundation
import Testing
import ModVaultCore
import ModVaultChunking
import ModVaultCrypto
import ModVaultStore

@Suite("Repository lifecycle")
struct RepositoryLifecycleTests {
    @Test func initializeThenOpenWithSamePassword() throws {
        let dir = try TemporaryFolder()
        defer { dir.remove() }
        let created = try Fixture.makeRepository(in: dir)
        #expect(created.path == dir.path + "/repo")
        for folder in ["keys", "data", "index", "snapshots", "locks", "data/00", "data/ff", "cache"] {
            #expect(FileSystem.isDirectory("\(created.path)/\(folder)"), "\(folder)")
        }
        #expect(FileSystem.exists(created.path + "/config"))
        #expect(try FileSystem.list(created.path + "/keys") == [created.keyID])

        let opened = try Repository.open(at: created.path, password: Fixture.password)
        #expect(opened.config == created.config)
        #expect(opened.masterKey == created.masterKey)
        #expect(opened.keyID == created.keyID)
        #expect(opened.codec == .zstd)
        #expect(opened.config.packSize == 1 << 20)
        #expect(opened.chunker.parameters == .default)

        // Relative paths with `.` and `..` name the same repository.
        let cwd = FileManager.default.currentDirectoryPath
        let viaDots = try Repository.open(at: dir.path + "/./x/../repo", password: Fixture.password)
        #expect(viaDots.path == created.path)
        #expect(FileManager.default.currentDirectoryPath == cwd)
    }

    @Test func keySlotIsPlainJSONAndConfigIsSealed() throws {
        let dir = try TemporaryFolder()
        defer { dir.remove() }
        let repo = try Fixture.makeRepository(in: dir)
        let slot = try FileSystem.readFile("\(repo.path)/keys/\(repo.keyID)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(slot)) as? [String: Any])
        #expect(json["kdf"] as? String == "scrypt")
        #expect(json["version"] as? Int == 1)
        let scrypt = try #require(json["scrypt"] as? [String: Any])
        #expect(scrypt["n"] as? Int == 1024)
        // The config does not show its JSON in the clear.
        let config = try FileSystem.readFile(repo.path + "/config")
        #expect(!String(decoding: config, as: UTF8.self).contains("chunkerSecret"))
        #expect(config.count > AEAD.overhead)
    }

    @Test func wrongPasswordThrows() throws {
        let dir = try TemporaryFolder()
        defer { dir.remove() }
        let repo = try Fixture.makeRepository(in: dir)
        let error = #expect(throws: StoreError.self) { try Repository.open(at: repo.path, password: Array("wrong".utf8)) }
        guard case .wrongPassword(let path)? = error else {
            Issue.record("expected wrongPassword, got \(String(describing: error))")
            return
        }
        #expect(path == repo.path)
        #expect(error?.kind == .wrongPassword)
        #expect(throws: StoreError.self) { try Repository.open(at: repo.path, password: []) }
    }

    @Test func secondKeySlotOpensTheSameRepository() throws {
        let dir = try TemporaryFolder()
        defer { dir.remove() }
        let repo = try Fixture.makeRepository(in: dir)
        let second = Array("another password".utf8)
        let slot = try KeySlot.seal(repo.masterKey, password: second, parameters: Fixture.options.scrypt)
        let name = try Repository.writeKeySlot(slot, repository: repo.path)
        let viaSecond = try Repository.open(at: repo.path, password: second)
        #expect(viaSecond.keyID == name)
        #expect(viaSecond.masterKey == repo.masterKey)
        let viaFirst = try Repository.open(at: repo.path, password: Fixture.password)
        #expect(viaFirst.keyID == repo.keyID)
        #expect(try slot.open(password: Array("nope".utf8)) == nil)
        #expect(try slot.open(password: second) == repo.masterKey)
    }

    @Test func unreadableKeySlotsAreCorrupt() throws {
        let dir = try TemporaryFolder()
        defer { dir.remove() }
        let repo = try Fixture.makeRepository(in: dir)
        try rewrite("\(repo.path)/keys/\(repo.keyID)") { $0 = Array("{ not json".utf8) }
        let error = #expect(throws: StoreError.self) { try Repository.open(at: repo.path, password: Fixture.password) }
        guard case .corruptObject(let path, _)? = error else {
            Issue.record("expected corruptObject, got \(String(describing: error))")
            return
        }
        #expect(path.hasPrefix(repo.path + "/keys/"))
    }

    /// Key slots can be attacked offline, so they, their folder, the repository folder and the cache
    /// are the owner's alone, whatever the umask.
    @Test func keySlotsAndCacheAreTheOwnersOnly() throws {
        let dir = try TemporaryFolder()
        defer { dir.remove() }
        let repo = try Fixture.makeRepository(in: dir)
        try Repository.writeKeySlot(try KeySlot.seal(repo.masterKey, password: Array("second".utf8), parameters: Fixture.options.scrypt),
                                    repository: repo.path)
        for folder in [repo.path, repo.path + "/keys", repo.path + "/cache"] {
            #expect(try FileSystem.status(folder).mode & 0o077 == 0, "\(folder)")
        }
        let slots = try FileSystem.list(repo.path + "/keys")
        #expect(slots.count == 2)
        for slot in slots { #expect(try FileSystem.status(repo.path + "/keys/" + slot).mode & 0o777 == 0o400, "\(slot)") }
    }

    enum BadSlot: String, CaseIterable { case unknownKDF, hugeScrypt, notJSON, badBase64 }

    /// A slot that cannot be tried, planted before the good one in listing order, is skipped with a
    /// reason; the good slot still opens the repository.
    @Test(arguments: BadSlot.allCases) func anUnusableKeySlotIsSkipped(bad: BadSlot) throws {
        let dir = try TemporaryFolder()
        defer { dir.remove() }
        let repo = try Fixture.makeRepository(in: dir)
        var slot = try KeySlot.seal(repo.masterKey, password: Array("other".utf8), parameters: Fixture.options.scrypt)
        switch bad {
        case .unknownKDF: slot.kdf = "argon9"
        case .hugeScrypt: slot.scrypt = ScryptParameters(n: 1 << 24, r: 64, p: 16)
        case .badBase64: slot.salt = "***"
        case .notJSON: break
        }
        let name = String(repeating: "0", count: 64)
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        let bytes = bad == .notJSON ? Array("{ not json".utf8) : Array(try encoder.encode(slot))
        try FileSystem.writeAtomically("\(repo.path)/keys/\(name)", bytes: bytes)
        let opened = try Repository.open(at: repo.path, password: Fixture.password)
        #expect(opened.keyID == repo.keyID)
        #expect(opened.skippedKeySlots.map(\.name) == [name])
        // With only the bad slot left, the error names it instead of blaming the password.
        try FileSystem.remove("\(repo.path)/keys/\(repo.keyID)")
        let error = #expect(throws: StoreError.self) { try Repository.open(at: repo.path, password: Fixture.password) }
        #expect("\(error.map { "\($0)" } ?? "")".contains(name))
    }

    /// Each scrypt limit alone would let 2^24 · 64 · 16 (128 GiB) through; the combined bound refuses it
    /// before any memory is taken, and the default stays well inside.
    @Test func scryptMemoryAndWorkAreBoundedTogether() throws {
        #expect(throws: CryptoError.self) { try ScryptParameters(n: 1 << 24, r: 64, p: 16).validate() }
        #expect(throws: CryptoError.self) { try ScryptParameters(n: 1 << 20, r: 16, p: 1).validate() }
        #expect(throws: CryptoError.self) { try ScryptParameters(n: 1 << 16, r: 64, p: 16).validate() }
        try ScryptParameters.default.validate()
        try ScryptParameters(n: 1 << 19, r: 8, p: 1).validate()
    }

    @Test func tamperedConfigIsCorrupt() throws {
        let dir = try TemporaryFolder()
        defer { dir.remove() }
        let repo = try Fixture.makeRepository(in: dir)
        try rewrite(repo.path + "/config") { $0[$0.count / 2] ^= 0x01 }
        let error = #expect(throws: StoreError.self) { try Repository.open(at: repo.path, password: Fixture.password) }
        guard case .corruptObject(let path, _)? = error else {
            Issue.record("expected corruptObject, got \(String(describing: error))")
            return
        }
        #expect(path == repo.path + "/config")
    }

    @Test func openMissingFolderThrowsRepositoryMissing() throws {
        let dir = try TemporaryFolder()
        defer { dir.remove() }
        for path in [dir.path + "/does-not-exist", dir.path] {
            let error = #expect(throws: StoreError.self) { try Repository.open(at: path, password: Fixture.password) }
            guard case .repositoryMissing(let p)? = error else {
                Issue.record("expected repositoryMissing, got \(String(describing: error))")
                continue
            }
            #expect(p == path)
            #expect(error?.kind == .repositoryMissing)
        }
    }

    @Test func initializeTwiceThrowsRepositoryExists() throws {
        let dir = try TemporaryFolder()
        defer { dir.remove() }
        let repo = try Fixture.makeRepository(in: dir)
        let error = #expect(throws: StoreError.self) {
            try Repository.initialize(at: repo.path, password: Fixture.password, options: Fixture.options)
        }
        guard case .repositoryExists(let p)? = error else {
            Issue.record("expected repositoryExists, got \(String(describing: error))")
            return
        }
        #expect(p == repo.path)
        // The original repository is untouched.
        #expect(try FileSystem.list(repo.path + "/keys") == [repo.keyID])
        _ = try Repository.open(at: repo.path, password: Fixture.password)
    }

    @Test func initializeIntoNonEmptyFolderThrowsDirectoryNotEmpty() throws {
        let dir = try TemporaryFolder()
        defer { dir.remove() }
        let target = dir.path + "/stuff"
        try FileSystem.makeDirectories(target)
        try FileSystem.writeAtomically(target + "/readme.txt", bytes: Array("mine".utf8))
        let error = #expect(throws: StoreError.self) {
            try Repository.initialize(at: target, password: Fixture.password, options: Fixture.options)
        }
        guard case .directoryNotEmpty(let p)? = error else {
            Issue.record("expected directoryNotEmpty, got \(String(describing: error))")
            return
        }
        #expect(p == target)
        #expect(try FileSystem.list(target) == ["readme.txt"])

        // A plain file in the way is refused too.
        let file = dir.path + "/afile"
        try FileSystem.writeAtomically(file, bytes: [1])
        #expect(throws: StoreError.self) { try Repository.initialize(at: file, password: Fixture.password, options: Fixture.options) }
    }

    @Test func initializeIntoEmptyExistingFolderWorks() throws {
        let dir = try TemporaryFolder()
        defer { dir.remove() }
        let repo = try Repository.initialize(at: dir.path, password: Fixture.password, options: Fixture.options)
        #expect(repo.path == dir.path)
        _ = try Repository.open(at: dir.path, password: Fixture.password)
    }

    @Test func invalidOptionsAreRejected() throws {
        let dir = try TemporaryFolder()
        defer { dir.remove() }
        var tooSmall = Fixture.options
        tooSmall.packSize = 1000
        let error = #expect(throws: StoreError.self) {
            try Repository.initialize(at: dir.path + "/a", password: Fixture.password, options: tooSmall)
        }
        if case .invalidArgument? = error {} else { Issue.record("expected invalidArgument, got \(String(describing: error))") }

        var badChunker = Fixture.options
        badChunker.chunker = ChunkerParameters(minSize: 1024, averageSize: 3000, maxSize: 8192)
        #expect(throws: ChunkingError.self) {
            try Repository.initialize(at: dir.path + "/b", password: Fixture.password, options: badChunker)
        }
        #expect(!FileSystem.exists(dir.path + "/a/config"))
        #expect(!FileSystem.exists(dir.path + "/b/config"))
    }

    @Test func encryptedFilesRoundTripAndDetectDamage() throws {
        let dir = try TemporaryFolder()
        defer { dir.remove() }
        let repo = try Fixture.makeRepository(in: dir)
        let id = try repo.saveFile(.snapshot, plaintext: Array("hello".utf8))
        #expect(try repo.loadFile(.snapshot, id: id) == Array("hello".utf8))
        #expect(try repo.list(.snapshot) == [id])
        // A box sealed for one kind cannot be read as another.
        try FileSystem.writeAtomically(repo.filePath(ObjectName(kind: .index, id: id)),
                                       bytes: try FileSystem.readFile(repo.filePath(ObjectName(kind: .snapshot, id: id))))
        let moved = #expect(throws: StoreError.self) { try repo.loadFile(.index, id: id) }
        if case .corruptObject? = moved {} else { Issue.record("expected corruptObject, got \(String(describing: moved))") }

        try rewrite(repo.filePath(ObjectName(kind: .snapshot, id: id))) { $0[0] ^= 0xFF }
        let damaged = #expect(throws: StoreError.self) { try repo.loadFile(.snapshot, id: id) }
        guard case .corruptObject(let path, _)? = damaged else {
            Issue.record("expected corruptObject, got \(String(describing: damaged))")
            return
        }
        #expect(path == repo.filePath(ObjectName(kind: .snapshot, id: id)))

        let missing = #expect(throws: StoreError.self) { try repo.loadFile(.snapshot, id: randomID()) }
        if case .missingObject? = missing {} else { Issue.record("expected missingObject, got \(String(describing: missing))") }
    }
}

@Suite("Repository locks")
struct RepositoryLockTests {
    /// A snapshot suspended for hours keeps its lock: on this host a live process is asked, not its
    /// file's age. A lock from another host still goes stale after 30 minutes.
    @Test func aLiveLocalHolderIsNeverStaleAndOldForeignLocksAre() {
        let old = Date().addingTimeInterval(-2 * 3600)
        let mine = LockInfo(exclusive: false, host: Host.name, pid: getpid(), username: "u", time: old, operation: "snapshot")
        #expect(!RepositoryLock.isStale(mine))
        var foreign = mine
        foreign.host = "another-machine-\(UUID().uuidString)"
        #expect(RepositoryLock.isStale(foreign))
        foreign.time = Date()
        #expect(!RepositoryLock.isStale(foreign))
        var gone = mine
        gone.pid = Int32.max - 1
        gone.time = Date()
        #expect(RepositoryLock.isStale(gone))
    }

    /// A holder learns that its lock is gone or too old before it relies on it, instead of going on.
    @Test func aLostLockIsReportedBeforeItIsReliedOn() throws {
        let dir = try TemporaryFolder()
        defer { dir.remove() }
        let repo = try Fixture.makeRepository(in: dir)
        let lock = try RepositoryLock.acquire(repo, exclusive: false, operation: "snapshot")
        defer { lock.release() }
        try lock.ensureHeld()
        // Not refreshed for 26 minutes (a refresh that kept failing): no longer safe against other hosts.
        #expect(throws: StoreError.self) { try lock.ensureHeld(now: Date().addingTimeInterval(26 * 60)) }
        // Removed by `unlock --remove-all` from elsewhere.
        _ = try RepositoryLock.removeStale(repo, all: true)
        let error = #expect(throws: StoreError.self) { try lock.ensureHeld() }
        #expect(error?.kind == .locked)
        #expect("\(error.map { "\($0)" } ?? "")".contains("was removed"))
    }
}
