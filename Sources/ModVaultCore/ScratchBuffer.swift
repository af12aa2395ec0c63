/// A reusable byte buffer for hot paths: it grows to the largest size asked for and is never
/// zero-filled, so steady state performs no allocation and no memset per chunk.
///
/// Owned by one task at a time (pooled between tasks); not thread-safe.
public final class ScratchBuffer: @unchecked Sendable {
    private var storage: UnsafeMutableRawBufferPointer
    /// Bytes in use.
    public private(set) var count = 0

    /// Creates a buffer with `capacity` bytes reserved.
    public init(capacity: Int = 0) {
        storage = .allocate(byteCount: max(64, capacity), alignment: 64)
    }

    deinit { storage.deallocate() }

    /// Bytes reserved.
    public var capacity: Int { storage.count }

    /// Makes room for `n` bytes (contents are not preserved when it grows) and sets `count` to `n`.
    public func resize(_ n: Int) -> UnsafeMutableRawBufferPointer {
        if n > storage.count {
            storage.deallocate()
            storage = .allocate(byteCount: n, alignment: 64)
        }
        count = n
        return UnsafeMutableRawBufferPointer(rebasing: storage[0..<n])
    }

    /// Sets the number of bytes in use, keeping the contents; `n` must not exceed the capacity.
    public func setCount(_ n: Int) {
        precondition(n <= storage.count)
        count = n
    }

    /// The bytes in use.
    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: storage[0..<count]) }

    /// A copy of the bytes in use.
    public var array: [UInt8] { Array(bytes) }
}
