import Foundation
import Testing
import ModVaultCore
#if canImport(Glibc)
import Glibc
#endif

/// A fresh folder under the system temporary directory, removed by `remove()`.
struct TemporaryFolder {
    let path: String

    init() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("modvault-core-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        path = url.path
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

@Suite("FileSystem")
struct FileSystemTests {
    @Test func writeAtomicallyCreatesReplacesAndLeavesNoTemporaryFiles() throws {
        let dir = try TemporaryFolder()
        defer { dir.remove() }
        let file = dir.path + "/object"

        try FileSystem.writeAtomically(file, bytes: Array("first version".utf8))
        #expect(try FileSystem.readFile(file) == Array("first version".utf8))
        #expect(try FileSystem.list(dir.path) == ["object"])

        // Replacing works even though the default mode makes the file read-only.
        try FileSystem.writeAtomically(file, bytes: Array("second, longer version".utf8))
        #expect(try FileSystem.readFile(file) == Array("second, longer version".utf8))
        try FileSystem.writeAtomically(file, bytes: [])
        #expect(try FileSystem.readFile(file) == [])
        #expect(try FileSystem.list(dir.path) == ["object"])

        let status = try FileSystem.status(file)
        #expect(status.type == .regular)
        #expect(status.mode == 0o444)
        #expect(status.size == 0)
    }

    @Test func writeAtomicallyConcatenatesPartsAndAppliesMode() throws {
        let dir = try TemporaryFolder()
        defer { dir.remove() }
        let file = dir.path + "/parts"
        let a: [UInt8] = [1, 2, 3]
        let b: [UInt8] = [4, 5]
        try a.withUnsafeBytes { pa in
            try b.withUnsafeBytes { pb in
                try FileSystem.writeAtomically(file, parts: [pa, pb], mode: 0o600)
            }
        }
        #expect(try FileSystem.readFile(file) == [1, 2, 3, 4, 5])
        #expect(try FileSystem.status(file).mode == 0o600)
        #expect(try FileSystem.list(dir.path) == ["parts"])
    }

    @Test func writeAtomicallyIntoMissingFolderThrowsAndLeavesNothing() throws {
        let dir = try TemporaryFolder()
        defer { dir.remove() }
        let error = #expect(throws: SystemCallError.self) {
            try FileSystem.writeAtomically(dir.path + "/missing/file", bytes: [1])
        }
        #expect(error?.code == ENOENT)
        #expect(try FileSystem.list(dir.path).isEmpty)
    }

    @Test func listSortsAndSkipsDotEntries() throws {
        let dir = try TemporaryFolder()
        defer { dir.remove() }
        for name in ["b", "a", "C", ".hidden", "a2"] {
            try FileSystem.writeAtomically("\(dir.path)/\(name)", bytes: [])
        }
        #expect(try FileSystem.list(dir.path) == [".hidden", "C", "a", "a2", "b"])
        let error = #expect(throws: SystemCallError.self) { try FileSystem.list(dir.path + "/nope") }
        #expect(error?.path == dir.path + "/nope")
    }

    @Test func makeDirectoriesCreatesParentsAndIsIdempotent() throws {
        let dir = try TemporaryFolder()
        defer { dir.remove() }
        let deep = dir.path + "/a/b/c"
        try FileSystem.makeDirectories(deep)
        try FileSystem.makeDirectories(deep)
        #expect(FileSystem.isDirectory(deep))
        #expect(FileSystem.exists(deep))
        #expect(!FileSystem.exists(deep + "/d"))
        #expect(try FileSystem.status(deep).type == .directory)
    }

    @Test func removeIgnoresMissingFiles() throws {
        let dir = try TemporaryFolder()
        defer { dir.remove() }
        let file = dir.path + "/f"
        try FileSystem.writeAtomically(file, bytes: [1])
        try FileSystem.remove(file)
        #expect(!FileSystem.exists(file))
        try FileSystem.remove(file)
    }

    @Test func statusDoesNotFollowSymlinks() throws {
        let dir = try TemporaryFolder()
        defer { dir.remove() }
        let link = dir.path + "/link"
        #expect(symlink("does-not-exist", link) == 0)
        #expect(FileSystem.exists(link))
        #expect(!FileSystem.isDirectory(link))
        #expect(try FileSystem.status(link).type == .symlink)
        #expect(throws: SystemCallError.self) { try OpenFile.openForReading(link, noFollow: true) }
    }

    @Test(arguments: [
        ("/", "/"),
        ("/a/b/c", "/a/b/c"),
        ("/a/./b/./c", "/a/b/c"),
        ("/a/b/../c", "/a/c"),
        ("/a/b/../../c", "/c"),
        ("/a//b///c/", "/a/b/c"),
        ("/..", "/"),
        ("/../../a", "/a"),
        ("/a/b/..", "/a"),
        ("/a/.", "/a"),
        ("/.", "/"),
    ])
    func absoluteNormalisesAbsolutePaths(input: String, expected: String) {
        #expect(FileSystem.absolute(input) == expected)
    }

    @Test func absoluteResolvesRelativePathsAgainstWorkingDirectory() {
        let cwd = FileSystem.absolute(FileManager.default.currentDirectoryPath)
        let base = cwd == "/" ? "" : cwd
        #expect(FileSystem.absolute("x/y") == base + "/x/y")
        #expect(FileSystem.absolute("x/../y") == base + "/y")
        #expect(FileSystem.absolute("./x/./y/") == base + "/x/y")
        #expect(FileSystem.absolute(".") == cwd)
        #expect(FileSystem.absolute("") == cwd)
    }

    @Test(arguments: [
        ("/a/b/c", "/a/b", "c"),
        ("/a", "/", "a"),
        ("a", ".", "a"),
        ("a/b", "a", "b"),
    ])
    func parentAndLastComponent(path: String, parent: String, last: String) {
        #expect(FileSystem.parentPath(path) == parent)
        #expect(FileSystem.lastComponent(path) == last)
    }
}

@Suite("OpenFile")
struct OpenFileTests {
    @Test func readAtOffset() throws {
        let dir = try TemporaryFolder()
        defer { dir.remove() }
        let path = dir.path + "/data"
        let content = (0..<100).map { UInt8($0) }
        try FileSystem.writeAtomically(path, bytes: content)
        let file = try OpenFile.openForReading(path)
        #expect(file.path == path)
        #expect(try file.read(count: 10, at: 20) == Array(20..<30))
        #expect(try file.read(count: 0, at: 100) == [])
        #expect(try file.read(count: 100, at: 0) == content)
        #expect(try file.status().size == 100)

        // Sequential reads continue from the current position and return 0 at the end.
        var buffer = [UInt8](repeating: 0, count: 64)
        let n1 = try buffer.withUnsafeMutableBytes { try file.read(into: $0) }
        #expect(n1 == 64)
        #expect(Array(buffer[0..<n1]) == Array(content[0..<64]))
        let n2 = try buffer.withUnsafeMutableBytes { try file.read(into: $0) }
        #expect(n2 == 36)
        let n3 = try buffer.withUnsafeMutableBytes { try file.read(into: $0) }
        #expect(n3 == 0)
    }

