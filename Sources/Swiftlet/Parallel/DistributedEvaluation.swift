extension Evaluator {
    /// `evaluate` with the windows dealt out among the ranks (window i to rank i mod size) and
    /// the sums combined: every rank gets the result of the whole set. Collective.
    public static func evaluate(
        pass: TrainingPass, tokenizer: Tokenizer, windows: [TokenWindow],
        communicator: Communicator
    ) throws -> EvaluationResult {
        guard communicator.isParallel else { return evaluate(pass: pass, tokenizer: tokenizer, windows: windows) }
        let share = stride(from: communicator.rank, to: windows.count, by: communicator.size).map { windows[$0] }
        let part = evaluate(pass: pass, tokenizer: tokenizer, windows: share)
        var sums = [part.tokens > 0 ? part.loss * Double(part.tokens) : 0, Double(part.tokens), Double(part.bytes)]
        try communicator.allReduceSum(&sums)
        let tokens = Int(sums[1])
        return EvaluationResult(loss: tokens > 0 ? sums[0] / sums[1] : .nan, tokens: tokens, bytes: Int(sums[2]))
    }
}

extension FeatureExtractor {
    /// `features(encoded:poolings:)` with the passes dealt out among the ranks (pass i to rank
    /// i mod size) and gathered by a sum (each rank fills its own texts' rows, the others'
    /// stay zero): every rank ends with the features one process computes, bit for bit, since
    /// each pass holds the same texts. Collective.
    /// `progress` hears how many texts are done after each of this rank's passes.
    public func features(
        encoded: [[Int32]], poolings: [Pooling], communicator: Communicator,
        progress: (Int) -> Void = { _ in }
    ) throws -> [Pooling: [Float]] {
        guard communicator.isParallel else { return features(encoded: encoded, poolings: poolings, progress: progress) }
        var out = features(
            encoded: encoded, poolings: poolings, share: (communicator.rank, communicator.size), progress: progress)
        for pooling in poolings {
            try out[pooling]!.withUnsafeMutableBufferPointer {
                try communicator.allReduceSum($0.baseAddress!, count: $0.count)
            }
        }
        return out
    }
}
