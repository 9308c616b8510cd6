import XCTest
import Foundation
import Synchronization
@testable import Swiftlet

/// The persistent worker team behind `parallelFor`.
final class WorkerTeamTests: XCTestCase {
    func testEveryItemRunsExactlyOnceJobAfterJob() {
        // Many short jobs back to back (workers spinning) and some after a pause (workers asleep).
        var rng = RandomGenerator(seed: 5)
        for job in 0..<3000 {
            let count = 1 + rng.below(17)
            let runs = Counter(slots: count)
            parallelFor(count) { i in runs.slots[i].add(1, ordering: .relaxed) }
            for i in 0..<count where runs.slots[i].load(ordering: .relaxed) != 1 {
                XCTFail("job \(job): item \(i) ran \(runs.slots[i].load(ordering: .relaxed)) times")
                return
            }
            if job % 1000 == 999 { usleep(UInt32(WorkerTeam.spinSeconds * 3e6)) }
        }
    }

    func testResultsMatchASerialLoop() {
        let n = 100_000
        let x = TestData.randoms(n, seed: 7)
        var parallel = [Float](repeating: 0, count: n)
        let chunks = 8
        parallel.withUnsafeMutableBufferPointer { out in
            let o = SendablePointer(out.baseAddress!)
            x.withUnsafeBufferPointer { xp in
                let xs = SendablePointer(UnsafeMutablePointer(mutating: xp.baseAddress!))
                parallelFor(chunks) { c in
                    for i in (n * c / chunks)..<(n * (c + 1) / chunks) { o.pointer[i] = xs.pointer[i] * 2 + 1 }
                }
            }
        }
        XCTAssertEqual(parallel, x.map { $0 * 2 + 1 })
    }

    func testNestedAndConcurrentCallsRunEveryItem() {
        // A parallelFor inside a job, and jobs started from two threads at once, run inline
        // where the team is busy: every item still runs once.
        let total = Counter(slots: 1)
        let threads = 2, jobs = 500
        DispatchQueue.concurrentPerform(iterations: threads) { _ in
            for _ in 0..<jobs {
                parallelFor(4) { _ in
                    parallelFor(3) { _ in total.slots[0].add(1, ordering: .relaxed) }
                }
            }
        }
        XCTAssertEqual(total.slots[0].load(ordering: .relaxed), threads * jobs * 4 * 3)
    }
}

/// Atomic counters shared by work items (an `Atomic` cannot live in an array).
private final class Counter: @unchecked Sendable {
    let slots: UnsafeMutablePointer<Atomic<Int>>
    let count: Int
    init(slots count: Int) {
        self.count = count
        slots = .allocate(capacity: count)
        for i in 0..<count { (slots + i).initialize(to: Atomic<Int>(0)) }
    }
    deinit {
        slots.deinitialize(count: count)
        slots.deallocate()
    }
}
