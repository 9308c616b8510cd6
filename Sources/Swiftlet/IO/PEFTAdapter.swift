#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// LoRA adapters in PEFT's format: adapter_config.json and adapter_model.safetensors with
/// PEFT's tensor names (`base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight`), so
/// `PeftModel.from_pretrained(base, DIR)` loads what Swiftlet trained, and adapters PEFT
/// trained on a Llama model load here. The update is W + (alpha / r)·B·A, PEFT's own.
public enum PEFTAdapter {
    public static let config = "adapter_config.json"
    public static let weights = "adapter_model.safetensors"
    static let prefix = "base_model.model."

    static func moduleName(_ target: LoRATarget) -> String { String(target.module.split(separator: ".").last!) }

    /// The two files for a set of adapters; `baseModel` is the directory holding the base
    /// weights (the checkpoint itself), which transformers follows when it loads DIR directly.
    public static func files(_ adapters: LoRAAdapters, baseModel: String) -> [String: [UInt8]] {
        let json: JSONValue = .object([
            "peft_type": .string("LORA"),
            "task_type": .string("CAUSAL_LM"),
            "r": .number(Double(adapters.config.rank)),
            "lora_alpha": .float(adapters.config.alpha),
            "target_modules": .array(adapters.config.targets.map { .string(moduleName($0)) }),
            "lora_dropout": .number(0),
            "bias": .string("none"),
            "fan_in_fan_out": .bool(false),
            "use_rslora": .bool(false),
            "use_dora": .bool(false),
            "init_lora_weights": .bool(true),
            "inference_mode": .bool(true),
            "modules_to_save": .null,
            "layers_to_transform": .null,
            "rank_pattern": .object([:]),
            "alpha_pattern": .object([:]),
            "base_model_name_or_path": .string(absolute(baseModel)),
            "revision": .null,
        ])
        let tensors = adapters.views.map {
            Safetensors.Tensor(
                name: prefix + $0.name, shape: $0.shape,
                values: UnsafeBufferPointer(start: adapters.parameters.pointer + $0.offset, count: $0.count))
        }
        return [
            config: Array(json.prettyText.utf8), weights: Safetensors.serialize(tensors, metadata: ["format": "pt"]),
        ]
    }

    static func absolute(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        let cwd = FileManager.default.currentDirectoryPath
        return (cwd.hasSuffix("/") ? cwd : cwd + "/") + (path.hasPrefix("./") ? String(path.dropFirst(2)) : path)
    }

    /// Reads PEFT adapters for `model`; nil when the directory has none.
    static func load(_ dir: String, model: ModelConfig) throws -> LoRAAdapters? {
        let configPath = dir + "/" + config, weightsPath = dir + "/" + weights
        guard FileIO.exists(configPath) || FileIO.exists(weightsPath) else { return nil }
        guard FileIO.exists(configPath), FileIO.exists(weightsPath) else {
            throw SwiftletError("\(dir) has only one of \(config) and \(weights).")
        }
        guard let json = JSONValue.parse(try FileIO.readBytes(configPath)), json.object != nil else {
            throw SwiftletError("\(configPath) is not valid JSON.")
        }
        guard json["peft_type"]?.string == "LORA" else {
            throw SwiftletError(
                "\(configPath) describes \(json["peft_type"]?.string ?? "no") adapters; Swiftlet loads LoRA adapters only."
            )
        }
        for key in ["use_rslora", "use_dora", "fan_in_fan_out"] where json[key]?.bool == true {
            throw SwiftletError("\(configPath) sets \(key), which Swiftlet's LoRA does not support.")
        }
        for key in ["layers_to_transform", "modules_to_save"] where !(json[key]?.isNull ?? true) {
            throw SwiftletError("\(configPath) sets \(key), which Swiftlet's LoRA does not support.")
        }
        for key in ["rank_pattern", "alpha_pattern"] where !(json[key]?.object?.isEmpty ?? true) {
            throw SwiftletError("\(configPath) sets \(key), which Swiftlet's LoRA does not support.")
        }
        if let bias = json["bias"]?.string, bias != "none" {
            throw SwiftletError("\(configPath) trains biases, which Swiftlet's LoRA does not support.")
        }
        guard let rank = json["r"]?.integer, let alpha = json["lora_alpha"]?.number,
            let modules = json["target_modules"]?.array?.compactMap(\.string)
        else {
            throw SwiftletError("\(configPath) does not give r, lora_alpha and a list of target_modules.")
        }
        var targets: [LoRATarget] = []
        for module in modules {
            guard let target = LoRATarget.allCases.first(where: { moduleName($0) == module }) else {
                throw SwiftletError("\(configPath) adapts \(module), which is not a Llama projection Swiftlet knows.")
            }
            targets.append(target)
        }
        let loraConfig = LoRAConfig(
            rank: rank, alpha: Float(alpha), targets: LoRATarget.allCases.filter(targets.contains))
        do { try loraConfig.validate() } catch let error as SwiftletError {
            throw SwiftletError("\(configPath): \(error.message)")
        }
        let adapters = LoRAAdapters(config: loraConfig, model: model)
        let file = try SafetensorsFile(weightsPath)
        for view in adapters.views {
            guard
                let entry = file.entries[prefix + view.name]
                    ?? file.entries[prefix + view.name.replacingAll(".weight", with: ".default.weight")]
            else {
                throw SwiftletError("\(weightsPath) has no tensor \(prefix + view.name).")
            }
            guard entry.shape == view.shape else {
                throw SwiftletError(
                    "\(weightsPath): tensor \(entry.name) has shape \(entry.shape) but the adapter config says \(view.shape)."
                )
            }
            try file.decode(entry, into: adapters.parameters.pointer + view.offset)
        }
        return adapters
    }
}
