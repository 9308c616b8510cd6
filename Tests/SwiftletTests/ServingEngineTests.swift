import XCTest
@testable import Swiftlet
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Dispatch

/// What `swiftlet serve` needs from the engine: OpenAI's presence and frequency penalties,
/// per-token log-probabilities, deadlines, and the driver that runs the engine on its own thread.
extension EngineTests {
    func testPresenceAndFrequencyPenaltiesFollowOpenAIsFormula() {
        var logits: [Float] = [2, 2.5, 2.2, 0]
        Sampler.applyPresenceAndFrequencyPenalties(
            &logits, vocab: 4, counts: [1: 2, 2: 1], presence: 0.5, frequency: 0.3)
        XCTAssertEqual(logits[0], 2)
        XCTAssertEqual(logits[1], 2.5 - 2 * 0.3 - 0.5, accuracy: 1e-6)
        XCTAssertEqual(logits[2], 2.2 - 0.3 - 0.5, accuracy: 1e-6)
        // In the sampler only the reply's tokens count, not the prompt's.
        var sampler = Sampler(SamplingSettings(temperature: 0, presencePenalty: 0.5, frequencyPenalty: 0.3))
        sampler.observe(1)
        var again: [Float] = [2, 2.5, 2.2, 0]
        XCTAssertEqual(sampler.sample(&again, vocab: 4), 1, "a prompt token is not penalized")
        sampler.observe(1, sampled: true)
        sampler.observe(1, sampled: true)
        var penalized: [Float] = [2, 2.5, 2.2, 0]
        XCTAssertEqual(sampler.sample(&penalized, vocab: 4), 2, "2.5 − 2·0.3 − 0.5 = 1.4 falls below 2.2")
        XCTAssertThrowsError(try SamplingSettings(presencePenalty: 2.5).validate())
        XCTAssertThrowsError(try SamplingSettings(frequencyPenalty: -3).validate())
    }

    func testSettingsSavedBeforeThePenaltiesStillLoad() throws {
        let old = #"{"temperature": 0.5, "topK": 3, "topP": 0.9, "minP": 0, "repetitionPenalty": 1.1, "seed": 4}"#
        let settings = try JSONDecoder().decode(SamplingSettings.self, from: Data(old.utf8))
        XCTAssertEqual(
            settings, SamplingSettings(temperature: 0.5, topK: 3, topP: 0.9, repetitionPenalty: 1.1, seed: 4))
        let round = try JSONDecoder().decode(
            SamplingSettings.self,
            from: JSONEncoder().encode(SamplingSettings(presencePenalty: 1, frequencyPenalty: -1)))
        XCTAssertEqual(round.presencePenalty, 1)
        XCTAssertEqual(round.frequencyPenalty, -1)
    }

    func testLogprobsAreTheLogSoftmaxAndTheLikeliestTokens() {
        let logits = TestData.randoms(1000, seed: 40, scale: 3)
        let reference = logits.map(Double.init)
        let top = reference.max()!
        let logSum = log(reference.reduce(0) { $0 + exp($1 - top) }) + top
        let result = logits.withUnsafeBufferPointer { Logprobs.of(17, logits: $0.baseAddress!, vocab: 1000, top: 5) }
        XCTAssertEqual(result.token, 17)
        XCTAssertEqual(Double(result.logprob!), reference[17] - logSum, accuracy: 1e-4)
        let best = reference.indices.sorted { reference[$0] > reference[$1] }.prefix(5)
        XCTAssertEqual(result.topLogprobs.map { Int($0.token) }, Array(best))
        for entry in result.topLogprobs {
            XCTAssertEqual(Double(entry.logprob), reference[Int(entry.token)] - logSum, accuracy: 1e-4)
        }
        let none = logits.withUnsafeBufferPointer { Logprobs.of(3, logits: $0.baseAddress!, vocab: 1000, top: 0) }
        XCTAssertTrue(none.topLogprobs.isEmpty)
    }

