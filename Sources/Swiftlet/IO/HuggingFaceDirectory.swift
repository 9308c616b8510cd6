#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A checkpoint directory is a Hugging Face model directory: config.json holds `LlamaConfig`'s
/// keys with Swiftlet's own facts under "swiftlet", beside model.safetensors (Hugging Face's
/// tensor names), tokenizer.model and the tokenizer and generation files transformers reads.
/// Any `LlamaForCausalLM` directory with a tokenizer.model loads the same way.
public enum HuggingFaceDirectory {
    public static let format = "swiftlet-checkpoint-2"
    public static let tokenizerConfig = "tokenizer_config.json"
    public static let specialTokensMap = "special_tokens_map.json"
    public static let generationConfig = "generation_config.json"

    /// Reads config.json in any of the three layouts: Swiftlet's first (no Hugging Face keys),
    /// Swiftlet's current one, or a plain Hugging Face directory (`swiftlet` absent).
    static func readConfig(_ dir: String, tokenizer: Tokenizer) throws -> (CheckpointConfig, CheckpointSource) {
        let path = dir + "/" + CheckpointFiles.config
        guard let json = JSONValue.parse(try FileIO.readBytes(path)), json.object != nil else {
            throw SwiftletError("\(path) is not valid JSON.")
        }
        if json["format"]?.string == "swiftlet-checkpoint-1" {
            return (try Checkpoint.readConfig(dir), .swiftlet(version: 1))
        }
        var model = try HuggingFaceConfig.modelConfig(json, path: path)
        guard let own = json["swiftlet"] else {
            // A Hugging Face directory: the tokenizer and chat template are what its files say.
            let template = chatTemplate(dir).flatMap { recognizedTemplate($0, tokenizer: tokenizer) }
            return (
                CheckpointConfig(model: model, tokenizer: TokenizerFacts(tokenizer), training: [:], chat: template),
                .huggingFace
            )
        }
        guard own["format"]?.string == format else {
            throw SwiftletError(
                "\(path) was written by a newer Swiftlet (format \(own["format"]?.string ?? "unknown")).")
        }
        do {
            let facts = try JSONDecoder().decode(
                TokenizerFacts.self, from: Data(JSONEncoder().encode(own["tokenizer"] ?? .null)))
            let chat = try own["chat"].flatMap {
                $0.isNull ? nil : try JSONDecoder().decode(ChatTemplate.self, from: Data(JSONEncoder().encode($0)))
            }
            var training: [String: String] = [:]
            for (k, v) in own["training"]?.object ?? [:] { training[k] = v.string }
            model.dropout = Float(own["dropout"]?.number ?? 0)
            try model.validate()
            var config = CheckpointConfig(model: model, tokenizer: facts, training: training, chat: chat)
            config.writtenBy = own["writtenBy"]?.string
            return (config, .swiftlet(version: 2))
        } catch let error as SwiftletError {
            throw SwiftletError("\(path): \(error.message)")
        } catch {
            throw SwiftletError("\(path) is not a valid Swiftlet config.")
        }
    }

    /// config.json for a checkpoint: Hugging Face's keys plus Swiftlet's facts.
    public static func configJSON(_ config: CheckpointConfig, dtype: String = "float32") throws -> JSONValue {
        var keys = HuggingFaceConfig.keys(
            for: config.model, bosID: config.tokenizer.bosID, eosID: config.tokenizer.eosID,
            padID: config.model.gemma == nil ? -1 : 0, dtype: dtype)
        var own: [String: JSONValue] = [
            "format": .string(format),
            "tokenizer": try JSONDecoder().decode(JSONValue.self, from: Data(JSONEncoder().encode(config.tokenizer))),
            "training": .object(config.training.mapValues { .string($0) }),
            "dropout": .float(config.model.dropout),
        ]
        if let writtenBy = config.writtenBy { own["writtenBy"] = .string(writtenBy) }
        if let chat = config.chat {
            own["chat"] = try JSONDecoder().decode(JSONValue.self, from: Data(JSONEncoder().encode(chat)))
        }
        keys["swiftlet"] = .object(own)
        return .object(keys)
    }

    /// The files of a checkpoint that describe the model (config, weights, tokenizer and the
    /// files transformers' AutoTokenizer and generate read).
    public static func files(
        _ config: CheckpointConfig, model: Transformer, tokenizer: Tokenizer
    ) throws -> [String: FileBytes] {
        var files = tokenizerFiles(config, tokenizer: tokenizer).mapValues(FileBytes.init)
        files[CheckpointFiles.config] = FileBytes(Array(try configJSON(config).prettyText.utf8))
        files[CheckpointFiles.model] = Checkpoint.weightFile(model)
        files[CheckpointFiles.tokenizer] = FileBytes(tokenizer.modelBytes)
        return files
    }

