#if canImport(Dispatch)
import Dispatch
#endif
#if canImport(Glibc)
import Glibc
#endif

/// A raw pointer that may cross into `concurrentPerform` closures. Callers guarantee that
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

/// Runs `body(i)` for i in 0..<count across the cores, or inline when the work is too small
/// to pay for waking a second thread (~50 µs here).
@inline(__always)
public func parallelFor(_ count: Int, serial: Bool = false, _ body: (Int) -> Void) {
    if count <= 1 || serial {
        for i in 0..<count { body(i) }
    } else {
        withoutActuallyEscaping(body) { body in
            let box = UncheckedSendable(body)
            DispatchQueue.concurrentPerform(iterations: count) { box.value($0) }
        }
    }
}

struct UncheckedSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
