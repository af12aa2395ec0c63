#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
public import ModVaultCore
import ModVaultRemoteSupport

/// A remote in a folder (a mounted NAS, a USB drive), laid out exactly like a local repository.
///
/// Writes are atomic: a temporary file in the destination folder, fsync, then rename (or `link` for
/// create-if-absent, which fails when the name exists), then fsync of the folder.
public struct DiskRemote: Remote {
    /// The folder's absolute path.
    public let path: String

    /// A remote in the folder at `path` (made absolute); nothing is touched until the first operation.
    public init(path: String) {
        self.path = FileSystem.absolute(path)
    }

    /// The folder's path.
    public var location: String { path }

    /// Always true: `link` refuses an existing name atomically.
    public var supportsCreateIfAbsent: Bool { get async { true } }

    /// Creates the folder (and missing parents) so objects can be saved; an existing folder is fine.
    public func createFolder() throws {
        do {
            try FileSystem.makeDirectories(path)
        } catch let error as SystemCallError {
            throw self.error(error, object: nil)
        }
    }

    /// Writes `data` atomically; with `ifAbsent`, fails with `.alreadyExists` if the name is taken.
    public func save(_ name: ObjectName, data: [UInt8], ifAbsent: Bool) async throws {
        try RemoteLayout.validate(name, location: location)
        try requireFolder()
        let target = filePath(name)
        let folder = FileSystem.parentPath(target)
        do {
            try FileSystem.makeDirectories(folder)
            if !ifAbsent {
                try FileSystem.writeAtomically(target, bytes: data)
                return
            }
            let temp = "\(folder)/.tmp-\(name.name)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            do {
                let file = try OpenFile.create(temp, mode: 0o600)
                try file.write(data)
                try file.sync()
                guard fchmod(file.descriptor, 0o444) == 0 else {
                    throw SystemCallError(code: errno, operation: "chmod", path: temp)
                }
            } catch {
                unlink(temp)
                throw error
            }
            // link() never replaces an existing name, which rename() would.
            let linked = link(temp, target)
            let linkErrno = errno
            unlink(temp)
            if linked != 0 {
                if linkErrno == EEXIST { throw RemoteError(.alreadyExists, location: location, name: name) }
                throw SystemCallError(code: linkErrno, operation: "link", path: target)
            }
            try FileSystem.syncDirectory(folder)
        } catch let error as SystemCallError {
            throw self.error(error, object: name.relativePath)
        }
    }

    /// Reads the object or `range` of it.
    public func load(_ name: ObjectName, range: Range<Int64>?) async throws -> [UInt8] {
        try RemoteLayout.validate(name, location: location)
        do {
            let file = try OpenFile.openForReading(filePath(name), noFollow: true)
            let size = try file.status().size
            let wanted = range ?? 0..<size
            guard wanted.lowerBound >= 0, wanted.upperBound <= size else {
                throw RemoteError(.invalidRange, location: location, name: name,
                                  detail: "\(HTTPSupport.rangeHeader(wanted)) of a \(size)-byte object")
            }
            guard range != nil || size <= name.kind.maximumObjectLength else {
                throw RemoteError(.unexpectedResponse, location: location, name: name,
                                  detail: "\(size) bytes, more than the \(name.kind.maximumObjectLength) a \(name.kind.rawValue) object may hold")
            }
            return try file.read(count: Int(wanted.count), at: wanted.lowerBound)
        } catch let error as SystemCallError {
            if error.code == ENOENT || error.code == ENOTDIR {
                try requireFolder()
                throw RemoteError(.notFound, location: location, name: name)
            }
            throw self.error(error, object: name.relativePath)
        }
    }

    /// The object's size, or nil when it does not exist.
    public func stat(_ name: ObjectName) async throws -> Int64? {
        try RemoteLayout.validate(name, location: location)
        do {
            let status = try FileSystem.status(filePath(name))
            return status.type == .regular ? status.size : nil
        } catch let error as SystemCallError {
            if error.code == ENOENT || error.code == ENOTDIR { return nil }
            throw self.error(error, object: name.relativePath)
        }
    }

    /// Lists objects of `kind` in name order after `after`; temporary and foreign files are skipped.
    public func list(_ kind: FileKind, after: String?, limit: Int) async throws -> [RemoteEntry] {
        try RemoteLayout.validateCursor(after, location: location)
        try requireFolder()
        guard limit > 0 else { return [] }
        do {
            var out: [RemoteEntry] = []
            if kind == .pack {
                let base = "\(path)/\(FileKind.pack.rawValue)"
                guard FileSystem.isDirectory(base) else { return [] }
                let afterFolder = after.map { String($0.prefix(2)) }
                for folder in try FileSystem.list(base) where folder.utf8.count == 2 {
                    if let afterFolder, RemoteLayout.precedes(folder, afterFolder) { continue }
                    try collect(kind, folder: "\(base)/\(folder)", after: after, limit: limit, into: &out) { entry in
                        entry.name.name.hasPrefix(folder)
                    }
                    if out.count >= limit { break }
                }
            } else {
                let folder = kind == .config ? path : "\(path)/\(kind.rawValue)"
                guard FileSystem.isDirectory(folder) else { return [] }
                try collect(kind, folder: folder, after: after, limit: limit, into: &out) { _ in true }
            }
            return out
        } catch let error as SystemCallError {
            throw self.error(error, object: RemoteLayout.folder(of: kind))
        }
    }

    /// Deletes the object; a missing one is not an error.
    public func remove(_ name: ObjectName) async throws {
        try RemoteLayout.validate(name, location: location)
        let target = filePath(name)
        guard unlink(target) == 0 || errno == ENOENT || errno == ENOTDIR else {
            throw self.error(SystemCallError(code: errno, operation: "remove", path: target), object: name.relativePath)
        }
    }

    /// The absolute path of an object.
    public func filePath(_ name: ObjectName) -> String { "\(path)/\(name.relativePath)" }

    private func collect(
        _ kind: FileKind, folder: String, after: String?, limit: Int, into out: inout [RemoteEntry],
        accept: (RemoteEntry) -> Bool
    ) throws {
        for file in try FileSystem.list(folder) {
            if out.count >= limit { return }
            if let after, !RemoteLayout.precedes(after, file) { continue }
            let name = ObjectName(kind: kind, name: file)
            guard RemoteLayout.isValid(name) else { continue }
            guard let status = try? FileSystem.status("\(folder)/\(file)"), status.type == .regular else { continue }
            let entry = RemoteEntry(name: name, size: status.size)
            if accept(entry) { out.append(entry) }
        }
    }

    private func requireFolder() throws {
        guard FileSystem.isDirectory(path) else {
            throw RemoteError(.containerMissing, location: location, detail: "no such folder")
        }
    }

    private func error(_ error: SystemCallError, object: String?) -> RemoteError {
        let reason: RemoteError.Reason = error.code == EACCES || error.code == EPERM || error.code == EROFS ? .accessDenied : .io
        return RemoteError(reason, location: location, object: object, detail: "\(error.operation): \(error.reason)")
    }
}