    static func tokenJSON(_ content: String, normalized: Bool = false, special: Bool = true) -> JSONValue {
        .object([
            "content": .string(content), "lstrip": .bool(false), "rstrip": .bool(false),
            "normalized": .bool(normalized),
            "single_word": .bool(false), "special": .bool(special),
        ])
    }

    /// tokenizer_config.json, special_tokens_map.json and generation_config.json. The tokenizer
    /// is told what Swiftlet's SentencePiece models do: BOS added only for a model that expects it
    /// (Gemma), no EOS, no space prepended
    /// (`legacy: false` with `add_prefix_space: false`), the chat markers as whole tokens.
    public static func tokenizerFiles(_ config: CheckpointConfig, tokenizer: Tokenizer) -> [String: [UInt8]] {
        let gemma = isGemmaVocabulary(tokenizer)
        let padID: Int32 = gemma ? 0 : -1
        let specials = [tokenizer.unknownID, tokenizer.bosID, tokenizer.eosID, padID].filter { $0 >= 0 }
        // The chat markers, each once (Gemma's template has two: start and end of turn).
        var markers: [Int32] = []
        let template = gemma ? ChatTemplate.gemma : .standard
        for id in (try? template.markers(tokenizer)).map({ [$0.system, $0.user, $0.assistant, $0.endOfTurn] }) ?? []
        where !markers.contains(id) {
            markers.append(id)
        }
        var decoder: [String: JSONValue] = [:]
        // Every user-defined piece too: SentencePiece matches them whole before anything else,
        // and so does the fast tokenizer transformers converts from tokenizer.model once they
        // are its added tokens — runs of whitespace ("▁▁▁", "\n\n") after its normalizer turns
        // spaces into "▁" (normalized), the rest in the raw text. Control spellings (the turn
        // markers, Gemma's <unusedN>) are special.
        let pieces = (try? SentencePieceModelProto(bytes: tokenizer.modelBytes))?.pieces ?? []
        for (id, piece) in pieces.enumerated() where piece.type == .userDefined {
            let whitespace = piece.piece.unicodeScalars.allSatisfy { $0 == "\u{2581}" || $0 == "\n" || $0 == "\t" }
            decoder[String(id)] = tokenJSON(
                piece.piece, normalized: whitespace, special: !whitespace && GGUFModel.isControlSpelling(piece.piece))
        }
        for id in specials + markers { decoder[String(id)] = tokenJSON(tokenizer.piece(id)) }
        func piece(_ id: Int32) -> JSONValue { id >= 0 ? .string(tokenizer.piece(id)) : .null }
        var tokenizerConfig: [String: JSONValue] = [
            // Gemma's tokenizer class converts its vocabulary with Gemma's fixed special ids.
            "tokenizer_class": .string(gemma ? "GemmaTokenizer" : "LlamaTokenizer"),
            "add_bos_token": .bool(tokenizer.addsBOS),
            "add_eos_token": .bool(false),
            "add_prefix_space": .bool(false),
            "legacy": .bool(false),
            "bos_token": piece(tokenizer.bosID),
            "eos_token": piece(tokenizer.eosID),
            "unk_token": piece(tokenizer.unknownID),
            "pad_token": piece(padID),
            "clean_up_tokenization_spaces": .bool(false),
            "spaces_between_special_tokens": .bool(false),
            "sp_model_kwargs": .object([:]),
            "model_max_length": .number(Double(config.model.contextLength)),
            "added_tokens_decoder": .object(decoder),
            "additional_special_tokens": .array(markers.map { .string(tokenizer.piece($0)) }),
        ]
        var special: [String: JSONValue] = [
            "bos_token": tokenJSON(tokenizer.piece(tokenizer.bosID)),
            "eos_token": tokenJSON(tokenizer.piece(tokenizer.eosID)),
            "unk_token": tokenJSON(tokenizer.piece(tokenizer.unknownID)),
        ]
        if padID >= 0 { special["pad_token"] = tokenJSON(tokenizer.piece(padID)) }
        if !markers.isEmpty {
            special["additional_special_tokens"] = .array(markers.map { tokenJSON(tokenizer.piece($0)) })
        }
        var generation: [String: JSONValue] = [
            "bos_token_id": .number(Double(tokenizer.bosID)),
            "eos_token_id": .number(Double(tokenizer.eosID)),
        ]
        if padID >= 0 { generation["pad_token_id"] = .number(Double(padID)) }
        if let chat = config.chat, let ids = try? chat.markers(tokenizer) {
            tokenizerConfig["chat_template"] = .string(jinja(chat))
            // A reply ends at the end-of-turn marker, as in Swiftlet's chat.
            generation["eos_token_id"] = .array([.number(Double(ids.endOfTurn)), .number(Double(tokenizer.eosID))])
        }
        return [
            tokenizerConfigName: Array(JSONValue.object(tokenizerConfig).prettyText.utf8),
            specialTokensMap: Array(JSONValue.object(special).prettyText.utf8),
            generationConfig: Array(JSONValue.object(generation).prettyText.utf8),
        ]
    }

