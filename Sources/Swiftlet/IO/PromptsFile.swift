#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A batch of prompts for `swiftlet generate --prompts-file`: one per line, either plain text
/// or a JSON object whose optional fields override the command line's settings.
public struct PromptLine: Sendable, Equatable {
    /// 1-based line number in the file, for messages.
    public var line: Int
    public var prompt: String
    public var maxTokens: Int
    public var sampling: SamplingSettings
    public var stop: [String]
}

public enum PromptsFile {
    /// A JSON prompt line; every field but `prompt` may be absent.
    struct JSONLine: Decodable {
        var prompt: String
        var maxTokens: Int?
        var temperature: Float?
        var topK: Int?
        var topP: Float?
        var minP: Float?
        var repetitionPenalty: Float?
        var presencePenalty: Float?
        var frequencyPenalty: Float?
        var seed: UInt64?
        var stop: [String]?

        enum CodingKeys: String, CodingKey {
            case prompt, temperature, seed, stop
            case maxTokens = "max_tokens", topK = "top_k", topP = "top_p", minP = "min_p", repetitionPenalty =
                "repetition_penalty"
            case presencePenalty = "presence_penalty", frequencyPenalty = "frequency_penalty"
        }
    }

    /// Blank lines are skipped; a line starting with `{` is JSON.
    public static func parse(
        _ text: String, name: String, maxTokens: Int, sampling: SamplingSettings, stop: [String]
    ) throws -> [PromptLine] {
        var prompts: [PromptLine] = []
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let number = index + 1
            let line = raw.hasSuffix("\r") ? raw.dropLast() : raw
            guard !line.allSatisfy(\.isWhitespace) else { continue }
            guard line.first == "{" else {
                prompts.append(
                    PromptLine(line: number, prompt: String(line), maxTokens: maxTokens, sampling: sampling, stop: stop)
                )
                continue
            }
            let object: JSONLine
            do {
                object = try JSONDecoder().decode(JSONLine.self, from: Data(line.utf8))
            } catch {
                throw SwiftletError(
                    "line \(number) of \(name) is not a valid JSON prompt object (it needs a \"prompt\" string; numbers and lists where documented)."
                )
            }
            var settings = sampling
            settings.temperature = object.temperature ?? settings.temperature
            settings.topK = object.topK ?? settings.topK
            settings.topP = object.topP ?? settings.topP
            settings.minP = object.minP ?? settings.minP
            settings.repetitionPenalty = object.repetitionPenalty ?? settings.repetitionPenalty
            settings.presencePenalty = object.presencePenalty ?? settings.presencePenalty
            settings.frequencyPenalty = object.frequencyPenalty ?? settings.frequencyPenalty
            settings.seed = object.seed ?? settings.seed
            let tokens = object.maxTokens ?? maxTokens
            do {
                try settings.validate()
                guard tokens > 0 else { throw SwiftletError("max_tokens must be positive.") }
                guard !(object.stop ?? []).contains(where: \.isEmpty) else {
                    throw SwiftletError("a stop string must not be empty.")
                }
            } catch let error as SwiftletError {
                throw SwiftletError("line \(number) of \(name): \(error.message)")
            }
            prompts.append(
                PromptLine(
                    line: number, prompt: object.prompt, maxTokens: tokens, sampling: settings,
                    stop: object.stop ?? stop))
        }
        guard !prompts.isEmpty else { throw SwiftletError("\(name) holds no prompts.") }
        return prompts
    }
}

/// One line of `generate --prompts-file` output.
public struct CompletionRecord: Sendable {
    public var prompt: String
    public var completion: String
    public var tokens: Int
    public var stopReason: String
    public var timeToFirstTokenMs: Double
    public var tokensPerSecond: Double

    public init(prompt: String, result: GenerationResult) {
        self.prompt = prompt
        completion = result.text
        tokens = result.tokens.count
        stopReason = result.stopReason.rawValue
        timeToFirstTokenMs = result.timeToFirstToken * 1000
        tokensPerSecond = result.tokensPerSecond
    }

    /// One JSON object, fields in the documented order.
    public var jsonLine: String {
        "{\"prompt\":\(JSONText.quoted(prompt)),\"completion\":\(JSONText.quoted(completion)),\"tokens\":\(tokens),"
            + "\"stop_reason\":\(JSONText.quoted(stopReason)),\"ttft_ms\":\(Format.fixed(timeToFirstTokenMs, 1)),"
            + "\"tokens_per_s\":\(Format.fixed(tokensPerSecond, 1))}"
    }
}
