import Glibc

/// Monotonic seconds since creation.
public struct Stopwatch: Sendable {
    private let start: Double
    public init() { start = Stopwatch.now() }
    public var seconds: Double { Stopwatch.now() - start }
    public static func now() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
    }
}
