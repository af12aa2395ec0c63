import Foundation
public import ModVaultCore
public import ModVaultStore
public import ModVaultFormats
import ModVaultCrypto

/// Writes files stored as archive blobs (Docs/FORMAT.md §8b): the one place that turns a base file and
/// a plan back into bytes, for restore, sync, mirror, check and diff alike.
public enum ArchiveFiles {
    /// Rebuilds the file `blob` describes into `output` (written by position from offset 0), reading its
    /// base through `base`, then reads the result back through `readBack` and accepts it only if its
    /// size and SHA-256 are the blob's. Returns the size. Errors name `label` and exit 4.
    public static func write(_ blob: ArchiveBlob, base: some RangeReader, into output: OpenFile, readBack: OpenFile,
                             engine: RecipeEngine, label: String) throws -> Int64 {
        guard base.size == blob.baseSize else {
            throw StoreError.corruptObject(path: label, reason: "its base holds \(base.size) bytes, the archive blob records \(blob.baseSize)")
        }
        let size: UInt64
        do {
            size = try BA2Repack.rebuild(base: base, plan: blob.plan, engine: engine, path: label) { offset, bytes in
                // The plan may claim more than the blob records; nothing is written past that size.
                guard offset <= blob.size, UInt64(bytes.count) <= blob.size - offset else {
                    throw StoreError.corruptObject(path: label, reason: "the rebuilt archive is longer than the \(blob.size) bytes recorded")
                }
                try output.write(bytes, at: Int64(offset))
            }
        } catch let e as StoreError {
            throw e
        } catch let e as SystemCallError {
            throw e
        } catch {
            throw StoreError.corruptObject(path: label, reason: "cannot rebuild the archive: \(error)")
        }
        guard size == blob.size else {
            throw StoreError.corruptObject(path: label, reason: "the rebuilt archive has \(size) bytes, the archive blob records \(blob.size)")
        }
        guard try digest(of: readBack, size: size) == blob.digest else {
            throw StoreError.corruptObject(path: label, reason: "the rebuilt archive does not match its SHA-256")
        }
        return Int64(size)
    }

    /// The file `handle` names rebuilt from `repository` into `output`, as `write` does; the base is
    /// read through the repository's index.
    public static func write(_ handle: BlobHandle, repository: Repository, into output: OpenFile, readBack: OpenFile,
                             label: String) throws -> Int64 {
        let blob = try repository.loadArchive(handle.id)
        let base = try SnapshotFileReader(repository: repository, content: blob.base, size: blob.baseSize, path: label)
        return try write(blob, base: base, into: output, readBack: readBack, engine: RecipeEngine(), label: label)
    }

    /// SHA-256 of the first `size` bytes of `file`, read in 1 MiB windows.
    static func digest(of file: OpenFile, size: UInt64) throws -> ObjectID {
        let stream = DigestStream.sha256()
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var position: UInt64 = 0
        while position < size {
            let count = Int(min(UInt64(buffer.count), size - position))
            let n = try buffer.withUnsafeMutableBytes { try file.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[0..<count]), at: Int64(position)) }
            guard n == count else { throw SystemCallError(code: EIO, operation: "short read", path: file.path) }
            buffer.withUnsafeBytes { stream.update(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
            position += UInt64(count)
        }
        return ObjectID(bytes: stream.finish())!
    }
}
