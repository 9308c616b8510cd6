/// A Llama model as a llama-architecture GGUF, both ways. llama.cpp's names are
/// `token_embd`, `blk.N.attn_q`, …, `output`; its RoPE rotates adjacent pairs where Hugging
/// Face's (and Swiftlet's) rotates the two halves of each head, so the rows of the query and
/// key projections are permuted on the way out and back on the way in. The vocabulary is
/// SentencePiece's pieces, scores and types, which llama.cpp tokenizes by merging the
/// best-scoring pair first — SentencePiece's BPE — so a tokenizer is rebuilt from the tables
/// as a BPE model and tokenizes as llama.cpp does.
public enum GGUFModel {
    /// GGUF's token types (llama.cpp's `llama_token_type`) are SentencePiece's piece types.
    static let tokenTypes: [SentencePieceModelProto.PieceType: Int32] = [
        .normal: 1, .unknown: 2, .control: 3, .userDefined: 4, .unused: 5, .byte: 6,
    ]

    /// llama.cpp's name of a tensor Swiftlet names as Hugging Face does. Gemma 3's layer names
    /// differ: its norms before and after each branch, and its per-head query and key norms.
    static func tensorName(_ view: String, gemma: Bool = false) -> String? {
        switch view {
        case "model.embed_tokens.weight": return "token_embd.weight"
        case "model.norm.weight": return "output_norm.weight"
        case "lm_head.weight": return "output.weight"
        default: break
        }
        let parts = view.split(separator: ".")
        guard parts.count >= 5, parts[0] == "model", parts[1] == "layers", let layer = Int(parts[2]) else { return nil }
        if gemma {
            let names = [
                "input_layernorm.weight": "attn_norm", "self_attn.q_proj.weight": "attn_q",
                "self_attn.k_proj.weight": "attn_k",
                "self_attn.v_proj.weight": "attn_v", "self_attn.o_proj.weight": "attn_output",
                "self_attn.q_norm.weight": "attn_q_norm", "self_attn.k_norm.weight": "attn_k_norm",
                "post_attention_layernorm.weight": "post_attention_norm",
                "pre_feedforward_layernorm.weight": "ffn_norm",
                "mlp.gate_proj.weight": "ffn_gate", "mlp.up_proj.weight": "ffn_up", "mlp.down_proj.weight": "ffn_down",
                "post_feedforward_layernorm.weight": "post_ffw_norm",
            ]
            return names[parts[3...].joined(separator: ".")].map { "blk.\(layer).\($0).weight" }
        }
        let names = [
            "input_layernorm.weight": "attn_norm", "self_attn.q_proj.weight": "attn_q",
            "self_attn.k_proj.weight": "attn_k",
            "self_attn.v_proj.weight": "attn_v", "self_attn.o_proj.weight": "attn_output",
            "post_attention_layernorm.weight": "ffn_norm", "mlp.gate_proj.weight": "ffn_gate",
            "mlp.up_proj.weight": "ffn_up", "mlp.down_proj.weight": "ffn_down",
        ]
        return names[parts[3...].joined(separator: ".")].map { "blk.\(layer).\($0).weight" }
    }

    /// Row order of a query or key projection: Hugging Face's halves ↔ llama.cpp's pairs.
    /// Row `h·d + 2i + j` of llama.cpp's layout is row `h·d + j·d/2 + i` of Hugging Face's.
    static func permuteRows(
        _ source: UnsafePointer<Float>, _ destination: UnsafeMutablePointer<Float>,
        heads: Int, headDim: Int, columns: Int, toLlamaCpp: Bool
    ) {
        let half = headDim / 2
        for h in 0..<heads {
            for i in 0..<half {
                for j in 0..<2 {
                    let pair = h * headDim + 2 * i + j, halves = h * headDim + j * half + i
                    let (from, to) = toLlamaCpp ? (halves, pair) : (pair, halves)
                    (destination + to * columns).update(from: source + from * columns, count: columns)
                }
            }
        }
    }

    // MARK: Reading

