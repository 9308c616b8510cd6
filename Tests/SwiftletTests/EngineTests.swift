import XCTest
@testable import Swiftlet

/// The KV block pool, paged attention, the sampler's min-p and repetition penalty, stop strings,
/// and the generation engine's batching guarantees.
final class EngineTests: XCTestCase {
    /// Head size 16 (chunks of 8+ rows take the tiled path), grouped KV heads, the test tokenizer's vocabulary.
    static let config = ModelConfig(
        dim: 64, layers: 2, heads: 4, kvHeads: 2, hiddenDim: 128, vocabSize: 320, contextLength: 96)

    nonisolated(unsafe) static var cachedModel: Transformer?
    /// Random weights scaled up so the next-token distribution is far from uniform.
    func model() -> Transformer {
        if let m = Self.cachedModel { return m }
        let model = Transformer(config: Self.config)
        model.initialize(seed: 21)
        var rng = RandomGenerator(seed: 22)
        for i in 0..<model.parameters.count { model.parameters[i] += rng.normal() * 0.08 }
        // A zero embedding row for the special tokens: their logit is 0, far below the best, so
        // greedy replies never end early on the end-of-sequence token.
        (model.parameters.pointer + model.layout.embedding).update(repeating: 0, count: 3 * Self.config.dim)
        Self.cachedModel = model
        return model
    }

    func prompt(_ length: Int, seed: UInt64) -> [Int32] {
        var rng = RandomGenerator(seed: seed)
        return (0..<length).map { _ in Int32(3 + rng.below(Self.config.vocabSize - 3)) }
    }

    // MARK: paged attention

    /// Sequences of (cached past, new query rows): length 1, block-unaligned lengths, a chunk
    /// long enough for the tiled path with and without a past, a decode row deep in a sequence.
    static let pagedShapes: [(past: Int, rows: Int)] = [(0, 1), (5, 1), (0, 13), (7, 9), (21, 3), (40, 1), (17, 20)]