    @Test func shortReadErrorNamesThePath() throws {
        let dir = try TemporaryFolder()
        defer { dir.remove() }
        let path = dir.path + "/short"
        try FileSystem.writeAtomically(path, bytes: [UInt8](repeating: 7, count: 10))
        let file = try OpenFile.openForReading(path)
        let error = #expect(throws: SystemCallError.self) { try file.read(count: 8, at: 5) }
        #expect(error?.path == path)
        #expect(error?.description.contains(path) == true)
        #expect(error?.operation.contains("short read") == true)
        #expect(error?.operation.contains("5 of 8") == true)
        #expect(error?.kind == .io)

        let past = #expect(throws: SystemCallError.self) { try file.read(count: 1, at: 1000) }
        #expect(past?.path == path)
    }

    @Test func createExclusiveRefusesExistingFile() throws {
        let dir = try TemporaryFolder()
        defer { dir.remove() }
        let path = dir.path + "/new"
        do {
            let file = try OpenFile.create(path)
            try file.write([1, 2, 3])
            try file.sync()
        }
        #expect(try FileSystem.readFile(path) == [1, 2, 3])
        let error = #expect(throws: SystemCallError.self) { try OpenFile.create(path) }
        #expect(error?.code == EEXIST)
        #expect(error?.operation == "create")
        do {
            let file = try OpenFile.create(path, exclusive: false)
            try file.write([9])
        }
        #expect(try FileSystem.readFile(path) == [9])
    }

    @Test func openMissingFileThrowsWithPath() {
        let path = "/nonexistent-\(UUID().uuidString)/file"
        let error = #expect(throws: SystemCallError.self) { try OpenFile.openForReading(path) }
        #expect(error?.code == ENOENT)
        #expect(error?.path == path)
        #expect(error?.operation == "open")
        #expect(throws: SystemCallError.self) { try FileSystem.readFile(path) }
    }
}

@Suite("SystemCallError")
struct SystemCallErrorTests {
    @Test(arguments: [ENOENT, EACCES, ENOSPC, EIO])
    func descriptionContainsOperationPathAndReason(code: Int32) {
        let error = SystemCallError(code: code, operation: "open", path: "/some/where/file.esp")
        let reason = String(cString: strerror(code))
        #expect(!reason.isEmpty)
        #expect(error.reason == reason)
        #expect(error.description.contains("/some/where/file.esp"))
        #expect(error.description.contains(reason))
        #expect(error.description == "open /some/where/file.esp: \(reason)")
        #expect(error.kind == .io)
    }

    @Test func enoentReadsAsNoSuchFile() {
        let error = SystemCallError(code: ENOENT, operation: "stat", path: "/x")
        #expect(error.description.contains("No such file or directory"))
    }
}

@Suite("Object names")
struct ObjectNameTests {
    @Test func relativePaths() throws {
        let id = try #require(ObjectID(hex: "3f" + String(repeating: "0", count: 62)))
        #expect(ObjectName(kind: .pack, id: id).relativePath == "data/3f/\(id.hex)")
        #expect(ObjectName(kind: .snapshot, id: id).relativePath == "snapshots/\(id.hex)")
        #expect(ObjectName(kind: .index, id: id).relativePath == "index/\(id.hex)")
        #expect(ObjectName(kind: .key, id: id).relativePath == "keys/\(id.hex)")
        #expect(ObjectName(kind: .lock, id: id).relativePath == "locks/\(id.hex)")
        #expect(ObjectName.config.relativePath == "config")
        #expect(ObjectName.config.description == "config")
    }

    @Test func blobHandleDescription() throws {
        let id = try #require(ObjectID(hex: "0123456789" + String(repeating: "a", count: 54)))
        #expect(BlobHandle(id: id, type: .data).description == "data/01234567")
        #expect(BlobHandle(id: id, type: .tree).description == "tree/01234567")
        #expect(BlobHandle(id: id, type: .data) != BlobHandle(id: id, type: .tree))
    }
}
