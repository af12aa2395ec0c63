import Foundation
import Hummingbird
import ModVaultCore
import ModVaultRemoteSupport
import ModVaultRemoteDisk

/// `serve --peer`: the repository, read-only, in the layout the HTTP remote reads, under
/// `/peer/<token>/`, so a teammate on the same network can `clone`, `pull` or `mirror` from this
/// machine with no server in between. Only repository objects are served (config, key slots, packs,
/// index files, snapshots, and a manifest listing them, made on request); local files such as the
/// cache and the names of remotes never are. Byte ranges are honoured.
extension WebServer {
    func peer(_ request: Request, token: String, path: String) async throws -> Response {
        guard let expected = configuration.peerToken, WebSessions.constantTimeEqual(token, expected) else {
            return Response(status: .notFound)
        }
        let disk = DiskRemote(path: model.repository.path)
        if path == RemoteManifest.objectName.relativePath {
            let manifest = try await RemoteManifest.build(from: disk).encoded()
            return Self.bytes(manifest, request: request, size: Int64(manifest.count), range: nil)
        }
        guard let name = RemoteLayout.objectName(forRelativePath: path), name.kind != .lock, name.kind != .push,
              name.kind != .config || name == .config else {
            return Response(status: .notFound)
        }
        guard let size = try await disk.stat(name) else { return Response(status: .notFound) }
        var range: Range<Int64>? = nil
        if let header = request.headers[.range] {
            guard let parsed = Self.byteRange(header, size: size) else {
                return Response(status: .rangeNotSatisfiable, headers: [.contentRange: "bytes */\(size)"])
            }
            range = parsed
        }
        let bytes = request.method == .head ? [] : try await disk.load(name, range: range)
        return Self.bytes(bytes, request: request, size: size, range: range)
    }

    static func bytes(_ bytes: [UInt8], request: Request, size: Int64, range: Range<Int64>?) -> Response {
        var headers: HTTPFields = [.contentType: "application/octet-stream", .acceptRanges: "bytes"]
        if let range {
            headers[.contentRange] = "bytes \(range.lowerBound)-\(range.upperBound - 1)/\(size)"
        }
        headers[.contentLength] = String(range.map { $0.count } ?? Int(size))
        let body: ResponseBody = request.method == .head ? .init() : .init(byteBuffer: ByteBuffer(bytes: bytes))
        return Response(status: range == nil ? .ok : .partialContent, headers: headers, body: body)
    }

    /// One range of `bytes=A-B`, `bytes=A-` or `bytes=-N` within `size`, or nil.
    static func byteRange(_ header: String, size: Int64) -> Range<Int64>? {
        guard header.hasPrefix("bytes="), !header.contains(",") else { return nil }
        let spec = header.dropFirst(6).split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        guard spec.count == 2 else { return nil }
        if spec[0].isEmpty {
            guard let n = Int64(spec[1]), n > 0 else { return nil }
            return max(0, size - n)..<size
        }
        guard let start = Int64(spec[0]), start < size else { return nil }
        let end = spec[1].isEmpty ? size - 1 : min(Int64(spec[1]) ?? -1, size - 1)
        guard end >= start else { return nil }
        return start..<(end + 1)
    }
}
