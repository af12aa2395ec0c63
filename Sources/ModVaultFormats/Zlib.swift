internal import CZlib
import Glibc

/// Why a zlib stream did not decode to exactly its declared size.
enum InflateFailure: Error, Equatable, CustomStringConvertible {
    case corrupt(String)
    case presetDictionary
    case longerThanDeclared(declared: Int)
    case shorterThanDeclared(produced: Int, declared: Int)
    case truncated(produced: Int)
    case trailingBytes(Int)
    case tooLarge

    var description: String {
        switch self {
        case .corrupt(let m): return "corrupt zlib stream (\(m))"
        case .presetDictionary: return "zlib stream needs a preset dictionary"
        case .longerThanDeclared(let d): return "zlib stream decodes to more than the declared \(d) bytes"
        case .shorterThanDeclared(let p, let d): return "zlib stream decodes to \(p) bytes, declared \(d)"
        case .truncated(let p): return "zlib stream ends early after \(p) bytes of output"
        case .trailingBytes(let n): return "\(n) bytes follow the end of the zlib stream"
        case .tooLarge: return "stream too large for one zlib call"
        }
    }
}

/// The version string of the zlib this module is linked against, e.g. "1.2.13".
let linkedZlibVersion: String = String(cString: zlibVersion())

/// Deflate cannot expand data by more than about 1032:1, so a declared size beyond that is a lie
/// and must not be allocated.
func plausibleInflatedSize(_ declared: UInt64, compressedLength: Int) -> Bool {
    declared <= UInt64(compressedLength) * 1032 + 64
}

/// One reusable inflate state. Not thread-safe.
final class ZlibInflater {
    // zlib keeps a back pointer to its z_stream, so the struct must never move: it lives on the heap.
    private let stream: UnsafeMutablePointer<z_stream>
    private var initialised = false

    init() {
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
    }

    /// A fresh decoding state (reset, or initialised on first use).
    private func start() -> Bool {
        if initialised { return inflateReset(stream) == Z_OK }
        guard inflateInit2_(stream, 15, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else { return false }
        initialised = true
        return true
    }

    /// Runs `body` on a fresh state reading `input`; the pointers into `input` are cleared afterwards.
    fileprivate func inflateHead<T>(_ input: UnsafeRawBufferPointer, _ body: (UnsafeMutablePointer<z_stream>) -> T) -> T? {
        guard start() else { return nil }
        stream.pointee.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: Bytef.self))
        stream.pointee.avail_in = uInt(input.count)
        defer {
            stream.pointee.next_in = nil
            stream.pointee.next_out = nil
        }
        return body(stream)
    }

    deinit {
        if initialised { inflateEnd(stream) }
        stream.deinitialize(count: 1)
        stream.deallocate()
    }

    /// Inflates one complete zlib stream that must decode to exactly `expectedSize` bytes and end
    /// exactly at the end of `input`.
    ///
    /// The output starts at a size the input can plausibly fill and doubles up to `expectedSize + 1`,
    /// so a declared size that lies costs memory only as far as the data backs it. Inflating goes
    /// straight into the array returned, so a stream costs its size once, not twice, at the end.
    func inflate(_ input: UnsafeRawBufferPointer, expectedSize: Int) -> Result<[UInt8], InflateFailure> {
        guard input.count <= Int(UInt32.max), expectedSize >= 0, expectedSize < Int(UInt32.max) else { return .failure(.tooLarge) }
        guard start() else { return .failure(.corrupt("inflateInit2 failed")) }
        // One spare byte of output makes "longer than declared" visible instead of silently cut.
        let limit = expectedSize + 1
        var capacity = min(limit, max(1 << 20, input.count * 8))
        stream.pointee.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: Bytef.self))
        stream.pointee.avail_in = uInt(input.count)
        defer {
            stream.pointee.next_in = nil
            stream.pointee.next_out = nil
        }
        var output: [UInt8] = []
        var failure: InflateFailure?
        var finished = false
        while !finished && failure == nil {
            var previous = output
            output = []
            output = [UInt8](unsafeUninitializedCapacity: capacity) { out, count in
                var produced = previous.count
                if produced > 0 { previous.withUnsafeBufferPointer { out.baseAddress!.update(from: $0.baseAddress!, count: produced) } }
                previous = []
                defer { count = produced }
                while true {
                    stream.pointee.next_out = out.baseAddress! + produced
                    stream.pointee.avail_out = uInt(capacity - produced)
                    let rc = CZlib.inflate(stream, Z_NO_FLUSH)
                    produced = Int(stream.pointee.total_out)
                    switch rc {
                    case Z_STREAM_END:
                        if produced > expectedSize { failure = .longerThanDeclared(declared: expectedSize) }
                        else if produced != expectedSize { failure = .shorterThanDeclared(produced: produced, declared: expectedSize) }
                        else if stream.pointee.avail_in != 0 { failure = .trailingBytes(Int(stream.pointee.avail_in)) }
                        finished = true
                        return
                    case Z_OK, Z_BUF_ERROR:
                        if produced < capacity {
                            // Output space is left, so inflate stopped for want of input: the stream is cut short.
                            if stream.pointee.avail_in == 0 || rc == Z_BUF_ERROR { failure = .truncated(produced: produced); return }
                            continue
                        }
                        if capacity == limit { failure = .longerThanDeclared(declared: expectedSize) }
                        return  // full: a larger array takes over
                    case Z_NEED_DICT:
                        failure = .presetDictionary
                        return
                    default:
                        failure = .corrupt(stream.pointee.msg.map { String(cString: $0) } ?? "status \(rc)")
                        return
                    }
                }
            }
            capacity = min(limit, capacity * 2)
        }
        if let failure { return .failure(failure) }
        return .success(output)
    }

    /// True when `input` is one complete zlib stream that decodes to exactly `expected` and ends at the
    /// end of `input`. Decodes through a small window compared as it fills, so nothing the size of the
    /// stream is allocated.
    func inflates(_ input: UnsafeRawBufferPointer, to expected: UnsafeRawBufferPointer) -> Bool {
        guard input.count <= Int(UInt32.max) else { return false }
        let window = 1 << 16
        let scratch = UnsafeMutableRawPointer.allocate(byteCount: window, alignment: 16)
        defer { scratch.deallocate() }
        return inflateHead(input) { stream in
            var compared = 0
            while true {
                stream.pointee.next_out = scratch.assumingMemoryBound(to: Bytef.self)
                stream.pointee.avail_out = uInt(window)
                let rc = CZlib.inflate(stream, Z_NO_FLUSH)
                let piece = window - Int(stream.pointee.avail_out)
                guard compared + piece <= expected.count,
                      piece == 0 || memcmp(scratch, expected.baseAddress! + compared, piece) == 0 else { return false }
                compared += piece
                switch rc {
                case Z_STREAM_END: return compared == expected.count && stream.pointee.avail_in == 0
                case Z_OK: continue
                case Z_BUF_ERROR: if piece == 0 { return false }
                default: return false
                }
            }
        } ?? false
    }
}

