import XCTest
import Swiftlet
@testable import SwiftletServer
#if canImport(FoundationEssentials)
import FoundationEssentials
#endif
import Foundation

/// A small model with a trained tokenizer (so the chat markers exist), a classification head and
/// the standard chat template, served in-process on an ephemeral port.
enum ServerFixture {
    static let config = ModelConfig(
        dim: 128, layers: 4, heads: 4, kvHeads: 2, hiddenDim: 256, vocabSize: 320, contextLength: 512)

    nonisolated(unsafe) static var cached: ServedModel?

    static func served() throws -> ServedModel {
        if let cached { return cached }
        let tokenizer = try Tokenizer.train(
            text: text(), options: TokenizerTrainingOptions(vocabSize: config.vocabSize, modelType: .unigram))
        let model = Transformer(config: config)
        model.initialize(seed: 21)
        var rng = RandomGenerator(seed: 22)
        for i in 0..<model.parameters.count { model.parameters[i] += rng.normal() * 0.08 }
        // Zero embedding rows (so logit 0, far below the best) for the control pieces, the chat
        // markers and every piece that is not printable ASCII: greedy replies never end early (so
        // streams last as long as asked) and their text is the tokens' texts put together.
        for id in 0..<config.vocabSize {
            let bytes = tokenizer.pieceBytes[id]
            if bytes.isEmpty || bytes.contains(where: { $0 >= 0x80 || ($0 < 0x20 && $0 != 0x0A) })
                || SpecialPieces.all.contains(tokenizer.piece(Int32(id)))
            {
                (model.parameters.pointer + model.layout.embedding + id * config.dim).update(
                    repeating: 0, count: config.dim)
            }
        }
        let head = ClassifierHead(
            config: ClassifierConfig(labels: ["negative", "positive"], pooling: .mean), dim: config.dim)
        head.initialize(seed: 3)
        for i in 0..<head.parameters.count { head.parameters[i] *= 40 }
        let served = ServedModel(
            name: "fixture", model: model, tokenizer: tokenizer, chatTemplate: .standard, classifier: head)
        cached = served
        return served
    }

    static func text() -> String {
        let words = [
            "the", "king", "queen", "speaks", "of", "love", "and", "war", "my", "lord", "good", "night",
            "sweet", "prince", "what", "is", "this", "that", "I", "you", "shall", "not", "be", "to", "here",
        ]
        var rng = RandomGenerator(seed: 7)
        var out = ""
        for _ in 0..<400 {
            out += (0..<(3 + rng.below(8))).map { _ in words[rng.below(words.count)] }.joined(separator: " ") + ".\n"
        }
        return out
    }

    /// Runs `body` against a fresh server (its own engine and KV pool), then shuts it down and
    /// waits for `run` to return.
    static func withServer(
        _ configure: (inout ServerOptions) -> Void = { _ in },
        _ body: (SwiftletServer, HTTPTestClient) async throws -> Void
    ) async throws {
        var options = ServerOptions()
        options.port = 0
        options.parallel = 4
        configure(&options)
        let server = try SwiftletServer(model: try served(), options: options)
        let (ports, portSink) = AsyncStream.makeStream(of: Int.self)
        let running = Task { try await server.run { portSink.yield($0) } }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw SwiftletError("the server did not start.") }
        do {
            try await body(server, HTTPTestClient(port: port))
        } catch {
            server.shutdown()
            _ = try? await running.value
            throw error
        }
        server.shutdown()
        try await running.value
    }
}

/// A JSON object from a response body.
func object(_ text: String, file: StaticString = #filePath, line: UInt = #line) throws -> [String: Any] {
    guard let value = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
        XCTFail("not a JSON object: \(text)", file: file, line: line)
        return [:]
    }
    return value
}

extension Dictionary where Key == String, Value == Any {
    func dict(_ key: String) -> [String: Any] { self[key] as? [String: Any] ?? [:] }
    func list(_ key: String) -> [[String: Any]] { self[key] as? [[String: Any]] ?? [] }
    func string(_ key: String) -> String? { self[key] as? String }
    func int(_ key: String) -> Int? { (self[key] as? NSNumber)?.intValue }
    func double(_ key: String) -> Double? { (self[key] as? NSNumber)?.doubleValue }
}

/// Waits up to `seconds` for `condition`.
func eventually(_ seconds: Double = 5, _ condition: () -> Bool) async -> Bool {
    let end = Stopwatch.now() + seconds
    while Stopwatch.now() < end {
        if condition() { return true }
        try? await Task.sleep(nanoseconds: 5_000_000)
    }
    return condition()
}
