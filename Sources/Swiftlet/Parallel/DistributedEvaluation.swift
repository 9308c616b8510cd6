extension Evaluator {
    /// `evaluate` with the windows dealt out among the ranks (window i to rank i mod size) and
    /// the sums combined: every rank gets the result of the whole set. Collective.
    public static func evaluate(pass: TrainingPass, tokenizer: Tokenizer, windows: [TokenWindow],
                                communicator: Communicator) throws -> EvaluationResult {
        guard communicator.isParallel else { return evaluate(pass: pass, tokenizer: tokenizer, windows: windows) }
        let share = stride(from: communicator.rank, to: windows.count, by: communicator.size).map { windows[$0] }
        let part = evaluate(pass: pass, tokenizer: tokenizer, windows: share)
        var sums = [part.tokens > 0 ? part.loss * Double(part.tokens) : 0, Double(part.tokens), Double(part.bytes)]
        try communicator.allReduceSum(&sums)
        let tokens = Int(sums[1])
        return EvaluationResult(loss: tokens > 0 ? sums[0] / sums[1] : .nan, tokens: tokens, bytes: Int(sums[2]))
    }
}
