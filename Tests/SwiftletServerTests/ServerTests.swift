import XCTest
import Swiftlet
@testable import SwiftletServer
import Foundation
import NIOCore
import NIOHTTP1

/// `swiftlet serve` in-process on an ephemeral port: every endpoint, streaming, errors,
/// authentication, cancellation on disconnect, overload, time limits and shutdown.
final class ServerTests: XCTestCase {
    /// What the engine alone gives for a prompt, greedy: the reference for the HTTP answers.
    func engineReply(_ prompt: [Int32], maxTokens: Int, stop: [String] = []) throws -> GenerationResult {
        let served = try ServerFixture.served()
        return try Generator.generate(
            model: served.model, tokenizer: served.tokenizer, prompt: prompt, maxTokens: maxTokens,
            sampling: SamplingSettings(temperature: 0), stop: stop, onText: { _ in })
    }

    func chatPrompt(_ text: String) throws -> [Int32] {
        let served = try ServerFixture.served()
        return try ChatTemplate.standard.prompt([ChatMessage(role: .user, content: text)], tokenizer: served.tokenizer)
    }

    static let chatStops = [SpecialPieces.endOfTurn, SpecialPieces.user, SpecialPieces.system, SpecialPieces.assistant]

    func testHealthModelsAndMetrics() async throws {
        try await ServerFixture.withServer { _, client in
            let health = try await client.get("/health")
            XCTAssertEqual(health.status, 200)
            XCTAssertEqual(try object(health.text).string("status"), "ok")
            let models = try object(try await client.get("/v1/models").text)
            XCTAssertEqual(models.string("object"), "list")
            XCTAssertEqual(models.list("data").first?.string("id"), "fixture")
            XCTAssertEqual(models.list("data").first?.int("context_length"), 512)
            let one = try await client.get("/v1/models/fixture")
            XCTAssertEqual(try object(one.text).string("id"), "fixture")
            let missing = try await client.get("/v1/models/gpt-4")
            XCTAssertEqual(missing.status, 404)
            XCTAssertEqual(try object(missing.text).dict("error").string("code"), "model_not_found")
            _ = try await client.post(
                "/v1/completions", json: #"{"prompt": "the king", "max_tokens": 5, "temperature": 0}"#)
            let metrics = try await client.get("/metrics")
            XCTAssertEqual(metrics.status, 200)
            XCTAssertTrue(metrics.header("Content-Type")?.hasPrefix("text/plain") ?? false)
            for name in [
                "swiftlet_requests_total{endpoint=\"/v1/completions\",status=\"200\"} 1",
                "swiftlet_generation_tokens_total 5",
                "swiftlet_queue_length 0", "swiftlet_running_sequences 0", "swiftlet_kv_blocks_in_use 0",
                "swiftlet_kv_blocks_total 128",
                "swiftlet_time_to_first_token_seconds_count 1", "swiftlet_time_per_output_token_seconds_count 4",
                "swiftlet_prompt_tokens_total",
            ] {
                XCTAssertTrue(metrics.text.contains(name), "\(name) in\n\(metrics.text)")
            }
        }
    }

    func testChatCompletionIsTheEnginesGreedyReply() async throws {
        let expected = try engineReply(try chatPrompt("my lord, what is this?"), maxTokens: 12, stop: Self.chatStops)
        try await ServerFixture.withServer { _, client in
            let response = try await client.post(
                "/v1/chat/completions",
                json: """
                    {"model": "fixture", "messages": [{"role": "user", "content": "my lord, what is this?"}], "max_tokens": 12, "temperature": 0}
                    """)
            XCTAssertEqual(response.status, 200, response.text)
            let body = try object(response.text)
            XCTAssertEqual(body.string("object"), "chat.completion")
            XCTAssertTrue(body.string("id")?.hasPrefix("chatcmpl-") ?? false)
            let choice = try XCTUnwrap(body.list("choices").first)
            XCTAssertEqual(choice.dict("message").string("role"), "assistant")
            XCTAssertEqual(choice.dict("message").string("content"), expected.text)
            XCTAssertEqual(choice.string("finish_reason"), "length")
            XCTAssertTrue(choice["logprobs"] is NSNull)
            let usage = body.dict("usage")
            XCTAssertEqual(usage.int("prompt_tokens"), try chatPrompt("my lord, what is this?").count)
            XCTAssertEqual(usage.int("completion_tokens"), 12)
            XCTAssertEqual(usage.int("total_tokens"), usage.int("prompt_tokens")! + 12)
            // Content parts and a system message (as "developer") render through the same template.
            let parts = try await client.post(
                "/v1/chat/completions",
                json: """
                    {"messages": [{"role": "developer", "content": "Be brief."}, {"role": "user", "content": [{"type": "text", "text": "my lord, "}, {"type": "text", "text": "what is this?"}]}], "max_tokens": 6, "temperature": 0}
                    """)
            let system = try ChatTemplate.standard.prompt(
                [
                    ChatMessage(role: .system, content: "Be brief."),
                    ChatMessage(role: .user, content: "my lord, what is this?"),
                ],
                tokenizer: try ServerFixture.served().tokenizer)
            XCTAssertEqual(
                try object(parts.text).list("choices").first?.dict("message").string("content"),
                try engineReply(system, maxTokens: 6, stop: Self.chatStops).text)
        }
    }

    func testStreamedChatSendsDeltasUsageAndDone() async throws {
        let expected = try engineReply(try chatPrompt("good night, sweet prince"), maxTokens: 20, stop: Self.chatStops)
        try await ServerFixture.withServer { _, client in
            let (status, events) = try await client.events(
                "/v1/chat/completions",
                json: """
                    {"messages": [{"role": "user", "content": "good night, sweet prince"}], "max_tokens": 20, "temperature": 0, "stream": true, "stream_options": {"include_usage": true}}
                    """)
            XCTAssertEqual(status, 200)
            XCTAssertEqual(events.last, "[DONE]")
            let chunks = try events.dropLast().map { try object($0) }
            XCTAssertTrue(chunks.allSatisfy { $0.string("object") == "chat.completion.chunk" })
            XCTAssertEqual(Set(chunks.compactMap { $0.string("id") }).count, 1, "one id for the whole stream")
            XCTAssertEqual(chunks.first?.list("choices").first?.dict("delta").string("role"), "assistant")
            let deltas = chunks.compactMap { $0.list("choices").first?.dict("delta").string("content") }.joined()
            XCTAssertEqual(deltas, expected.text)
            XCTAssertGreaterThan(chunks.count, 5, "the reply arrives in pieces")
            let final = chunks[chunks.count - 2]
            XCTAssertEqual(final.list("choices").first?.string("finish_reason"), "length")
            let usage = try XCTUnwrap(chunks.last)
            XCTAssertTrue(usage.list("choices").isEmpty)
            XCTAssertEqual(usage.dict("usage").int("completion_tokens"), 20)
            XCTAssertTrue(chunks.dropLast().allSatisfy { $0["usage"] is NSNull })
        }
    }

    func testCompletionsWithSeveralPromptsStreamedAndNot() async throws {
        let served = try ServerFixture.served()
        let prompts = ["the queen speaks", "what is love"]
        let expected = try prompts.map { try engineReply(served.tokenizer.encode($0), maxTokens: 9).text }
        try await ServerFixture.withServer { _, client in
            let whole = try object(
                try await client.post(
                    "/v1/completions",
                    json: """
                        {"prompt": ["the queen speaks", "what is love"], "max_tokens": 9, "temperature": 0}
                        """
                ).text)
            XCTAssertEqual(whole.string("object"), "text_completion")
            XCTAssertEqual(whole.list("choices").map { $0.string("text") ?? "" }, expected)
            XCTAssertEqual(whole.list("choices").map { $0.int("index") ?? -1 }, [0, 1])
            XCTAssertEqual(
                whole.dict("usage").int("prompt_tokens"), prompts.reduce(0) { $0 + served.tokenizer.encode($1).count })
            // Token ids work as a prompt too, and OpenAI's default is 16 new tokens.
            let ids = served.tokenizer.encode("the queen speaks").map(String.init).joined(separator: ",")
            let byIDs = try object(
                try await client.post("/v1/completions", json: #"{"prompt": [\#(ids)], "temperature": 0}"#).text)
            XCTAssertEqual(byIDs.dict("usage").int("completion_tokens"), 16)
            XCTAssertTrue(byIDs.list("choices").first?.string("text")?.hasPrefix(expected[0]) ?? false)
            let (status, events) = try await client.events(
                "/v1/completions",
                json: """
                    {"prompt": ["the queen speaks", "what is love"], "max_tokens": 9, "temperature": 0, "stream": true}
                    """)
            XCTAssertEqual(status, 200)
            XCTAssertEqual(events.last, "[DONE]")
            var texts = ["", ""], finishes: [String?] = [nil, nil]
            for event in events.dropLast() {
                let choice = try XCTUnwrap(try object(event).list("choices").first)
                let index = try XCTUnwrap(choice.int("index"))
                texts[index] += choice.string("text") ?? ""
                if let finish = choice.string("finish_reason") { finishes[index] = finish }
            }
            XCTAssertEqual(texts, expected)
            XCTAssertEqual(finishes, ["length", "length"])
        }
    }

    func testLogprobsAreTheModelsDistribution() async throws {
        try await ServerFixture.withServer { _, client in
            let body = try object(
                try await client.post(
                    "/v1/completions",
                    json: """
                        {"prompt": "my lord", "max_tokens": 6, "temperature": 0, "logprobs": 3}
                        """
                ).text)
            let choice = try XCTUnwrap(body.list("choices").first)
            let logprobs = choice.dict("logprobs")
            let tokens = logprobs["tokens"] as? [String] ?? []
            let values = (logprobs["token_logprobs"] as? [NSNumber] ?? []).map(\.doubleValue)
            let top = logprobs["top_logprobs"] as? [[String: NSNumber]] ?? []
            XCTAssertEqual(tokens.count, 6)
            XCTAssertEqual(tokens.joined(), choice.string("text"))
            XCTAssertEqual(logprobs["text_offset"] as? [Int], tokens.indices.map { tokens[..<$0].joined().count })
            for (value, alternatives) in zip(values, top) {
                XCTAssertEqual(alternatives.count, 3)
                // Greedy: the chosen token is the likeliest, so its log-probability is the best one.
                XCTAssertEqual(value, alternatives.values.map(\.doubleValue).max()!, accuracy: 1e-6)
                XCTAssertLessThan(value, 0)
            }
            // Chat's form carries bytes and sorted alternatives.
            let chat = try object(
                try await client.post(
                    "/v1/chat/completions",
                    json: """
                        {"messages": [{"role": "user", "content": "hello"}], "max_tokens": 4, "temperature": 0, "logprobs": true, "top_logprobs": 2}
                        """
                ).text)
            let content = chat.list("choices").first?.dict("logprobs").list("content") ?? []
            XCTAssertEqual(content.count, 4)
            for entry in content {
                let alternatives = entry.list("top_logprobs")
                XCTAssertEqual(alternatives.count, 2)
                XCTAssertGreaterThanOrEqual(alternatives[0].double("logprob")!, alternatives[1].double("logprob")!)
                XCTAssertEqual(entry.double("logprob")!, alternatives[0].double("logprob")!, accuracy: 1e-6)
                XCTAssertEqual(
                    (entry["bytes"] as? [Int]).map { String(decoding: $0.map(UInt8.init), as: UTF8.self) },
                    entry.string("token"))
            }
        }
    }

    func testSeedsAndSeveralChoices() async throws {
        try await ServerFixture.withServer { _, client in
            let request = #"{"prompt": "the king", "max_tokens": 12, "temperature": 1.0, "seed": 42, "n": 3}"#
            let first = try object(try await client.post("/v1/completions", json: request).text).list("choices").map {
                $0.string("text") ?? ""
            }
            let again = try object(try await client.post("/v1/completions", json: request).text).list("choices").map {
                $0.string("text") ?? ""
            }
            XCTAssertEqual(first.count, 3)
            XCTAssertEqual(first, again, "the same seed gives the same text")
            XCTAssertGreaterThan(Set(first).count, 1, "each choice draws with its own seed")
            let other = try object(
                try await client.post(
                    "/v1/completions", json: #"{"prompt": "the king", "max_tokens": 12, "temperature": 1.0, "seed": 7}"#
                ).text)
            XCTAssertNotEqual(other.list("choices").first?.string("text"), first[0])
            // A stop sequence ends the text before it; finish_reason says stop.
            let stopAt = String(first[0].dropFirst(3).prefix(2))
            let stopped = try object(
                try await client.post(
                    "/v1/completions",
                    json: """
                        {"prompt": "the king", "max_tokens": 12, "temperature": 1.0, "seed": 42, "stop": [\(JSONText.quoted(stopAt))]}
                        """
                ).text
            ).list("choices").first
            XCTAssertEqual(stopped?.string("finish_reason"), "stop")
            XCTAssertEqual(stopped?.string("text"), String(first[0][..<first[0].range(of: stopAt)!.lowerBound]))
        }
    }

    func testEmbeddingsArePooledFinalHiddenStates() async throws {
        let served = try ServerFixture.served()
        let texts = ["the king speaks of love", "good night"]
        let classifier = FeatureExtractor(model: served.model, tokenizer: served.tokenizer, maxRows: 0)
        let pooled = classifier.features(texts, poolings: [.mean])[.mean]!
        let dim = ServerFixture.config.dim
        try await ServerFixture.withServer { _, client in
            let body = try object(
                try await client.post(
                    "/v1/embeddings", json: #"{"input": ["the king speaks of love", "good night"], "model": "fixture"}"#
                ).text)
            let data = body.list("data")
            XCTAssertEqual(data.count, 2)
            for (i, item) in data.enumerated() {
                let vector = (item["embedding"] as? [NSNumber] ?? []).map(\.floatValue)
                XCTAssertEqual(vector.count, dim)
                let row = Array(pooled[(i * dim)..<((i + 1) * dim)])
                let norm = row.reduce(0) { $0 + $1 * $1 }.squareRoot()
                for (a, b) in zip(vector, row) { XCTAssertEqual(a, b / norm, accuracy: 1e-5) }
            }
            XCTAssertEqual(
                body.dict("usage").int("prompt_tokens"), texts.reduce(0) { $0 + classifier.tokens($1).count })
            // base64: the same little-endian floats (what the openai client asks for by default).
            let encoded = try object(
                try await client.post("/v1/embeddings", json: #"{"input": "good night", "encoding_format": "base64"}"#)
                    .text)
            let bytes = try XCTUnwrap(
                Data(base64Encoded: try XCTUnwrap(encoded.list("data").first?.string("embedding"))))
            let floats = bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
            XCTAssertEqual(floats, (data[1]["embedding"] as? [NSNumber] ?? []).map(\.floatValue))
        }
    }

    func testClassifyWithTheHeadAndZeroShot() async throws {
        let served = try ServerFixture.served()
        let texts = ["I love this, my lord", "war and night"]
        let classifier = FeatureExtractor(model: served.model, tokenizer: served.tokenizer, maxRows: 0)
        let expected = classifier.probabilities(texts, head: served.classifier!)
        let zeroShot = try ZeroShot(labels: ["love", "war"])
        let expectedZeroShot = zeroShot.probabilities(
            texts, model: served.model, tokenizer: served.tokenizer, pass: classifier.pass)
        try await ServerFixture.withServer { _, client in
            let head = try object(
                try await client.post("/v1/classify", json: #"{"input": ["I love this, my lord", "war and night"]}"#)
                    .text)
            for (item, p) in zip(head.list("data"), expected) {
                let probabilities = item.dict("probabilities")
                XCTAssertEqual(probabilities.double("negative")!, Double(p[0]), accuracy: 1e-5)
                XCTAssertEqual(probabilities.double("positive")!, Double(p[1]), accuracy: 1e-5)
                XCTAssertEqual(item.string("label"), p[0] > p[1] ? "negative" : "positive")
            }
            let zero = try object(
                try await client.post(
                    "/v1/classify",
                    json: #"{"input": ["I love this, my lord", "war and night"], "labels": ["love", "war"]}"#
                ).text)
            for (item, p) in zip(zero.list("data"), expectedZeroShot) {
                XCTAssertEqual(item.dict("probabilities").double("love")!, Double(p[0]), accuracy: 1e-5)
                XCTAssertEqual(item.dict("probabilities").double("war")!, Double(p[1]), accuracy: 1e-5)
            }
        }
    }

    func testEveryBadFieldIsA400NamingIt() async throws {
        let long = String(repeating: "the king speaks ", count: 400)
        let cases: [(path: String, body: String, param: String?)] = [
            ("/v1/chat/completions", #"{"messages": []}"#, "messages"),
            ("/v1/chat/completions", #"{"max_tokens": 5}"#, "messages"),
            (
                "/v1/chat/completions", #"{"messages": [{"role": "user", "content": "a"}], "temperature": "hot"}"#,
                "temperature"
            ),
            (
                "/v1/chat/completions", #"{"messages": [{"role": "user", "content": "a"}], "temperature": 2.5}"#,
                "temperature"
            ),
            ("/v1/chat/completions", #"{"messages": [{"role": "user", "content": "a"}], "top_p": 1.5}"#, "top_p"),
            (
                "/v1/chat/completions", #"{"messages": [{"role": "user", "content": "a"}], "max_tokens": 0}"#,
                "max_tokens"
            ),
            (
                "/v1/chat/completions", #"{"messages": [{"role": "user", "content": "a"}], "max_tokens": 2.5}"#,
                "max_tokens"
            ),
            (
                "/v1/chat/completions", #"{"messages": [{"role": "user", "content": "a"}], "presence_penalty": 3}"#,
                "presence_penalty"
            ),
            (
                "/v1/chat/completions", #"{"messages": [{"role": "user", "content": "a"}], "frequency_penalty": -2.5}"#,
                "frequency_penalty"
            ),
            ("/v1/chat/completions", #"{"messages": [{"role": "user", "content": "a"}], "top_k": -3}"#, "top_k"),
            ("/v1/chat/completions", #"{"messages": [{"role": "user", "content": "a"}], "min_p": 1}"#, "min_p"),
            (
                "/v1/chat/completions", #"{"messages": [{"role": "user", "content": "a"}], "repetition_penalty": 0}"#,
                "repetition_penalty"
            ),
            (
                "/v1/chat/completions",
                #"{"messages": [{"role": "user", "content": "a"}], "stop": ["a", "b", "c", "d", "e"]}"#, "stop"
            ),
            ("/v1/chat/completions", #"{"messages": [{"role": "user", "content": "a"}], "stop": 5}"#, "stop"),
            ("/v1/chat/completions", #"{"messages": [{"role": "user", "content": "a"}], "n": 0}"#, "n"),
            ("/v1/chat/completions", #"{"messages": [{"role": "user", "content": "a"}], "seed": "x"}"#, "seed"),
            (
                "/v1/chat/completions", #"{"messages": [{"role": "user", "content": "a"}], "top_logprobs": 3}"#,
                "top_logprobs"
            ),
            (
                "/v1/chat/completions",
                #"{"messages": [{"role": "user", "content": "a"}], "logprobs": true, "top_logprobs": 21}"#,
                "top_logprobs"
            ),
            (
                "/v1/chat/completions",
                #"{"messages": [{"role": "user", "content": "a"}], "tools": [{"type": "function"}]}"#, "tools"
            ),
            (
                "/v1/chat/completions", #"{"messages": [{"role": "user", "content": "a"}], "logit_bias": {"5": 10}}"#,
                "logit_bias"
            ),
            (
                "/v1/chat/completions",
                #"{"messages": [{"role": "user", "content": "a"}], "response_format": {"type": "json_object"}}"#,
                "response_format.type"
            ),
            ("/v1/chat/completions", #"{"messages": [{"role": "wizard", "content": "a"}]}"#, "messages[0].role"),
            (
                "/v1/chat/completions", #"{"messages": [{"role": "user", "content": "a"}, {"role": "assistant"}]}"#,
                "messages[1].content"
            ),
            ("/v1/chat/completions", #"{"messages": [{"role": "user", "content": 7}]}"#, "messages[0].content"),
            (
                "/v1/chat/completions", #"{"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}"#,
                "messages[0].content[0]"
            ),
            ("/v1/chat/completions", #"{"messages": [{"role": "user", "content": "\#(long)"}]}"#, "messages"),
            ("/v1/completions", #"{"max_tokens": 3}"#, "prompt"),
            ("/v1/completions", #"{"prompt": ""}"#, "prompt"),
            ("/v1/completions", #"{"prompt": [1, 2, 99999]}"#, "prompt"),
            ("/v1/completions", #"{"prompt": ["a", ""]}"#, "prompt[1]"),
            ("/v1/completions", #"{"prompt": {"text": "a"}}"#, "prompt"),
            ("/v1/completions", #"{"prompt": "a", "logprobs": 30}"#, "logprobs"),
            ("/v1/completions", #"{"prompt": "a", "echo": true}"#, "echo"),
            ("/v1/completions", #"{"prompt": "a", "stream_options": {"include_usage": true}}"#, "stream_options"),
            ("/v1/embeddings", #"{"input": ""}"#, "input"),
            ("/v1/embeddings", #"{"input": "a", "encoding_format": "int8"}"#, "encoding_format"),
            ("/v1/embeddings", #"{"input": "a", "dimensions": 3}"#, "dimensions"),
            ("/v1/embeddings", #"{"input": "a", "pooling": "max"}"#, "pooling"),
            ("/v1/classify", #"{"input": ["a"], "labels": ["only"]}"#, "labels"),
            ("/v1/classify", #"{"input": ["a"], "labels": ["x", "y"], "template": "no placeholders"}"#, "template"),
            ("/v1/classify", #"{"input": []}"#, "input"),
            ("/v1/chat/completions", "this is not JSON", nil),
            ("/v1/chat/completions", "[1, 2]", nil),
        ]
        try await ServerFixture.withServer { server, client in
            for (path, body, param) in cases {
                let response = try await client.post(path, json: body)
                XCTAssertEqual(response.status, 400, "\(path) \(body): \(response.text)")
                let error = try object(response.text).dict("error")
                XCTAssertEqual(error.string("type"), "invalid_request_error", body)
                XCTAssertEqual(error.string("param"), param, "\(body): \(error.string("message") ?? "")")
                XCTAssertFalse(error.string("message")?.isEmpty ?? true)
            }
            XCTAssertEqual(server.status.blocksInUse, 0, "no refused request holds a block")
            let wrongModel = try await client.post(
                "/v1/chat/completions", json: #"{"model": "gpt-4o", "messages": [{"role": "user", "content": "a"}]}"#)
            XCTAssertEqual(wrongModel.status, 404)
            let unknown = try await client.get("/v1/engines")
            XCTAssertEqual(unknown.status, 404)
            XCTAssertEqual(try object(unknown.text).dict("error").string("code"), "unknown_url")
        }
        // Bodies over the limit are refused whole.
        try await ServerFixture.withServer({ $0.maxBodyBytes = 2048 }) { _, client in
            let big = try await client.post(
                "/v1/completions", json: #"{"prompt": "\#(String(repeating: "a", count: 4000))"}"#)
            XCTAssertEqual(big.status, 413)
            XCTAssertEqual(try object(big.text).dict("error").string("code"), "request_too_large")
        }
    }

    func testAnAPIKeyIsRequiredWhenSet() async throws {
        try await ServerFixture.withServer({ $0.apiKey = "sk-test-123" }) { _, client in
            let body = #"{"prompt": "the king", "max_tokens": 2}"#
            let none = try await client.post("/v1/completions", json: body)
            XCTAssertEqual(none.status, 401)
            XCTAssertEqual(try object(none.text).dict("error").string("code"), "invalid_api_key")
            XCTAssertEqual(none.header("WWW-Authenticate"), "Bearer")
            let wrong = try await client.post(
                "/v1/completions", json: body, headers: [("Authorization", "Bearer sk-test-12")])
            XCTAssertEqual(wrong.status, 401)
            let noScheme = try await client.post(
                "/v1/completions", json: body, headers: [("Authorization", "sk-test-123")])
            XCTAssertEqual(noScheme.status, 401)
            let models = try await client.get("/v1/models"), metrics = try await client.get("/metrics")
            XCTAssertEqual(models.status, 401)
            XCTAssertEqual(metrics.status, 401)
            let right = try await client.post(
                "/v1/completions", json: body, headers: [("Authorization", "Bearer sk-test-123")])
            XCTAssertEqual(right.status, 200)
            let health = try await client.get("/health")
            XCTAssertEqual(health.status, 200, "health checks need no key")
        }
    }

    func testBrowsersMayCallOnlyWhenAnOriginIsAllowed() async throws {
        let origin = ("Origin", "https://chat.example.com")
        try await ServerFixture.withServer { _, client in
            let plain = try await client.post(
                "/v1/completions", json: #"{"prompt": "the king", "max_tokens": 2}"#, headers: [origin])
            XCTAssertNil(plain.header("Access-Control-Allow-Origin"), "no CORS unless asked for")
        }
        try await ServerFixture.withServer({
            $0.allowedOrigin = "https://chat.example.com"
            $0.apiKey = "sk-web"
        }) { _, client in
            // The browser's preflight carries no key.
            let preflight = try await client.send(
                .OPTIONS, "/v1/chat/completions", headers: [origin, ("Access-Control-Request-Method", "POST")],
                body: nil)
            XCTAssertEqual(preflight.status, 204)
            XCTAssertEqual(preflight.header("Access-Control-Allow-Origin"), "https://chat.example.com")
            XCTAssertTrue(
                preflight.header("Access-Control-Allow-Headers")?.lowercased().contains("authorization") ?? false)
            let call = try await client.post(
                "/v1/completions", json: #"{"prompt": "the king", "max_tokens": 2}"#,
                headers: [origin, ("Authorization", "Bearer sk-web")])
            XCTAssertEqual(call.status, 200)
            XCTAssertEqual(call.header("Access-Control-Allow-Origin"), "https://chat.example.com")
            let refused = try await client.post("/v1/completions", json: #"{"prompt": "the king"}"#, headers: [origin])
            XCTAssertEqual(refused.status, 401)
            XCTAssertEqual(
                refused.header("Access-Control-Allow-Origin"), "https://chat.example.com", "errors carry the header too"
            )
        }
    }

    func testADisconnectMidStreamFreesTheKVBlocksAtOnce() async throws {
        try await ServerFixture.withServer { server, client in
            let (status, events) = try await client.events(
                "/v1/completions",
                json: #"{"prompt": "the king", "max_tokens": 500, "temperature": 0, "stream": true}"#,
                stopAfter: 3)
            XCTAssertEqual(status, 200)
            XCTAssertEqual(events.count, 3)
            // The connection is closed now, long before 500 tokens: the request is cancelled.
            let freed = await eventually(2) { server.status.blocksInUse == 0 && server.status.running == 0 }
            XCTAssertTrue(freed, "\(server.status)")
            let first = try await generatedTokens(client)
            XCTAssertLessThan(first, 500, "it stopped generating")
            // A client that leaves before a whole (non-streamed) answer cancels it too.
            try await client.exchange(
                .POST, "/v1/completions", headers: [("Content-Type", "application/json")],
                body: Array(#"{"prompt": "the king", "max_tokens": 500, "temperature": 0}"#.utf8), closeAfter: 0.01)
            let freedAgain = await eventually(2) { server.status.blocksInUse == 0 && server.status.running == 0 }
            XCTAssertTrue(freedAgain, "\(server.status)")
            let both = try await generatedTokens(client)
            XCTAssertLessThan(both - first, 500, "the second stopped early too")
        }
    }

    func generatedTokens(_ client: HTTPTestClient) async throws -> Int {
        let metrics = try await client.get("/metrics").text
        let line = metrics.split(separator: "\n").first { $0.hasPrefix("swiftlet_generation_tokens_total ") }
        return Int(line?.split(separator: " ").last ?? "") ?? -1
    }

    func testAFullQueueIsAnswered503WithRetryAfter() async throws {
        try await ServerFixture.withServer({
            $0.parallel = 1
            $0.maxWaiting = 1
        }) { server, client in
            // Eight long requests at once for one slot and one place in the queue.
            let responses = try await withThrowingTaskGroup(of: HTTPTestClient.Response.self) { group in
                for _ in 0..<8 {
                    group.addTask {
                        try await client.post(
                            "/v1/completions", json: #"{"prompt": "the king", "max_tokens": 400, "temperature": 0}"#)
                    }
                }
                var all: [HTTPTestClient.Response] = []
                for try await response in group { all.append(response) }
                return all
            }
            let refused = responses.filter { $0.status == 503 }
            XCTAssertGreaterThanOrEqual(refused.count, 1, responses.map(\.status).description)
            XCTAssertGreaterThanOrEqual(
                responses.filter { $0.status == 200 }.count, 2, "the running and the waiting one are answered")
            XCTAssertEqual(refused.count + responses.filter { $0.status == 200 }.count, 8)
            for response in refused {
                XCTAssertEqual(response.header("Retry-After"), "1")
                XCTAssertEqual(try object(response.text).dict("error").string("code"), "server_overloaded")
                XCTAssertEqual(try object(response.text).dict("error").string("type"), "server_error")
            }
            let metrics = try await client.get("/metrics").text
            XCTAssertTrue(
                metrics.contains("swiftlet_requests_rejected_total{reason=\"queue_full\"} \(refused.count)"), metrics)
            XCTAssertEqual(server.status.blocksInUse, 0)
        }
    }

    func testGreedyOutputIsTheSameAloneAndAmongFifteenOthers() async throws {
        let target =
            #"{"messages": [{"role": "user", "content": "what is this, my lord?"}], "max_tokens": 40, "temperature": 0}"#
        try await ServerFixture.withServer({ $0.parallel = 16 }) { _, client in
            let alone = try object(try await client.post("/v1/chat/completions", json: target).text)
            let together = try await withThrowingTaskGroup(of: (Int, String).self) { group in
                for i in 0..<16 {
                    group.addTask {
                        let body =
                            i == 7
                            ? target
                            : """
                            {"messages": [{"role": "user", "content": "\(String(repeating: "the queen ", count: i + 1))"}], "max_tokens": \(20 + 3 * i), "temperature": 0.9, "seed": \(i)}
                            """
                        return (i, try await client.post("/v1/chat/completions", json: body).text)
                    }
                }
                var texts: [Int: String] = [:]
                for try await (i, text) in group { texts[i] = text }
                return texts
            }
            let mine = try object(together[7]!)
            XCTAssertEqual(
                mine.list("choices").first?.dict("message").string("content"),
                alone.list("choices").first?.dict("message").string("content"))
            XCTAssertEqual(mine.dict("usage").int("completion_tokens"), 40)
        }
    }

    func testATimeLimitEndsTheRequestWithWhatItHas() async throws {
        try await ServerFixture.withServer({ $0.requestTimeout = 1e-6 }) { server, client in
            let body = try object(
                try await client.post("/v1/completions", json: #"{"prompt": "the king", "max_tokens": 100}"#).text)
            XCTAssertEqual(body.list("choices").first?.string("finish_reason"), "length")
            XCTAssertLessThan(body.dict("usage").int("completion_tokens") ?? 999, 100)
            XCTAssertEqual(server.status.blocksInUse, 0)
        }
    }

    func testShutdownFinishesRunningRequestsAndRefusesNewOnes() async throws {
        var options = ServerOptions()
        options.port = 0
        options.parallel = 2
        let server = try SwiftletServer(model: try ServerFixture.served(), options: options)
        let (ports, portSink) = AsyncStream.makeStream(of: Int.self)
        let running = Task { try await server.run { portSink.yield($0) } }
        var iterator = ports.makeAsyncIterator()
        let port = await iterator.next()
        let client = HTTPTestClient(port: try XCTUnwrap(port))
        // Shut down as soon as the first piece of a long reply arrives: the request is running.
        var events = "", askedToStop = false
        try await client.exchange(
            .POST, "/v1/completions", headers: [("Content-Type", "application/json")],
            body: Array(#"{"prompt": "the king", "max_tokens": 400, "temperature": 0, "stream": true}"#.utf8)
        ) { part in
            if case .body(let buffer) = part {
                events += String(buffer: buffer)
                if !askedToStop {
                    askedToStop = true
                    server.shutdown()
                    // A new request now is refused: the listener is closed (connecting throws), the
                    // connection is accepted and closed unanswered (status 0), or the engine answers 503.
                    do {
                        let late = try await client.post(
                            "/v1/completions", json: #"{"prompt": "the king", "max_tokens": 2}"#)
                        if late.status != 0 { XCTAssertEqual(late.status, 503, late.text) }
                    } catch {}
                }
            }
            return true
        }
        XCTAssertTrue(events.hasSuffix("data: [DONE]\n\n"), "the running request finished")
        XCTAssertTrue(events.contains(#""finish_reason":"length""#))
        try await running.value
        do {
            let late = try await client.get("/health")
            XCTFail("the server still answers: \(late.status)")
        } catch {}
    }
}
