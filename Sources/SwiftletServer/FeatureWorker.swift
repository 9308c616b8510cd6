import Swiftlet
#if canImport(Glibc)
import Glibc
#endif

/// Embeddings and classification on a thread of their own, beside the generation engine: one
/// forward pass packs many texts (each its own sequence), and requests that queue up together
/// are run as one batch when they ask the same thing (embeddings with one pooling, or the
/// checkpoint's head).
final class FeatureWorker: @unchecked Sendable {
    enum Work: Sendable {
        /// Pooled final hidden states of token sequences.
        case embed([[Int32]], Pooling)
        /// The checkpoint's head: class probabilities.
        case classify([[Int32]])
        /// Label probabilities by the language model's likelihood.
        case zeroShot([String], ZeroShot)

        /// Work that may share a batch with other work of the same key.
        var batchKey: String? {
            switch self {
            case .embed(_, let pooling): "embed-\(pooling.rawValue)"
            case .classify: "classify"
            case .zeroShot: nil
            }
        }

        var sequences: [[Int32]] {
            switch self {
            case .embed(let s, _), .classify(let s): s
            case .zeroShot: []
            }
        }
    }

    private struct Job {
        let work: Work
        let done: @Sendable ([[Float]]) -> Void
    }

    let classifier: FeatureExtractor
    let head: ClassifierHead?
    let maxQueued: Int
    private var mutex = pthread_mutex_t()
    private var wake = pthread_cond_t()
    private var queue: [Job] = []
    private var stopping = false

    init(model: Transformer, tokenizer: Tokenizer, head: ClassifierHead?, maxRows: Int, maxQueued: Int) {
        classifier = FeatureExtractor(model: model, tokenizer: tokenizer, maxRows: maxRows)
        self.head = head
        self.maxQueued = maxQueued
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&wake, nil)
    }

    func start() throws {
        let box = Unmanaged.passRetained(self)
        var thread = pthread_t()
        let created = pthread_create(
            &thread, nil,
            { raw in
                Unmanaged<FeatureWorker>.fromOpaque(raw!).takeRetainedValue().run()
                return nil
            }, box.toOpaque())
        guard created == 0 else {
            box.release()
            throw SwiftletError("the system refused a thread for embeddings and classification (error \(created)).")
        }
        pthread_detach(thread)
    }

    /// One row per sequence (or text): pooled features, or probabilities. Throws a refusal when
    /// the queue is full or the worker is stopping.
    func run(_ work: Work) async throws -> [[Float]] {
        try await withCheckedThrowingContinuation { continuation in
            let accepted: EngineDriver.Refusal? = locked {
                if stopping { return .stopping }
                if queue.count >= maxQueued { return .queueFull }
                queue.append(Job(work: work) { continuation.resume(returning: $0) })
                pthread_cond_signal(&wake)
                return nil
            }
            if let accepted { continuation.resume(throwing: accepted) }
        }
    }

    /// Takes no new work; the thread ends once the queue is empty.
    func stop() {
        locked {
            stopping = true
            pthread_cond_signal(&wake)
        }
    }

    private func run() {
        while true {
            let jobs: [Job] = locked {
                while queue.isEmpty && !stopping { pthread_cond_wait(&wake, &mutex) }
                guard let first = queue.first else { return [] }
                // The first job, and every queued job that can share its batch.
                guard let key = first.work.batchKey else { return [queue.removeFirst()] }
                let together = queue.filter { $0.work.batchKey == key }
                queue.removeAll { $0.work.batchKey == key }
                return together
            }
            guard let first = jobs.first else { return }
            switch first.work {
            case .zeroShot(let texts, let zeroShot):
                first.done(
                    zeroShot.probabilities(
                        texts, model: classifier.model, tokenizer: classifier.tokenizer, pass: classifier.pass
                    ).map { $0 })
            case .embed(_, let pooling):
                let rows = features(jobs.flatMap(\.work.sequences), pooling: pooling)
                split(rows, among: jobs)
            case .classify:
                guard let head else {
                    for job in jobs { job.done([]) }
                    continue
                }
                let sequences = jobs.flatMap(\.work.sequences)
                let pooled = features(sequences, pooling: head.config.pooling).flatMap { $0 }
                let probabilities = pooled.withUnsafeBufferPointer {
                    head.probabilities($0.baseAddress!, count: sequences.count)
                }
                split(probabilities, among: jobs)
            }
        }
    }

    private func features(_ sequences: [[Int32]], pooling: Pooling) -> [[Float]] {
        let dim = classifier.model.config.dim
        let flat = classifier.features(encoded: sequences, poolings: [pooling])[pooling]!
        return (0..<sequences.count).map { Array(flat[($0 * dim)..<(($0 + 1) * dim)]) }
    }

    private func split(_ rows: [[Float]], among jobs: [Job]) {
        var start = 0
        for job in jobs {
            let count = job.work.sequences.count
            job.done(Array(rows[start..<(start + count)]))
            start += count
        }
    }

    private func locked<T>(_ body: () -> T) -> T {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return body()
    }
}
