import Foundation
import Synchronization
import Hummingbird
import ModVaultCore
import ModVaultStore
import ModVaultArchive
import ModVaultFormats

/// What is inside one file of a snapshot: an archive's members (one folder of the archive at a time,
/// so an archive of 100,000 members opens as fast as its folder listing), a plugin's records, a
/// texture's size, format and mips. Read through the snapshot, never from a folder on disk.
public struct InsideListing: Codable, Sendable, Equatable {
    /// `ba2`, `plugin`, `dds` or `opaque`.
    public var format: String
    /// One-line facts (archive type and member count; plugin flags and masters; texture size and format).
    public var facts: [String]
    /// Subfolders of `folder` inside an archive, with how many members each holds.
    public var folders: [FolderCount]
    /// Rows: archive members of `folder`, or plugin records (a page of them).
    public var rows: [Row]
    /// Rows in all (records of the plugin, members of the folder), for paging.
    public var total: Int

    /// A folder inside an archive.
    public struct FolderCount: Codable, Sendable, Equatable {
        public var name: String
        public var members: Int
    }

    /// One member or record.
    public struct Row: Codable, Sendable, Equatable {
        /// Member file name, or record FormID.
        public var name: String
        /// Member size, or record data size.
        public var size: Int64
        /// Texture dimensions and format, or record type and EditorID.
        public var detail: String
    }
}

/// Parsed files kept for the pages that list their inside: a snapshot never changes, so a file's
/// listing (by snapshot and path) is parsed once and then each folder or page of it is a lookup.
public final class InsideCache: Sendable {
    /// One parsed file: its format, facts, and every row sorted (members by lowercase name).
    struct Parsed: Sendable {
        var format: String
        var facts: [String]
        /// Archive members: path inside the archive, lowercased path, size, texture detail.
        var members: [(path: String, key: String, size: Int64, detail: String)]
        var records: [InsideListing.Row]
    }
    private let entries = Mutex<[(key: String, value: Parsed)]>([])
    private let capacity: Int

    /// A cache of the last `capacity` files.
    public init(capacity: Int = 8) { self.capacity = capacity }

    func value(_ key: String, make: () throws -> Parsed) throws -> Parsed {
        if let hit = entries.withLock({ e in e.first { $0.key == key }?.value }) { return hit }
        let parsed = try make()
        entries.withLock { e in
            e.removeAll { $0.key == key }
            e.append((key, parsed))
            if e.count > capacity { e.removeFirst(e.count - capacity) }
        }
        return parsed
    }
}

extension WebModel {
    /// Rows of a plugin shown per page.
    static let pageSize = 2000

    /// The inside of file `path` of snapshot `reference`: in an archive, the members and subfolders
    /// of `folder` (a path inside the archive, "" for its top); in a plugin, records from `offset`.
    public func inside(_ reference: String, path: String, folder: String = "", offset: Int = 0) throws -> InsideListing {
        let record = try snapshot(reference)
        let parsed = try cache.value(record.id.hex + "/" + path) { try parse(record.id.hex, path: path) }
        switch parsed.format {
        case "ba2":
            let prefix = folder.isEmpty ? "" : folder.lowercased() + "/"
            var folders: [String: (name: String, count: Int)] = [:]
            var rows: [InsideListing.Row] = []
            for m in parsed.members where m.key.hasPrefix(prefix) {
                let rest = m.path.dropFirst(prefix.count)
                if let slash = rest.firstIndex(of: "/") {
                    let name = String(rest[..<slash])
                    folders[name.lowercased(), default: (name, 0)].count += 1
                } else {
                    rows.append(.init(name: String(rest), size: m.size, detail: m.detail))
                }
            }
            return InsideListing(format: "ba2", facts: parsed.facts,
                                 folders: folders.sorted { $0.key < $1.key }.map { .init(name: $0.value.name, members: $0.value.count) },
                                 rows: rows, total: rows.count)
        case "plugin":
            let start = max(0, min(offset, parsed.records.count))
            return InsideListing(format: "plugin", facts: parsed.facts, folders: [],
                                 rows: Array(parsed.records[start..<min(parsed.records.count, start + Self.pageSize)]), total: parsed.records.count)
        default:
            return InsideListing(format: parsed.format, facts: parsed.facts, folders: [], rows: [], total: 0)
        }
    }