    public static func load(_ path: String) throws -> Checkpoint {
        let gguf = try GGUFFile(path)
        let m = gguf.metadata
        let (config, tokenizer) = try modelConfig(gguf, path: path)
        // Gemma 3's files keep Hugging Face's row order (llama.cpp rotates its heads' halves, as
        // Swiftlet does), and its norm gains already hold 1 + w: both are used as stored.
        let isGemma = config.gemma != nil
        // Every tensor is found and its shape checked before the weights are allocated.
        let layout = ParameterLayout(config: config)
        var sources: [(TensorView, GGUFTensorInfo)] = []
        for view in layout.views {
            guard let name = tensorName(view.name, gemma: isGemma), let tensor = gguf.tensor(named: name) else {
                throw SwiftletError("\(path) has no tensor \(tensorName(view.name, gemma: isGemma) ?? view.name).")
            }
            guard tensor.shape == view.shape else {
                throw SwiftletError(
                    "\(path): tensor \(tensor.name) has shape \(tensor.shape) but its metadata says \(view.shape).")
            }
            guard tensor.type.codec != nil else {
                throw SwiftletError(
                    "\(path): tensor \(tensor.name) is \(tensor.type), which Swiftlet cannot read yet (it reads F32, F16, BF16, Q8_0, Q4_0, Q5_0, Q4_K and Q6_K)."
                )
            }
            sources.append((view, tensor))
        }
        let known = Set(sources.map(\.1.name))
        if let extra = gguf.tensors.first(where: { !known.contains($0.name) }) {
            throw SwiftletError(
                "\(path) has the tensor \(extra.name), which Swiftlet's \(isGemma ? "Gemma 3" : "Llama") does not have."
            )
        }
        try MemoryPlan.weights(config).check("loading \(path)")
        let model = Transformer(config: config)
        var scratch: FloatBuffer? = nil
        for (view, tensor) in sources {
            let destination = model.parameters.pointer + view.offset
            let isQuery = view.name.hasSuffix("q_proj.weight"), isKey = view.name.hasSuffix("k_proj.weight")
            if (isQuery || isKey) && !isGemma {
                if scratch == nil || scratch!.count < view.count { scratch = FloatBuffer(count: view.count) }
                try gguf.decode(tensor, into: scratch!.pointer)
                permuteRows(
                    scratch!.pointer, destination, heads: isQuery ? config.heads : config.kvHeads,
                    headDim: config.headDim,
                    columns: config.dim, toLlamaCpp: false)
            } else {
                try gguf.decode(tensor, into: destination)
            }
            try HuggingFaceDirectory.refuseNonFinite(destination, count: view.count, name: tensor.name, path: path)
        }
        let storedWeights = storedWeights(gguf, sources, config: config)
        let types = Dictionary(grouping: sources.map(\.1.type.description), by: { $0 }).mapValues(\.count)
        let typeSummary = types.sorted { $0.value > $1.value }.map { "\($0.key) ×\($0.value)" }.joined(separator: ", ")
        var conversions = ["tensors (\(typeSummary)) decoded to fp32"]
        if !isGemma { conversions.append("query and key rows reordered from llama.cpp's RoPE layout") }
        conversions.append(
            "tokenizer rebuilt from the GGUF's \(tokenizer.vocabSize) tokens as a SentencePiece BPE model")
        if tokenizer.addsBOS { conversions.append("every text starts with BOS, as the file asks (add_bos_token)") }
        let chat = m["tokenizer.chat_template"]?.string.flatMap {
            HuggingFaceDirectory.recognizedTemplate($0, tokenizer: tokenizer)
        }
        let name = m["general.name"]?.string
        var checkpoint = Checkpoint(
            directory: path,
            config: CheckpointConfig(
                model: config, tokenizer: TokenizerFacts(tokenizer),
                training: name.map { ["name": $0] } ?? [:], chat: chat),
            model: model, tokenizer: tokenizer)
        checkpoint.source = .gguf(version: gguf.version, fileType: typeSummary)
        checkpoint.conversions = conversions
        checkpoint.storedWeights = storedWeights
        return checkpoint
    }

    /// The architectures Swiftlet reads, and the key prefix of their metadata.
    static let architectures = ["llama", "gemma3"]

