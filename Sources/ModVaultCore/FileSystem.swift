#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An open file descriptor that closes itself when released.
public final class OpenFile: @unchecked Sendable {
    /// The raw descriptor.
    public let descriptor: Int32
    /// The path it was opened with, for error messages.
    public let path: String

    init(descriptor: Int32, path: String) {
        self.descriptor = descriptor
        self.path = path
    }

    deinit { close(descriptor) }

    /// Opens an existing file for reading. Symlinks in the last component are not followed when `noFollow` is set.
    public static func openForReading(_ path: String, noFollow: Bool = false) throws -> OpenFile {
        let fd = open(path, O_RDONLY | O_CLOEXEC | (noFollow ? O_NOFOLLOW : 0))
        guard fd >= 0 else { throw SystemCallError(code: errno, operation: "open", path: path) }
        return OpenFile(descriptor: fd, path: path)
    }

    /// Creates a file for writing. With `exclusive`, fails if it exists; never follows a symlink at `path`.
    public static func create(_ path: String, mode: UInt32 = 0o644, exclusive: Bool = true) throws -> OpenFile {
        let flags = O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | (exclusive ? O_EXCL : O_TRUNC)
        let fd = open(path, flags, mode_t(mode))
        guard fd >= 0 else { throw SystemCallError(code: errno, operation: "create", path: path) }
        return OpenFile(descriptor: fd, path: path)
    }

    /// Reads up to `count` bytes into `buffer` at the current position; returns 0 at end of file.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        while true {
            let n = Glibc.read(descriptor, buffer.baseAddress, buffer.count)
            if n >= 0 { return n }
            if errno == EINTR { continue }
            throw SystemCallError(code: errno, operation: "read", path: path)
        }
    }

    /// Fills `buffer` from `offset`, looping over short reads; returns the bytes read (less only at end of file).
    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int {
        var done = 0
        while done < buffer.count {
            let n = pread(descriptor, buffer.baseAddress! + done, buffer.count - done, off_t(offset) + off_t(done))
            if n == 0 { break }
            if n < 0 {
                if errno == EINTR { continue }
                throw SystemCallError(code: errno, operation: "read", path: path)
            }
            done += n
        }
        return done
    }

    /// Reads exactly `count` bytes at `offset`, or throws a short-read error naming the path.
    public func read(count: Int, at offset: Int64) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        let n = try out.withUnsafeMutableBytes { (b) throws in try read(into: b, at: offset) }
        guard n == count else { throw SystemCallError(code: EIO, operation: "short read (\(n) of \(count) bytes at \(offset))", path: path) }
        return out
    }

    /// Writes all of `bytes`, looping over short writes.
    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        var done = 0
        while done < bytes.count {
            let n = Glibc.write(descriptor, bytes.baseAddress! + done, bytes.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                throw SystemCallError(code: errno, operation: "write", path: path)
            }
            done += n
        }
    }

    /// Writes all of `bytes` at `offset` (`pwrite`), looping over short writes; the file position is unchanged.
    public func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws {
        var done = 0
        while done < bytes.count {
            let n = pwrite(descriptor, bytes.baseAddress! + done, bytes.count - done, off_t(offset) + off_t(done))
            if n < 0 {
                if errno == EINTR { continue }
                throw SystemCallError(code: errno, operation: "write", path: path)
            }
            done += n
        }
    }

    /// A new file in `directory`, open for reading and writing, already unlinked: it vanishes when
    /// closed, however the process ends.
    public static func anonymous(in directory: String) throws -> OpenFile {
        var template = Array((directory + "/.modvault-scratch-XXXXXX").utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { throw SystemCallError(code: errno, operation: "create", path: directory) }
        let name = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        unlink(name)
        return OpenFile(descriptor: fd, path: name)
    }

    /// Writes a byte array.
    public func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { (b) throws in try write(b) }
    }

    /// Flushes data and metadata to stable storage.
    public func sync() throws {
        guard fsync(descriptor) == 0 else { throw SystemCallError(code: errno, operation: "fsync", path: path) }
    }

    /// Starts writing the file's dirty pages to disk without waiting for them (`sync_file_range`), so a
    /// later `syncfs` or `fsync` finds most of the work done. Best effort: errors surface at that sync.
    public func startWriteback() {
        _ = linuxSyncFileRange(descriptor, 0, 0, 2 /* SYNC_FILE_RANGE_WRITE */)
    }

    /// The file's status.
    public func status() throws -> FileStatus {
        var st = stat()
        guard fstat(descriptor, &st) == 0 else { throw SystemCallError(code: errno, operation: "stat", path: path) }
        return FileStatus(st)
    }
}

