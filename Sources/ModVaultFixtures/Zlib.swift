internal import CZlib

/// zlib compression parameters of one stream: level and window size.
public struct ZlibSettings: Sendable, Hashable, Codable {
    /// Compression level, 0–9.
    public var level: Int32
    /// Window size exponent, 9–15 (15 = 32 KiB window).
    public var windowBits: Int32

    /// Creates settings for `level` and `windowBits`.
    public init(level: Int32, windowBits: Int32) {
        self.level = level
        self.windowBits = windowBits
    }

    /// Level 6, windowBits 15 (header `78 9C`): what the Creation Kit and PC tools write.
    public static let creationKit = ZlibSettings(level: 6, windowBits: 15)
    /// Level 9, windowBits 12 (header `48 C7`): the Xbox-style archives of the bsa-rs fixtures.
    public static let xbox = ZlibSettings(level: 9, windowBits: 12)
    /// Level 9, windowBits 15 (header `78 DA`): maximum compression, what repacking tools offer as "best".
    public static let best = ZlibSettings(level: 9, windowBits: 15)
}

/// One-shot zlib (RFC 1950) compression and strict decompression over the system zlib.
public enum FixtureZlib {
    /// Compresses `input` into one complete zlib stream with memLevel 8 and the default strategy.
    public static func deflate(_ input: [UInt8], settings: ZlibSettings = .creationKit) -> [UInt8] {
        input.withUnsafeBytes { deflate($0, settings: settings) }
    }

    /// Compresses the bytes of `input` into one complete zlib stream.
    public static func deflate(_ input: UnsafeRawBufferPointer, settings: ZlibSettings = .creationKit) -> [UInt8] {
        var stream = z_stream()
        let initStatus = deflateInit2_(
            &stream, settings.level, Z_DEFLATED, settings.windowBits, 8, Z_DEFAULT_STRATEGY,
            zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        precondition(initStatus == Z_OK, "deflateInit2 failed (\(initStatus)) for \(settings)")
        defer { deflateEnd(&stream) }
        let bound = Int(deflateBound(&stream, uLong(input.count)))
        return [UInt8](unsafeUninitializedCapacity: max(bound, 16)) { out, count in
            // zlib never writes through next_in; the mutable cast is only its C signature.
            stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: Bytef.self))
            stream.avail_in = uInt(input.count)
            stream.next_out = out.baseAddress
            stream.avail_out = uInt(out.count)
            let status = CZlib.deflate(&stream, Z_FINISH)
            precondition(status == Z_STREAM_END, "deflate did not finish within deflateBound (\(status))")
            count = Int(stream.total_out)
        }
    }

    /// Inflates one zlib stream that must decode to exactly `expectedSize` bytes and use all of `input`.
    public static func inflate(_ input: [UInt8], expectedSize: Int) throws -> [UInt8] {
        var stream = z_stream()
        guard inflateInit2_(&stream, 15, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw FixtureError.corrupt("inflateInit2 failed")
        }
        defer { inflateEnd(&stream) }
        var status: Int32 = Z_OK
        var produced = 0
        var consumed = 0
        // One spare byte makes "stream longer than declared" detectable instead of silently truncated.
        let output = [UInt8](unsafeUninitializedCapacity: expectedSize + 1) { out, count in
            input.withUnsafeBytes { inBuf in
                stream.next_in = UnsafeMutablePointer(mutating: inBuf.baseAddress?.assumingMemoryBound(to: Bytef.self))
                stream.avail_in = uInt(inBuf.count)
                stream.next_out = out.baseAddress
                stream.avail_out = uInt(out.count)
                status = CZlib.inflate(&stream, Z_FINISH)
            }
            produced = Int(stream.total_out)
            consumed = Int(stream.total_in)
            count = produced
        }
        guard status == Z_STREAM_END else {
            throw FixtureError.corrupt("zlib stream did not end cleanly (status \(status), \(produced) bytes out)")
        }
        guard produced == expectedSize else {
            throw FixtureError.corrupt("zlib stream inflated to \(produced) bytes, expected \(expectedSize)")
        }
        guard consumed == input.count else {
            throw FixtureError.corrupt("zlib stream ended after \(consumed) of \(input.count) bytes")
        }
        return output
    }
}
