import Glibc
public import ModVaultCore

/// Follows changes below a folder with inotify, for `sync --watch`. Every folder is watched (new ones
/// as they appear), except sync's own `.modvault` folder and its temporaries.
public final class FolderWatcher {
    private let descriptor: Int32
    private let root: String
    private var folders: [Int32: String] = [:]

    /// Starts watching `root` and every folder below it.
    public init(root: String) throws {
        self.root = root
        descriptor = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard descriptor >= 0 else { throw SystemCallError(code: errno, operation: "inotify_init1", path: root) }
        try add(root)
    }

    deinit { close(descriptor) }

    private static let mask = UInt32(IN_CLOSE_WRITE | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_MODIFY | IN_ATTRIB | IN_DELETE_SELF)
        | UInt32(IN_DONT_FOLLOW)

    private func add(_ folder: String) throws {
        let wd = inotify_add_watch(descriptor, folder, Self.mask)
        if wd < 0 {
            // A folder removed while being added is simply gone; running out of watches is worth saying.
            if errno == ENOENT || errno == ENOTDIR { return }
            throw SystemCallError(code: errno, operation: "inotify_add_watch (raise fs.inotify.max_user_watches)", path: folder)
        }
        folders[wd] = folder
        for name in (try? FileSystem.list(folder)) ?? [] {
            if folder == root, name == FolderSyncState.folderName { continue }
            let path = folder + "/" + name
            if let st = try? FileSystem.status(path), st.type == .directory { try add(path) }
        }
    }

    /// Reads pending events; true when any concerns the folder's content. New folders are watched from now on.
    private func drain() throws -> Bool {
        var changed = false
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EAGAIN || errno == EINTR { return changed }
                throw SystemCallError(code: errno, operation: "read inotify events", path: root)
            }
            if n == 0 { return changed }
            var offset = 0
            while offset + MemoryLayout<inotify_event>.size <= n {
                let (wd, mask, length) = buffer.withUnsafeBytes { raw -> (Int32, UInt32, Int) in
                    let event = raw.loadUnaligned(fromByteOffset: offset, as: inotify_event.self)
                    return (event.wd, event.mask, Int(event.len))
                }
                let nameStart = offset + MemoryLayout<inotify_event>.size
                let nameBytes = buffer[nameStart..<min(n, nameStart + length)].prefix { $0 != 0 }
                let name = String(decoding: nameBytes, as: UTF8.self)
                offset = nameStart + length
                guard let folder = folders[wd] else { continue }
                if mask & UInt32(IN_IGNORED) != 0 { folders[wd] = nil; continue }
                if folder == root, name == FolderSyncState.folderName { continue }
                if name.hasPrefix(FolderSyncState.temporaryPrefix) { continue }
                changed = true
                if mask & UInt32(IN_ISDIR) != 0, mask & UInt32(IN_CREATE | IN_MOVED_TO) != 0 { try add(folder + "/" + name) }
            }
        }
    }

    /// Waits up to `timeout` seconds for a change; once one comes, waits on until the folder has been
    /// quiet for `quiet` seconds, so a file being written is not synced half-way. Returns whether
    /// anything changed; returns early (false) when `stop` turns true.
    public func wait(timeout: Double, quiet: Double, stop: () -> Bool) throws -> Bool {
        let deadline = monotonicSeconds() + timeout
        var changed = false
        var lastChange = 0.0
        while !stop() {
            let now = monotonicSeconds()
            if changed, now - lastChange >= quiet { return true }
            if !changed, now >= deadline { return false }
            let until = changed ? lastChange + quiet : deadline
            var pfd = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            let ms = Int32(max(1, min(250, (until - now) * 1000)))
            let ready = poll(&pfd, 1, ms)
            if ready > 0, try drain() {
                changed = true
                lastChange = monotonicSeconds()
            }
        }
        return false
    }
}
