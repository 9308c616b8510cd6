/// Labels and their probabilities for texts, from the checkpoint's classification head or, when
/// zero-shot labels are given, from the language model's likelihood of each: the one dispatch
/// behind `classify`, `classify eval` and chat's `/classify`.
public enum Classification {
    /// `extractor`: a pass the caller keeps between calls (the REPL's `/classify`); by default
    /// one is sized for these texts (one context for a single text, many texts per pass
    /// otherwise). `progress(done)` is called as texts are finished.
    public static func probabilities(
        _ texts: [String], checkpoint: Checkpoint, zeroShot: ZeroShot?, extractor: FeatureExtractor? = nil,
        progress: (Int) -> Void = { _ in }
    ) throws -> (labels: [String], probabilities: [[Float]]) {
        if zeroShot == nil, checkpoint.classifier == nil {
            throw SwiftletError(
                "\(checkpoint.directory) has no classification head; train one with `swiftlet classify train`, or give --labels for zero-shot."
            )
        }
        if let zeroShot {
            let extractor =
                extractor
                ?? FeatureExtractor(
                    model: checkpoint.model, tokenizer: checkpoint.tokenizer,
                    maxRows: texts.count == 1 ? 0 : FeatureExtractor.defaultRows)
            return (
                zeroShot.labels,
                zeroShot.probabilities(
                    texts, model: checkpoint.model, tokenizer: checkpoint.tokenizer, pass: extractor.pass,
                    progress: progress)
            )
        }
        let head = checkpoint.classifier!
        if let extractor { return (head.config.labels, extractor.probabilities(texts, head: head, progress: progress)) }
        // A pass as long as the longest of these texts, not the model's context (Gemma 3's 32,768
        // tokens would be 1.4 GB of activations for one short review).
        let encoded = texts.map {
            FeatureExtractor.tokens($0, tokenizer: checkpoint.tokenizer, context: checkpoint.model.config.contextLength)
        }
        let sized = FeatureExtractor(
            model: checkpoint.model, tokenizer: checkpoint.tokenizer,
            maxRows: texts.count == 1 ? 0 : FeatureExtractor.defaultRows, context: encoded.map(\.count).max() ?? 1)
        return (head.config.labels, sized.probabilities(encoded: encoded, head: head, progress: progress))
    }
}
