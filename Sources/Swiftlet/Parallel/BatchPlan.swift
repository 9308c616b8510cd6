/// How one optimizer step's batch of `batchTokens` rows is cut among the ranks of a
/// data-parallel job and, within each rank, into micro-batches. The packer draws the global
/// batch in this order — rank 0's micro-batches, then rank 1's, … — so every rank knows the
/// same global batch and builds only its own slice of it; a single process with
/// `--micro-batch-tokens` equal to one rank's share builds exactly the same batch.
public struct BatchPlan: Equatable, Sendable {
    /// Rows of each micro-batch, per rank.
    public let microBatches: [[Int]]

    /// A rank whose share is empty (fewer rows than ranks: a classifier epoch's last, short
    /// step) has no micro-batches; it still takes part in the step's sums.
    public init(batchTokens: Int, microBatchTokens: Int, ranks: Int) {
        precondition(batchTokens >= 0 && ranks > 0 && microBatchTokens > 0)
        // Equal shares; the first batchTokens % ranks ranks take one row more.
        microBatches = (0..<ranks).map { rank in
            let share = batchTokens / ranks + (rank < batchTokens % ranks ? 1 : 0)
            return stride(from: 0, to: share, by: microBatchTokens).map { min(microBatchTokens, share - $0) }
        }
    }

    /// The global index of `rank`'s first micro-batch (dropout streams are keyed by it).
    public func firstMicroBatch(of rank: Int) -> Int {
        microBatches[..<rank].reduce(0) { $0 + $1.count }
    }

    /// Draws the step's batch from `packer`: `rank`'s micro-batches packed, the others'
    /// skipped, and the target count of the whole global batch (each rank's gradient is scaled
    /// by it, so the ranks' sum is the mean over every target of the step).
    public func draw(from packer: BatchPacker, rank: Int) -> (batches: [Batch], globalTargets: Int) {
        var batches: [Batch] = []
        var targets = 0
        for (owner, rows) in microBatches.enumerated() {
            for count in rows {
                if owner == rank {
                    let batch = packer.nextBatch(rows: count)
                    targets += batch.lossTokens
                    batches.append(batch)
                } else {
                    targets += packer.skipBatch(rows: count)
                }
            }
        }
        return (batches, targets)
    }
}
