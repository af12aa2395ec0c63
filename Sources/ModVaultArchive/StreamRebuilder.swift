public import ModVaultCore
public import ModVaultStore
public import ModVaultFormats
public import ModVaultCrypto

/// Turns a stream blob back into the exact bytes of the stream it names, for one worker at a time.
///
/// The data blobs are concatenated; a recipe then recompresses them with the pinned zlib. The
/// result is accepted only if its content MAC equals the stream's ID (and, for a recipe, its
/// SHA-256 equals the recipe's), so a wrong rebuild is an error, never silently different bytes.
public final class StreamRebuilder {
    private let repository: Repository
    private var engine: RecipeEngine?
    private let plaintext = ScratchBuffer()
    private let scratch = BlobReadScratch()
    private var content: [UInt8] = []
    private var rebuilt: [UInt8] = []
    private var pack: (id: ObjectID, file: OpenFile)?

    /// Creates a rebuilder reading from `repository`.
    public init(repository: Repository) { self.repository = repository }

    /// Calls `body` with the stream's original bytes.
    public func withRebuilt<T>(_ id: ObjectID, _ body: (UnsafeRawBufferPointer) throws -> T) throws -> T {
        let stream = try repository.loadStream(id)
        try gatherContent(of: stream, id: id)
        let engine = self.engine ?? RecipeEngine()
        self.engine = engine
        try Self.rebuild(stream, id: id, content: content, into: &rebuilt, engine: engine, mac: repository.contentMAC)
        return try rebuilt.withUnsafeBytes(body)
    }

    /// The concatenated data blobs of `stream` (its decompressed content when it has a recipe),
    /// without recompressing anything.
    public func content(of stream: StreamBlob, id: ObjectID) throws -> [UInt8] {
        try gatherContent(of: stream, id: id)
        return content
    }

    private func gatherContent(of stream: StreamBlob, id: ObjectID) throws {
        let label = "stream \(id.short)"
        guard stream.contentLength <= FormatCuts.maximumStreamContent, stream.originalLength <= FormatCuts.maximumStreamContent else {
            throw StoreError.corruptObject(path: label, reason: "claims \(stream.contentLength) bytes of content")
        }
        content.removeAll(keepingCapacity: true)
        content.reserveCapacity(Int(stream.contentLength))
        for blob in stream.content {
            try load(BlobHandle(id: blob, type: .data))
            guard content.count + plaintext.count <= Int(stream.contentLength) else {
                throw StoreError.corruptObject(path: label, reason: "content is longer than the \(stream.contentLength) bytes it declares")
            }
            content.append(contentsOf: plaintext.bytes)
        }
        guard content.count == Int(stream.contentLength) else {
            throw StoreError.corruptObject(path: label, reason: "content has \(content.count) bytes, the stream declares \(stream.contentLength)")
        }
    }

    /// Turns a stream's concatenated `content` into its original bytes in `output`, and checks them
    /// against the stream's ID. Shared by restore, snapshot reads and mirror.
    public static func rebuild(_ stream: StreamBlob, id: ObjectID, content: [UInt8], into output: inout [UInt8],
                               engine: RecipeEngine, mac: ContentMAC) throws {
        let label = "stream \(id.short)"
        guard content.count == Int(stream.contentLength) else {
            throw StoreError.corruptObject(path: label, reason: "content has \(content.count) bytes, the stream declares \(stream.contentLength)")
        }
        switch stream.form {
        case .verbatim:
            output = content
        case .recipe(let encoded):
            let recipe: Recipe
            do { recipe = try Recipe(decoding: encoded) } catch {
                throw StoreError.corruptObject(path: label, reason: "\(error)")
            }
            do {
                try content.withUnsafeBytes { try engine.rebuild(recipe, decompressed: $0, into: &output) }
            } catch {
                throw StoreError.corruptObject(path: label, reason: "cannot rebuild the compressed stream: \(error)")
            }
        }
        let matches = output.withUnsafeBytes { mac.id($0) == id }
        guard matches, output.count == Int(stream.originalLength) else {
            throw StoreError.corruptObject(path: label, reason: "rebuilt bytes do not match the stream's ID")
        }
    }

    private func load(_ handle: BlobHandle) throws {
        guard let location = try repository.index.location(of: handle) else { throw StoreError.blobNotIndexed(handle) }
        if pack?.id != location.pack {
            let path = repository.filePath(ObjectName(kind: .pack, id: location.pack))
            pack = (location.pack, try storeIO(missing: path) { try OpenFile.openForReading(path) })
        }
        try repository.loadBlob(handle, at: location, into: plaintext, scratch: scratch, file: pack?.file)
    }
}
