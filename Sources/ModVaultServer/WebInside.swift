import Foundation
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

extension WebModel {
    /// Rows of a plugin shown per page.
    static let pageSize = 2000

    /// The inside of file `path` of snapshot `reference`: in an archive, the members and subfolders
    /// of `folder` (a path inside the archive, "" for its top); in a plugin, records from `offset`.
    public func inside(_ reference: String, path: String, folder: String = "", offset: Int = 0) throws -> InsideListing {
        let node = try file(reference, path: path)
        let reader = try SnapshotFileReader(repository: repository, node: node)
        do throws(FormatError) {
            switch FormatSegmenter.detect(reader) {
            case .ba2General, .ba2Textures:
                return archive(try BA2Archive.parse(reader, path: path), folder: folder)
            case .plugin:
                let plugin = try PluginFile.parse(reader, path: path)
                var facts = ["\(plugin.records.count) records, \(plugin.groups.count) groups"]
                if !plugin.header.masters.isEmpty { facts.append("masters: " + plugin.header.masters.joined(separator: ", ")) }
                let flags = PluginHeader.flagNames(plugin.header.flags)
                if !flags.isEmpty { facts.append("flags: " + flags.joined(separator: ", ")) }
                let start = max(0, min(offset, plugin.records.count))
                let rows = plugin.records[start..<min(plugin.records.count, start + Self.pageSize)].map { r in
                    InsideListing.Row(name: String(format: "0x%08X", r.formID), size: Int64(r.decompressedSize ?? r.dataSize),
                                      detail: r.signature + (r.editorID.map { " " + $0 } ?? ""))
                }
                return InsideListing(format: "plugin", facts: facts, folders: [], rows: rows, total: plugin.records.count)
            case .dds:
                let t = try DDSTexture.parse(reader, path: path)
                let facts = ["\(t.width) × \(t.height), \(t.formatName), \(t.mipCount) mips" + (t.isCubemap ? ", cubemap" : "")
                             + (t.arraySize > 1 ? ", \(t.arraySize) layers" : "")]
                return InsideListing(format: "dds", facts: facts, folders: [], rows: [], total: 0)
            case .opaque:
                return InsideListing(format: "opaque", facts: ["not an archive, plugin or texture ModVault reads"], folders: [], rows: [], total: 0)
            }
        } catch {
            throw WebError.badRequest("\(path): \(error)")
        }
    }

    private func archive(_ ba2: BA2Archive, folder: String) -> InsideListing {
        let prefix = folder.isEmpty ? "" : folder.lowercased() + "/"
        var folders: [String: Int] = [:]
        var rows: [InsideListing.Row] = []
        for (i, entry) in ba2.entries.enumerated() {
            let name = entry.nameBytes.map { BA2Path.decode($0).replacingOccurrences(of: "\\", with: "/") } ?? "#\(i)"
            guard name.lowercased().hasPrefix(prefix) else { continue }
            let rest = name.dropFirst(prefix.count)
            if let slash = rest.firstIndex(of: "/") {
                folders[String(rest[..<slash]), default: 0] += 1
                continue
            }
            let size = entry.chunks.reduce(Int64(0)) { $0 + Int64($1.unpackedSize == 0 ? $1.packedSize : $1.unpackedSize) }
            let detail = entry.texture.map { "\($0.width) × \($0.height), \(DXGI.name(UInt32($0.dxgiFormat))), \($0.mipCount) mips" } ?? ""
            rows.append(.init(name: String(rest), size: size, detail: detail))
        }
        let facts = ["\(ba2.type == .textures ? "texture" : "general") archive, version \(ba2.version), \(ba2.entries.count) members"]
        return InsideListing(format: "ba2", facts: facts,
                             folders: folders.sorted { $0.key.lowercased() < $1.key.lowercased() }.map { .init(name: $0.key, members: $0.value) },
                             rows: rows.sorted { $0.name.lowercased() < $1.name.lowercased() }, total: rows.count)
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
