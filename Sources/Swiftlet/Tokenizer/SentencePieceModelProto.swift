/// SentencePiece's serialized model (`ModelProto` of sentencepiece_model.proto), read and written
/// in Swift: the pieces with their scores and types, the trainer spec (model type, special ids,
/// byte fallback, …) and the normalizer spec (including the precompiled character map). Lets
/// Swiftlet inspect a `tokenizer.model` before libsentencepiece sees it, and build one from
/// another format's vocabulary tables (GGUF). Fields it has no accessor for are kept as they
/// were, so decoding and encoding a model written by SentencePiece gives back its bytes.
public struct SentencePieceModelProto: Equatable, Sendable {
    /// ModelProto.SentencePiece.Type.
    public enum PieceType: Int32, Sendable {
        case normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6
    }

    /// TrainerSpec.ModelType.
    public enum ModelType: Int32, Sendable {
        case unigram = 1, bpe = 2, word = 3, character = 4
    }

    public struct Piece: Equatable, Sendable {
        public var message: ProtobufMessage

        public init(piece: String, score: Float, type: PieceType) {
            message = ProtobufMessage()
            self.piece = piece
            self.score = score
            self.type = type
        }

        init(message: ProtobufMessage) { self.message = message }

        public var piece: String {
            get { message.string(1) ?? "" }
            set { message.setString(1, newValue) }
        }

        public var score: Float {
            get { message.float(2) ?? 0 }
            set { message.setFloat(2, newValue) }
        }

        /// NORMAL when absent (the proto's default); an unknown number reads as nil.
        public var type: PieceType? {
            get { message.int32(3).map { PieceType(rawValue: $0) } ?? .normal }
            set { if let newValue { message.setInt32(3, newValue.rawValue) } else { message.remove(3) } }
        }
    }

    /// TrainerSpec fields Swiftlet reads or sets; the proto's defaults where a field is absent.
    public struct TrainerSpec: Equatable, Sendable {
        public var message = ProtobufMessage()
        public init(message: ProtobufMessage = ProtobufMessage()) { self.message = message }

        public var modelType: ModelType? {
            get { ModelType(rawValue: message.int32(3) ?? 1) }
            set { message.setInt32(3, (newValue ?? .unigram).rawValue) }
        }

        public var vocabSize: Int32 {
            get { message.int32(4) ?? 8000 }
            set { message.setInt32(4, newValue) }
        }

        public var byteFallback: Bool {
            get { message.bool(35) ?? false }
            set { message.setBool(35, newValue) }
        }

        public var unknownID: Int32 {
            get { message.int32(40) ?? 0 }
            set { message.setInt32(40, newValue) }
        }

        public var bosID: Int32 {
            get { message.int32(41) ?? 1 }
            set { message.setInt32(41, newValue) }
        }

        public var eosID: Int32 {
            get { message.int32(42) ?? 2 }
            set { message.setInt32(42, newValue) }
        }

        public var padID: Int32 {
            get { message.int32(43) ?? -1 }
            set { message.setInt32(43, newValue) }
        }

        /// The special pieces' spellings: libsentencepiece finds BOS, EOS, … by these, not by
        /// the ids (defaults "<unk>", "<s>", "</s>", "<pad>").
        public var unknownPiece: String {
            get { message.string(45) ?? "<unk>" }
            set { message.setString(45, newValue) }
        }

        public var bosPiece: String {
            get { message.string(46) ?? "<s>" }
            set { message.setString(46, newValue) }
        }

        public var eosPiece: String {
            get { message.string(47) ?? "</s>" }
            set { message.setString(47, newValue) }
        }

        public var padPiece: String {
            get { message.string(48) ?? "<pad>" }
            set { message.setString(48, newValue) }
        }

        public var splitDigits: Bool {
            get { message.bool(25) ?? false }
            set { message.setBool(25, newValue) }
        }

        public var allowWhitespaceOnlyPieces: Bool {
            get { message.bool(26) ?? false }
            set { message.setBool(26, newValue) }
        }

        public var treatWhitespaceAsSuffix: Bool {
            get { message.bool(24) ?? false }
            set { message.setBool(24, newValue) }
        }

