import Hummingbird
import Swiftlet
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// POST /v1/embeddings and POST /v1/classify: texts through the model on the feature worker.
extension SwiftletServer {
    /// The most inputs one request may send (OpenAI's limit for embeddings).
    static let maxInputs = 2048

    func embeddings(_ request: Request, context: BasicRequestContext) async throws -> Response {
        var request = request
        let body = try RequestDecoding.decode(EmbeddingBody.self, from: try await self.body(of: &request))
        try checkModel(body.model)
        let dim = served.model.config.dim
        if let dimensions = body.dimensions?.value, dimensions != dim {
            throw APIError.invalid(
                "dimensions", "this model's embeddings have \(dim) dimensions; `dimensions` cannot change that.")
        }
        let format = body.encodingFormat ?? "float"
        guard format == "float" || format == "base64" else {
            throw APIError.invalid("encoding_format", "`encoding_format` must be float or base64.")
        }
        let pooling: Pooling
        if let name = body.pooling {
            guard let chosen = Pooling(rawValue: name) else {
                throw APIError.invalid("pooling", "`pooling` must be mean or last.")
            }
            pooling = chosen
        } else {
            pooling = served.classifier?.config.pooling ?? .mean
        }
        let sequences = try inputSequences(body.input.items)
        let rows = try await runFeatures(.embed(sequences, pooling))
        let data: [JSONValue] = rows.enumerated().map { i, row in
            let unit = normalized(row)
            let embedding: JSONValue =
                format == "base64"
                ? .string(unit.withUnsafeBytes { Data($0) }.base64EncodedString())
                : .array(unit.map { .float($0) })
            return .object([("object", "embedding"), ("index", .int(i)), ("embedding", embedding)])
        }
        let tokens = sequences.reduce(0) { $0 + $1.count }
        return .json(
            .object([
                ("object", "list"), ("data", .array(data)), ("model", .string(served.name)),
                ("usage", .object([("prompt_tokens", .int(tokens)), ("total_tokens", .int(tokens))])),
            ]))
    }

    func classify(_ request: Request, context: BasicRequestContext) async throws -> Response {
        var request = request
        let body = try RequestDecoding.decode(ClassifyBody.self, from: try await self.body(of: &request))
        try checkModel(body.model)
        let texts = body.input.values
        guard !texts.isEmpty else { throw APIError.invalid("input", "`input` must hold at least one text.") }
        guard texts.count <= Self.maxInputs else {
            throw APIError.invalid("input", "`input` holds at most \(Self.maxInputs) texts.")
        }
        let labels: [String]
        let rows: [[Float]]
        var tokens = 0
        if let names = body.labels {
            let zeroShot = try zeroShot(labels: names, template: body.template)
            for (i, text) in texts.enumerated() {
                let count = served.tokenizer.encode(text).count
                guard count > 0 else {
                    throw APIError.invalid(texts.count == 1 ? "input" : "input[\(i)]", "the text is empty.")
                }
                tokens += count
            }
            labels = zeroShot.labels
            rows = try await runFeatures(.zeroShot(texts, zeroShot))
        } else {
            if body.template != nil { throw APIError.invalid("template", "`template` goes with zero-shot `labels`.") }
            guard let head = served.classifier else {
                throw APIError.invalid(
                    "labels",
                    "this model has no classification head (train one with `swiftlet classify train`); give zero-shot `labels`."
                )
            }
            let sequences = try inputSequences(texts.map { .text($0) })
            tokens = sequences.reduce(0) { $0 + $1.count }
            labels = head.config.labels
            rows = try await runFeatures(.classify(sequences))
        }
        let data: [JSONValue] = rows.enumerated().map { i, p in
            let best = p.indices.max { p[$0] < p[$1] } ?? 0
            return .object([
                ("index", .int(i)), ("label", .string(labels[best])), ("probability", .float(p[best])),
                ("probabilities", .object(zip(labels, p).map { ($0, .float($1)) })),
            ])
        }
        return .json(
            .object([
                ("object", "list"), ("data", .array(data)), ("model", .string(served.name)),
                ("usage", .object([("prompt_tokens", .int(tokens)), ("total_tokens", .int(tokens))])),
            ]))
    }

    /// Each input as the classifier reads it: text with the end-of-sequence token appended, or
    /// token ids as given; none may be empty or longer than the context.
    func inputSequences(_ items: [TextsOrTokens.Item]) throws -> [[Int32]] {
        guard !items.isEmpty else { throw APIError.invalid("input", "`input` must hold at least one input.") }
        guard items.count <= Self.maxInputs else {
            throw APIError.invalid("input", "`input` holds at most \(Self.maxInputs) inputs.")
        }
        let context = served.model.config.contextLength, vocab = served.model.config.vocabSize
        let tokenizer = served.tokenizer
        return try items.enumerated().map { i, item in
            let field = items.count == 1 ? "input" : "input[\(i)]"
            var tokens: [Int32]
            switch item {
            case .text(let text):
                guard !text.isEmpty else { throw APIError.invalid(field, "`\(field)` is empty.") }
                tokens = tokenizer.encodeDocument(text)
                if tokenizer.eosID >= 0 { tokens.append(tokenizer.eosID) }
            case .tokens(let ids):
                guard !ids.isEmpty else { throw APIError.invalid(field, "`\(field)` is empty.") }
                guard ids.allSatisfy({ $0 >= 0 && $0 < vocab }) else {
                    throw APIError.invalid(
                        field, "`\(field)` holds token ids outside the model's vocabulary of \(vocab).")
                }
                tokens = ids.map { Int32($0) }
            }
            guard tokens.count <= context else {
                throw APIError.invalid(
                    field, "`\(field)` is \(tokens.count) tokens, but this model's context holds \(context).",
                    code: "context_length_exceeded")
            }
            return tokens
        }
    }

    func zeroShot(labels: [String], template: String?) throws -> ZeroShot {
        let cleaned = labels.map { $0.trimmingWhitespace }
        guard cleaned.count >= 2, !cleaned.contains(where: \.isEmpty) else {
            throw APIError.invalid("labels", "`labels` must hold at least two labels, none of them empty.")
        }
        guard Set(cleaned).count == cleaned.count else {
            throw APIError.invalid("labels", "`labels` names a label twice.")
        }
        do {
            return try ZeroShot(labels: cleaned, template: template ?? ZeroShot.defaultTemplate)
        } catch let error as SwiftletError {
            throw APIError.invalid("template", error.message)
        }
    }

    func runFeatures(_ work: FeatureWorker.Work) async throws -> [[Float]] {
        do {
            return try await features.run(work)
        } catch let refusal as EngineDriver.Refusal {
            throw unavailable(refusal)
        }
    }

    /// Unit length, as OpenAI's embeddings are (cosine similarity is then a dot product).
    func normalized(_ row: [Float]) -> [Float] {
        let norm = row.reduce(0) { $0 + Double($1) * Double($1) }.squareRoot()
        return norm > 0 ? row.map { Float(Double($0) / norm) } : row
    }
}