extension ZlibInflater {
    /// The first `count` bytes a zlib stream decodes to, or nil when the stream is damaged, needs a
    /// dictionary or ends first. Stops as soon as `count` bytes are out, so the cost is that of `count`.
    func inflatePrefix(_ input: UnsafeRawBufferPointer, count: Int) -> [UInt8]? {
        guard count > 0, input.count <= Int(UInt32.max) else { return nil }
        return inflateHead(input) { stream in
            [UInt8](unsafeUninitializedCapacity: count) { out, produced in
                stream.pointee.next_out = out.baseAddress
                stream.pointee.avail_out = uInt(count)
                var rc = Z_OK
                while rc == Z_OK && stream.pointee.avail_out > 0 && stream.pointee.avail_in > 0 {
                    rc = CZlib.inflate(stream, Z_NO_FLUSH)
                }
                produced = rc == Z_OK || rc == Z_STREAM_END || rc == Z_BUF_ERROR ? count - Int(stream.pointee.avail_out) : 0
            }
        }.flatMap { $0.count == count ? $0 : nil }
    }
}

/// One reusable deflate state for one exact parameter set. Not thread-safe.
final class ZlibDeflater {
    let parameters: ZlibParameters
    private let stream: UnsafeMutablePointer<z_stream>

    init?(_ parameters: ZlibParameters) {
        self.parameters = parameters
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        let rc = deflateInit2_(stream, Int32(parameters.level), Z_DEFLATED, Int32(parameters.windowBits),
                               Int32(parameters.memLevel), Int32(parameters.strategy.rawValue),
                               zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        guard rc == Z_OK else {
            stream.deinitialize(count: 1)
            stream.deallocate()
            return nil
        }
    }

    deinit {
        deflateEnd(stream)
        stream.deinitialize(count: 1)
        stream.deallocate()
    }

    /// Compresses `input` with Z_FINISH, handing each piece of output to `sink` as it is produced;
    /// `sink` returns false to stop early. Returns true when the stream finished and every piece was accepted.
    ///
    /// deflateReset gives exactly the output of a fresh deflateInit2 with the same parameters, and
    /// the size of the output buffer never changes the bit stream for levels 1–9.
    func compress(_ input: UnsafeRawBufferPointer, scratch: UnsafeMutableRawBufferPointer,
                  sink: (UnsafeRawBufferPointer) -> Bool) -> Bool {
        guard input.count <= Int(UInt32.max), deflateReset(stream) == Z_OK else { return false }
        defer {
            stream.pointee.next_in = nil
            stream.pointee.next_out = nil
        }
        stream.pointee.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: Bytef.self))
        stream.pointee.avail_in = uInt(input.count)
        let base = scratch.baseAddress!.assumingMemoryBound(to: Bytef.self)
        while true {
            stream.pointee.next_out = base
            stream.pointee.avail_out = uInt(scratch.count)
            let rc = CZlib.deflate(stream, Z_FINISH)
            guard rc == Z_OK || rc == Z_STREAM_END || rc == Z_BUF_ERROR else { return false }
            let n = scratch.count - Int(stream.pointee.avail_out)
            if n > 0, !sink(UnsafeRawBufferPointer(start: base, count: n)) { return false }
            if rc == Z_STREAM_END { return true }
            if n == 0 && rc == Z_BUF_ERROR { return false }
        }
    }
}
