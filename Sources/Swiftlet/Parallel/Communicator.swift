/// The processes of a data-parallel job and the few collective operations training needs:
/// every rank holds the same weights, computes gradients on its slice of each step's batch,
/// and sums them with the others before the same optimizer step.
///
/// `Communicator.world()` is the job this process belongs to: Open MPI's world when a launcher
/// started it as a rank, one process alone otherwise. Every call on it is collective: each rank
/// makes the same calls in the same order.
public protocol Communicator: AnyObject {
    /// This process's rank, 0..<size; rank 0 writes checkpoints, metrics and progress.
    var rank: Int { get }
    var size: Int { get }
    /// "Open MPI, 2 ranks" or "one process", for messages.
    var summary: String { get }
    /// Seconds spent in collective calls since the communicator was made.
    var communicationSeconds: Double { get }

    /// Replaces `buffer` on every rank with the element-wise sum over all ranks.
    func allReduceSum(_ buffer: UnsafeMutablePointer<Float>, count: Int) throws
    /// Sums a few doubles (losses, token counts, flags) over all ranks.
    func allReduceSum(_ values: inout [Double]) throws
    /// The element-wise largest value over all ranks.
    func allReduceMax(_ values: inout [Double]) throws
    /// Every rank ends with `root`'s bytes; the others' arrays must have the same count.
    func broadcast(_ bytes: inout [UInt8], root: Int) throws
    func barrier() throws
    /// Ends every rank of the job at once (a rank that cannot go on while the others wait).
    func abort(status: Int32) -> Never
}

extension Communicator {
    public var isRoot: Bool { rank == 0 }
    public var isParallel: Bool { size > 1 }

    /// Whether every rank holds the same 64-bit value; collective. Ranks that disagree on their
    /// configuration or data use this to refuse to start together rather than train apart.
    public func agree(on value: UInt64) throws -> Bool {
        // Largest and smallest (as the largest negation) of both 32-bit halves: doubles carry
        // 32 bits exactly.
        let high = Double(value >> 32), low = Double(value & 0xFFFF_FFFF)
        var values = [high, low, -high, -low]
        try allReduceMax(&values)
        return values[0] == high && values[1] == low && values[2] == -high && values[3] == -low
    }

    /// A step's gradient arena summed over the ranks, the wait for the slowest rank before it
    /// timed apart (a barrier first: it costs a few microseconds, and separates uneven ranks
    /// from the interconnect's cost in the figures). Seconds (waiting, summing); none in one process.
    func sumGradients(_ gradients: FloatBuffer) throws -> (waiting: Double, summing: Double) {
        guard isParallel else { return (0, 0) }
        let start = communicationSeconds
        try barrier()
        let ready = communicationSeconds
        try allReduceSum(gradients.pointer, count: gradients.count)
        return (ready - start, communicationSeconds - ready)
    }

    /// Refuses to start ranks that hold different parts (settings, data, tokenizer, weights):
    /// they would train apart while seeming to train together. Rank 0 names what differs;
    /// collective.
    public func refuseUnlessRanksAgree(on parts: [(String, RunFingerprint)]) throws {
        guard isParallel else { return }
        var differ: [String] = []
        for (what, fingerprint) in parts where try !agree(on: fingerprint.value) { differ.append(what) }
        guard differ.isEmpty else {
            if !isRoot { throw ReportedByRankZero() }
            throw SwiftletError(
                "the \(size) ranks of this job do not all have the same \(differ.joined(separator: ", ")); start every rank with the same command line, files and checkpoint."
            )
        }
    }
}

/// A collective that failed: another rank died or cannot be reached. The trainer turns it into
/// a SwiftletError that also says what is saved.
public struct CommunicationFailure: Error {
    public let message: String
    public init(_ message: String) { self.message = message }
}

/// What the other ranks throw for a failure every rank met in the same collective step (ranks
/// that disagree, a diverged loss): rank 0 throws the SwiftletError that says it, once for the job.
public struct ReportedByRankZero: Error {
    public init() {}
}

public enum Communicators {
    nonisolated(unsafe) private static var shared: Communicator?

    /// The job this process belongs to, started on first use: Open MPI's world when a launcher
    /// (mpirun, srun) started this process as a rank, a single process otherwise. Throws a
    /// sentence when the launcher says MPI but Open MPI cannot be loaded or started.
    public static func world() throws -> Communicator {
        if let shared { return shared }
        let made: Communicator = ParallelEnvironment.launcher == nil ? SingleProcess() : try MPICommunicator()
        shared = made
        return made
    }

    /// Ends MPI cleanly at a normal exit (every rank must get here); nothing without MPI.
    public static func finish() {
        (shared as? MPICommunicator)?.finalize()
    }
}

/// One process alone: every collective is the identity.
public final class SingleProcess: Communicator {
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public var summary: String { "one process" }
    public var communicationSeconds: Double { 0 }
    public func allReduceSum(_ buffer: UnsafeMutablePointer<Float>, count: Int) throws {}
    public func allReduceSum(_ values: inout [Double]) throws {}
    public func allReduceMax(_ values: inout [Double]) throws {}
    public func broadcast(_ bytes: inout [UInt8], root: Int) throws {}
    public func barrier() throws {}
    public func abort(status: Int32) -> Never { exit(status) }
}