    /// The model shape and tokenizer a GGUF's metadata describe (llama or gemma3), every
    /// missing or impossible value one sentence.
    static func modelConfig(_ gguf: GGUFFile, path: String) throws -> (ModelConfig, Tokenizer) {
        let m = gguf.metadata
        let architecture = m["general.architecture"]?.string ?? "no"
        guard architectures.contains(architecture) else {
            throw SwiftletError(
                "\(path) is a GGUF of the \(architecture) architecture; Swiftlet runs llama and gemma3 models only.")
        }
        let vocabulary = m["tokenizer.ggml.model"]?.string ?? "no"
        guard vocabulary == "llama" else {
            let kind = vocabulary == "gpt2" ? "a GPT-2-style BPE vocabulary" : "a \(vocabulary) vocabulary"
            throw SwiftletError("\(path) has \(kind); Swiftlet needs a SentencePiece (llama) vocabulary.")
        }
        let prefix = architecture + "."
        if let scaling = m[prefix + "rope.scaling.type"]?.string, scaling != "none" {
            throw SwiftletError("\(path) uses \(scaling) rope scaling; Swiftlet supports plain RoPE only.")
        }
        if gguf.tensor(named: "rope_freqs.weight") != nil {
            throw SwiftletError("\(path) scales its rope frequencies (rope_freqs); Swiftlet supports plain RoPE only.")
        }
        for key in ["attn_logit_softcapping", "final_logit_softcapping"] where (m[prefix + key]?.number ?? 0) != 0 {
            throw SwiftletError("\(path) caps its logits (\(prefix + key)), which Swiftlet does not do.")
        }
        func integer(_ key: String, default value: Int? = nil) throws -> Int {
            guard let v = m[prefix + key] else {
                guard let value else { throw SwiftletError("\(path) has no \(prefix + key).") }
                return value
            }
            guard let n = v.integer, n > 0 else {
                throw SwiftletError("\(path): \(prefix + key) must be a positive whole number.")
            }
            return n
        }
        let tokenizer = try rebuiltTokenizer(m, path: path)
        let dim = try integer("embedding_length"), heads = try integer("attention.head_count")
        let headDim = try integer("attention.key_length", default: dim % heads == 0 ? dim / heads : nil)
        guard try integer("attention.value_length", default: headDim) == headDim else {
            throw SwiftletError(
                "\(path) has keys and values of different widths, which Swiftlet's attention does not support.")
        }
        guard try integer("rope.dimension_count", default: headDim) == headDim else {
            throw SwiftletError("\(path) rotates only part of each head; Swiftlet's RoPE rotates whole heads.")
        }
        guard let embedding = gguf.tensor(named: "token_embd.weight"), embedding.dimensions.count == 2 else {
            throw SwiftletError("\(path) has no token_embd.weight.")
        }
        var config = ModelConfig(
            dim: dim, layers: try integer("block_count"), heads: heads,
            kvHeads: try integer("attention.head_count_kv", default: heads),
            hiddenDim: try integer("feed_forward_length"), vocabSize: embedding.dimensions[1],
            contextLength: try integer("context_length", default: 2048),
            tiedEmbedding: gguf.tensor(named: "output.weight") == nil)
        if let eps = m[prefix + "attention.layer_norm_rms_epsilon"]?.number { config.normEpsilon = Float(eps) }
        if let theta = m[prefix + "rope.freq_base"]?.number { config.ropeTheta = Float(theta) }
        if headDim * heads != dim { config.headDimension = headDim }
        if architecture == "gemma3" {
            // llama.cpp's reading of the same file: every 6th layer global unless
            // sliding_window_pattern says otherwise, local layers with RoPE base 10,000 unless
            // rope.freq_base_swa says otherwise, and queries scaled by 1/√headDim
            // (1/√(dim/heads) for the 62-layer 27B model).
            var gemma = ModelConfig.GemmaOptions(
                slidingWindow: try integer("attention.sliding_window"),
                globalInterval: try integer("attention.sliding_window_pattern", default: 6))
            if let theta = m[prefix + "rope.freq_base_swa"]?.number { gemma.localRopeTheta = Float(theta) }
            gemma.queryPreAttentionScalar = Float(config.layers == 62 ? dim / heads : headDim)
            config.gemma = gemma
        }
        do { try config.validate() } catch let error as SwiftletError {
            throw SwiftletError("\(path): \(error.message)")
        }
        guard tokenizer.vocabSize <= config.vocabSize else {
            throw SwiftletError("\(path) has \(tokenizer.vocabSize) tokens but only \(config.vocabSize) embeddings.")
        }
        return (config, tokenizer)
    }

