/// The text of one `--data` source, read and split, before tokenizing.
public struct SourceText: Sendable {
    public let source: DataSource
    public let train: Corpus
    public let validation: Corpus?

    /// Reads the source's files (a folder with train/ and val/ splits itself; `validation`
    /// names held-out files otherwise).
    public static func read(_ source: DataSource, validation: [String], format: DocumentFormat) throws -> SourceText {
        let split = try DataSplit.resolve(data: source.paths, validation: validation)
        return SourceText(
            source: source, train: try CorpusReader.readText(paths: split.trainFiles, format: format),
            validation: split.validationFiles.isEmpty
                ? nil : try CorpusReader.readText(paths: split.validationFiles, format: format))
    }
}

/// A source tokenized into what the trainer takes.
public struct PreparedCorpus: Sendable {
    public let training: WeightedCorpus
    public let validation: ValidationSet
    /// Whether the training tokens came from the token cache.
    public let cached: Bool
    /// Whether the validation text was cut from the end of the training text.
    public let heldOutFromTraining: Bool

    /// Tokenizes the source; without validation text the last `heldOutFraction` of the tokens is held out.
    public static func prepare(
        _ text: SourceText, tokenizer: Tokenizer, heldOutFraction: Double
    ) throws -> PreparedCorpus {
        var (documents, cached) = try TokenCache.tokens(of: text.train, tokenizer: tokenizer)
        var heldOut: DocumentTokens
        if let corpus = text.validation {
            heldOut = try TokenCache.tokens(of: corpus, tokenizer: tokenizer).documents
        } else {
            (documents, heldOut) = documents.splitTail(fraction: heldOutFraction)
        }
        let name = text.source.name
        return PreparedCorpus(
            training: WeightedCorpus(name: name, weight: text.source.weight ?? 1, documents: documents),
            validation: ValidationSet(name: name, documents: heldOut), cached: cached,
            heldOutFromTraining: text.validation == nil)
    }
}
