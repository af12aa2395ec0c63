public import ModVaultCore

/// The plaintext of a `stream` blob: how to rebuild one compressed stream of a file.
///
/// A stream blob's ID is the content MAC of the stream's original (compressed) bytes, so the same
/// member in two archives, or in the same archive after a reorder, is one blob, and a stream already
/// seen is never decompressed or recompressed again. Restore rebuilds the bytes and refuses them
/// unless their MAC equals that ID.
public struct StreamBlob: Sendable, Equatable {
    /// How the data blobs turn back into the original bytes.
    public enum Form: Sendable, Equatable {
        /// The data blobs concatenate to the original bytes (no recipe reproduced them).
        case verbatim
        /// The data blobs concatenate to the decompressed content; `recipe` (an encoded
        /// `ModVaultFormats.Recipe`) recompresses it into the original bytes.
        case recipe([UInt8])
        /// The data blobs concatenate to another zlib stream (one stored as it is) that inflates to
        /// the original bytes: a loose copy of an archived stream's content.
        case inflate
        /// The data blobs concatenate to another zlib stream with the same content; `recipe`
        /// recompresses its inflated content into the original bytes: a stream that was repacked.
        case inflateThenRecipe([UInt8])

        /// The code written for this form.
        var code: UInt8 {
            switch self {
            case .verbatim: 0
            case .recipe: 1
            case .inflate: 2
            case .inflateThenRecipe: 3
            }
        }

        /// True when the data blobs hold a zlib stream to inflate first.
        public var inflatesStoredBytes: Bool {
            switch self {
            case .inflate, .inflateThenRecipe: true
            case .verbatim, .recipe: false
            }
        }
    }

    /// Encoding version.
    public static let version: UInt8 = 1
    /// Verbatim or recipe.
    public var form: Form
    /// Length of the original stream.
    public var originalLength: UInt64
    /// Length of the bytes the data blobs concatenate to.
    public var contentLength: UInt64
    /// The data blobs, in order.
    public var content: [ObjectID]

    /// Creates a stream description.
    public init(form: Form, originalLength: UInt64, contentLength: UInt64, content: [ObjectID]) {
        self.form = form
        self.originalLength = originalLength
        self.contentLength = contentLength
        self.content = content
    }

    /// `u8 version ‖ u8 form (0 verbatim, 1 recipe, 2 inflate, 3 inflate then recipe) ‖ [varint-length
    /// recipe, forms 1 and 3] ‖ varint originalLength ‖ varint contentLength ‖ varint count ‖ count × 32-byte data blob ID`.
    public func encoded() -> [UInt8] {
        var w = ByteWriter(capacity: 96 + content.count * 32)
        w.u8(Self.version)
        w.u8(form.code)
        switch form {
        case .verbatim, .inflate:
            break
        case .recipe(let recipe), .inflateThenRecipe(let recipe):
            w.varint(UInt64(recipe.count))
            w.raw(recipe)
        }
        w.varint(originalLength)
        w.varint(contentLength)
        w.varint(UInt64(content.count))
        for id in content { w.id(id) }
        return w.bytes
    }

    /// Parses `encoded()` output; anything else throws.
    public static func decode(_ bytes: [UInt8]) throws(ByteReader.Malformed) -> StreamBlob {
        var r = ByteReader(bytes)
        do {
            guard try r.u8() == version else { throw ByteReader.Malformed(what: "stream blob version") }
            let form: Form
            switch try r.u8() {
            case 0: form = .verbatim
            case 1: form = .recipe(Array(try r.raw(try r.count(limit: 4096))))
            case 2: form = .inflate
            case 3: form = .inflateThenRecipe(Array(try r.raw(try r.count(limit: 4096))))
            default: throw ByteReader.Malformed(what: "stream blob form")
            }
            let originalLength = try r.varint()
            let contentLength = try r.varint()
            let count = try r.count(limit: r.remaining / 32)
            var content: [ObjectID] = []
            content.reserveCapacity(count)
            for _ in 0..<count { content.append(try r.id()) }
            guard r.isAtEnd else { throw ByteReader.Malformed(what: "trailing bytes in stream blob") }
            if case .verbatim = form, originalLength != contentLength {
                throw ByteReader.Malformed(what: "verbatim stream with differing lengths")
            }
            return StreamBlob(form: form, originalLength: originalLength, contentLength: contentLength, content: content)
        } catch let e as ByteReader.Malformed {
            throw e
        } catch {
            throw ByteReader.Malformed(what: "\(error)")
        }
    }
}