    /// The file's quantized product matrices that a kernel takes, packed when asked for (query
    /// and key rows reordered as the fp32 copy is; rows are whole blocks, so the blocks move
    /// with their rows). Nil when every matrix is F32, F16 or BF16.
    static func storedWeights(
        _ gguf: GGUFFile, _ sources: [(TensorView, GGUFTensorInfo)], config: ModelConfig
    ) -> StoredWeights? {
        let products = Set(QuantizedWeights.productMatrices(ParameterLayout(config: config)))
        let kept = sources.filter { view, tensor in
            products.contains(view.offset) && view.shape.count == 2
                && QuantizedMatrix.supports(tensor.type, columns: view.shape[1])
        }
        guard !kept.isEmpty else { return nil }
        let types = Dictionary(kept.map { ($0.0.offset, $0.1.type) }, uniquingKeysWith: { a, _ in a })
        return StoredWeights(types: types) { model in
            var matrices: [Int: QuantizedMatrix] = [:]
            for (view, tensor) in kept {
                let rows = view.shape[0], columns = view.shape[1], rowBytes = tensor.type.rowBytes(elements: columns)!
                let source = gguf.file.bytes + tensor.offset
                let isQuery = view.name.hasSuffix("q_proj.weight"), isKey = view.name.hasSuffix("k_proj.weight")
                guard (isQuery || isKey) && config.gemma == nil else {
                    matrices[view.offset] = QuantizedMatrix(
                        type: tensor.type, rows: rows, columns: columns, blocks: source)
                    continue
                }
                let reordered = UnsafeMutableRawPointer.allocate(byteCount: rows * rowBytes, alignment: 64)
                defer { reordered.deallocate() }
                let half = config.headDim / 2
                for h in 0..<(isQuery ? config.heads : config.kvHeads) {
                    for i in 0..<half {
                        for j in 0..<2 {  // as permuteRows(toLlamaCpp: false)
                            let pair = h * config.headDim + 2 * i + j, halves = h * config.headDim + j * half + i
                            (reordered + halves * rowBytes).copyMemory(
                                from: source + pair * rowBytes, byteCount: rowBytes)
                        }
                    }
                }
                matrices[view.offset] = QuantizedMatrix(
                    type: tensor.type, rows: rows, columns: columns, blocks: UnsafeRawPointer(reordered))
            }
            return QuantizedWeights(model: model, matrices: matrices)
        }
    }

    /// The tokenizer of a GGUF file alone (for `tokenizer encode -m FILE.gguf`).
    public static func tokenizer(_ path: String) throws -> Tokenizer {
        let gguf = try GGUFFile(path)
        guard gguf.metadata["tokenizer.ggml.model"]?.string == "llama" else {
            throw SwiftletError("\(path) has no SentencePiece (llama) vocabulary.")
        }
        return try rebuiltTokenizer(gguf.metadata, path: path)
    }

    static func rebuiltTokenizer(_ m: [String: GGUFValue], path: String) throws -> Tokenizer {
        let proto = try tokenizerModel(m, path: path)
        do {
            return try Tokenizer(
                modelBytes: proto.serialized, addsBOS: m["tokenizer.ggml.add_bos_token"]?.bool ?? false)
        } catch let error as SwiftletError {
            throw SwiftletError("\(path)'s vocabulary does not make a SentencePiece model: it is \(error.message)")
        }
    }

