#if canImport(Glibc)
import Glibc
#endif

/// What a command will allocate, estimated before any of it is, so a request this machine
/// cannot hold is refused with one sentence instead of an abort halfway (or the OOM killer).
/// The figures follow the buffers the code allocates (TrainingPass, ScoringPass, Optimizer,
/// KVBlockPool, GenerationPass); they are estimates within a few percent, not a promise to the byte.
public struct MemoryPlan: Sendable {
    public var parts: [(name: String, bytes: Int)] = []

    public init(_ parts: [(name: String, bytes: Int)] = []) { self.parts = parts }

    /// Saturating: a product that overflows Int counts as Int.max (and is refused).
    public var total: Int {
        parts.reduce(0) { $0.addingReportingOverflow($1.bytes).overflow ? Int.max : $0 + $1.bytes }
    }

    public mutating func add(_ name: String, floats: Int...) {
        var product = 4
        for factor in floats {
            let (p, overflow) = product.multipliedReportingOverflow(by: max(factor, 0))
            product = overflow ? Int.max : p
        }
        parts.append((name, product))
    }

    /// Physical memory of this machine (or of the cgroup the process runs in, when smaller).
    public static var machineBytes: Int {
        let pages = sysconf(Int32(_SC_PHYS_PAGES)), size = sysconf(Int32(_SC_PAGESIZE))
        var bytes = pages > 0 && size > 0 ? pages * size : Int.max
        for path in ["/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"] {
            if let text = try? FileIO.readUTF8(path, limit: 4096), let limit = Int(text.trimmingWhitespace), limit > 0 {
                bytes = min(bytes, limit)
            }
        }
        return bytes
    }

    /// "about 4.6 GB (weights 1.1 GB, gradients 1.1 GB, …)", the parts largest first.
    public var summary: String {
        let parts = self.parts.filter { $0.bytes > 0 }.sorted { $0.bytes > $1.bytes }.map {
            "\($0.name) \(Format.bytes($0.bytes))"
        }
        return "about \(Format.bytes(total)) (\(parts.joined(separator: ", ")))"
    }

    /// Refuses when the plan exceeds `available` (this machine's memory by default).
    public func check(_ what: String, available: Int = MemoryPlan.machineBytes) throws {
        let total = total
        guard total > available else { return }
        let largest = parts.sorted { $0.bytes > $1.bytes }.prefix(3).map { "\($0.name) \(Format.bytes($0.bytes))" }
        throw SwiftletError(
            "\(what) needs about \(Format.bytes(total)) of memory (\(largest.joined(separator: ", "))), more than the \(Format.bytes(available)) this machine has."
        )
    }

    // MARK: - The commands' plans

    /// The model's parameters as loaded.
    public static func weights(_ c: ModelConfig) -> MemoryPlan {
        var plan = MemoryPlan()
        plan.add("weights", floats: c.parameterCount)
        return plan
    }

    /// Training: weights, gradients, AdamW's two moments for the `trainedParameters` (LoRA's
    /// adapters, or every weight but a frozen embedding table; all of them by default), and one
    /// micro-batch's activations (with their bf16 copies in a bf16 pass). `logits`: whether the
    /// pass computes the language-model loss (a classifier's does not).
    public static func training(
        _ c: ModelConfig, rows: Int, trainedParameters: Int? = nil, logits: Bool = true, precision: Precision = .fp32
    ) -> MemoryPlan {
        var plan = weights(c)
        let trained = trainedParameters ?? c.parameterCount
        // Full gradients are always kept (the base's too under LoRA: TrainingPass allocates them).
        plan.add("gradients", floats: c.parameterCount)
        plan.add("optimizer", floats: 2, trained)
        // Per row and layer: the residual, two norms, q, k, v, attention, middle, gate, up,
        // hidden and dropout masks as TrainingPass keeps them (Gemma 3 adds the queries and keys
        // before their norms and both branches before theirs), plus the backward's scratch.
        var perLayer = 7 * c.dim + 2 * c.queryDim + 2 * c.kvDim + 3 * c.hiddenDim + c.heads
        var scratch = 4 * c.dim + 2 * c.queryDim + 2 * c.kvDim + 3 * c.hiddenDim
        if c.gemma != nil {
            perLayer += c.queryDim + c.kvDim + c.heads + c.kvHeads + 2 * c.dim + 2
            scratch += c.dim + max(c.queryDim, c.kvDim)
        }
        plan.add("activations", floats: rows, c.layers * perLayer + scratch)
        // The vocabulary projection is computed (and its gradient taken) a chunk of rows at a time.
        if logits { plan.add("logits", floats: CrossEntropy.chunkRows, c.vocabSize) }
        if precision == .bf16 { plan.parts.append(("bf16 copies", bfloat16CopyBytes(c, rows: rows, logits: logits))) }
        return plan
    }

    /// What a save allocates beyond what the run already holds: its files stream the weights,
    /// the AdamW moments and the head from where they lie (`FileBytes`), so only a merged copy
    /// of the model, when adapters are merged in, is new (the configs and tokenizer are small).
    public mutating func addSaving(_ c: ModelConfig, mergesAdapters: Bool = false) {
        add("saving", floats: mergesAdapters ? c.parameterCount : 0)
    }

    /// A bf16 training pass's copies, 2 bytes a value: every weight matrix rounded once per pass
    /// (MatrixEngine's weight copies; the vocabulary projection's only when logits are computed),
    /// the activations that feed products (PassBuffers' `bits`: per layer both norms, the
    /// attention and the feed-forward's hidden; the final norm; the backward's branch, q, k, v,
    /// gate and up), the logits chunk's, and MatrixEngine's two scratch operands. oneDNN's
    /// scratchpads per product shape are left out (the Gemma 3 270M polarity run: 9.4 GiB
    /// planned, 9.85 GiB peak RSS).
    static func bfloat16CopyBytes(_ c: ModelConfig, rows: Int, logits: Bool) -> Int {
        let matrices =
            c.layers * (2 * c.dim * c.queryDim + 2 * c.dim * c.kvDim + 3 * c.dim * c.hiddenDim)
            + (logits ? c.vocabSize * c.dim : 0)
        let perRow =
            c.layers * (2 * c.dim + c.queryDim + c.hiddenDim) + 2 * c.dim + c.queryDim + 2 * c.kvDim + 2 * c.hiddenDim
            + 2 * max(c.dim, c.queryDim, c.hiddenDim)
        return 2 * (matrices + rows * perRow + (logits ? CrossEntropy.chunkRows * c.vocabSize : 0))
    }

    /// Forward only (evaluation, classification, embeddings): weights and a `ScoringPass`.
    public static func scoring(_ c: ModelConfig, rows: Int) -> MemoryPlan {
        var plan = weights(c)
        plan.parts.append(("activations", ScoringPass.bytes(c, rows: rows)))
        return plan
    }

    /// Decoding: weights, the KV cache for `sequences` × the context, and the batch's buffers.
    public static func generation(_ c: ModelConfig, sequences: Int, rows: Int, logitRows: Int) -> MemoryPlan {
        var plan = weights(c)
        plan.add("KV cache", floats: 2, c.layers, sequences, c.contextLength + 16, c.kvDim)
        plan.add("activations", floats: rows, 5 * c.dim + 2 * c.kvDim + 3 * c.hiddenDim + c.heads)
        plan.add("logits", floats: logitRows, c.vocabSize + c.dim)
        return plan
    }
}
