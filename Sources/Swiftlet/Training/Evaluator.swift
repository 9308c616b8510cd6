import Glibc

/// Loss, perplexity and bits per byte of a model on held-out tokens.
public struct EvaluationResult: Sendable {
    public let loss: Double
    public let tokens: Int
    public let bytes: Int
    public var perplexity: Double { exp(loss) }
    /// Nats per token → bits per byte of the text those tokens spell.
    public var bitsPerByte: Double { loss * Double(tokens) / (Double(max(bytes, 1)) * log(2)) }
}

/// One validation corpus's result, when a run has several.
public struct CorpusEvaluation: Sendable {
    public let name: String
    public let result: EvaluationResult
    public init(name: String, result: EvaluationResult) {
        self.name = name
        self.result = result
    }
}

/// Held-out text of one corpus.
public struct ValidationSet: Sendable {
    public let name: String
    public let documents: DocumentTokens
    public init(name: String, documents: DocumentTokens) {
        self.name = name
        self.documents = documents
    }
}

public enum Evaluator {
    /// Cuts each document into back-to-back windows of up to `context` predictions (each
    /// window's first token has no prediction, as in training; no window crosses a document
    /// boundary) and keeps windows until they hold `maxTokens` predictions.
    public static func windows(of documents: DocumentTokens, context: Int, maxTokens: Int) -> [TokenWindow] {
        var windows: [TokenWindow] = []
        var total = 0
        for d in 0..<documents.documentCount {
            let range = documents.document(d)
            var start = range.lowerBound
            while range.upperBound - start >= 2, total < maxTokens {
                let end = min(start + context + 1, range.upperBound)
                windows.append(documents.window(start, end))
                total += end - start - 1
                start = end - 1
            }
            if total >= maxTokens { break }
        }
        return windows
    }

    /// llama.cpp's perplexity windows: whole chunks of `chunk` tokens, each scored on the
    /// predictions of its second half (from position chunk/2 on), so every scored token sees at
    /// least half a chunk of context. Fewer than two chunks of text give none (as there). With
    /// `bos` (a tokenizer that adds it, such as Gemma's, and has put it before the text), each
    /// chunk's first token is replaced by it, as llama-perplexity does: a model trained with BOS
    /// first scores far worse without it.
    public static func perplexityChunks(_ tokens: [Int32], chunk: Int, bos: Int32? = nil) -> [TokenWindow] {
        var tokens = tokens
        guard tokens.count >= 2 * chunk else { return [] }
        if let bos {
            for start in stride(from: 0, to: tokens.count, by: chunk) { tokens[start] = bos }
        }
        let scored = (0..<chunk).map { $0 > chunk / 2 }
        return (0..<tokens.count / chunk).map {
            TokenWindow(tokens: tokens[$0 * chunk..<($0 + 1) * chunk], trainable: scored[...])
        }
    }

    /// Scores the windows in packed passes of up to the pass's rows.
    public static func evaluate(
        pass: some BatchScoring, tokenizer: Tokenizer, windows: [TokenWindow]
    ) -> EvaluationResult {
        var lossSum: Double = 0, tokens = 0, bytes = 0
        var batch = Batch(windows: [])
        func flush() {
            guard batch.rows > 0 else { return }
            lossSum += pass.loss(batch, rowLosses: nil)
            tokens += batch.lossTokens
            bytes += batch.targets.withUnsafeBufferPointer { tokenizer.byteCount($0) }
            batch = Batch(windows: [])
        }
        for window in windows {
            if batch.rows + window.rows > pass.maxRows { flush() }
            batch.append(window)
        }
        flush()
        return EvaluationResult(loss: tokens > 0 ? lossSum / Double(tokens) : .nan, tokens: tokens, bytes: bytes)
    }

    /// Several corpora's results as one: token-weighted loss, summed tokens and bytes.
    public static func combine(_ results: [EvaluationResult]) -> EvaluationResult {
        let tokens = results.reduce(0) { $0 + $1.tokens }
        let lossSum = results.reduce(0.0) { $0 + $1.loss * Double($1.tokens) }
        return EvaluationResult(
            loss: tokens > 0 ? lossSum / Double(tokens) : .nan, tokens: tokens,
            bytes: results.reduce(0) { $0 + $1.bytes })
    }
}