    /// A SentencePiece model from the GGUF vocabulary tables (see the type's comment).
    static func tokenizerModel(_ m: [String: GGUFValue], path: String) throws -> SentencePieceModelProto {
        guard let tokens = m["tokenizer.ggml.tokens"]?.array?.compactMap(\.string), !tokens.isEmpty else {
            throw SwiftletError("\(path) has no vocabulary (tokenizer.ggml.tokens).")
        }
        let scores = m["tokenizer.ggml.scores"]?.array?.compactMap(\.number) ?? []
        let types = m["tokenizer.ggml.token_type"]?.array?.compactMap(\.integer) ?? []
        guard scores.isEmpty || scores.count == tokens.count, types.isEmpty || types.count == tokens.count else {
            throw SwiftletError("\(path) has vocabulary tables of different lengths.")
        }
        func id(_ key: String, _ fallback: Int) -> Int { m["tokenizer.ggml." + key]?.integer ?? fallback }
        let unknown = id("unknown_token_id", 0), bos = id("bos_token_id", 1), eos = id("eos_token_id", 2),
            pad = id("padding_token_id", -1)
        let typeOf = Dictionary(uniqueKeysWithValues: tokenTypes.map { ($0.value, $0.key) })
        var pieces: [SentencePieceModelProto.Piece] = []
        // Pieces are byte strings: two spellings of one character (Gemma's vocabulary has both
        // forms of some Bengali letters) are two pieces, though Swift's String calls them equal.
        var seen = Set<[UInt8]>()
        for (i, var token) in tokens.enumerated() {
            var type = types.isEmpty ? .normal : (typeOf[Int32(clamping: types[i])] ?? .normal)
            // SentencePiece matches only user-defined pieces in text; llama.cpp matches control
            // tokens too when it renders a chat, so markers written as control come back as
            // user-defined. The special ids stay control pieces.
            if type == .control, i != bos, i != eos, i != pad { type = .userDefined }
            if i == unknown { type = .unknown }
            // llama.cpp matches user-defined tokens in the raw text, before spaces become "▁";
            // SentencePiece matches them after, so a run of spaces (Gemma's "  ", "   ", …)
            // must be spelled with "▁" to be found.
            if type == .userDefined, token.utf8.contains(32) { token = token.replacingAll(" ", with: "\u{2581}") }
            guard seen.insert(Array(token.utf8)).inserted else {
                throw SwiftletError(
                    "\(path) has the token \(token.debugDescription) twice; a SentencePiece vocabulary needs unique pieces."
                )
            }
            pieces.append(
                SentencePieceModelProto.Piece(piece: token, score: scores.isEmpty ? 0 : Float(scores[i]), type: type))
        }
        guard unknown >= 0, unknown < tokens.count else { throw SwiftletError("\(path) has no unknown token.") }
        var trainer = SentencePieceModelProto.TrainerSpec()
        trainer.modelType = .bpe
        trainer.vocabSize = Int32(tokens.count)
        trainer.byteFallback = pieces.contains { $0.type == .byte }
        trainer.unknownID = Int32(unknown)
        trainer.bosID = bos >= 0 && bos < tokens.count ? Int32(bos) : -1
        trainer.eosID = eos >= 0 && eos < tokens.count ? Int32(eos) : -1
        trainer.padID = pad >= 0 && pad < tokens.count ? Int32(pad) : -1
        // Gemma spells them <bos>, <eos>, <pad>; libsentencepiece looks the ids up by spelling.
        // (Set only where they differ from the defaults, so a Llama vocabulary's model stays as it was.)
        if pieces[unknown].piece != trainer.unknownPiece { trainer.unknownPiece = pieces[unknown].piece }
        if bos >= 0, bos < tokens.count, pieces[bos].piece != trainer.bosPiece { trainer.bosPiece = pieces[bos].piece }
        if eos >= 0, eos < tokens.count, pieces[eos].piece != trainer.eosPiece { trainer.eosPiece = pieces[eos].piece }
        if pad >= 0, pad < tokens.count, pieces[pad].piece != trainer.padPiece { trainer.padPiece = pieces[pad].piece }
        var normalizer = SentencePieceModelProto.NormalizerSpec()
        normalizer.name = "identity"
        normalizer.addDummyPrefix = m["tokenizer.ggml.add_space_prefix"]?.bool ?? true
        normalizer.removeExtraWhitespaces = false
        normalizer.escapeWhitespaces = true
        return SentencePieceModelProto(pieces: pieces, trainerSpec: trainer, normalizerSpec: normalizer)
    }

    // MARK: Writing

    /// What `export --format gguf --type` writes.
    public static let exportTypes: [String: GGMLType] = [
        "f32": .f32, "f16": .f16, "bf16": .bf16, "q8_0": .q8_0, "q5_0": .q5_0, "q4_0": .q4_0,
    ]
    /// llama.cpp's `llama_ftype` for a file whose matrices are all of one type.
    static let fileTypes: [GGMLType: UInt32] = [.f32: 0, .f16: 1, .q4_0: 2, .q8_0: 7, .q5_0: 8, .bf16: 32]

