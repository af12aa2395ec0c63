public import ModVaultCore
public import ModVaultStore
public import ModVaultFormats
public import ModVaultCrypto

// @unchecked Sendable: a rebuilder holds reusable buffers and an open pack, and pools hand it to one task at a time.
/// Turns a stream blob back into the exact bytes of the stream it names, for one worker at a time.
///
/// The data blobs are concatenated; a recipe then recompresses them with the pinned zlib. The
/// result is accepted only if its content MAC equals the stream's ID (and, for a recipe, its
/// SHA-256 equals the recipe's), so a wrong rebuild is an error, never silently different bytes.
public final class StreamRebuilder: @unchecked Sendable {
    private let repository: Repository
    private var engine: RecipeEngine?
    private let plaintext = ScratchBuffer()
    private let scratch = BlobReadScratch()
    private var content: [UInt8] = []
    private var rebuilt: [UInt8] = []
    private var pack: (id: ObjectID, file: OpenFile)?

    /// Creates a rebuilder reading from `repository`.
    public init(repository: Repository) { self.repository = repository }

    /// Calls `body` with the stream's original bytes. `verifyAll` also checks a verbatim stream's bytes
    /// against its ID (for `check`, which looks for writer bugs rather than tampering).
    public func withRebuilt<T>(_ id: ObjectID, verifyAll: Bool = false, _ body: (UnsafeRawBufferPointer) throws -> T) throws -> T {
        let stream = try repository.loadStream(id)
        try gatherContent(of: stream, id: id)
        let engine = self.engine ?? RecipeEngine()
        self.engine = engine
        try Self.rebuild(stream, id: id, content: content, into: &rebuilt, engine: engine, mac: repository.contentMAC, verifyAll: verifyAll)
        return try rebuilt.withUnsafeBytes(body)
    }

    /// The concatenated data blobs of `stream` (its decompressed content when it has a recipe form,
    /// a zlib stream for the inflate forms), without recompressing anything.
    public func content(of stream: StreamBlob, id: ObjectID) throws -> [UInt8] {
        try gatherContent(of: stream, id: id)
        return content
    }

    /// The decompressed content of a stream stored with a recipe (either recipe form), found without
    /// recompressing anything; nil for a stream stored without one.
    public func decompressedContent(of stream: StreamBlob, id: ObjectID) throws -> [UInt8]? {
        switch stream.form {
        case .recipe:
            return try content(of: stream, id: id)
        case .inflateThenRecipe(let encoded):
            guard let recipe = try? Recipe(decoding: encoded), recipe.rawSize <= FormatCuts.maximumStreamContent else { return nil }
            try gatherContent(of: stream, id: id)
            let engine = self.engine ?? RecipeEngine()
            self.engine = engine
            return try? content.withUnsafeBytes { try engine.inflate($0, rawSize: recipe.rawSize) }
        case .verbatim, .inflate:
            return nil
        }
    }

    private func gatherContent(of stream: StreamBlob, id: ObjectID) throws {
        try Self.checkClaims(stream, label: "stream \(id.short)")
        try gather(stream.content, length: stream.contentLength, label: "stream \(id.short)")
    }

    /// Throws unless the lengths a stream blob claims are within bounds: a blob from a hostile
    /// repository or remote may claim anything, and its content is gathered into memory.
    public static func checkClaims(_ stream: StreamBlob, label: String) throws {
        guard stream.contentLength <= FormatCuts.maximumStreamContent, stream.originalLength <= FormatCuts.maximumStreamContent else {
            throw StoreError.corruptObject(path: label, reason: "claims \(max(stream.contentLength, stream.originalLength)) bytes of content")
        }
    }

    /// Appends one data blob's bytes to content gathered so far, refusing to pass the `declared` length.
    public static func append(_ piece: UnsafeRawBufferPointer, to content: inout [UInt8], declared: UInt64, label: String) throws {
        guard content.count + piece.count <= Int(declared) else {
            throw StoreError.corruptObject(path: label, reason: "content is longer than the \(declared) bytes it declares")
        }
        content.append(contentsOf: piece)
    }

    /// The data blobs `blobs` concatenated, which must come to exactly `length` bytes: the stored
    /// bytes of a stream kept as it is, for a snapshot that checks a new stream against it.
    public func concatenation(of blobs: [ObjectID], length: UInt64) throws -> [UInt8] {
        try gather(blobs, length: length, label: "stored stream")
        return content
    }

    private func gather(_ blobs: [ObjectID], length: UInt64, label: String) throws {
        guard length <= FormatCuts.maximumStreamContent else {
            throw StoreError.corruptObject(path: label, reason: "claims \(length) bytes of content")
        }
        content.removeAll(keepingCapacity: true)
        content.reserveCapacity(Int(length))
        for blob in blobs {
            try load(BlobHandle(id: blob, type: .data))
            try Self.append(plaintext.bytes, to: &content, declared: length, label: label)
        }
        guard content.count == Int(length) else {
            throw StoreError.corruptObject(path: label, reason: "content has \(content.count) bytes, the stream declares \(length)")
        }
    }

    /// Turns a stream's concatenated `content` into its original bytes in `output`, and checks them
    /// against the stream's ID. Shared by restore, snapshot reads and mirror.
    public static func rebuild(_ stream: StreamBlob, id: ObjectID, content: [UInt8], into output: inout [UInt8],
                               engine: RecipeEngine, mac: ContentMAC, verifyAll: Bool = false) throws {
        let label = "stream \(id.short)"
        guard content.count == Int(stream.contentLength) else {
            throw StoreError.corruptObject(path: label, reason: "content has \(content.count) bytes, the stream declares \(stream.contentLength)")
        }
        func recipe(_ encoded: [UInt8]) throws -> Recipe {
            do { return try Recipe(decoding: encoded) } catch {
                throw StoreError.corruptObject(path: label, reason: "\(error)")
            }
        }
        func inflated(_ rawSize: UInt64) throws -> [UInt8] {
            guard rawSize <= FormatCuts.maximumStreamContent else {
                throw StoreError.corruptObject(path: label, reason: "claims \(rawSize) bytes of inflated content")
            }
            do { return try content.withUnsafeBytes { try engine.inflate($0, rawSize: rawSize) } } catch {
                throw StoreError.corruptObject(path: label, reason: "the stored stream does not inflate: \(error)")
            }
        }
        func recompress(_ recipe: Recipe, _ raw: UnsafeRawBufferPointer) throws {
            do { try engine.rebuild(recipe, decompressed: raw, into: &output) } catch {
                throw StoreError.corruptObject(path: label, reason: "cannot rebuild the compressed stream: \(error)")
            }
        }
        switch stream.form {
        case .verbatim:
            output = content
        case .recipe(let encoded):
            let recipe = try recipe(encoded)
            try content.withUnsafeBytes { try recompress(recipe, $0) }
        case .inflate:
            output = try inflated(stream.originalLength)
        case .inflateThenRecipe(let encoded):
            let recipe = try recipe(encoded)
            let raw = try inflated(recipe.rawSize)
            try raw.withUnsafeBytes { try recompress(recipe, $0) }
        }
        // A verbatim stream is by construction its content blobs in the order the (authenticated) stream
        // blob lists them, and each blob was checked against its own ID as it was opened: a second MAC
        // over the whole stream would only hash every byte again. Rebuilt forms are always checked,
        // since the recipe engine produced their bytes; `check` asks for every form (`verifyAll`).
        let matches = (stream.form == .verbatim && !verifyAll) || output.withUnsafeBytes { mac.id($0) == id }
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
