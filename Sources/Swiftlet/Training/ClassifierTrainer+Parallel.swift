#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// How one end-to-end classifier step's texts are cut among the ranks and into passes: one
/// consecutive share per rank (`BatchPlan`'s equal shares, counted in texts), each share in
/// micro-batches of at most `microBatchSize` texts, each of those in passes of at most
/// `maxRows` rows. One process with `microBatchSize` equal to a share takes the same passes
/// in the same order, so its dropout streams (keyed by the global pass index) and its
/// gradients are the ranks' together.
struct ClassifierStepPlan {
    /// Per rank, its passes as ranges of the step's texts.
    let passes: [[Range<Int>]]

    init(lengths: [Int], microBatchSize: Int, maxRows: Int, ranks: Int) {
        let plan = BatchPlan(batchTokens: lengths.count, microBatchTokens: microBatchSize, ranks: ranks)
        var start = 0
        var passes: [[Range<Int>]] = []
        for sizes in plan.microBatches {
            var mine: [Range<Int>] = []
            for size in sizes {
                let offset = start
                mine += FeatureExtractor.groups(lengths: Array(lengths[offset..<offset + size]), maxRows: maxRows)
                    .map { ($0.lowerBound + offset)..<($0.upperBound + offset) }
                start += size
            }
            passes.append(mine)
        }
        self.passes = passes
    }

    /// The global index of `rank`'s first pass.
    func firstPass(of rank: Int) -> Int {
        passes[..<rank].reduce(0) { $0 + $1.count }
    }
}

extension ClassifierTrainer {
    /// Ranks started with different settings, examples, tokenizer or base weights would train
    /// apart while seeming to train together: they refuse to start, and rank 0 says what differs.
    func checkRanksAgree() throws {
        try communicator.refuseUnlessRanksAgree(on: fingerprints())
    }

    /// What every rank must hold alike, each part digested on its own so a refusal can name it.
    func fingerprints() -> [(String, RunFingerprint)] {
        var settings = RunFingerprint(), data = RunFingerprint(), tokenizer = RunFingerprint(),
            weights = RunFingerprint()
        settings.add(String(describing: options))
        settings.add(labels.joined(separator: "\n"))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        settings.add((try? encoder.encode(base.model.config)).map { Array($0) } ?? [])
        for (name, examples) in [("train", train), ("validation", validation)] {
            data.add(name)
            for example in examples {
                data.add(example.text)
                data.add([Int64(example.label)])
            }
        }
        tokenizer.add(base.tokenizer.modelBytes)
        weights.add(base.model.parameters)
        return [
            ("settings (options, labels and model shape)", settings), ("tokenizer", tokenizer),
            ("training or validation examples", data),
            ("base weights", weights),
        ]
    }

    /// The head on frozen features is trained alike on every rank (it is cheap); rank 0's result
    /// is the one kept, so the ranks go on from the same head even if their arithmetic differed.
    func keepRankZerosHead() throws {
        guard communicator.isParallel, let head else { return }
        var bytes = [UInt8](UnsafeRawBufferPointer(start: head.parameters.pointer, count: head.parameters.count * 4))
        try communicator.broadcast(&bytes, root: 0)
        bytes.withUnsafeBytes {
            UnsafeMutableRawPointer(head.parameters.pointer).copyMemory(from: $0.baseAddress!, byteCount: $0.count)
        }
        // Rank 0's accuracy, gathered by a sum to which only it contributes.
        var accuracy = [communicator.isRoot ? bestAccuracy : 0]
        try communicator.allReduceSum(&accuracy)
        setBestAccuracy(accuracy[0])
    }

    /// Whether any rank says yes: every rank stops (or goes on) at the same point. Collective.
    func agreed(_ here: Bool) throws -> Bool {
        guard communicator.isParallel else { return here }
        var flag = [here ? 1.0 : 0]
        try communicator.allReduceMax(&flag)
        return flag[0] > 0
    }

    /// The step's gradient all-reduce (`Communicator.sumGradients`), its times added up.
    func sumOverRanks(_ gradients: FloatBuffer) throws {
        let (waiting, summing) = try communicator.sumGradients(gradients)
        gradientWaitSeconds += waiting
        gradientSumSeconds += summing
    }

    /// Keeps a metric, and (rank 0) appends it live to the saved checkpoint's metrics.jsonl.
    func append(_ record: MetricRecord) {
        appendRecord(record)
        if communicator.isRoot { CheckpointStore.appendMetric(record, to: directory) }
    }
}
