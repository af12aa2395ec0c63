import Foundation
public import ModVaultCore
public import ModVaultStore
public import ModVaultFormats

/// Reads a file stored in a snapshot as if it were on disk, loading only the chunks a read touches.
///
/// A file stored as an archive blob (a repack, §8b) is rebuilt once into an unlinked scratch file
/// and read from there.
public final class SnapshotFileReader: RangeReader, @unchecked Sendable {
    private let repository: Repository
    private let content: [BlobHandle]
    private let starts: [UInt64]
    private let rebuiltFile: FileRangeReader?
    /// Where each content piece (a data blob or a whole stream) starts in the file, in order.
    public var pieceOffsets: [UInt64] { starts }
    /// The file's size.
    public let size: UInt64
    private var cached: (index: Int, bytes: [UInt8])?
    private lazy var rebuilder = StreamRebuilder(repository: repository)

    /// A reader over `node`'s content.
    public init(repository: Repository, node: TreeNode) throws {
        self.repository = repository
        if let archive = node.content.archive {
            let scratch = try OpenFile.anonymous(in: FileManager.default.temporaryDirectory.path)
            let written = try ArchiveFiles.write(archive, repository: repository, into: scratch, readBack: scratch, label: node.name)
            guard written == node.size else {
                throw StoreError.corruptObject(path: node.name, reason: "its content holds \(written) bytes, the snapshot records \(node.size)")
            }
            rebuiltFile = try FileRangeReader(file: scratch)
            content = []
            starts = []
            size = UInt64(written)
            return
        }
        (content, starts, size) = try Self.pieces(try repository.contentHandles(node, path: node.name), repository: repository, path: node.name)
        rebuiltFile = nil
    }

    /// A reader over `content` of `size` bytes (data and stream blobs only: the base of an archive blob).
    public init(repository: Repository, content fileContent: FileContent, size declared: UInt64, path: String) throws {
        self.repository = repository
        let handles: [BlobHandle]
        if let inline = fileContent.inlineHandles { handles = inline } else {
            do {
                handles = try ContentListWalk.expand(fileContent, size: Int64(clamping: declared)) { try repository.loadList($0) }
            } catch let e as ContentListError {
                throw StoreError.corruptObject(path: path, reason: "content list: \(e.reason)")
            }
        }
        (content, starts, size) = try Self.pieces(handles, repository: repository, path: path)
        rebuiltFile = nil
    }

    private static func pieces(_ handles: [BlobHandle], repository: Repository, path: String) throws -> ([BlobHandle], [UInt64], UInt64) {
        var starts: [UInt64] = []
        var offset: UInt64 = 0
        for handle in handles {
            starts.append(offset)
            switch handle.type {
            case .stream:
                offset += try repository.loadStream(handle.id).originalLength
            case .data:
                guard let l = try repository.index.location(of: handle) else { throw StoreError.blobNotIndexed(handle) }
                offset += UInt64(l.rawLength)
            case .archive, .tree, .list:
                throw StoreError.corruptObject(path: path, reason: "content names \(handle) among other blobs")
            }
        }
        return (handles, starts, offset)
    }

    /// Exactly `count` bytes at `offset`.
    public func read(offset: UInt64, count: Int) throws -> [UInt8] {
        if let rebuiltFile { return try rebuiltFile.read(offset: offset, count: count) }
        guard count >= 0, offset <= size, UInt64(count) <= size - offset else {
            throw FormatError(path: "snapshot file", cause: .endOfData(what: "range", offset: offset, needed: UInt64(max(0, count)), available: size - min(size, offset)))
        }
        var out: [UInt8] = []
        out.reserveCapacity(count)
        var position = offset
        let end = offset + UInt64(count)
        while position < end {
            // Binary search for the piece holding `position`.
            var lo = 0, hi = starts.count - 1
            while lo < hi {
                let mid = (lo + hi + 1) / 2
                if starts[mid] <= position { lo = mid } else { hi = mid - 1 }
            }
            let chunk = try load(lo)
            let inChunk = Int(position - starts[lo])
            let take = min(chunk.count - inChunk, Int(end - position))
            out.append(contentsOf: chunk[inChunk..<(inChunk + take)])
            position += UInt64(take)
        }
        return out
    }

    /// The content of a stream the file holds decompressed, found without recompressing it.
    public func decompressedStream(offset: UInt64, count: Int, rawSize: UInt64) -> [UInt8]? {
        guard let index = starts.firstIndex(of: offset), content[index].type == .stream,
              let stream = try? repository.loadStream(content[index].id), stream.originalLength == UInt64(count),
              let decompressed = try? rebuilder.decompressedContent(of: stream, id: content[index].id),
              decompressed.count == Int(rawSize) else { return nil }
        return decompressed
    }

    private func load(_ index: Int) throws -> [UInt8] {
        if let cached, cached.index == index { return cached.bytes }
        var bytes: [UInt8] = []
        let handle = content[index]
        if handle.type == .stream {
            bytes = try rebuilder.withRebuilt(handle.id) { Array($0) }
        } else {
            try repository.loadBlob(handle, into: &bytes)
        }
        cached = (index, bytes)
        return bytes
    }
}