    func testPagedAttentionMatchesReferenceAndContiguousKernel() {
        for (heads, kvHeads, headDim, blockSize) in [(4, 2, 16, 4), (6, 3, 8, 16), (4, 1, 64, 5), (3, 3, 24, 7)] {
            let rowStride = kvHeads * headDim
            let shapes = Self.pagedShapes
            let totalRows = shapes.reduce(0) { $0 + $1.rows }, totalKeys = shapes.reduce(0) { $0 + $1.past + $1.rows }
            let q = TestData.randoms(totalRows * heads * headDim, seed: 30)
            let k = TestData.randoms(totalKeys * rowStride, seed: 31),
                v = TestData.randoms(totalKeys * rowStride, seed: 32)
            // Contiguous layout for the reference; the same rows scattered into pool blocks taken
            // in a scrambled order for the paged kernel.
            let blocksNeeded = shapes.reduce(0) { $0 + ($1.past + $1.rows + blockSize - 1) / blockSize }
            let blockCount = blocksNeeded + 3
            var order = Array(0..<Int32(blockCount))
            var rng = RandomGenerator(seed: 33)
            for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, rng.below(i + 1)) }
            var keysPool = [Float](repeating: .nan, count: blockCount * blockSize * rowStride), valuesPool = keysPool
            var spans: [SequenceRows] = [], paged: [SequenceRows] = [], tables: [Int32] = []
            var queryStart = 0, keyStart = 0
            for shape in shapes {
                let keys = shape.past + shape.rows
                let table = Array(order[tables.count..<(tables.count + (keys + blockSize - 1) / blockSize)])
                for j in 0..<keys {
                    let slot = (Int(table[j / blockSize]) * blockSize + j % blockSize) * rowStride
                    for d in 0..<rowStride {
                        keysPool[slot + d] = k[(keyStart + j) * rowStride + d]
                        valuesPool[slot + d] = v[(keyStart + j) * rowStride + d]
                    }
                }
                spans.append(SequenceRows(start: queryStart, count: shape.rows, past: shape.past, keyStart: keyStart))
                paged.append(
                    SequenceRows(start: queryStart, count: shape.rows, past: shape.past, keyStart: tables.count))
                tables += table
                queryStart += shape.rows
                keyStart += keys
            }
            var out = [Float](repeating: 0, count: totalRows * heads * headDim),
                lse = [Float](repeating: 0, count: totalRows * heads)
            keysPool.withUnsafeBufferPointer { kp in
                valuesPool.withUnsafeBufferPointer { vp in
                    tables.withUnsafeBufferPointer { tp in
                        let pages = KVPages(
                            keys: kp.baseAddress!, values: vp.baseAddress!, blockTables: tp.baseAddress!,
                            blockSize: blockSize,
                            blockStride: blockSize * rowStride, rowStride: rowStride)
                        PagedAttention.forward(
                            q: q, out: &out, logSumExp: &lse, spans: paged, pages: pages, heads: heads,
                            kvHeads: kvHeads,
                            headDim: headDim)
                    }
                }
            }
            let reference = Reference.attention(
                q: q, k: k, v: v, spans: spans, heads: heads, kvHeads: kvHeads, headDim: headDim)
            let label = "heads \(heads)/\(kvHeads) size \(headDim) block \(blockSize)"
            XCTAssertLessThan(maxAbsDifference(out, reference.out), 1e-5, label)
            XCTAssertLessThan(maxAbsDifference(lse, reference.logSumExp), 1e-4, label)
            // Same arithmetic as the contiguous kernel, to the bit.
            var contiguous = [Float](repeating: 0, count: out.count),
                contiguousLSE = [Float](repeating: 0, count: lse.count)
            Attention.forward(
                q: q, k: k, v: v, out: &contiguous, logSumExp: &contiguousLSE, spans: spans, heads: heads,
                kvHeads: kvHeads,
                headDim: headDim)
            XCTAssertEqual(out, contiguous, label)
        }
    }

    /// A lone decoding sequence's row path is cut into head ranges run on both cores; the cut
    /// must give the one-core pass's result to the bit, for every cut and for the cut `forward`
    /// picks (decode rows deep enough to be shared, with and without grouped KV heads, alone and
    /// beside other sequences).
    func testDecodeAttentionSplitOverHeadsEqualsTheSerialPassExactly() {
        for (heads, kvHeads, headDim, blockSize) in [(12, 12, 64, 16), (8, 2, 32, 7), (6, 1, 16, 5)] {
            let rowStride = kvHeads * headDim
            // Three decode rows at different depths, each its own sequence, with its own blocks.
            let depths = [300, 37, 129]
            let blocksPer = depths.map { ($0 + blockSize) / blockSize }
            let blockCount = blocksPer.reduce(0, +)
            let keys = TestData.randoms(blockCount * blockSize * rowStride, seed: 50),
                values = TestData.randoms(blockCount * blockSize * rowStride, seed: 51)
            let q = TestData.randoms(depths.count * heads * headDim, seed: 52)
            var tables: [Int32] = [], spans: [SequenceRows] = []
            for (i, past) in depths.enumerated() {
                spans.append(SequenceRows(start: i, count: 1, past: past, keyStart: tables.count))
                // Blocks in reverse order, so the table is not the identity.
                let first = blocksPer[..<i].reduce(0, +)
                tables += (first..<first + blocksPer[i]).reversed().map { Int32($0) }
            }
            let label = "heads \(heads)/\(kvHeads) size \(headDim) block \(blockSize)"
            keys.withUnsafeBufferPointer { kp in
                values.withUnsafeBufferPointer { vp in
                    tables.withUnsafeBufferPointer { tp in
                        let pages = KVPages(
                            keys: kp.baseAddress!, values: vp.baseAddress!, blockTables: tp.baseAddress!,
                            blockSize: blockSize, blockStride: blockSize * rowStride, rowStride: rowStride)
                        let scale = 1 / Float(headDim).squareRoot()
                        let maxKeys = depths.max()! + 1
                        var scores = [Float](repeating: 0, count: heads * (maxKeys + 1))
                        // The serial pass: every head of every row at once.
                        var serial = [Float](repeating: .nan, count: q.count),
                            serialLSE = [Float](repeating: .nan, count: depths.count * heads)
                        var qCopy = q
                        for span in spans {
                            PagedAttention.forwardRows(
                                q: &qCopy, out: &serial, logSumExp: &serialLSE, span: span, pages: pages, heads: heads,
                                kvHeads: kvHeads, headDim: headDim, scale: scale, scores: &scores,
                                scoreStride: maxKeys)
                        }
                        // Every cut into parts, run one range at a time.
                        for parts in 1...heads {
                            var cut = [Float](repeating: .nan, count: q.count),
                                cutLSE = [Float](repeating: .nan, count: serialLSE.count)
                            var covered = 0
                            for span in spans {
                                for part in 0..<parts {
                                    let range = PagedAttention.headRange(
                                        part, of: parts, heads: heads, kvHeads: kvHeads)
                                    if span.start == 0 { covered += range.count }
                                    PagedAttention.forwardRows(
                                        q: &qCopy, out: &cut, logSumExp: &cutLSE, span: span, pages: pages,
                                        heads: heads, kvHeads: kvHeads, headDim: headDim, scale: scale,
                                        scores: &scores, scoreStride: maxKeys, headRange: range)
                                }
                            }
                            XCTAssertEqual(covered, heads, "\(label), \(parts) parts")
                            XCTAssertEqual(cut, serial, "\(label), \(parts) parts")
                            XCTAssertEqual(cutLSE, serialLSE, "\(label), \(parts) parts")
                        }
                        // What forward picks: the deepest row alone (split over the cores), and all three.
                        for chosen in [[spans[0]], spans] {
                            var shared = [Float](repeating: .nan, count: q.count),
                                sharedLSE = [Float](repeating: .nan, count: serialLSE.count)
                            for s in spans where !chosen.contains(where: { $0.start == s.start }) {
                                for h in 0..<heads * headDim {
                                    shared[s.start * heads * headDim + h] = serial[s.start * heads * headDim + h]
                                }
                                for h in 0..<heads { sharedLSE[s.start * heads + h] = serialLSE[s.start * heads + h] }
                            }
                            PagedAttention.forward(
                                q: q, out: &shared, logSumExp: &sharedLSE, spans: chosen, pages: pages, heads: heads,
                                kvHeads: kvHeads, headDim: headDim)
                            XCTAssertEqual(shared, serial, "\(label), \(chosen.count) sequences")
                            XCTAssertEqual(sharedLSE, serialLSE, "\(label), \(chosen.count) sequences")
                        }
                    }
                }
            }
        }
        // A lone sequence is cut for every core; a batch of many is not.
        XCTAssertEqual(PagedAttention.headParts(rowSpans: 1, heads: 12, kvHeads: 12), min(12, ComputeThreads.count * 2))
        XCTAssertEqual(PagedAttention.headParts(rowSpans: 64, heads: 12, kvHeads: 12), 1)
    }

    func testMultiRowGemvEqualsSingleRowsExactly() {
        // Rows past a multiple of four (1, 2 or 3 left: the last pass alone or with its last
        // row repeated), inputs with and without a scalar tail, outputs past a multiple of three.
        for (rows, inFeatures, outFeatures) in [
            (5, 70, 37), (8, 64, 4096), (2, 288, 768), (3, 16, 3), (16, 48, 7), (13, 100, 11), (16, 288, 4096),
            (15, 288, 768), (14, 300, 97), (10, 48, 96), (7, 768, 290), (6, 33, 5),
        ] {
            for accumulate in [true, false] {
                let w = TestData.randoms(outFeatures * inFeatures, seed: 40),
                    x = TestData.randoms(rows * inFeatures, seed: 41)
                var batched = [Float](repeating: 0.5, count: rows * outFeatures), single = batched
                Gemv.applyRows(
                    w, x, &batched, rows: rows, inFeatures: inFeatures, outFeatures: outFeatures,
                    accumulate: accumulate)
                for r in 0..<rows {
                    x.withUnsafeBufferPointer { xp in
                        single.withUnsafeMutableBufferPointer { yp in
                            Gemv.apply(
                                w, xp.baseAddress! + r * inFeatures, yp.baseAddress! + r * outFeatures,
                                inFeatures: inFeatures,
                                outFeatures: outFeatures, accumulate: accumulate)
                        }
                    }
                }
                XCTAssertEqual(batched, single, "\(rows)×\(outFeatures)×\(inFeatures), accumulate \(accumulate)")
            }
        }
    }

    func testTwelveHorizontalSumsAtOnceEqualTwelveHorizontalSums() {
        // Magnitudes far apart, so that any other order of the additions rounds differently.
        var state: UInt64 = 7
        func next() -> Float {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let mantissa = Float(Int64(bitPattern: state >> 11) % 2_000_001 - 1_000_000) / 1_000_000
            return mantissa * Float(1 << Int((state >> 3) % 20))
        }
        var reorderedWouldDiffer = false
        for _ in 0..<200 {
            var v = [Vec](repeating: Vec(), count: 12)
            for i in 0..<12 { for lane in 0..<16 { v[i][lane] = next() } }
            let sums = horizontalSums12(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11])
            for i in 0..<12 {
                XCTAssertEqual(sums[i].bitPattern, horizontalSum(v[i]).bitPattern, "vector \(i)")
                var serial: Float = 0
                for lane in 0..<16 { serial += v[i][lane] }
                if serial != horizontalSum(v[i]) { reorderedWouldDiffer = true }
            }
            for lane in 12..<16 { XCTAssertEqual(sums[lane], 0) }
        }
        XCTAssertTrue(reorderedWouldDiffer, "the data tells summation orders apart")
    }

    func testBFloat16GemvEqualsFloatGemvOnTheRoundedWeightsExactly() {
        for (rows, inFeatures, outFeatures) in [
            (1, 70, 37), (1, 1000, 1200), (5, 70, 37), (8, 64, 4096), (3, 16, 3), (13, 100, 11),
        ] {
            let w = TestData.randoms(outFeatures * inFeatures, seed: 60),
                x = TestData.randoms(rows * inFeatures, seed: 61)
            let bits = w.map { BFloat16Bits(bits: BFloat16.round($0)) }
            let rounded = bits.map(\.value)
            var viaBFloat16 = [Float](repeating: 0.5, count: rows * outFeatures), viaFloat = viaBFloat16,
                unrounded = viaBFloat16
            Gemv.applyRows(
                bits, x, &viaBFloat16, rows: rows, inFeatures: inFeatures, outFeatures: outFeatures, accumulate: true)
            Gemv.applyRows(
                rounded, x, &viaFloat, rows: rows, inFeatures: inFeatures, outFeatures: outFeatures, accumulate: true)
            Gemv.applyRows(
                w, x, &unrounded, rows: rows, inFeatures: inFeatures, outFeatures: outFeatures, accumulate: true)
            let label = "\(rows)×\(outFeatures)×\(inFeatures)"
            XCTAssertEqual(viaBFloat16, viaFloat, label)
            // bf16 keeps 8 significant bits: each weight within 2⁻⁹ of itself, relatively.
            let bound = zip(w, x.prefix(inFeatures)).map { abs($0 * $1) }.reduce(0, +) / 256 + 1e-4
            XCTAssertLessThan(maxAbsDifference(viaBFloat16, unrounded), max(bound, 1e-3), label)
            XCTAssertNotEqual(viaBFloat16, unrounded, "the weights were rounded")
        }
    }

    func testRowKernelsDoNotDependOnTheRowsAround() {
        // An element computed in SwiGLU's scalar tail equals the same element in the vector loop,
        // and a row's RMSNorm does not depend on the other rows: what batching relies on.
        let width = 40, rows = 3
        let gate = TestData.randoms(rows * width, seed: 50)
        // 200 rows of 24: in one call every element is in the vector loop (4800 = 300 × 16); a
        // row alone has an 8-element scalar tail.
        let swigluWidth = 24, swigluRows = 200
        let g = TestData.randoms(swigluRows * swigluWidth, seed: 53),
            u = TestData.randoms(swigluRows * swigluWidth, seed: 54)
        var all = [Float](repeating: 0, count: g.count)
        SwiGLU.forward(gate: g, up: u, out: &all, count: g.count)
        for r in 0..<swigluRows {
            var alone = [Float](repeating: 0, count: swigluWidth)
            let range = (r * swigluWidth)..<((r + 1) * swigluWidth)
            Array(g[range]).withUnsafeBufferPointer { gp in
                Array(u[range]).withUnsafeBufferPointer { up in
                    SwiGLU.forward(gate: gp.baseAddress!, up: up.baseAddress!, out: &alone, count: swigluWidth)
                }
            }
            XCTAssertEqual(Array(all[range]), alone, "row \(r)")
        }
        let weight = TestData.randoms(width, seed: 52)
        var normed = [Float](repeating: 0, count: rows * width), rstd = [Float](repeating: 0, count: rows)
        var one = [Float](repeating: 0, count: width), oneRstd: [Float] = [0]
        RMSNorm.forward(gate, weight: weight, out: &normed, rstd: &rstd, rows: rows, dim: width, eps: 1e-5)
        Array(gate[width..<(2 * width)]).withUnsafeBufferPointer {
            RMSNorm.forward($0.baseAddress!, weight: weight, out: &one, rstd: &oneRstd, rows: 1, dim: width, eps: 1e-5)
        }
        XCTAssertEqual(Array(normed[width..<(2 * width)]), one)
    }

    // MARK: the block pool

    func testBlockTablesTakeAndReturnBlocks() {
        let pool = KVBlockPool(config: Self.config, blockCount: 5, blockSize: 16)
        var a = BlockTable(), b = BlockTable()
        XCTAssertTrue(a.grow(toHold: 17, from: pool))
        XCTAssertEqual(a.blocks.count, 2)
        XCTAssertTrue(b.grow(toHold: 48, from: pool))
        XCTAssertEqual(pool.freeBlocks, 0)
        XCTAssertFalse(a.grow(toHold: 33, from: pool), "the pool is empty")
        a.release(to: pool)
        XCTAssertEqual(pool.freeBlocks, 2)
        XCTAssertTrue(a.blocks.isEmpty)
        b.release(to: pool)
        XCTAssertEqual(pool.freeBlocks, 5)
    }

    // MARK: sampling

    func testMinPDropsTokensBelowTheFractionOfTheLikeliest() {
        // Probabilities 0.5, 0.3, 0.15, 0.05 at temperature 1; min-p 0.35 keeps p ≥ 0.175: tokens 0 and 1.
        let probabilities: [Float] = [0.5, 0.3, 0.15, 0.05]
        var sampler = Sampler(SamplingSettings(temperature: 1, topK: 0, topP: 1, minP: 0.35, seed: 5))
        var counts = [Int](repeating: 0, count: 4)
        for _ in 0..<2000 {
            var logits = probabilities.map { Float(log(Double($0))) }
            counts[Int(sampler.sample(&logits, vocab: 4))] += 1
        }
        XCTAssertEqual(counts[2] + counts[3], 0, "\(counts)")
        // The survivors keep their relative odds (0.5 : 0.3 → 62.5 %).
        XCTAssertEqual(Double(counts[0]) / 2000, 0.625, accuracy: 0.05)
        // Without min-p the third token does appear.
        var plain = Sampler(SamplingSettings(temperature: 1, topK: 0, topP: 1, seed: 5))
        var seenThird = false
        for _ in 0..<500 {
            var logits = probabilities.map { Float(log(Double($0))) }
            if plain.sample(&logits, vocab: 4) == 2 { seenThird = true }
        }
        XCTAssertTrue(seenThird)
    }

    func testRepetitionPenaltyDividesPositiveAndMultipliesNegativeLogits() {
        var logits: [Float] = [2, -1, 1.5, 0.5]
        Sampler.applyRepetitionPenalty(&logits, vocab: 4, tokens: [0, 1], penalty: 2)
        XCTAssertEqual(logits, [1, -2, 1.5, 0.5])
        // In the sampler: greedy would pick token 0, but it was seen (in the prompt), so token 2 wins.
        var sampler = Sampler(SamplingSettings(temperature: 0, repetitionPenalty: 2))
        sampler.observe(0)
        var again: [Float] = [2, -1, 1.5, 0.5]
        XCTAssertEqual(sampler.sample(&again, vocab: 4), 2)
        var unpenalized = Sampler(SamplingSettings(temperature: 0))
        unpenalized.observe(0)
        var same: [Float] = [2, -1, 1.5, 0.5]
        XCTAssertEqual(unpenalized.sample(&same, vocab: 4), 0)
    }

    func testStopStringsHoldBackPossibleStartsAndCutTheMatch() {
        var stops = StopStrings(["END", "\n\n"])
        XCTAssertEqual(stops.push("abc E").text, "abc ")
        XCTAssertEqual(stops.push("x").text, "Ex", "not a stop string after all")
        XCTAssertEqual(stops.push("yE").text, "y")
        let end = stops.push("ND and more")
        XCTAssertEqual(end.text, "")
        XCTAssertTrue(end.stopped)
        var other = StopStrings(["END"])
        XCTAssertEqual(other.push("été E").text, "été ")
        XCTAssertEqual(other.flush(), "E", "a partial stop string at the end is shown")
    }

    // MARK: prompts files

    func testPromptsFileLinesOverrideTheCommandLine() throws {
        let text =
            "plain prompt\n\n{\"prompt\": \"json\", \"max_tokens\": 5, \"top_k\": 3, \"min_p\": 0.2, \"repetition_penalty\": 1.5, \"presence_penalty\": 0.5, \"frequency_penalty\": -0.25, \"seed\": 9, \"stop\": [\"x\"]}\r\n"
        let defaults = SamplingSettings(temperature: 0.5, topK: 0, topP: 0.9, seed: 1)
        let lines = try PromptsFile.parse(text, name: "p.txt", maxTokens: 20, sampling: defaults, stop: ["END"])
        XCTAssertEqual(lines.map(\.line), [1, 3])
        XCTAssertEqual(
            lines[0], PromptLine(line: 1, prompt: "plain prompt", maxTokens: 20, sampling: defaults, stop: ["END"]))
        XCTAssertEqual(lines[1].prompt, "json")
        XCTAssertEqual(lines[1].maxTokens, 5)
        XCTAssertEqual(
            lines[1].sampling,
            SamplingSettings(
                temperature: 0.5, topK: 3, topP: 0.9, minP: 0.2, repetitionPenalty: 1.5,
                presencePenalty: 0.5, frequencyPenalty: -0.25, seed: 9))
        XCTAssertEqual(lines[1].stop, ["x"])
        for (bad, phrase) in [
            ("ok\n{\"prompt\": 1}", "line 2 of p.txt is not a valid JSON"),
            ("{\"prompt\": \"a\", \"top_p\": 2}", "line 1 of p.txt: --top-p"),
            ("\n\n", "holds no prompts"),
        ] {
            XCTAssertThrowsError(try PromptsFile.parse(bad, name: "p.txt", maxTokens: 20, sampling: defaults, stop: []))
            { error in
                XCTAssertTrue((error as? SwiftletError)?.message.contains(phrase) ?? false, "\(error)")
            }
        }
        // Output lines: fields in the documented order, text escaped.
        let record = CompletionRecord(
            prompt: "a \"q\"\n",
            result: GenerationResult(
                tokens: [1, 2, 3], text: "b\u{1}", promptTokens: 2,
                stopReason: .stopString, timeToFirstToken: 0.0123, generationSeconds: 0.5))
        XCTAssertEqual(
            record.jsonLine,
            "{\"prompt\":\"a \\\"q\\\"\\n\",\"completion\":\"b\\u0001\",\"tokens\":3,\"stop_reason\":\"stop_string\",\"ttft_ms\":12.3,\"tokens_per_s\":4.0}"
        )
    }

    // MARK: the engine

    /// Greedy or seeded tokens of each request, run through one engine.
    func generate(
        _ requests: [GenerationRequest], parallel: Int, promptTokensPerStep: Int = 16
    ) throws -> [GenerationResult] {
        let engine = GenerationEngine(
            model: model(), tokenizer: try TestData.tokenizer(),
            options: GenerationEngine.Options(parallel: parallel, promptTokensPerStep: promptTokensPerStep))
        let ids = try requests.map { try engine.submit($0) }
        let results = engine.runUntilIdle()
        XCTAssertEqual(engine.pool.freeBlocks, engine.pool.blockCount, "every block returned")
        return ids.map { results[$0]! }
    }

    /// Eight other prompts of different lengths (1 to 40 tokens; some need several prompt chunks).
    func crowd(sampling: (Int) -> SamplingSettings) -> [GenerationRequest] {
        [1, 3, 8, 17, 30, 5, 40, 12].enumerated().map { i, length in
            GenerationRequest(
                prompt: prompt(length, seed: 100 + UInt64(i)), maxTokens: 10 + 3 * i, sampling: sampling(i))
        }
    }

    func testGreedyTokensAreTheSameAloneAndInABatch() throws {
        let target = GenerationRequest(
            prompt: prompt(21, seed: 7), maxTokens: 24, sampling: SamplingSettings(temperature: 0))
        let alone = try generate([target], parallel: 1)[0]
        XCTAssertEqual(alone.tokens.count, 24)
        var batch = crowd { _ in SamplingSettings(temperature: 0) }
        batch.insert(target, at: 4)
        let together = try generate(batch, parallel: 9)
        XCTAssertEqual(together[4].tokens, alone.tokens)
        XCTAssertEqual(together[4].text, alone.text)
        // And when it has to wait for a free slot behind the others.
        let queued = try generate(batch, parallel: 3)
        XCTAssertEqual(queued[4].tokens, alone.tokens)
        // Each of the others equals its own solo run too.
        for i in [0, 6] {
            XCTAssertEqual(
                together[i < 4 ? i : i + 1].tokens, try generate([batch[i < 4 ? i : i + 1]], parallel: 1)[0].tokens)
        }
    }

    /// A chat-tuned model ends its reply with the end-of-turn marker, not EOS: the engine stops
    /// there too (llama.cpp's end-of-generation tokens), the marker not part of the reply.
    func testTheEndOfTurnMarkerEndsGeneration() throws {
        let request = GenerationRequest(
            prompt: prompt(9, seed: 31), maxTokens: 12, sampling: SamplingSettings(temperature: 0))
        let free = try generate([request], parallel: 1)[0]
        let tokenizer = try TestData.tokenizer()
        let end = tokenizer.id(ofPiece: SpecialPieces.endOfTurn)
        XCTAssertEqual(tokenizer.endOfGenerationIDs, [tokenizer.eosID, end])
        XCTAssertFalse(free.tokens.contains(end))
        // The marker's output row made 4× the row of the 6th greedy token: its logit beats every
        // other by then, so the reply ends at that token or before.
        let edited = Transformer(config: Self.config)
        edited.parameters.pointer.update(from: model().parameters.pointer, count: edited.parameters.count)
        let head = edited.parameters.pointer + edited.layout.outputHead
        let dim = Self.config.dim
        for i in 0..<dim { head[Int(end) * dim + i] = 4 * head[Int(free.tokens[5]) * dim + i] }
        let engine = GenerationEngine(
            model: edited, tokenizer: tokenizer, options: GenerationEngine.Options(parallel: 1))
        let id = try engine.submit(request)
        let ended = engine.runUntilIdle()[id]!
        XCTAssertEqual(ended.stopReason, .endOfSequence)
        XCTAssertLessThanOrEqual(ended.tokens.count, 5)
        XCTAssertEqual(ended.tokens, Array(free.tokens.prefix(ended.tokens.count)))
        XCTAssertEqual(ended.text, tokenizer.decode(ended.tokens))
    }

    func testBFloat16WeightsGenerateWhatFloatKernelsDoOnTheRoundedWeights() throws {
        func copyOfModel() -> Transformer {
            let copy = Transformer(config: Self.config)
            copy.parameters.pointer.update(from: model().parameters.pointer, count: copy.parameters.count)
            return copy
        }
        let rounded = copyOfModel()
        rounded.roundParametersToBFloat16()
        var requests = crowd { _ in SamplingSettings(temperature: 0) }
        requests.append(
            GenerationRequest(prompt: prompt(21, seed: 7), maxTokens: 24, sampling: SamplingSettings(temperature: 0)))
        func run(_ model: Transformer, _ weights: Precision) throws -> [[Int32]] {
            let engine = GenerationEngine(
                model: model, tokenizer: try TestData.tokenizer(),
                options: GenerationEngine.Options(parallel: 9, promptTokensPerStep: 16, weights: weights))
            let ids = try requests.map { try engine.submit($0) }
            let results = engine.runUntilIdle()
            return ids.map { results[$0]!.tokens }
        }
        let viaFloat = try run(rounded, .fp32)
        let original = copyOfModel()
        let viaBFloat16 = try run(original, .bf16)
        XCTAssertEqual(viaBFloat16, viaFloat)
        XCTAssertEqual(
            Array(UnsafeBufferPointer(start: original.parameters.pointer, count: original.parameters.count)),
            Array(UnsafeBufferPointer(start: rounded.parameters.pointer, count: rounded.parameters.count)),
            "the engine rounded the model's weights in place")
        XCTAssertNotEqual(try run(copyOfModel(), .fp32), viaFloat, "rounding changes what this model generates")
    }

    func testSeededSamplingDoesNotDependOnTheBatch() throws {
        let settings = SamplingSettings(
            temperature: 1, topK: 0, topP: 0.9, minP: 0.01, repetitionPenalty: 1.2, seed: 42)
        let target = GenerationRequest(prompt: prompt(11, seed: 8), maxTokens: 30, sampling: settings)
        let alone = try generate([target], parallel: 1)[0]
        var batch = crowd { i in SamplingSettings(temperature: 1.2, seed: UInt64(i)) }
        batch.append(target)
        let together = try generate(batch, parallel: 9)
        XCTAssertEqual(together.last!.tokens, alone.tokens)
        var reseeded = target
        reseeded.sampling.seed = 43
        XCTAssertNotEqual(try generate([reseeded], parallel: 1)[0].tokens, alone.tokens, "another seed, another text")
    }

    func testCancellingFreesKVBlocksAtOnce() throws {
        let engine = GenerationEngine(
            model: model(), tokenizer: try TestData.tokenizer(), options: GenerationEngine.Options(parallel: 4))
        let total = engine.pool.blockCount
        var cancelledID = -1
        var freeAfterCancel = -1, freeBeforeCancel = -1
        var pieces = 0
        var request = GenerationRequest(
            prompt: prompt(40, seed: 9), maxTokens: 50, sampling: SamplingSettings(temperature: 0))
        request.onText = { _ in
            pieces += 1
            if pieces == 2 {
                freeBeforeCancel = engine.pool.freeBlocks
                engine.cancel(cancelledID)  // from inside its own callback
                freeAfterCancel = engine.pool.freeBlocks
            }
        }
        cancelledID = try engine.submit(request)
        let other = try engine.submit(
            GenerationRequest(prompt: prompt(20, seed: 10), maxTokens: 40, sampling: SamplingSettings(temperature: 0)))
        let third = try engine.submit(
            GenerationRequest(prompt: prompt(5, seed: 11), maxTokens: 40, sampling: SamplingSettings(temperature: 0)))
        var results: [GenerationEngine.RequestID: GenerationResult] = [:]
        for _ in 0..<6 { for (id, r) in engine.step() { results[id] = r } }
        XCTAssertEqual(results[cancelledID]?.stopReason, .cancelled)
        // 40 prompt tokens and a token or two: 3 blocks of 16 came back the moment it was cancelled.
        XCTAssertEqual(freeAfterCancel - freeBeforeCancel, 3)
        // Cancelled between steps: its blocks return before the next step.
        let before = engine.pool.freeBlocks
        engine.cancel(other)
        XCTAssertEqual(engine.pool.freeBlocks - before, 2, "25 or so cached tokens: 2 blocks")
        for (id, r) in engine.step() { results[id] = r }
        XCTAssertEqual(results[other]?.stopReason, .cancelled)
        for (id, r) in engine.runUntilIdle() { results[id] = r }
        XCTAssertEqual(results[third]?.stopReason, .tokenLimit)
        XCTAssertEqual(engine.pool.freeBlocks, total)
    }

    func testPromptLongerThanTheContextIsRejected() throws {
        let engine = GenerationEngine(model: model(), tokenizer: nil)
        XCTAssertThrowsError(try engine.submit(GenerationRequest(prompt: prompt(96, seed: 1)))) { error in
            let message = (error as? SwiftletError)?.message ?? ""
            XCTAssertTrue(message.contains("the prompt is 96 tokens, but the model's context holds 96"), message)
        }
        XCTAssertThrowsError(try engine.submit(GenerationRequest(prompt: [])))
        // 95 tokens leave room for one more: accepted, and it ends with a full context.
        let id = try engine.submit(
            GenerationRequest(prompt: prompt(93, seed: 1), maxTokens: 50, sampling: SamplingSettings(temperature: 0)))
        let result = engine.runUntilIdle()[id]!
        XCTAssertEqual(result.stopReason, .contextFull)
        XCTAssertEqual(
            result.tokens.count, 96 - 93 + 1, "the cache fills; the last token is sampled from the full context")
    }

    func testStopStringsEndTheReplyAndAreNotEmitted() throws {
        let base = GenerationRequest(
            prompt: prompt(6, seed: 12), maxTokens: 40, sampling: SamplingSettings(temperature: 0))
        let free = try generate([base], parallel: 1)[0]
        let text = Array(free.text)
        XCTAssertGreaterThan(text.count, 12, free.text)
        let stop = String(text[8..<11])
        var streamed = ""
        var stopped = base
        stopped.stop = ["never appears \u{1}", stop]
        stopped.onText = { streamed += $0 }
        let result = try generate([stopped], parallel: 1)[0]
        XCTAssertEqual(result.stopReason, .stopString)
        let expected = String(free.text[..<free.text.range(of: stop)!.lowerBound])
        XCTAssertEqual(result.text, expected)
        XCTAssertEqual(streamed, expected)
        XCTAssertFalse(streamed.contains(stop))
    }
}
