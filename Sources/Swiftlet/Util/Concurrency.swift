#if canImport(Glibc)
import Glibc
#endif

/// A raw pointer that may cross into `parallelFor` closures. Callers guarantee that
/// concurrent work items touch disjoint memory.
public struct SendablePointer<T>: @unchecked Sendable {
    public let pointer: UnsafeMutablePointer<T>
    public init(_ pointer: UnsafeMutablePointer<T>) { self.pointer = pointer }
}

/// One slot per work item of a parallel loop, each written once by its own item.
final class ResultSlots<T>: @unchecked Sendable {
    private(set) var values: [T?]
    private var lock = pthread_mutex_t()
    init(count: Int) {
        values = Array(repeating: nil, count: count)
        pthread_mutex_init(&lock, nil)
    }
    func set(_ index: Int, _ value: T) {
        pthread_mutex_lock(&lock)
        values[index] = value
        pthread_mutex_unlock(&lock)
    }
    var all: [T] { values.map { $0! } }
}

/// Runs `body(i)` for i in 0..<count across the cores (the persistent `WorkerTeam`), or inline
/// for one item or when `serial` says the work is too small to share.
@inline(__always)
public func parallelFor(_ count: Int, serial: Bool = false, _ body: (Int) -> Void) {
    if count <= 1 || serial {
        for i in 0..<count { body(i) }
    } else {
        WorkerTeam.shared.run(count, body)
    }
}

struct UncheckedSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

/// Runs `body` over 0..<count split in two ranges (at multiples of 16, so vector loops keep
/// their alignment) on both cores, or as one range when count is below `minimum`: for the
/// memory-bound passes between products (optimizer, norms, rotations), which one core runs at
/// about half the machine's bandwidth.
@inline(__always)
func parallelRanges(_ count: Int, minimum: Int = 1 << 15, _ body: (Range<Int>) -> Void) {
    let chunks = count >= minimum ? 2 : 1
    parallelFor(chunks) { chunk in
        let lo = (count * chunk / chunks) & ~15
        let hi = chunk == chunks - 1 ? count : (count * (chunk + 1) / chunks) & ~15
        body(lo..<hi)
    }
}