    func testTokenLogprobsDoNotDependOnTheBatch() throws {
        final class Heard: @unchecked Sendable { var tokens: [GeneratedToken] = [] }
        func target(_ heard: Heard) -> GenerationRequest {
            var request = GenerationRequest(
                prompt: prompt(13, seed: 50), maxTokens: 20,
                sampling: SamplingSettings(temperature: 0.9, presencePenalty: 0.4, frequencyPenalty: 0.2, seed: 8))
            request.logprobs = 3
            request.onToken = { heard.tokens.append($0) }
            return request
        }
        let alone = Heard(), together = Heard()
        let soloResult = try generate([target(alone)], parallel: 1)[0]
        var batch = crowd { i in SamplingSettings(temperature: 1, seed: UInt64(i)) }
        batch.insert(target(together), at: 2)
        let batchResult = try generate(batch, parallel: 9)[2]
        XCTAssertEqual(batchResult.tokens, soloResult.tokens)
        XCTAssertEqual(alone.tokens.map(\.token), soloResult.tokens)
        XCTAssertEqual(together.tokens, alone.tokens, "the same log-probabilities, bit for bit")
        for token in alone.tokens {
            XCTAssertEqual(token.topLogprobs.count, 3)
            XCTAssertLessThanOrEqual(token.logprob!, token.topLogprobs[0].logprob)
            XCTAssertTrue(zip(token.topLogprobs, token.topLogprobs.dropFirst()).allSatisfy { $0.logprob >= $1.logprob })
        }
        // Greedy: the chosen token is the likeliest one.
        let greedy = Heard()
        var plain = target(greedy)
        plain.sampling = SamplingSettings(temperature: 0)
        _ = try generate([plain], parallel: 1)
        XCTAssertTrue(
            greedy.tokens.allSatisfy { $0.token == $0.topLogprobs[0].token && $0.logprob == $0.topLogprobs[0].logprob })
    }

    func testADeadlineEndsARequestWhetherItRunsOrWaits() throws {
        let engine = GenerationEngine(
            model: model(), tokenizer: try TestData.tokenizer(), options: GenerationEngine.Options(parallel: 1))
        var late = GenerationRequest(
            prompt: prompt(10, seed: 60), maxTokens: 50, sampling: SamplingSettings(temperature: 0))
        late.deadline = Stopwatch.now() - 1
        let running = try engine.submit(
            GenerationRequest(prompt: prompt(10, seed: 61), maxTokens: 30, sampling: SamplingSettings(temperature: 0)))
        _ = engine.step()
        var soon = GenerationRequest(
            prompt: prompt(10, seed: 62), maxTokens: 50, sampling: SamplingSettings(temperature: 0))
        soon.deadline = Stopwatch.now() + 0.2
        let waiting = try engine.submit(soon)
        let expired = try engine.submit(late)
        var results: [GenerationEngine.RequestID: GenerationResult] = [:]
        for (id, result) in engine.step() { results[id] = result }
        XCTAssertEqual(results[expired]?.stopReason, .timeLimit, "it ended while waiting")
        XCTAssertEqual(results[expired]?.tokens, [])
        for (id, result) in engine.runUntilIdle() { results[id] = result }
        XCTAssertEqual(results[running]?.stopReason, .tokenLimit)
        XCTAssertNotNil(results[waiting])
        XCTAssertEqual(engine.blocksInUse, 0)
    }

    // MARK: the driver

    /// Results of requests submitted to a driver, each from a thread of its own.
    func drive(_ requests: [GenerationRequest], parallel: Int) throws -> [GenerationResult] {
        let engine = GenerationEngine(
            model: model(), tokenizer: try TestData.tokenizer(),
            options: GenerationEngine.Options(parallel: parallel, promptTokensPerStep: 16))
        let driver = EngineDriver(engine: engine, maxWaiting: requests.count)
        try driver.start()
        let results = ResultSlots<GenerationResult>(count: requests.count)
        let done = DispatchSemaphore(value: 0)
        let passed = UncheckedSendable(requests)
        DispatchQueue.concurrentPerform(iterations: requests.count) { i in
            _ = try! driver.submit(passed.value[i]) { result in
                results.set(i, result)
                done.signal()
            }
        }
        for _ in requests { done.wait() }
        XCTAssertEqual(driver.currentStatus.blocksInUse, 0)
        let stopped = DispatchSemaphore(value: 0)
        driver.stop(gracePeriod: 0) { stopped.signal() }
        stopped.wait()
        return results.all
    }