/// The kind of a directory entry.
public enum FileType: UInt8, Sendable, Codable {
    /// A regular file.
    case regular = 0
    /// A directory.
    case directory = 1
    /// A symbolic link.
    case symlink = 2
    /// A device, socket or FIFO: recorded but never read.
    case other = 3
}

/// The subset of `stat` the store records and compares.
public struct FileStatus: Sendable, Equatable {
    /// Entry type.
    public var type: FileType
    /// Permission bits (the low 12 bits of st_mode).
    public var mode: UInt32
    /// Size in bytes.
    public var size: Int64
    /// Modification time in nanoseconds since the epoch.
    public var mtimeNanos: Int64
    /// Status-change time in nanoseconds since the epoch.
    public var ctimeNanos: Int64
    /// Inode number.
    public var inode: UInt64
    /// Device number.
    public var device: UInt64

    /// Converts a C `stat`.
    public init(_ st: stat) {
        switch st.st_mode & S_IFMT {
        case S_IFREG: type = .regular
        case S_IFDIR: type = .directory
        case S_IFLNK: type = .symlink
        default: type = .other
        }
        mode = UInt32(st.st_mode & 0o7777)
        size = Int64(st.st_size)
        mtimeNanos = Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec)
        ctimeNanos = Int64(st.st_ctim.tv_sec) * 1_000_000_000 + Int64(st.st_ctim.tv_nsec)
        inode = UInt64(st.st_ino)
        device = UInt64(st.st_dev)
    }
}

/// Path-based file operations with errors that carry the path.
public enum FileSystem {
    /// `lstat`: the status of `path` itself, never following a final symlink.
    public static func status(_ path: String) throws -> FileStatus {
        var st = stat()
        guard lstat(path, &st) == 0 else { throw SystemCallError(code: errno, operation: "stat", path: path) }
        return FileStatus(st)
    }

    /// True if anything (even a dangling symlink) exists at `path`.
    public static func exists(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0
    }