    static let tokenizerConfigName = tokenizerConfig

    /// Whether a vocabulary is laid out as Gemma's (`<pad>`, `<eos>`, `<bos>`, `<unk>` as ids
    /// 0–3), which is what transformers' GemmaTokenizer assumes when it converts one.
    public static func isGemmaVocabulary(_ tokenizer: Tokenizer) -> Bool {
        tokenizer.vocabSize > 3 && (0..<4).map { tokenizer.piece(Int32($0)) } == ["<pad>", "<eos>", "<bos>", "<unk>"]
    }

    /// Swiftlet's chat template in Jinja (what transformers' `apply_chat_template` and
    /// llama.cpp run): each turn is its role marker, the content and the end-of-turn marker;
    /// the generation prompt is the assistant's marker.
    public static func jinja(_ t: ChatTemplate) -> String {
        func literal(_ s: String) -> String {
            "'" + s.replacingAll("\\", with: "\\\\").replacingAll("'", with: "\\'") + "'"
        }
        if t.layout == .gemma {
            // Gemma's layout (see ChatTemplate): BOS, turns named user and model, the system
            // prompt and a blank line at the head of the first user turn.
            let start = literal(t.user), end = literal(t.endOfTurn)
            return "{{ bos_token }}"
                + "{% if messages[0]['role'] == 'system' %}{% set first = messages[0]['content'] + '\\n\\n' %}{% set turns = messages[1:] %}"
                + "{% else %}{% set first = '' %}{% set turns = messages %}{% endif %}"
                + "{% for message in turns %}"
                + "{% if message['role'] == 'assistant' %}{% set role = 'model' %}{% elif message['role'] == 'user' %}{% set role = 'user' %}"
                + "{% else %}{{ raise_exception('Only one system message, then user and assistant roles are supported.') }}{% endif %}"
                + "{{ \(start) + role + '\\n' + (first if loop.first else '') + message['content'] + \(end) + '\\n' }}"
                + "{% endfor %}"
                + "{% if add_generation_prompt %}{{ \(start) + 'model\\n' }}{% endif %}"
        }
        return "{% for message in messages %}"
            + "{% if message['role'] == 'system' %}{{ \(literal(t.system)) }}"
            + "{% elif message['role'] == 'user' %}{{ \(literal(t.user)) }}"
            + "{% elif message['role'] == 'assistant' %}{{ \(literal(t.assistant)) }}"
            + "{% else %}{{ raise_exception('Only system, user and assistant roles are supported.') }}{% endif %}"
            + "{{ message['content'] + \(literal(t.endOfTurn)) }}"
            + "{% endfor %}"
            + "{% if add_generation_prompt %}{{ \(literal(t.assistant)) }}{% endif %}"
    }

    /// The template a stored Jinja chat template is, when it is one of Swiftlet's (written by
    /// `jinja`) or Gemma's own (its turn markers), and the tokenizer has its markers.
    /// Anything else is not run: the model chats only once tuned with a known template.
    static func recognizedTemplate(_ text: String, tokenizer: Tokenizer) -> ChatTemplate? {
        for template in [ChatTemplate.standard, .gemma] where (try? template.markers(tokenizer)) != nil {
            if text == jinja(template) { return template }
            // Google's own template (instruction-tuned Gemma GGUFs and directories) renders the same turns.
            if template.layout == .gemma, text.contains(GemmaPieces.startOfTurn), text.contains(GemmaPieces.endOfTurn) {
                return template
            }
        }
        return nil
    }

    /// Whether a directory's tokenizer_config.json asks for BOS before every text (absent: no,
    /// as Swiftlet's checkpoints before Gemma were written).
    public static func addsBOS(_ dir: String) -> Bool {
        guard let bytes = try? FileIO.readBytes(dir + "/" + tokenizerConfig), let json = JSONValue.parse(bytes) else {
            return false
        }
        return json["add_bos_token"]?.bool ?? false
    }