    private func parse(_ reference: String, path: String) throws -> InsideCache.Parsed {
        let node = try file(reference, path: path)
        let reader = try SnapshotFileReader(repository: repository, node: node)
        do throws(FormatError) {
            switch FormatSegmenter.detect(reader) {
            case .ba2General, .ba2Textures:
                let ba2 = try BA2Archive.parse(reader, path: path)
                var members: [(path: String, key: String, size: Int64, detail: String)] = []
                members.reserveCapacity(ba2.entries.count)
                for (i, entry) in ba2.entries.enumerated() {
                    let name = entry.nameBytes.map { BA2Path.decode($0).replacingOccurrences(of: "\\", with: "/") } ?? "#\(i)"
                    let size = entry.chunks.reduce(Int64(0)) { $0 + Int64($1.unpackedSize == 0 ? $1.packedSize : $1.unpackedSize) }
                    let detail = entry.texture.map { "\($0.width) × \($0.height), \(DXGI.name(UInt32($0.dxgiFormat))), \($0.mipCount) mips" } ?? ""
                    members.append((name, name.lowercased(), size, detail))
                }
                // Sorted once on a precomputed key: comparing lowercased copies would redo them for every comparison.
                members.sort { $0.key < $1.key }
                let facts = ["\(ba2.type == .textures ? "texture" : "general") archive, version \(ba2.version), \(ba2.entries.count) members"]
                return .init(format: "ba2", facts: facts, members: members, records: [])
            case .plugin:
                let plugin = try PluginFile.parse(reader, path: path, digests: false)
                var facts = ["\(plugin.records.count) records, \(plugin.groups.count) groups"]
                if !plugin.header.masters.isEmpty { facts.append("masters: " + plugin.header.masters.joined(separator: ", ")) }
                let flags = PluginHeader.flagNames(plugin.header.flags)
                if !flags.isEmpty { facts.append("flags: " + flags.joined(separator: ", ")) }
                let rows = plugin.records.map { r in
                    InsideListing.Row(name: String(format: "0x%08X", r.formID), size: Int64(r.decompressedSize ?? r.dataSize),
                                      detail: r.signature + (r.editorID.map { " " + $0 } ?? ""))
                }
                return .init(format: "plugin", facts: facts, members: [], records: rows)
            case .dds:
                let t = try DDSTexture.parse(reader, path: path)
                let facts = ["\(t.width) × \(t.height), \(t.formatName), \(t.mipCount) mips" + (t.isCubemap ? ", cubemap" : "")
                             + (t.arraySize > 1 ? ", \(t.arraySize) layers" : "")]
                return .init(format: "dds", facts: facts, members: [], records: [])
            case .opaque:
                return .init(format: "opaque", facts: ["not an archive, plugin or texture ModVault reads"], members: [], records: [])
            }
        } catch {
            throw WebError.badRequest("\(path): \(error)")
        }
    }
}

extension WebServer {
    func insidePage(_ snapshot: String, path: String, folder: String, offset: Int, csrf: String?) throws -> Response {
        let record = try model.snapshot(snapshot)
        let listing = try model.inside(record.id.hex, path: path, folder: folder, offset: offset)
        let base = "/inside/\(record.id.hex)?path=\(HTML.query(path))"
        var body = "<p><a href=\"/browse/\(record.id.hex)\">\(record.id.short)</a> / \(HTML.escape(path))"
            + (folder.isEmpty ? "" : " / <a href=\"\(base)\">archive</a> / \(HTML.escape(folder))") + "</p>"
        body += listing.facts.map { "<p>\(HTML.escape($0))</p>" }.joined()
        if !listing.folders.isEmpty {
            body += "<table id=folders><tr><th>folder</th><th class=num>members</th></tr>"
            for f in listing.folders {
                let inner = folder.isEmpty ? f.name : folder + "/" + f.name
                body += "<tr><td><a href=\"\(base)&amp;folder=\(HTML.query(inner))\">\(HTML.escape(f.name))/</a></td><td class=num>\(f.members)</td></tr>"
            }
            body += "</table>"
        }
        if !listing.rows.isEmpty {
            let heads = listing.format == "plugin" ? "<th>FormID</th><th class=num>size</th><th>type and EditorID</th>"
                : "<th>member</th><th class=num>size</th><th>texture</th>"
            body += "<table id=inside><tr>\(heads)</tr>"
            for r in listing.rows {
                body += "<tr><td>\(HTML.escape(r.name))</td><td class=num>\(HTML.bytes(r.size))</td><td>\(HTML.escape(r.detail))</td></tr>"
            }
            body += "</table>"
            if listing.format == "plugin", offset + listing.rows.count < listing.total {
                body += "<p><a href=\"\(base)&amp;offset=\(offset + listing.rows.count)\">next \(WebModel.pageSize) records</a></p>"
            }
        }
        return WebResponse.html(HTML.page(title: "Inside \(path.split(separator: "/").last.map(String.init) ?? path)", csrf: csrf, body: body))
    }
}
