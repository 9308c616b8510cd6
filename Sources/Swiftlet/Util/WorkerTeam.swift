import CSpinWait
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A persistent team of worker threads that run the items of `parallelFor`, with the calling
/// thread as one of them. Between jobs the workers spin for a while (with the CPU's pause hint)
/// before they sleep, so a job that follows within that time starts in well under a
/// microsecond — as an OpenMP team does — instead of the ~50 µs a Dispatch or condition-variable
/// wake-up costs here. That is what lets the small matrix-vector products of decoding (a few
/// microseconds each, dozens per token) use both cores.
///
/// One job runs at a time. A worker joins a job before it touches it, and once the caller has
/// run out of items it closes the job to latecomers and waits only for the workers that joined:
/// none can still be inside the job's closure when `run` returns, and a worker the OS has not
/// scheduled (a busy machine) never holds the caller up — it simply skips that job. A
/// `parallelFor` from inside a job, or from a second thread while a job runs, runs inline.
final class WorkerTeam: @unchecked Sendable {
    /// Started at the first parallel loop with `ComputeThreads.count` threads, the caller among them.
    static let shared = WorkerTeam(workers: max(ComputeThreads.count - 1, 0))

    /// How long an idle worker spins before it sleeps. Long enough to span the serial gaps
    /// between the products of a decoding step; short enough that an idle team costs nothing.
    static let spinSeconds = 200e-6

    /// Worker threads running (besides the caller): fewer than asked for if the system refused
    /// some, none meaning every job runs inline.
    private(set) var workers = 0
    /// Bumped (release) after a job's closure and count are in place.
    private let generation = Atomic<Int>(0)
    private let nextItem = Atomic<Int>(0)
    /// Workers that joined the current job, plus `closed` once the caller stops admitting them.
    private let joined = Atomic<Int>(0)
    /// Workers that joined and are done.
    private let finished = Atomic<Int>(0)
    private static let closed = 1 << 40
    private let busy = Atomic<Bool>(false)
    private let sleepers = Atomic<Int>(0)
    private var body: ((Int) -> Void)?
    private var count = 0
    private var mutex = pthread_mutex_t()
    private var wake = pthread_cond_t()

    init(workers: Int) {
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&wake, nil)
        for _ in 0..<workers {
            let box = Unmanaged.passRetained(self)
            var thread = pthread_t()
            let created = pthread_create(
                &thread, nil,
                { raw in
                    let team = Unmanaged<WorkerTeam>.fromOpaque(raw!).takeRetainedValue()
                    team.workerLoop()
                    return nil
                }, box.toOpaque())
            if created != 0 {
                // No thread to take the reference; the team works with the threads it has.
                box.release()
                break
            }
            pthread_detach(thread)
            self.workers += 1
        }
    }

    /// Runs body(0..<count) across the team; returns when every item is done.
    func run(_ count: Int, _ body: (Int) -> Void) {
        guard workers > 0, busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else {
            for i in 0..<count { body(i) }
            return
        }
        withoutActuallyEscaping(body) { body in
            self.body = body
            self.count = count
            nextItem.store(0, ordering: .relaxed)
            finished.store(0, ordering: .relaxed)
            joined.store(0, ordering: .releasing)  // a worker that joins reads the job set up above
            generation.add(1, ordering: .sequentiallyConsistent)
            if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
                pthread_mutex_lock(&mutex)
                pthread_cond_broadcast(&wake)
                pthread_mutex_unlock(&mutex)
            }
            runItems(body, count)
            let helpers = joined.bitwiseOr(Self.closed, ordering: .acquiringAndReleasing).oldValue
            while finished.load(ordering: .acquiring) < helpers { swl_cpu_relax() }
            self.body = nil
        }
        busy.store(false, ordering: .releasing)
    }

    @inline(__always)
    private func runItems(_ body: (Int) -> Void, _ count: Int) {
        while true {
            let i = nextItem.wrappingAdd(1, ordering: .relaxed).oldValue
            if i >= count { return }
            body(i)
        }
    }

    private func workerLoop() {
        var seen = 0
        while true {
            waitForJob(after: seen)
            seen = generation.load(ordering: .acquiring)
            guard join() else { continue }
            runCurrentJob()
            finished.add(1, ordering: .releasing)
        }
    }

    /// Joins the posted job unless its caller has already closed it.
    private func join() -> Bool {
        var current = joined.load(ordering: .acquiring)
        while current & Self.closed == 0 {
            let (exchanged, now) = joined.compareExchange(
                expected: current, desired: current + 1, ordering: .acquiringAndReleasing)
            if exchanged { return true }
            current = now
        }
        return false
    }

    /// Not inlined: the worker's reference to the job's closure must be released before it
    /// reports itself finished, or `run`'s `withoutActuallyEscaping` would find it still held.
    @inline(never)
    private func runCurrentJob() {
        guard let body else { return }
        runItems(body, count)
    }

    /// Spins, then sleeps, until the generation moves past `seen`.
    private func waitForJob(after seen: Int) {
        let start = Stopwatch.now()
        var spins = 0
        while generation.load(ordering: .acquiring) == seen {
            swl_cpu_relax()
            spins += 1
            if spins & 255 == 0, Stopwatch.now() - start > Self.spinSeconds {
                pthread_mutex_lock(&mutex)
                sleepers.add(1, ordering: .sequentiallyConsistent)
                while generation.load(ordering: .sequentiallyConsistent) == seen { pthread_cond_wait(&wake, &mutex) }
                sleepers.subtract(1, ordering: .sequentiallyConsistent)
                pthread_mutex_unlock(&mutex)
                return
            }
        }
    }
}