    /// The chat template in a directory's tokenizer_config.json, if any.
    static func chatTemplate(_ dir: String) -> String? {
        guard let bytes = try? FileIO.readBytes(dir + "/" + tokenizerConfig), let json = JSONValue.parse(bytes) else {
            return nil
        }
        return json["chat_template"]?.string
    }

    /// Fills the model from a directory's safetensors, checking every name and shape before the
    /// first byte is converted. Returns what was converted, for `info`.
    static func loadWeights(_ weights: HuggingFaceWeights, into model: Transformer, dir: String) throws -> [String] {
        try check(weights, against: model.layout.views, config: model.config, dir: dir)
        let isGemma = model.config.gemma != nil
        for view in model.layout.views {
            let destination = model.parameters.pointer + view.offset
            try weights.decode(view.name, into: destination)
            // Gemma 3 stores w where the norm scales by 1 + w; Swiftlet holds that gain.
            if isGemma && isGemmaNormGain(view) {
                for i in 0..<view.count { destination[i] += 1 }
            }
            try refuseNonFinite(destination, count: view.count, name: view.name, path: dir)
        }
        var conversions: [String] = []
        let widened = weights.dtypes.subtracting(["F32"]).sorted()
        if !widened.isEmpty { conversions.append("\(widened.joined(separator: " and ")) weights widened to fp32") }
        if weights.sharded { conversions.append("\(weights.files.count) safetensors shards joined") }
        return conversions
    }

    /// Whether a tensor of a Gemma 3 model is a norm's gain (all of them end in norm.weight:
    /// input_layernorm, q_norm, k_norm, the post- and pre- norms, model.norm).
    static func isGemmaNormGain(_ view: TensorView) -> Bool {
        view.shape.count == 1 && view.name.hasSuffix("norm.weight")
    }

    /// A NaN or infinite weight would poison every result silently.
    static func refuseNonFinite(_ values: UnsafeMutablePointer<Float>, count: Int, name: String, path: String) throws {
        if let bad = (0..<count).first(where: { !values[$0].isFinite }) {
            throw SwiftletError(
                "\(path): tensor \(name) holds a value that is not a finite number (\(values[bad]) at index \(bad)).")
        }
    }

    static func check(
        _ weights: HuggingFaceWeights, against views: [TensorView], config: ModelConfig, dir: String
    ) throws {
        let stored = weights.files.reduce(0) { $0 + $1.entries.values.reduce(0) { $0 + $1.elementCount } }
        guard stored >= config.parameterCount else {
            throw SwiftletError(
                "\(dir) holds \(Format.grouped(stored)) parameters, but \(CheckpointFiles.config) describes a model of \(Format.grouped(config.parameterCount))."
            )
        }
        for view in views {
            guard let entry = weights.entry(view.name) else {
                if view.name == "lm_head.weight" {
                    throw SwiftletError(
                        "\(dir) has no lm_head.weight, but its config says the output head is not tied to the embedding."
                    )
                }
                throw SwiftletError("\(dir) has no tensor \(view.name).")
            }
            guard entry.shape == view.shape else {
                throw SwiftletError(
                    "\(dir): tensor \(view.name) has shape \(entry.shape) but the config says \(view.shape).")
            }
        }
        let known = Set(views.map(\.name))
        for name in weights.names.sorted() where !known.contains(name) {
            if name.hasSuffix("rotary_emb.inv_freq") || (name == "lm_head.weight" && config.tiedEmbedding) { continue }
            if name.hasSuffix(".bias") {
                throw SwiftletError("\(dir) has the bias \(name); Swiftlet's Llama has no biases.")
            }
            throw SwiftletError(
                "\(dir) has the tensor \(name), which a \(config.gemma == nil ? "Llama" : "Gemma 3") model does not have."
            )
        }
    }
}

/// Which layout a checkpoint was loaded from, and so what `info` says about it.
public enum CheckpointSource: Equatable, Sendable, CustomStringConvertible {
    case swiftlet(version: Int)
    case huggingFace
    case gguf(version: UInt32, fileType: String)

    public var description: String {
        switch self {
        case .swiftlet(2): "Swiftlet checkpoint (a Hugging Face model directory)"
        case .swiftlet(let v):
            "Swiftlet checkpoint, format \(v) (before Hugging Face keys; `swiftlet export --format hf` writes a copy transformers loads, and the next save upgrades it)"
        case .huggingFace: "Hugging Face model directory"
        case .gguf(let v, let fileType): "GGUF version \(v) (llama architecture, \(fileType))"
        }
    }
}
