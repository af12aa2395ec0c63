import Glibc
import Synchronization
import ModVaultCore
import ModVaultStore

/// Keeps two syncs of one folder from running at once, in this process and across processes.
///
/// Across processes it is a POSIX record lock (`fcntl(F_SETLK)`) on `.modvault/lock`, not a `flock`.
/// A `flock` belongs to the open file description, which a child that another thread is forking
/// shares until its `exec` closes it: a guard released in that window stayed held, and the next sync
/// of the folder failed as busy. A record lock belongs to the process and is never inherited.
/// Record locks do not exclude within one process (and closing any descriptor of the file drops
/// them), so within the process a set of the lock files held, by device and inode, does that; the
/// lock file is opened only by the guard that has claimed it there.
struct FolderGuard {
    let descriptor: Int32
    private let key: FileKey

    private struct FileKey: Hashable {
        let device: UInt64
        let inode: UInt64
    }

    /// Lock files held by guards in this process.
    private static let held = Mutex<Set<FileKey>>([])

    private init(descriptor: Int32, key: FileKey) {
        self.descriptor = descriptor
        self.key = key
    }

    /// Takes the guard of `folder`, or throws `SyncFolderError.busy` if a sync holds it.
    static func acquire(_ folder: String) throws -> FolderGuard {
        let dir = folder + "/" + FolderSyncState.folderName, path = dir + "/lock"
        func failure(_ operation: String) -> StoreError {
            .system(SystemCallError(code: errno, operation: operation, path: path))
        }
        do { try FileSystem.makeDirectories(dir) } catch let e as SystemCallError { throw StoreError.system(e) }
        var st = stat()
        if stat(path, &st) != 0 {
            guard errno == ENOENT else { throw failure("stat") }
            // A new file: no guard of this process can hold it, so opening and closing it drops nothing.
            let created = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
            guard created >= 0 else { throw failure("open") }
            close(created)
            guard stat(path, &st) == 0 else { throw failure("stat") }
        }
        let key = FileKey(device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
        guard held.withLock({ $0.insert(key).inserted }) else { throw SyncFolderError.busy(folder: folder) }
        let fd = open(path, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else {
            let error = failure("open")
            _ = held.withLock { $0.remove(key) }
            throw error
        }
        var lock = flock()
        lock.l_type = Int16(F_WRLCK)
        lock.l_whence = Int16(SEEK_SET)
        lock.l_start = 0
        lock.l_len = 0  // the whole file
        guard fcntl(fd, F_SETLK, &lock) == 0 else {
            let code = errno
            close(fd)
            _ = held.withLock { $0.remove(key) }
            if code == EAGAIN || code == EACCES { throw SyncFolderError.busy(folder: folder) }
            throw StoreError.system(SystemCallError(code: code, operation: "fcntl(F_SETLK)", path: path))
        }
        return FolderGuard(descriptor: fd, key: key)
    }

    /// Releases the guard: the record lock goes with the descriptor, then the claim in this process.
    func release() {
        close(descriptor)
        _ = Self.held.withLock { $0.remove(key) }
    }
}
