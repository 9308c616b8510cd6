import CParallel
import Synchronization

/// How many threads one Swiftlet process computes with: oneDNN's OpenMP team for matrix
/// products and Swiftlet's own `WorkerTeam` for the kernels between them (one count for both,
/// since they take turns on the same cores). Set once, before the first parallel work, by
/// `--threads`; by default it is the cores this process may run on, shared out among the MPI
/// ranks on this machine.
public enum ComputeThreads {
    private static let configured = Atomic<Int>(0)
    /// Bumped on every change, so each thread that calls oneDNN applies a change once.
    private static let generation = Atomic<Int>(1)

    /// The count in force: the configured one, or the default.
    public static var count: Int {
        let value = configured.load(ordering: .relaxed)
        return value > 0 ? value : defaultCount
    }

    /// Sets the count. The worker team takes it when it starts (at the first parallel loop);
    /// oneDNN takes it at the next product on each thread.
    public static func configure(_ threads: Int) {
        precondition(threads > 0)
        configured.store(threads, ordering: .relaxed)
        generation.add(1, ordering: .releasing)
    }

    /// Cores this process may run on (its affinity mask: mpirun, taskset and cgroups'
    /// cpusets narrow it), shared among the ranks of this machine unless the launcher has
    /// already given each rank its own cores (Open MPI binds each of two or fewer ranks to a
    /// core of its own by default).
    public static let defaultCount: Int = {
        let online = max(Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))), 1)
        let allowed = Int(swl_allowed_cpus())
        let usable = allowed > 0 ? min(allowed, online) : online
        let ranksHere = ParallelEnvironment.localRanks
        if ranksHere > 1, usable >= online { return max(1, usable / ranksHere) }
        return usable
    }()

    /// Applies the count to oneDNN's OpenMP team for the calling thread (OpenMP keeps the
    /// setting per thread). Costs one thread-local read when nothing changed.
    @inline(__always)
    static func applyToMatrixLibrary() {
        let current = generation.load(ordering: .acquiring)
        if AppliedGeneration.value != current {
            AppliedGeneration.value = current
            _ = swl_omp_set_threads(Int32(count))
        }
    }
}

/// The generation of ComputeThreads each thread last applied to OpenMP.
private enum AppliedGeneration {
    nonisolated(unsafe) static var key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()
    static var value: Int {
        get { Int(bitPattern: pthread_getspecific(key)) }
        set { pthread_setspecific(key, UnsafeRawPointer(bitPattern: newValue)) }
    }
}

/// What the launcher says about this process's place in a parallel job.
public enum ParallelEnvironment {
    /// Set by the launchers that start MPI ranks: Open MPI's mpirun, PMIx launchers (Slurm's
    /// srun --mpi=pmix, prterun) and PMI-1/2 ones (srun --mpi=pmi2).
    static let launcherVariables = ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE"]

    /// The variable that says this process is an MPI rank, if any.
    public static var launcher: String? {
        launcherVariables.first { getenv($0) != nil }
    }

    /// Ranks of the job on this machine (1 when not under MPI).
    public static var localRanks: Int {
        for name in ["OMPI_COMM_WORLD_LOCAL_SIZE", "PMIX_LOCAL_SIZE", "MPI_LOCALNRANKS"] {
            if let text = getenv(name), let value = Int(String(cString: text)), value > 0 { return value }
        }
        return 1
    }

    /// This process's rank as the launcher announced it, before MPI starts (0 when not under MPI).
    public static var announcedRank: Int {
        for name in ["OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK"] {
            if let text = getenv(name), let value = Int(String(cString: text)), value >= 0 { return value }
        }
        return 0
    }
}
