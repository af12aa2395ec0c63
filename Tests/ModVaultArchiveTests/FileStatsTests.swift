import Foundation
import Testing
import ModVaultCore
import ModVaultStore
import ModVaultArchive

/// Inode, device and ctime live in this machine's `FileStatCache`, not in trees.
@Suite("file status cache and machine-independent trees")
struct FileStatsTests {
    /// Waits past the clock tick in which the files were written, so the scan may trust their status.
    static func settle() async throws { try await Task.sleep(for: .milliseconds(30)) }

    static func makeFolder(_ src: String) throws {
        try ContentListArchiveTests.write(src + "/ModA/Textures.ba2", bytes: 300_000, seed: 1)
        try ContentListArchiveTests.write(src + "/ModA/ModA.esp", bytes: 5_000, seed: 2)
        try ContentListArchiveTests.write(src + "/ModB/meshes/a.nif", bytes: 40_000, seed: 3)
    }

    static func setTime(_ path: String, _ nanos: Int64) {
        let t = timespec(tv_sec: Int(nanos / 1_000_000_000), tv_nsec: Int(nanos % 1_000_000_000))
        var times = [t, t]
        #expect(utimensat(AT_FDCWD, path, &times, 0) == 0)
    }

    /// Copies every file over itself as `rsync -a` or `cp -a` would: a new inode and ctime, the same
    /// mtime, and folders keep their mtimes too.
    static func recopy(_ folder: String) throws {
        let fm = FileManager.default
        var folders: [(String, Int64)] = [(folder, try FileSystem.status(folder).mtimeNanos)]
        for case let relative as String in fm.enumerator(atPath: folder)! {
            let path = folder + "/" + relative
            let status = try FileSystem.status(path)
            guard status.type == .regular else {
                folders.append((path, status.mtimeNanos))
                continue
            }
            try fm.copyItem(atPath: path, toPath: path + ".copy")
            try fm.removeItem(atPath: path)
            try fm.moveItem(atPath: path + ".copy", toPath: path)
            setTime(path, status.mtimeNanos)
        }
        for (path, mtime) in folders { setTime(path, mtime) }
    }

    @Test func aCopyWithItsTimesKeptHasTheSameTreesAndIsReadOnce() async throws {
        let ws = try Workspace()
        let src = ws.root + "/src"
        try Self.makeFolder(src)
        try await Self.settle()
        let archiver = Archiver(repository: ws.repository)
        let first = try await archiver.snapshot(source: src)
        let inode = try FileSystem.status(src + "/ModA/ModA.esp").inode

        try Self.recopy(src)
        #expect(try FileSystem.status(src + "/ModA/ModA.esp").inode != inode)
        try await Self.settle()
        let second = try await archiver.snapshot(source: src)
        // Every file has a new identity, so each is read once, but nothing new is stored: not even a tree.
        #expect(second.tree == first.tree)
        #expect(second.record.snapshot.summary?.filesUnchanged == 0)
        #expect(second.record.snapshot.summary?.blobsAdded == 0)

        let third = try await archiver.snapshot(source: src)
        #expect(third.record.snapshot.summary?.bytesRead == 0)
        #expect(third.record.snapshot.summary?.filesUnchanged == 3)

        let node = try ContentListArchiveTests.node(ws, third.record.snapshot, "ModA/ModA.esp")
        #expect(node.inode == 0 && node.device == 0 && node.ctimeNanos == 0)
    }

    @Test func anEntryRecordedForOtherContentIsNotTrusted() async throws {
        let ws = try Workspace()
        let src = ws.root + "/src"
        try "aaaa".write(toFile: src + ".tmp", atomically: false, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: src, withIntermediateDirectories: true)
        try FileManager.default.moveItem(atPath: src + ".tmp", toPath: src + "/f.txt")
        let mtime = try FileSystem.status(src + "/f.txt").mtimeNanos
        try await Self.settle()
        let archiver = Archiver(repository: ws.repository)
        let first = try await archiver.snapshot(source: src)

        // Same size, same mtime, other bytes: the ctime shows the change, so it is read.
        try "bbbb".write(toFile: src + "/f.txt", atomically: false, encoding: .utf8)
        Self.setTime(src + "/f.txt", mtime)
        try await Self.settle()
        let second = try await archiver.snapshot(source: src)
        #expect(second.record.snapshot.summary?.filesChanged == 1)

        // Against the first snapshot, the file's status matches the cache, but the cache saw the second
        // snapshot's content, not the first's: it must be read, not take "aaaa" from the parent.
        var options = SnapshotOptions()
        options.parent = first.record.id.hex
        let third = try await archiver.snapshot(source: src, options: options)
        #expect(third.record.snapshot.summary?.filesChanged == 1)
        #expect(third.tree == second.tree)
    }

