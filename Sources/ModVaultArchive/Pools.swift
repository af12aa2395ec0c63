import Synchronization

/// A free-list of reusable objects so hot loops do not allocate per item.
final class ObjectPool<T: AnyObject & Sendable>: Sendable {
    private let items = Mutex<[T]>([])
    private let make: @Sendable () -> T

    init(make: @escaping @Sendable () -> T) { self.make = make }

    func take() -> T { items.withLock { $0.popLast() } ?? make() }

    func give(_ item: T) { items.withLock { $0.append(item) } }
}

/// A reusable byte buffer owned by one task at a time.
final class ByteBuffer: @unchecked Sendable {
    var bytes: [UInt8] = []
    var scratch: [UInt8] = []

    /// Drops storage grown past `limit`, so a pool does not keep the largest size it ever held per buffer.
    func release(above limit: Int) {
        if bytes.capacity > limit { bytes = [] }
        if scratch.capacity > limit { scratch = [] }
    }
}