        public var controlSymbols: [String] { message.strings(30) }
        public var userDefinedSymbols: [String] { message.strings(31) }
    }

    /// NormalizerSpec: how text is normalized before it is cut into pieces.
    public struct NormalizerSpec: Equatable, Sendable {
        public var message = ProtobufMessage()
        public init(message: ProtobufMessage = ProtobufMessage()) { self.message = message }

        /// "identity", "nmt_nfkc", … (informational: the charsmap is what normalizes).
        public var name: String? {
            get { message.string(1) }
            set { if let newValue { message.setString(1, newValue) } else { message.remove(1) } }
        }

        /// A double-array trie over UTF-8 input and the replacement strings it points into;
        /// empty for no normalization.
        public var precompiledCharsmap: [UInt8] {
            get { message.bytes(2) ?? [] }
            set { message.setBytes(2, newValue) }
        }

        /// Whether a space is put before the text ("▁" before the first word).
        public var addDummyPrefix: Bool {
            get { message.bool(3) ?? true }
            set { message.setBool(3, newValue) }
        }

        public var removeExtraWhitespaces: Bool {
            get { message.bool(4) ?? true }
            set { message.setBool(4, newValue) }
        }

        /// Whether spaces become "▁" inside pieces.
        public var escapeWhitespaces: Bool {
            get { message.bool(5) ?? true }
            set { message.setBool(5, newValue) }
        }
    }

    public var pieces: [Piece]
    public var trainerSpec: TrainerSpec
    public var normalizerSpec: NormalizerSpec
    /// The denormalizer spec, self-test data and anything newer, as read.
    var otherFields: [ProtobufWire.Field]
    /// Which of the two specs the decoded bytes held (an absent one is not written back empty).
    var written: Set<Int> = []

    public init(
        pieces: [Piece], trainerSpec: TrainerSpec = TrainerSpec(), normalizerSpec: NormalizerSpec = NormalizerSpec()
    ) {
        self.pieces = pieces
        self.trainerSpec = trainerSpec
        self.normalizerSpec = normalizerSpec
        otherFields = []
    }

    /// Decodes a serialized model; a malformed one is a sentence ("not a valid SentencePiece
    /// model (…)") for the caller to prefix with the file's name.
    public init(bytes: [UInt8]) throws {
        func invalid(_ reason: String) -> SwiftletError {
            SwiftletError("not a valid SentencePiece model (\(reason)).")
        }
        let fields: [ProtobufWire.Field]
        do throws(ProtobufWire.Malformed) { fields = try ProtobufWire.decode(bytes[...]) } catch {
            throw invalid(error.reason)
        }
        pieces = []
        trainerSpec = TrainerSpec()
        normalizerSpec = NormalizerSpec()
        otherFields = []
        do throws(ProtobufWire.Malformed) {
            for field in fields {
                switch (field.number, field.value) {
                case (1, .bytes(let b)): pieces.append(Piece(message: try ProtobufMessage(bytes: b[...])))
                case (2, .bytes(let b)):
                    trainerSpec.message = try ProtobufMessage(bytes: b[...])
                    written.insert(2)
                case (3, .bytes(let b)):
                    normalizerSpec.message = try ProtobufMessage(bytes: b[...])
                    written.insert(3)
                case (1, _), (2, _), (3, _):
                    throw ProtobufWire.Malformed(reason: "field \(field.number) has the wrong wire type")
                default: otherFields.append(field)
                }
            }
        } catch {
            throw invalid(error.reason)
        }
    }

    /// The model's bytes, fields in the order SentencePiece writes them.
    public var serialized: [UInt8] {
        var out: [UInt8] = []
        for piece in pieces { ProtobufWire.append(ProtobufWire.Field(1, .bytes(piece.message.encoded)), to: &out) }
        for (number, spec) in [(2, trainerSpec.message), (3, normalizerSpec.message)]
        where written.contains(number) || !spec.fields.isEmpty {
            ProtobufWire.append(ProtobufWire.Field(number, .bytes(spec.encoded)), to: &out)
        }
        for field in otherFields { ProtobufWire.append(field, to: &out) }
        return out
    }
}