    /// The GGUF bytes of a checkpoint: 2-D weights in `type` (rows that are not whole blocks
    /// stay F32), norm gains in F32, the vocabulary and chat template in the metadata. Each
    /// tensor is encoded as the file is written, so a save needs one tensor's bytes beside the
    /// model, not the whole file's.
    public static func serialize(_ checkpoint: Checkpoint, type: GGMLType, name: String) throws -> FileBytes {
        guard let encoder = type.encoder, let fileType = fileTypes[type] else {
            throw SwiftletError("Swiftlet writes GGUF as f32, f16, bf16, q8_0, q5_0 or q4_0, not \(type).")
        }
        let c = checkpoint.model.config, tokenizer = checkpoint.tokenizer
        let gemma = c.gemma
        if let gemma {
            // What llama.cpp's gemma3 reads is all it computes: the query scale is 1/√headDim
            // (1/√(dim/heads) for the 62-layer 27B), with no key to say otherwise.
            let scale = c.layers == 62 ? c.dim / c.heads : c.headDim
            guard gemma.queryPreAttentionScalar == Float(scale) else {
                throw SwiftletError(
                    "this Gemma 3 model scales its queries by 1/√\(gemma.queryPreAttentionScalar), which llama.cpp's gemma3 cannot express (it uses 1/√\(scale)); export it as a Hugging Face directory instead."
                )
            }
        }
        let architecture = gemma == nil ? "llama" : "gemma3", prefix = architecture + "."
        var w = GGUFWriter()
        w.set("general.architecture", .string(architecture))
        w.set("general.name", .string(name))
        w.set("general.file_type", .uint32(fileType))
        if [.q8_0, .q5_0, .q4_0].contains(type) { w.set("general.quantization_version", .uint32(2)) }
        if gemma == nil { w.set("llama.vocab_size", .uint32(UInt32(c.vocabSize))) }
        w.set(prefix + "context_length", .uint32(UInt32(c.contextLength)))
        w.set(prefix + "embedding_length", .uint32(UInt32(c.dim)))
        w.set(prefix + "block_count", .uint32(UInt32(c.layers)))
        w.set(prefix + "feed_forward_length", .uint32(UInt32(c.hiddenDim)))
        if gemma == nil { w.set("llama.rope.dimension_count", .uint32(UInt32(c.headDim))) }
        w.set(prefix + "attention.head_count", .uint32(UInt32(c.heads)))
        w.set(prefix + "attention.head_count_kv", .uint32(UInt32(c.kvHeads)))
        w.set(prefix + "attention.layer_norm_rms_epsilon", .float32(c.normEpsilon))
        w.set(prefix + "rope.freq_base", .float32(c.ropeTheta))
        if c.headDimension != nil || gemma != nil {
            w.set(prefix + "attention.key_length", .uint32(UInt32(c.headDim)))
            w.set(prefix + "attention.value_length", .uint32(UInt32(c.headDim)))
        }
        if let gemma {
            w.set("gemma3.attention.sliding_window", .uint32(UInt32(gemma.slidingWindow)))
            w.set("gemma3.attention.sliding_window_pattern", .uint32(UInt32(gemma.globalInterval)))
            w.set("gemma3.rope.freq_base_swa", .float32(gemma.localRopeTheta))
        }
        let proto = try SentencePieceModelProto(bytes: tokenizer.modelBytes)
        var tokens: [String] = [], scores: [Float] = [], types: [Int32] = []
        for piece in proto.pieces {
            let pieceType = piece.type ?? .normal
            // Reading a GGUF turned spaces in user-defined tokens into "▁" (SentencePiece
            // matches them after escaping whitespace; llama.cpp before): turned back here.
            tokens.append(pieceType == .userDefined ? piece.piece.replacingAll("\u{2581}", with: " ") : piece.piece)
            scores.append(piece.score)
            types.append(pieceType == .userDefined && isControlSpelling(piece.piece) ? 3 : tokenTypes[pieceType]!)
        }
        // An embedding with more rows than pieces (a pretrained model's padding) gets unused tokens.
        for i in tokens.count..<c.vocabSize {
            tokens.append("[PAD\(i)]")
            scores.append(-1e9)
            types.append(5)
        }
        w.set("tokenizer.ggml.model", .string("llama"))
        w.set("tokenizer.ggml.pre", .string("default"))
        w.set("tokenizer.ggml.tokens", .strings(tokens))
        w.set("tokenizer.ggml.scores", .floats(scores))
        w.set("tokenizer.ggml.token_type", .int32s(types))
        if tokenizer.bosID >= 0 { w.set("tokenizer.ggml.bos_token_id", .uint32(UInt32(tokenizer.bosID))) }
        if tokenizer.eosID >= 0 { w.set("tokenizer.ggml.eos_token_id", .uint32(UInt32(tokenizer.eosID))) }
        w.set("tokenizer.ggml.unknown_token_id", .uint32(UInt32(tokenizer.unknownID)))
        if proto.trainerSpec.padID >= 0 {
            w.set("tokenizer.ggml.padding_token_id", .uint32(UInt32(proto.trainerSpec.padID)))
        }
        // Swiftlet's tokenization: BOS added only for a model that expects it, no EOS, and a
        // space prepended only if the SentencePiece model itself does so.
        w.set("tokenizer.ggml.add_bos_token", .bool(tokenizer.addsBOS))
        w.set("tokenizer.ggml.add_eos_token", .bool(false))
        w.set("tokenizer.ggml.add_space_prefix", .bool(proto.normalizerSpec.addDummyPrefix))
        if let chat = checkpoint.config.chat, let ids = try? chat.markers(tokenizer) {
            w.set("tokenizer.chat_template", .string(HuggingFaceDirectory.jinja(chat)))
            w.set("tokenizer.ggml.eot_token_id", .uint32(UInt32(ids.endOfTurn)))
        }
        let parameters = checkpoint.model.parameters
        let ordered = checkpoint.model.layout.views.sorted { order($0.name) < order($1.name) }
        for view in ordered {
            guard let ggufName = tensorName(view.name, gemma: gemma != nil) else { continue }
            // Gemma 3's files keep Hugging Face's row order and hold the norm gains (1 + w) as
            // Swiftlet does: written as they are.
            var permutedHeads: Int? = nil  // Llama's q and k rows, permuted for llama.cpp's RoPE
            if gemma == nil, view.name.hasSuffix("q_proj.weight") { permutedHeads = c.heads }
            if gemma == nil, view.name.hasSuffix("k_proj.weight") { permutedHeads = c.kvHeads }
            let rowLength = view.shape.last!
            let whole = view.shape.count > 1 && rowLength % encoder.blockElements == 0
            let chosen: any GGMLBlockEncoder.Type = whole ? encoder : F32Codec.self
            let blocks = view.count / chosen.blockElements
            w.tensors.append(
                GGUFWriter.Tensor(
                    name: ggufName, shape: view.shape, type: whole ? type : .f32, byteCount: blocks * chosen.blockBytes
                ) { [permutedHeads] out in
                    let values = parameters.pointer + view.offset
                    guard let heads = permutedHeads else {
                        return chosen.encode(values, blocks: blocks, into: out.baseAddress!)
                    }
                    let permuted = FloatBuffer(count: view.count)
                    permuteRows(
                        values, permuted.pointer, heads: heads, headDim: c.headDim, columns: c.dim, toLlamaCpp: true)
                    chosen.encode(permuted.pointer, blocks: blocks, into: out.baseAddress!)
                })
        }
        return w.serialized()
    }