    @Test func aFileDatedInTheFutureIsReadEveryTime() async throws {
        let ws = try Workspace()
        let src = ws.root + "/src"
        try Self.makeFolder(src)
        let future = Int(Date().timeIntervalSince1970) + 3600
        var times = [timespec(tv_sec: future, tv_nsec: 0), timespec(tv_sec: future, tv_nsec: 0)]
        #expect(utimensat(AT_FDCWD, src + "/ModA/ModA.esp", &times, 0) == 0)
        try await Self.settle()
        let archiver = Archiver(repository: ws.repository)
        _ = try await archiver.snapshot(source: src)
        let second = try await archiver.snapshot(source: src)
        // Its status could stay the same through a later change, so it is never trusted.
        #expect(second.record.snapshot.summary?.filesUnchanged == 2)
        #expect(second.record.snapshot.summary?.bytesRead == 5_000)
        #expect(ws.repository.fileStats.entries(under: src)[src + "/ModA/ModA.esp"] == nil)
    }

    @Test func losingTheCacheCostsOnlyARead() async throws {
        let ws = try Workspace()
        let src = ws.root + "/src"
        try Self.makeFolder(src)
        try await Self.settle()
        let first = try await Archiver(repository: ws.repository).snapshot(source: src)
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: ws.root + "/repo/cache/files.sqlite" + suffix) }
        let reopened = try Repository.open(at: ws.root + "/repo", password: Array("pw".utf8))
        let second = try await Archiver(repository: reopened).snapshot(source: src)
        #expect(second.tree == first.tree)
        #expect(second.record.snapshot.summary?.filesChanged == 3)
        let third = try await Archiver(repository: reopened).snapshot(source: src)
        #expect(third.record.snapshot.summary?.bytesRead == 0)
    }

    @Test func entriesAreScopedToTheirFolderAndDeletedWhenGone() throws {
        let ws = try Workspace()
        let cache = ws.repository.fileStats
        let id = ObjectID(bytes: [UInt8](repeating: 7, count: 32))!
        func entry(_ inode: UInt64) -> FileStatCache.Entry {
            FileStatCache.Entry(device: 1, inode: inode, ctimeNanos: 2, mtimeNanos: 3, size: 4, content: id)
        }
        cache.replace(under: "/m/a", previous: [:], current: ["/m/a/x": entry(1), "/m/a/y/z": entry(2)])
        cache.replace(under: "/m/ab", previous: [:], current: ["/m/ab/x": entry(3)])
        #expect(cache.entries(under: "/m/a") == ["/m/a/x": entry(1), "/m/a/y/z": entry(2)])
        #expect(cache.entries(under: "/m/a/").count == 2)
        #expect(cache.entries(under: "/m/ab") == ["/m/ab/x": entry(3)])

        let previous = cache.entries(under: "/m/a")
        cache.replace(under: "/m/a", previous: previous, current: ["/m/a/x": entry(9)])
        #expect(cache.entries(under: "/m/a") == ["/m/a/x": entry(9)])
        #expect(cache.entries(under: "/m/ab").count == 1)
    }

    /// The digest is stable across versions: a changed encoding would only make every file be read once.
    @Test func contentDigestVectors() {
        let id = ObjectID(bytes: [UInt8](0..<32))!
        #expect(FileContent.empty.digest.hex == SHA256Probe.hex([0, 0]))
        #expect(FileContent.inline([BlobHandle(id: id, type: .data)]).digest.hex == SHA256Probe.hex([0, 1, BlobType.data.rawValue] + Array(0..<32)))
        #expect(FileContent.list(id, count: 300).digest.hex == SHA256Probe.hex([1] + Array(0..<32) + [0xAC, 0x02]))
        #expect(FileContent.list(id, count: 300).digest != FileContent.list(id, count: 301).digest)
    }
}

/// SHA-256 by the `sha256sum` tool, so the vectors do not check the code with itself.
enum SHA256Probe {
    static func hex(_ bytes: [UInt8]) -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("sha-\(UUID().uuidString)").path
        FileManager.default.createFile(atPath: path, contents: Data(bytes))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
        p.arguments = [path]
        let out = Pipe()
        p.standardOutput = out
        try? p.run()
        p.waitUntilExit()
        return String(String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).prefix(64))
    }
}
