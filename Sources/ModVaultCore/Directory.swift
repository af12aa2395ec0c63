#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An open folder. Names are resolved relative to it and never through a link, so a folder that is
/// swapped for a link after it was opened cannot redirect what is created inside it.
public final class DirectoryHandle: Sendable {
    /// The raw descriptor.
    public let descriptor: Int32
    /// The path it was opened as, for error messages.
    public let path: String

    private init(descriptor: Int32, path: String) {
        self.descriptor = descriptor
        self.path = path
    }

    deinit { close(descriptor) }

    /// Opens the folder at `path`; a link there is followed, since the caller chose the path.
    public static func open(_ path: String) throws -> DirectoryHandle {
        let fd = Glibc.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw SystemCallError(code: errno, operation: "open folder", path: path) }
        return DirectoryHandle(descriptor: fd, path: path)
    }

    /// The path of `name` inside this folder, for messages.
    public func path(of name: String) -> String { path == "/" ? "/" + name : path + "/" + name }

    /// Opens the folder `name` inside this one; fails with `ELOOP` or `ENOTDIR` when it is a link or a file.
    public func folder(_ name: String) throws -> DirectoryHandle {
        let fd = openat(descriptor, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw SystemCallError(code: errno, operation: "open folder", path: path(of: name)) }
        return DirectoryHandle(descriptor: fd, path: path(of: name))
    }

    /// The status of `name` itself (a link is not followed), or nil when nothing has that name.
    public func status(_ name: String) throws -> FileStatus? {
        var st = stat()
        if fstatat(descriptor, name, &st, AT_SYMLINK_NOFOLLOW) == 0 { return FileStatus(st) }
        if errno == ENOENT { return nil }
        throw SystemCallError(code: errno, operation: "stat", path: path(of: name))
    }

    /// Creates the folder `name`.
    public func makeFolder(_ name: String, mode: UInt32) throws {
        guard mkdirat(descriptor, name, mode_t(mode)) == 0 else { throw SystemCallError(code: errno, operation: "create folder", path: path(of: name)) }
    }

    /// Creates the file `name`, which must not exist yet (not even as a link), for writing.
    public func createFile(_ name: String, mode: UInt32) throws -> OpenFile {
        let fd = openat(descriptor, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode_t(mode))
        guard fd >= 0 else { throw SystemCallError(code: errno, operation: "create", path: path(of: name)) }
        return OpenFile(descriptor: fd, path: path(of: name))
    }

    /// Removes the file or link `name`; a missing name is not an error.
    public func remove(_ name: String) throws {
        if unlinkat(descriptor, name, 0) != 0 && errno != ENOENT {
            throw SystemCallError(code: errno, operation: "remove", path: path(of: name))
        }
    }

    /// Removes the empty folder `name`; returns false when it is not empty or already gone.
    @discardableResult
    public func removeFolder(_ name: String) throws -> Bool {
        if unlinkat(descriptor, name, AT_REMOVEDIR) == 0 { return true }
        if errno == ENOTEMPTY || errno == EEXIST || errno == ENOENT { return false }
        throw SystemCallError(code: errno, operation: "remove folder", path: path(of: name))
    }

    /// Renames `name` to `newName`, both in this folder, replacing a file at `newName`.
    public func rename(_ name: String, to newName: String) throws {
        guard renameat(descriptor, name, descriptor, newName) == 0 else {
            throw SystemCallError(code: errno, operation: "rename to \(newName)", path: path(of: name))
        }
    }

    /// Creates the link `name` pointing at `target`.
    public func makeLink(_ name: String, target: String) throws {
        guard symlinkat(target, descriptor, name) == 0 else { throw SystemCallError(code: errno, operation: "create link", path: path(of: name)) }
    }

    /// Sets the modification time of `name` itself (a link is not followed), leaving its access time.
    public func setModificationTime(_ nanos: Int64, of name: String) throws {
        var times = [FileSystem.omitTime, FileSystem.timespecOf(nanos)]
        guard utimensat(descriptor, name, &times, AT_SYMLINK_NOFOLLOW) == 0 else {
            throw SystemCallError(code: errno, operation: "set times", path: path(of: name))
        }
    }

    /// Sets this folder's own permission bits.
    public func setMode(_ mode: UInt32) throws {
        guard fchmod(descriptor, mode_t(mode)) == 0 else { throw SystemCallError(code: errno, operation: "chmod", path: path) }
    }

    /// Sets this folder's own modification time.
    public func setModificationTime(_ nanos: Int64) throws {
        var times = [FileSystem.omitTime, FileSystem.timespecOf(nanos)]
        guard futimens(descriptor, &times) == 0 else { throw SystemCallError(code: errno, operation: "set times", path: path) }
    }
}

