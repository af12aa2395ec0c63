import ModVaultCore
import ModVaultChunking

/// Reads a file through one reusable buffer and yields content-defined chunks.
///
/// The buffer is allocated once per run and reused for every file; each yielded chunk is a view
/// into it that stays valid only until the next call, so callers copy what they keep.
final class ChunkReader {
    private let buffer: UnsafeMutableRawBufferPointer
    private let defaultChunker: FastCDC
    private var chunker: FastCDC
    private var file: OpenFile?
    private var filled = 0
    private var offset = 0
    private var eof = false
    // Absolute file offset of buffer[0], and the forced cut points (ascending, absolute).
    private var base: Int64 = 0
    private var boundaries = ForcedCuts([])

    init(chunker: FastCDC) {
        self.chunker = chunker
        defaultChunker = chunker
        buffer = .allocate(byteCount: max(8 << 20, 2 * chunker.parameters.maxSize), alignment: 64)
    }

    deinit { buffer.deallocate() }

    /// Starts reading `file`; chunks never cross any of `boundaries` (absolute offsets, ascending).
    /// `chunker` overrides the sizes for this file (never larger than the default, which sized the buffer).
    func reset(_ file: OpenFile, boundaries: [Int64] = [], chunker: FastCDC? = nil) {
        self.chunker = chunker ?? defaultChunker
        self.file = file
        filled = 0
        offset = 0
        eof = false
        base = 0
        self.boundaries = ForcedCuts(boundaries)
    }

    /// Absolute offset of the next byte `next()` or `read(exactly:into:)` returns.
    var position: Int64 { base + Int64(offset) }

    /// Reads the next `count` bytes whole into `output` (replacing its contents, reusing its storage).
    /// Returns false when the file ended first (it shrank while being read); `output` then holds what there was.
    func read(exactly count: Int, into output: inout [UInt8]) throws -> Bool {
        guard let file else { return false }
        output.removeAll(keepingCapacity: true)
        output.reserveCapacity(count)
        let buffered = min(count, filled - offset)
        if buffered > 0 {
            output.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[offset..<(offset + buffered)]))
            offset += buffered
        }
        // The rest comes straight from the file; the window then restarts empty after it.
        if output.count < count {
            base += Int64(filled)
            filled = 0
            offset = 0
            let missing = count - output.count
            let start = output.count
            output.append(contentsOf: repeatElement(0, count: missing))
            var got = 0
            try output.withUnsafeMutableBytes { raw in
                while got < missing {
                    let n = try file.read(into: UnsafeMutableRawBufferPointer(rebasing: raw[(start + got)...]))
                    if n == 0 { break }
                    got += n
                }
            }
            base += Int64(got)
            if got < missing {
                output.removeLast(missing - got)
                eof = true
                return false
            }
        }
        return true
    }

    /// The next chunk, or nil at end of file.
    func next() throws -> UnsafeRawBufferPointer? {
        guard let file else { return nil }
        if !eof && filled - offset < chunker.parameters.maxSize {
            // Keep the unchunked tail at the front and refill behind it.
            if offset > 0 {
                if filled > offset { buffer.baseAddress!.copyMemory(from: buffer.baseAddress! + offset, byteCount: filled - offset) }
                filled -= offset
                base += Int64(offset)
                offset = 0
            }
            while !eof && filled < buffer.count {
                let n = try file.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[filled...]))
                if n == 0 { eof = true } else { filled += n }
            }
        }
        guard offset < filled else { return nil }
        // A forced cut ends the window there, so each segment is chunked as a stream of its own.
        let n = chunker.cut(UnsafeRawBufferPointer(rebasing: buffer[offset..<filled]), at: base + Int64(offset), within: &boundaries)
        defer { offset += n }
        return UnsafeRawBufferPointer(rebasing: buffer[offset..<(offset + n)])
    }
}