/// What changed inside one BA2, plugin or DDS file between two snapshots.
public enum FormatChange: Sendable, Codable {
    /// Members added, removed, changed or repacked.
    case ba2(BA2Diff)
    /// Records added, removed and changed; header, flag and master changes.
    case plugin(PluginDiff)
    /// Dimension, format and mip changes.
    case dds(DDSDiff)

    private enum Key: String, CodingKey { case ba2, plugin, dds }

    /// Encodes as `{"ba2": …}`, `{"plugin": …}` or `{"dds": …}`: one stable key per format.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Key.self)
        switch self {
        case .ba2(let d): try c.encode(d, forKey: .ba2)
        case .plugin(let d): try c.encode(d, forKey: .plugin)
        case .dds(let d): try c.encode(d, forKey: .dds)
        }
    }

    /// Decodes what `encode` writes.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: Key.self)
        if let d = try c.decodeIfPresent(BA2Diff.self, forKey: .ba2) { self = .ba2(d) }
        else if let d = try c.decodeIfPresent(PluginDiff.self, forKey: .plugin) { self = .plugin(d) }
        else { self = .dds(try c.decode(DDSDiff.self, forKey: .dds)) }
    }
}

/// Compares two versions of a structured file.
public enum FormatDiffer {
    /// The structural diff of two versions of `path`, or nil when the file is not a format ModVault
    /// understands or either version fails to parse.
    public static func diff(path: String, old: TreeNode, new: TreeNode, repository: Repository) throws -> FormatChange? {
        let a = try SnapshotFileReader(repository: repository, node: old)
        let b = try SnapshotFileReader(repository: repository, node: new)
        let kind = FormatSegmenter.detect(b)
        guard kind == FormatSegmenter.detect(a) else { return nil }
        do throws(FormatError) {
            switch kind {
            case .ba2General, .ba2Textures:
                let oldArchive = try BA2Archive.parse(a, path: path), newArchive = try BA2Archive.parse(b, path: path)
                // Content fingerprints see through repacks at another zlib level or by another tool.
                let oldPrints = try? ContentFingerprint.ba2Members(oldArchive, reader: a, path: path)
                let newPrints = try? ContentFingerprint.ba2Members(newArchive, reader: b, path: path)
                return .ba2(FormatDiff.ba2(old: oldArchive, new: newArchive, oldFingerprints: oldPrints, newFingerprints: newPrints))
            case .plugin:
                return .plugin(FormatDiff.plugin(old: try PluginFile.parse(a, path: path), new: try PluginFile.parse(b, path: path)))
            case .dds:
                return .dds(FormatDiff.dds(old: try DDSTexture.parse(a, path: path), new: try DDSTexture.parse(b, path: path)))
            case .opaque:
                return nil
            }
        } catch {
            return nil
        }
    }
}

extension FormatChange {
    /// One line per change, as `modvault diff` and the web UI's diff page show them.
    public var lines: [String] {
        func fields(_ f: [FieldChange]) -> String { f.map { "\($0.field) \($0.old) -> \($0.new)" }.joined(separator: ", ") }
        var lines: [String] = []
        switch self {
        case .ba2(let d):
            if !d.archive.isEmpty { lines.append("archive: " + fields(d.archive)) }
            lines += d.added.map { "+ \($0.path)" }
            lines += d.removed.map { "- \($0.path)" }
            lines += d.changed.map { "M \($0.path)" + ($0.changes.isEmpty ? "" : " (\(fields($0.changes)))") }
            lines += d.repacked.map { "R \($0.path) (same content, stored differently)" }
            lines.append("\(d.added.count) members added, \(d.removed.count) removed, \(d.changed.count) changed, \(d.repacked.count) repacked, \(d.unchanged) unchanged")
        case .plugin(let d):
            if !d.header.isEmpty { lines.append("header: " + fields(d.header)) }
            if let f = d.flags { lines.append("flags: \(f.old) -> \(f.new)") }
            if let m = d.masters { lines.append("masters: \(m.old.joined(separator: ", ")) -> \(m.new.joined(separator: ", "))") }
            func record(_ r: PluginRecordSummary) -> String { "\(r.type) \(r.formID)" + (r.editorID.map { " \($0)" } ?? "") }
            lines += d.added.map { "+ " + record($0) }
            lines += d.removed.map { "- " + record($0) }
            lines += d.changed.map { "M " + record($0.record) + ($0.changes.isEmpty ? "" : " (\(fields($0.changes)))") }
            lines.append("\(d.added.count) records added, \(d.removed.count) removed, \(d.changed.count) changed, \(d.unchanged) unchanged")
        case .dds(let d):
            lines.append(d.changes.isEmpty ? "texture data changed; same dimensions, format and mips" : fields(d.changes))
        }
        return lines
    }
}
