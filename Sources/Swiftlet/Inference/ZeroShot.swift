/// Zero-shot classification: each label is scored by the language model's log-likelihood of
/// the template's label part given the text, with no training. Every (text, label) pair is one
/// sequence of a packed batch.
public struct ZeroShot: Sendable {
    public let labels: [String]
    /// Contains {text} and {label}; what follows {label} is scored with it.
    public let template: String

    public static let defaultTemplate = "Text: {text}\nLabel: {label}"

    public init(labels: [String], template: String = ZeroShot.defaultTemplate) throws {
        let cleaned = labels.map { $0.trimmingWhitespace }.filter { !$0.isEmpty }
        guard cleaned.count >= 2 else {
            throw SwiftletError("--labels needs at least two labels, separated by commas.")
        }
        guard Set(cleaned).count == cleaned.count else { throw SwiftletError("--labels names a label twice.") }
        guard template.contains("{text}"), template.contains("{label}") else {
            throw SwiftletError("the template must contain {text} and {label}.")
        }
        guard template.firstRange(of: "{label}")!.lowerBound > template.firstRange(of: "{text}")!.lowerBound else {
            throw SwiftletError("the template must put {label} after {text}.")
        }
        self.labels = cleaned
        self.template = template
    }

    /// Probabilities over the labels (a softmax of their log-likelihoods) for every text;
    /// `progress` hears how many texts are done after each forward pass.
    public func probabilities(
        _ texts: [String], model: Transformer, tokenizer: Tokenizer, pass: some BatchScoring,
        progress: (Int) -> Void = { _ in }
    ) -> [[Float]] {
        let labelAt = template.firstRange(of: "{label}")!
        let context = model.config.contextLength
        var sequences: [(tokens: [Int32], scored: Int)] = []
        for text in texts {
            let prefix = tokenizer.encodeDocument(
                String(template[..<labelAt.lowerBound]).replacing("{text}", with: text))
            for label in labels {
                let scored = tokenizer.encode(label + String(template[labelAt.upperBound...]))
                // A long text loses its beginning: the label must fit after it.
                var tokens = prefix + scored
                if tokens.count > context { tokens.removeFirst(tokens.count - context) }
                sequences.append((tokens, min(scored.count, tokens.count - 1)))
            }
        }
        var logLikelihoods = [Double](repeating: 0, count: sequences.count)
        var start = 0
        while start < sequences.count {
            var batch = Batch(tokens: [], targets: [], positions: [], cumulativeLengths: [0])
            var end = start
            while end < sequences.count, batch.rows + sequences[end].tokens.count - 1 <= pass.maxRows {
                let (tokens, scored) = sequences[end]
                var window = TokenWindow(tokens: tokens[...])
                window.trainable = ArraySlice((0..<tokens.count).map { $0 >= tokens.count - scored })
                batch.append(window)
                end += 1
            }
            var rowLosses = [Float](repeating: 0, count: batch.rows)
            _ = pass.loss(batch, rowLosses: &rowLosses)
            for s in start..<end {
                let rows = batch.cumulativeLengths[s - start]..<batch.cumulativeLengths[s - start + 1]
                logLikelihoods[s] = -rows.reduce(0.0) { $0 + Double(rowLosses[$1]) }
            }
            start = end
            progress(start / labels.count)
        }
        return (0..<texts.count).map { t in
            let scores = logLikelihoods[t * labels.count..<(t + 1) * labels.count]
            let top = scores.max()!
            let exps = scores.map { exp($0 - top) }
            let sum = exps.reduce(0, +)
            return exps.map { Float($0 / sum) }
        }
    }
}