    func testTheDriverTakesRequestsFromManyThreadsAndBatchesThem() throws {
        let requests = crowd { i in
            i % 2 == 0 ? SamplingSettings(temperature: 0) : SamplingSettings(temperature: 1, seed: UInt64(i))
        }
        let driven = try drive(requests, parallel: 4)
        let direct = try generate(requests, parallel: 4)
        XCTAssertEqual(driven.map(\.tokens), direct.map(\.tokens))
    }

    func testTheDriverCancelsFromAnotherThreadAndReturnsTheBlocks() throws {
        let engine = GenerationEngine(
            model: model(), tokenizer: try TestData.tokenizer(), options: GenerationEngine.Options(parallel: 2))
        let driver = EngineDriver(engine: engine, maxWaiting: 4)
        try driver.start()
        let firstText = DispatchSemaphore(value: 0), cancelSent = DispatchSemaphore(value: 0),
            ended = DispatchSemaphore(value: 0)
        final class Box: @unchecked Sendable { var result: GenerationResult?; var pieces = 0 }
        let box = Box()
        var request = GenerationRequest(
            prompt: prompt(30, seed: 70), maxTokens: 60, sampling: SamplingSettings(temperature: 0))
        request.onText = { _ in
            box.pieces += 1
            // The driver waits here (inside its step) until the cancel is in its inbox.
            if box.pieces == 1 {
                firstText.signal()
                cancelSent.wait()
            }
        }
        let ticket = try driver.submit(request) { result in
            box.result = result
            ended.signal()
        }
        firstText.wait()
        driver.cancel(ticket)
        cancelSent.signal()
        ended.wait()
        XCTAssertEqual(box.result?.stopReason, .cancelled)
        XCTAssertLessThanOrEqual(
            box.result?.tokens.count ?? 99, 2, "cancelled at the step after the one that heard the first text")
        XCTAssertEqual(driver.currentStatus.blocksInUse, 0, "the blocks came back with the result")
        driver.cancel(ticket)  // already ended: nothing happens
        let stopped = DispatchSemaphore(value: 0)
        driver.stop(gracePeriod: 0) { stopped.signal() }
        stopped.wait()
    }

    func testTheDriverRefusesBeyondItsQueueAndWhileStopping() throws {
        let engine = GenerationEngine(
            model: model(), tokenizer: try TestData.tokenizer(), options: GenerationEngine.Options(parallel: 1))
        let driver = EngineDriver(engine: engine, maxWaiting: 1)
        let ends = DispatchSemaphore(value: 0)
        let long = GenerationRequest(
            prompt: prompt(8, seed: 80), maxTokens: 80, sampling: SamplingSettings(temperature: 0))
        // Not started yet: the two stay accepted, a third has no room.
        for _ in 0..<2 { _ = try driver.submit(long) { _ in ends.signal() } }
        XCTAssertThrowsError(try driver.submit(long) { _ in }) {
            XCTAssertEqual($0 as? EngineDriver.Refusal, .queueFull)
        }
        XCTAssertThrowsError(try driver.submit(GenerationRequest(prompt: [])) { _ in }) {
            XCTAssertTrue($0 is SwiftletError, "invalid before full")
        }
        try driver.start()
        let stopped = DispatchSemaphore(value: 0)
        driver.stop(gracePeriod: 0) { stopped.signal() }
        XCTAssertThrowsError(try driver.submit(long) { _ in }) {
            XCTAssertEqual($0 as? EngineDriver.Refusal, .stopping)
        }
        ends.wait()
        ends.wait()
        stopped.wait()
        XCTAssertEqual(engine.blocksInUse, 0)
    }
}
