/// Runs texts through the model in packed batches (many texts per forward pass, each its own
/// sequence) and pools their final hidden states: the features a classification head reads
/// (`ClassifierHead`), or embeddings. Forward only (`ScoringPass`): no gradients, no
/// backward buffers.
public final class FeatureExtractor {
    public let model: Transformer
    public let tokenizer: Tokenizer
    public let pass: ScoringPass
    /// The most tokens of one text (its beginning is kept): the model's context unless a
    /// shorter one was asked for.
    public let context: Int

    /// Rows of one pass when none are asked for: a few dozen short texts, enough rows for the
    /// products to run at full speed.
    public static let defaultRows = 1024

    /// `context`: the most tokens of a text (nil or more than the model's: the model's context);
    /// a long-context model's texts are short, and the pass needs rows for one text only.
    /// `maxRows` is raised to one context when smaller, so any text fits a pass.
    public init(
        model: Transformer, tokenizer: Tokenizer, maxRows: Int = FeatureExtractor.defaultRows, context: Int? = nil,
        adapters: LoRAAdapters? = nil
    ) {
        self.model = model
        self.tokenizer = tokenizer
        self.context = max(1, min(context ?? model.config.contextLength, model.config.contextLength))
        pass = ScoringPass(model: model, maxRows: max(maxRows, self.context), adapters: adapters)
    }

    /// A text's tokens, ending with the end-of-sequence token (so the last token has read the
    /// whole text); a text longer than the context keeps its beginning.
    public func tokens(_ text: String) -> [Int32] {
        Self.tokens(text, tokenizer: tokenizer, context: context)
    }

    /// A text's tokens as `tokens(_:)` makes them, for a context of `context` tokens.
    public static func tokens(_ text: String, tokenizer: Tokenizer, context: Int) -> [Int32] {
        var tokens = tokenizer.encodeDocument(text)
        let room = max(context - (tokenizer.eosID >= 0 ? 1 : 0), 0)
        if tokens.count > room { tokens.removeLast(tokens.count - room) }
        if tokenizer.eosID >= 0 { tokens.append(tokenizer.eosID) }
        if tokens.isEmpty { tokens = [max(tokenizer.bosID, 0)] }
        return tokens
    }

    /// Consecutive texts grouped into batches of at most the pass's rows.
    public func batches(_ encoded: [[Int32]]) -> [(range: Range<Int>, batch: Batch)] {
        Self.batches(encoded, maxRows: pass.maxRows)
    }

    /// Consecutive sequences grouped into batches of at most `maxRows` rows.
    public static func batches(_ encoded: [[Int32]], maxRows: Int) -> [(range: Range<Int>, batch: Batch)] {
        groups(lengths: encoded.map(\.count), maxRows: maxRows).map { ($0, batch(encoded[$0])) }
    }

    /// Sequences packed as one batch, each its own document, nothing scored.
    public static func batch(_ sequences: some Sequence<[Int32]>) -> Batch {
        var batch = Batch(tokens: [], targets: [], positions: [], cumulativeLengths: [0])
        for sequence in sequences { batch.appendUnscored(sequence) }
        return batch
    }

    /// Which consecutive sequences `batches` puts together, from their lengths alone (every
    /// rank of a data-parallel run can count the others' passes without packing them).
    public static func groups(lengths: [Int], maxRows: Int) -> [Range<Int>] {
        var result: [Range<Int>] = []
        var start = 0
        while start < lengths.count {
            var end = start, rows = 0
            while end < lengths.count, rows + lengths[end] <= maxRows {
                rows += lengths[end]
                end += 1
            }
            result.append(start..<end)
            start = end
        }
        return result
    }

    /// Pooled final hidden states (texts × dim) for each pooling asked for, from one forward pass
    /// per batch; `progress` hears how many texts are done after each.
    public func features(
        _ texts: [String], poolings: [Pooling], progress: (Int) -> Void = { _ in }
    ) -> [Pooling: [Float]] {
        features(encoded: texts.map(tokens), poolings: poolings, progress: progress)
    }

    /// The same for texts already encoded (as `tokens` encodes them, or token ids given as they
    /// are: each sequence must be non-empty, within the vocabulary, and no longer than the context).
    public func features(
        encoded: [[Int32]], poolings: [Pooling], progress: (Int) -> Void = { _ in }
    ) -> [Pooling: [Float]] {
        features(encoded: encoded, poolings: poolings, share: (0, 1), progress: progress)
    }

    /// Only the passes i with i mod `share.of` = `share.rank` (a rank's share of them, see the
    /// distributed `features`); the other texts' rows stay zero.
    func features(
        encoded: [[Int32]], poolings: [Pooling], share: (rank: Int, of: Int), progress: (Int) -> Void
    ) -> [Pooling: [Float]] {
        let dim = model.config.dim
        var out = Dictionary(
            uniqueKeysWithValues: poolings.map { ($0, [Float](repeating: 0, count: encoded.count * dim)) })
        for (i, (range, batch)) in batches(encoded).enumerated() where i % share.of == share.rank {
            pass.forward(batch)
            for pooling in poolings {
                out[pooling]!.withUnsafeMutableBufferPointer { buffer in
                    ClassifierHead.pool(
                        pass.finalHidden, cumulativeLengths: batch.cumulativeLengths, dim: dim, pooling: pooling,
                        into: buffer.baseAddress! + range.lowerBound * dim)
                }
            }
            progress(range.upperBound)
        }
        return out
    }

    /// Class probabilities of every text under `head`.
    public func probabilities(_ texts: [String], head: ClassifierHead, progress: (Int) -> Void = { _ in }) -> [[Float]]
    {
        probabilities(encoded: texts.map(tokens), head: head, progress: progress)
    }

    /// The same for texts already encoded (see `features(encoded:poolings:progress:)`).
    public func probabilities(encoded: [[Int32]], head: ClassifierHead, progress: (Int) -> Void = { _ in }) -> [[Float]]
    {
        let features = features(encoded: encoded, poolings: [head.config.pooling], progress: progress)[
            head.config.pooling]!
        return features.withUnsafeBufferPointer { head.probabilities($0.baseAddress!, count: encoded.count) }
    }
}
