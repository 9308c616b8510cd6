import Glibc

extension Benchmarks {
    /// Padding when packing documents of mixed lengths (log-uniform from 2 tokens to 4 contexts)
    /// into training batches, against one document per context-sized row padded to the end,
    /// the way a loader without packing wastes it.
    public static func packing(
        context: Int, batchTokens: Int, documents: Int = 5000, seed: UInt64 = 1
    ) throws -> [BenchResult] {
        var random = RandomGenerator(seed: seed)
        var tokens: [Int32] = [], starts = [0]
        for _ in 0..<documents {
            let length = Int(exp(random.uniform() * log(Double(4 * context) / 2)) * 2)
            tokens += (0..<length).map { _ in Int32(random.below(1000)) }
            starts.append(tokens.count)
        }
        let corpus = WeightedCorpus(name: "mixed", documents: DocumentTokens(tokens: tokens, documentStarts: starts))
        let packer = try BatchPacker(corpora: [corpus], context: context, seed: seed)
        var rows = 0, padding = 0
        while rows < tokens.count {
            let batch = packer.nextBatch(rows: batchTokens)
            rows += batch.rows
            padding += batch.rows - batch.lossTokens
        }
        // Unpacked: each document takes whole rows of `context` predictions.
        var used = 0, reserved = 0
        for d in 0..<documents {
            let predictions = starts[d + 1] - starts[d] - 1
            used += predictions
            reserved += max(1, (predictions + context - 1) / context) * context
        }
        return [
            BenchResult("packing.padding_fraction", Double(padding) / Double(rows), "fraction"),
            BenchResult("packing.unpacked.padding_fraction", Double(reserved - used) / Double(reserved), "fraction"),
        ]
    }
}