    /// True if `path` is a directory (following symlinks).
    public static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// The names in a directory, without `.` and `..`, in byte order.
    public static func list(_ path: String) throws -> [String] {
        guard let dir = opendir(path) else { throw SystemCallError(code: errno, operation: "open directory", path: path) }
        defer { closedir(dir) }
        var names: [String] = []
        while true {
            errno = 0
            guard let entry = readdir(dir) else {
                if errno != 0 { throw SystemCallError(code: errno, operation: "read directory", path: path) }
                break
            }
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.baseAddress!.assumingMemoryBound(to: CChar.self))
            }
            if name != "." && name != ".." { names.append(name) }
        }
        names.sort { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        return names
    }

    /// Reads a whole file.
    public static func readFile(_ path: String) throws -> [UInt8] {
        let file = try OpenFile.openForReading(path)
        let size = Int(try file.status().size)
        var out = [UInt8](repeating: 0, count: size)
        let n = try out.withUnsafeMutableBytes { (b) throws in try file.read(into: b, at: 0) }
        if n < size { out.removeSubrange(n...) }
        return out
    }

    /// Creates a directory and any missing parents; an existing directory is fine.
    public static func makeDirectories(_ path: String, mode: UInt32 = 0o755) throws {
        if isDirectory(path) { return }
        let parent = parentPath(path)
        if !parent.isEmpty && parent != path { try makeDirectories(parent, mode: mode) }
        if mkdir(path, mode_t(mode)) != 0 && errno != EEXIST {
            throw SystemCallError(code: errno, operation: "create directory", path: path)
        }
    }

    /// fsyncs a directory so a rename or create inside it survives a crash.
    public static func syncDirectory(_ path: String) throws {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw SystemCallError(code: errno, operation: "open directory", path: path) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw SystemCallError(code: errno, operation: "fsync directory", path: path) }
    }

    /// The process's file-creation mask, read once at start (reading it means setting it, briefly).
    public static let creationMask: UInt32 = {
        let mask = umask(0o022)
        umask(mask)
        return UInt32(mask)
    }()

    /// Writes `bytes` to `path` atomically: temporary file, fsync, rename, fsync of the folder.
    ///
    /// Readers see the old state or the complete new file, never a partial one, even after a crash.
    /// `mode` is narrowed by the process's umask, as `open` and `mkdir` would.
    public static func writeAtomically(_ path: String, bytes: [UInt8], mode: UInt32 = 0o444) throws {
        try bytes.withUnsafeBytes { (b) throws in try writeAtomically(path, parts: [b], mode: mode) }
    }

    /// Atomically writes the concatenation of `parts`.
    public static func writeAtomically(_ path: String, parts: [UnsafeRawBufferPointer], mode: UInt32 = 0o444) throws {
        let dir = parentPath(path)
        let temp = "\(dir)/.tmp-\(lastComponent(path))-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        do {
            let file = try OpenFile.create(temp, mode: 0o600)
            for part in parts { try file.write(part) }
            try file.sync()
            guard fchmod(file.descriptor, mode_t(mode & ~creationMask & 0o777)) == 0 else {
                throw SystemCallError(code: errno, operation: "chmod", path: temp)
            }
        } catch {
            unlink(temp)
            throw error
        }
        guard rename(temp, path) == 0 else {
            let code = errno
            unlink(temp)
            throw SystemCallError(code: code, operation: "rename", path: path)
        }
        try syncDirectory(dir)
    }

    /// Writes `bytes` to a temporary beside `path` and starts its writeback without waiting for it;
    /// `publish` later makes a whole batch durable and renames it into place. Cheaper than writing
    /// and syncing each file in turn when many are written (a pull): by the time they are synced,
    /// the kernel has written most of them. Nothing has its final name before it is on disk.
    /// Returns the temporary's path.
    public static func stage(_ path: String, bytes: [UInt8], mode: UInt32 = 0o444) throws -> String {
        let temp = "\(parentPath(path))/.tmp-\(lastComponent(path))-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        do {
            let file = try OpenFile.create(temp, mode: 0o600)
            try bytes.withUnsafeBytes { try file.write($0) }
            guard fchmod(file.descriptor, mode_t(mode & ~creationMask & 0o777)) == 0 else {
                throw SystemCallError(code: errno, operation: "chmod", path: temp)
            }
            file.startWriteback()
        } catch {
            unlink(temp)
            throw error
        }
        return temp
    }

    /// Makes staged temporaries durable (an `fsync` of each, which finds its writeback mostly done:
    /// not `syncfs`, which would also wait for every other program's writes to the disk), renames
    /// each over its final name, and syncs every folder that gained a name.
    public static func publish(_ staged: [(temporary: String, path: String)]) throws {
        for item in staged {
            let file = try OpenFile.openForReading(item.temporary)
            try file.sync()
        }
        var folders = Set<String>()
        for item in staged {
            guard rename(item.temporary, item.path) == 0 else {
                let code = errno
                unlink(item.temporary)
                throw SystemCallError(code: code, operation: "rename", path: item.path)
            }
            folders.insert(parentPath(item.path))
        }
        for folder in folders.sorted() { try syncDirectory(folder) }
    }

    /// Removes a file; a missing file is not an error.
    public static func remove(_ path: String) throws {
        if unlink(path) != 0 && errno != ENOENT { throw SystemCallError(code: errno, operation: "remove", path: path) }
    }

    /// Everything before the last `/`, or "." when there is none.
    public static func parentPath(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        if slash == path.startIndex { return "/" }
        return String(path[..<slash])
    }

    /// Everything after the last `/`.
    public static func lastComponent(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return path }
        return String(path[path.index(after: slash)...])
    }

    /// Makes `path` absolute against the working directory and removes `.`, `..` and duplicate slashes.
    public static func absolute(_ path: String) -> String {
        var full = path
        if !path.hasPrefix("/") {
            var buf = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let cwd = getcwd(&buf, buf.count).map { String(cString: $0) } ?? "/"
            full = cwd + "/" + path
        }
        var parts: [Substring] = []
        for part in full.split(separator: "/") {
            if part == "." || part.isEmpty { continue }
            if part == ".." { _ = parts.popLast(); continue }
            parts.append(part)
        }
        return "/" + parts.joined(separator: "/")
    }
}

/// Seconds on a monotonic clock, for measuring durations.
public func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

extension FileSystem {
    // UTIME_OMIT is a C macro Swift does not import: it leaves the access time alone.
    static let omitTime = timespec(tv_sec: 0, tv_nsec: (1 << 30) - 2)

    static func timespecOf(_ nanos: Int64) -> timespec {
        timespec(tv_sec: Int(nanos / 1_000_000_000), tv_nsec: Int(nanos % 1_000_000_000))
    }

    /// Sets the modification time of an open file (nanoseconds since the epoch), leaving its access time.
    public static func setModificationTime(_ nanos: Int64, of file: OpenFile) throws {
        var times = [omitTime, timespecOf(nanos)]
        guard futimens(file.descriptor, &times) == 0 else { throw SystemCallError(code: errno, operation: "set times", path: file.path) }
    }
}

// sync_file_range(2) is declared only under _GNU_SOURCE, which Glibc's module map does not set.
@_silgen_name("sync_file_range")
private func linuxSyncFileRange(_ descriptor: Int32, _ offset: Int64, _ count: Int64, _ flags: UInt32) -> Int32