    /// Whether a user-defined piece was a control token to llama.cpp: reading a GGUF makes
    /// control tokens user-defined (SentencePiece matches only those in text), so the spellings
    /// that Swiftlet's and Gemma's vocabularies use for control tokens go back as control — the
    /// chat markers (rendered by the template, never produced by tokenizing plain text),
    /// Gemma's `<mask>` and `<unusedN>`.
    static func isControlSpelling(_ piece: String) -> Bool {
        if SpecialPieces.all.contains(piece) || piece == GemmaPieces.startOfTurn || piece == GemmaPieces.endOfTurn
            || piece == "<mask>"
        {
            return true
        }
        let bytes = Array(piece.utf8), prefix = Array("<unused".utf8)
        return bytes.count > prefix.count + 1 && bytes.starts(with: prefix) && bytes.last == UInt8(ascii: ">")
            && bytes[prefix.count..<(bytes.count - 1)].allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
    }

    /// llama.cpp's converter order: embedding, output norm and head, then the blocks.
    static func order(_ name: String) -> (Int, Int, String) {
        if name == "model.embed_tokens.weight" { return (0, 0, "") }
        if name == "model.norm.weight" { return (1, 0, "") }
        if name == "lm_head.weight" { return (2, 0, "") }
        let layer = name.split(separator: ".").dropFirst(2).first.flatMap { Int($0) } ?? 0
        return (3, layer, name)
    }
}
