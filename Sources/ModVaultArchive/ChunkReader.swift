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
    private var boundaries: [Int64] = []
    private var nextBoundary = 0

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
        self.boundaries = boundaries
        nextBoundary = 0
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
        let position = base + Int64(offset)
        while nextBoundary < boundaries.count && boundaries[nextBoundary] <= position { nextBoundary += 1 }
        var end = filled
        if nextBoundary < boundaries.count {
            end = min(end, offset + Int(boundaries[nextBoundary] - position))
        }
        let n = chunker.cut(UnsafeRawBufferPointer(rebasing: buffer[offset..<end]))
        defer { offset += n }
        return UnsafeRawBufferPointer(rebasing: buffer[offset..<(offset + n)])
    }
}
