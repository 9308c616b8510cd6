import CParallel

/// Open MPI's world communicator (libmpi.so.40, opened at run time: see CParallel.h).
final class MPICommunicator: Communicator {
    let rank: Int
    let size: Int
    private(set) var communicationSeconds: Double = 0
    private var finalized = false

    /// Floats per all-reduce call: MPI counts in Int32, and a bounded bucket keeps MPI's own
    /// staging buffers small (64 MiB) whatever the size of the arena.
    var bucketFloats = 1 << 24

    init() throws {
        let launcher = ParallelEnvironment.launcher ?? "a launcher"
        var error = [CChar](repeating: 0, count: 512)
        guard swl_mpi_load(&error, error.count) == 0 else {
            throw SwiftletError(
                "this process was started as an MPI rank (\(launcher) is set), but Open MPI could not be loaded: \(Self.text(error)). Install Open MPI (apt-get install openmpi-bin libopenmpi-dev) on every machine of the job."
            )
        }
        let status = swl_mpi_init()
        guard status == 0 else {
            throw SwiftletError("Open MPI could not start this rank (\(Self.describe(status))).")
        }
        var rank: Int32 = 0, size: Int32 = 0
        guard swl_mpi_rank(&rank) == 0, swl_mpi_size(&size) == 0, size > 0 else {
            throw SwiftletError("Open MPI started but could not say this rank's place in the job.")
        }
        self.rank = Int(rank)
        self.size = Int(size)
    }

    var summary: String { "Open MPI, \(size) rank\(size == 1 ? "" : "s")" }

    func allReduceSum(_ buffer: UnsafeMutablePointer<Float>, count: Int) throws {
        try timed("the gradient all-reduce") {
            var start = 0
            while start < count {
                let n = min(bucketFloats, count - start)
                let status = swl_mpi_allreduce_float_sum(buffer + start, Int32(n))
                if status != 0 { return status }
                start += n
            }
            return 0
        }
    }

    func allReduceSum(_ values: inout [Double]) throws {
        try timed("a sum over ranks") {
            values.withUnsafeMutableBufferPointer { swl_mpi_allreduce_double_sum($0.baseAddress, Int32($0.count)) }
        }
    }

    func allReduceMax(_ values: inout [Double]) throws {
        try timed("a comparison across ranks") {
            values.withUnsafeMutableBufferPointer { swl_mpi_allreduce_double_max($0.baseAddress, Int32($0.count)) }
        }
    }

    func broadcast(_ bytes: inout [UInt8], root: Int) throws {
        precondition(bytes.count < Int(Int32.max))
        try timed("a broadcast from rank \(root)") {
            bytes.withUnsafeMutableBytes { swl_mpi_bcast_bytes($0.baseAddress, Int32($0.count), Int32(root)) }
        }
    }

    func barrier() throws {
        try timed("a barrier") { swl_mpi_barrier() }
    }

    func abort(status: Int32) -> Never {
        swl_mpi_abort(status)
        exit(status)
    }

    func finalize() {
        guard !finalized else { return }
        finalized = true
        _ = swl_mpi_finalize()
    }

    private func timed(_ what: String, _ call: () -> Int32) throws {
        let clock = Stopwatch()
        let status = call()
        communicationSeconds += clock.seconds
        guard status == 0 else {
            throw CommunicationFailure(
                "rank \(rank) lost the other ranks of the job during \(what) (\(Self.describe(status)))")
        }
    }

    private static func text(_ characters: [CChar]) -> String {
        String(decoding: characters.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func describe(_ status: Int32) -> String {
        var text = [CChar](repeating: 0, count: 512)
        swl_mpi_error_string(status, &text, text.count)
        return Self.text(text)
    }
}
