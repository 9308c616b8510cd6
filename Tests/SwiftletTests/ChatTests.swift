import XCTest
@testable import Swiftlet

final class ChatTests: XCTestCase {
    static let config = ModelConfig(
        dim: 64, layers: 2, heads: 4, kvHeads: 2, hiddenDim: 128, vocabSize: 320, contextLength: 128)

    /// Random weights scaled up so greedy choices are clear-cut; the test tokenizer (with chat markers).
    func session(context: Int = 128, maxTokens: Int = 12, temperature: Float = 0) throws -> ChatSession {
        var config = Self.config
        config.contextLength = context
        let model = Transformer(config: config)
        model.initialize(seed: 21)
        var rng = RandomGenerator(seed: 22)
        for i in 0..<model.parameters.count { model.parameters[i] += rng.normal() * 0.08 }
        let settings = ChatSettings(sampling: SamplingSettings(temperature: temperature, seed: 5), maxTokens: maxTokens)
        return ChatSession(
            model: model, tokenizer: try TestData.tokenizer(), chatTemplate: .standard, settings: settings)
    }

    func testCachedTurnsEqualTheWholeHistoryFromScratch() throws {
        let cached = try session()
        cached.system = "Be brief."
        try cached.send("the king speaks", onText: { _ in })
        let second = try cached.send("what of the queen", onText: { _ in })
        // The second turn computed only its own tokens: the first turn's came from the cache.
        XCTAssertGreaterThan(second.result.reusedPromptTokens, 10)
        // Its own tokens: the user's marker, words and end, the assistant's marker — plus the first
        // reply's last token (sampled, never run through the model) and the end marker closing it.
        let ownTokens = try TestData.tokenizer().encode("what of the queen").count + 3
        XCTAssertLessThanOrEqual(second.result.promptTokens - second.result.reusedPromptTokens, ownTokens + 2)

        let fresh = try session()
        var history = cached.transcript
        history.turns.removeLast(2)
        try fresh.restore(history)
        let recomputed = try fresh.send("what of the queen", onText: { _ in })
        XCTAssertEqual(recomputed.result.reusedPromptTokens, 0)
        XCTAssertEqual(recomputed.result.tokens, second.result.tokens)
        XCTAssertEqual(fresh.transcript, cached.transcript)
    }

    func testUndoRegenerateResetAndTranscripts() throws {
        let chat = try session(temperature: 1)
        try chat.send("good night", onText: { _ in })
        try chat.send("sweet prince", onText: { _ in })
        XCTAssertEqual(chat.turns.map(\.role), [.user, .assistant, .user, .assistant])
        let before = chat.turns.last!.content
        var streamed = ""
        let again = try chat.regenerate(onText: { streamed += $0 })
        XCTAssertEqual(chat.turns.count, 4)
        XCTAssertEqual(chat.turns.last!.content, streamed)
        XCTAssertEqual(again.result.text, streamed)
        _ = before
        try chat.undo()
        XCTAssertEqual(chat.turns.map(\.content), ["good night", chat.turns[1].content])
        let path = TestData.temporaryDirectory("chat") + "/t.json"
        try chat.transcript.write(to: path)
        let other = try session()
        try other.restore(try ChatTranscript.read(path))
        XCTAssertEqual(other.transcript, chat.transcript)
        chat.reset()
        XCTAssertTrue(chat.turns.isEmpty)
        XCTAssertEqual(
            chat.engine.pool.freeBlocks, chat.engine.pool.blockCount, "reset returns the kept cache's blocks")
        XCTAssertThrowsError(try chat.undo())
        XCTAssertThrowsError(try chat.regenerate(onText: { _ in }))
    }

    func testAStoppedReplyStaysAndTheNextTurnSeesIt() throws {
        let chat = try session(maxTokens: 40)
        var pieces = 0
        let stopped = try chat.send("the king", onText: { _ in pieces += 1 }, shouldStop: { pieces >= 2 })
        XCTAssertEqual(stopped.result.stopReason, .cancelled)
        XCTAssertEqual(chat.turns.count, 2)
        XCTAssertEqual(chat.turns[1].content, stopped.result.text)
        let next = try chat.send("and then", onText: { _ in })
        XCTAssertGreaterThan(next.result.reusedPromptTokens, 3, "the stopped exchange is still in the cache")
        XCTAssertEqual(chat.turns.count, 4)
    }

    func testAFullContextDropsTheOldestTurnsButKeepsTheSystemPrompt() throws {
        let chat = try session(context: 64, maxTokens: 8)
        chat.system = "Be brief."
        var dropped = 0
        for i in 0..<8 {
            dropped += try chat.send("the king speaks of love and war \(i)", onText: { _ in }).droppedTurns
        }
        XCTAssertGreaterThan(dropped, 0)
        XCTAssertEqual(chat.system, "Be brief.")
        XCTAssertEqual(chat.turns.first?.role, .user)
        XCTAssertTrue(chat.turns.last!.role == .assistant && chat.turns[chat.turns.count - 2].content.hasSuffix(" 7"))
        XCTAssertLessThanOrEqual(chat.contextUsed, 64)
        XCTAssertThrowsError(try chat.send(String(repeating: "the king speaks of love ", count: 40), onText: { _ in }))
        { error in
            XCTAssertTrue(((error as? SwiftletError)?.message ?? "").contains("context holds 64"))
        }
        XCTAssertTrue(chat.turns.last!.role == .assistant, "a rejected turn leaves the conversation as it was")
    }

    func testCompletionModeContinuesTheText() throws {
        let chat = try session()
        try chat.setMode(.complete)
        let reply = try chat.send("the king", onText: { _ in })
        XCTAssertEqual(reply.result.promptTokens, try TestData.tokenizer().encode("the king").count)
    }
}
