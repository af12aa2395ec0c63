import Foundation
import Glibc
import Testing
@testable import ModVaultSync

@Suite("folder guard")
struct FolderGuardTests {
    static func folder() throws -> String {
        let path = NSTemporaryDirectory() + "/modvault-guard-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func isBusy(_ body: () throws -> Void) -> Bool {
        do { try body() } catch SyncFolderError.busy { return true } catch { return false }
        return false
    }

    @Test func aSecondSyncOfTheFolderInThisProcessIsBusyUntilTheFirstEnds() throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let first = try FolderGuard.acquire(folder)
        #expect(Self.isBusy { _ = try FolderGuard.acquire(folder) })
        // The refused attempt must not have dropped the first guard's lock on its way out.
        #expect(Self.isBusy { _ = try FolderGuard.acquire(folder) })
        first.release()
        let again = try FolderGuard.acquire(folder)
        again.release()
    }

    /// A child forked while the guard was held shares its descriptor until the child's exec; the
    /// guard's release must still free the folder (it did not when the guard was a `flock`).
    @Test func aCopyOfTheDescriptorDoesNotKeepTheFolderBusy() throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let first = try FolderGuard.acquire(folder)
        let inherited = dup(first.descriptor)
        #expect(inherited >= 0)
        first.release()
        let second = try FolderGuard.acquire(folder)
        second.release()
        close(inherited)
    }

    @Test func anotherProcessHoldingTheLockMakesTheFolderBusy() throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try FolderGuard.acquire(folder).release()  // creates .modvault/lock
        let holder = Process(), input = Pipe(), output = Pipe()
        holder.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        holder.arguments = ["python3", "-c", """
            import fcntl, sys
            f = open(sys.argv[1], "r+")
            fcntl.lockf(f, fcntl.LOCK_EX)
            print("locked", flush=True)
            sys.stdin.read()
            """, folder + "/" + FolderSyncState.folderName + "/lock"]
        holder.standardInput = input
        holder.standardOutput = output
        try holder.run()
        let line = String(decoding: output.fileHandleForReading.availableData, as: UTF8.self)
        #expect(line.hasPrefix("locked"))
        #expect(Self.isBusy { _ = try FolderGuard.acquire(folder) })
        try input.fileHandleForWriting.close()
        holder.waitUntilExit()
        let after = try FolderGuard.acquire(folder)
        after.release()
    }
}
