import XCTest
@testable import Swiftlet
import CQuantKernels
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The integer dot-product kernels (CQuantKernels) against a plain reference: the weights
/// decoded by the GGUF codecs, the activation quantized — per block of 32 as llama.cpp's Q8_0
/// (d = max|x| / 127 in fp16, q = x · 127 / max|x| rounded to nearest even) for
/// Q8_0, Q5_0 and Q4_0, per 256 as its Q8_K for Q4_K and Q6_K (KQuantKernelTests holds those to
/// llama.cpp's arithmetic bit for bit) — the products summed in Double. Every instruction-set
/// variant this CPU has gives the same bits; rows do not depend on each other.
final class QuantizedKernelTests: XCTestCase {
    static let types: [GGMLType] = [.q8_0, .q5_0, .q4_0, .q4_K, .q6_K]

    /// Blocks of `type` for a rows × columns matrix: ggml's quantizer where Swiftlet has one,
    /// else random bytes with sane fp16 scales (every bit pattern of the values is legal).
    func blocks(_ type: GGMLType, rows: Int, columns: Int, seed: UInt64) -> [UInt8] {
        let codec = type.codec!
        let count = rows * columns / codec.blockElements
        var bytes = [UInt8](repeating: 0, count: count * codec.blockBytes)
        if let encoder = type.encoder {
            let values = TestData.randoms(rows * columns, seed: seed, scale: 0.1)
            bytes.withUnsafeMutableBytes { encoder.encode(values, blocks: count, into: $0.baseAddress!) }
            return bytes
        }
        var rng = RandomGenerator(seed: seed)
        for i in bytes.indices { bytes[i] = UInt8(rng.below(256)) }
        func half(_ offset: Int, _ value: Float) {
            let bits = Float16Bits.round(value)
            bytes[offset] = UInt8(bits & 0xFF)
            bytes[offset + 1] = UInt8(bits >> 8)
        }
        for b in 0..<count {
            let base = b * codec.blockBytes
            if type == .q4_K {
                half(base, 0.001 + 0.01 * Float(rng.uniform()))
                half(base + 2, 0.001 + 0.01 * Float(rng.uniform()))
            } else {  // Q6_K: d at the end
                half(base + 208, (Float(rng.uniform()) - 0.5) * 0.002)
            }
        }
        return bytes
    }

    /// llama.cpp's activation blocks for `type`, then Σ w · q · d in Double.
    func reference(type: GGMLType, weights: [Float], rows: Int, columns: Int, x: [Float]) -> [Double] {
        var qx = [Double](repeating: 0, count: columns)
        if QuantizedMatrix.isKQuant(type) {
            let (q, d) = KQuantKernelTests.q8K(x)
            for i in 0..<columns { qx[i] = Double(q[i]) * Double(d[i / 256]) }
        } else {
            for b in 0..<columns / 32 {
                let block = x[b * 32..<(b + 1) * 32]
                let amax = block.map(abs).max()!
                let d = Float16Bits.value(Float16Bits.round(amax / 127)), inverse: Float = amax != 0 ? 127 / amax : 0
                for i in block.indices { qx[i] = Double((x[i] * inverse).rounded(.toNearestOrEven)) * Double(d) }
            }
        }
        return (0..<rows).map { r in (0..<columns).reduce(0.0) { $0 + Double(weights[r * columns + $1]) * qx[$1] } }
    }

    func testEveryKernelMatchesThePlainReferenceAndEveryVariantAgrees() {
        let best = QuantKernels.best
        defer { QuantKernels.use(best) }
        // Columns of 1, 8, 9 and 24 blocks (groups of 8 with and without a partial one); the
        // super-block types take whole 256s.
        for type in Self.types {
            let superBlock = type.codec!.blockElements == 256
            for columns in superBlock ? [256, 768, 2048 + 256] : [32, 256, 288, 768] {
                let rows = 13
                let bytes = blocks(type, rows: rows, columns: columns, seed: UInt64(columns))
                var weights = [Float](repeating: 0, count: rows * columns)
                bytes.withUnsafeBytes { type.codec!.decode($0.baseAddress!, elements: rows * columns, into: &weights) }
                let matrix = bytes.withUnsafeBytes {
                    QuantizedMatrix(type: type, rows: rows, columns: columns, blocks: $0.baseAddress!)
                }
                var x = TestData.randoms(3 * columns, seed: 9)
                x.replaceSubrange(0..<32, with: repeatElement(0, count: 32))  // a zero block: d = 0
                let scratch = QuantizedActivations()
                var variants: [[Float]] = []
                for isa in QuantKernels.available {
                    QuantKernels.use(isa)
                    var y = [Float](repeating: 0, count: 3 * rows)
                    matrix.apply(x, &y, count: 3, accumulate: false, scratch: scratch)
                    variants.append(y)
                    // One activation row at a time gives the same bits as three together.
                    for i in 0..<3 {
                        var alone = [Float](repeating: 1, count: rows)
                        Array(x[i * columns..<(i + 1) * columns]).withUnsafeBufferPointer {
                            matrix.apply($0.baseAddress!, &alone, count: 1, accumulate: false, scratch: scratch)
                        }
                        XCTAssertEqual(
                            alone, Array(y[i * rows..<(i + 1) * rows]),
                            "\(type) \(columns) \(QuantKernels.names[isa]) row \(i)")
                    }
                    // Accumulating adds to what is there.
                    var added = [Float](repeating: 0.5, count: 3 * rows)
                    matrix.apply(x, &added, count: 3, accumulate: true, scratch: scratch)
                    XCTAssertEqual(added, y.map { 0.5 + $0 }, "\(type) \(columns) accumulate")
                }
                for (isa, y) in zip(QuantKernels.available, variants) {
                    XCTAssertEqual(
                        y.map(\.bitPattern), variants[0].map(\.bitPattern),
                        "\(type) \(columns): \(QuantKernels.names[isa]) against portable C")
                }
                for i in 0..<3 {
                    let expected = reference(
                        type: type, weights: weights, rows: rows, columns: columns,
                        x: Array(x[i * columns..<(i + 1) * columns]))
                    let scale = (0..<rows).map { r in
                        (0..<columns).reduce(0.0) {
                            $0 + abs(Double(weights[r * columns + $1]) * Double(x[i * columns + $1]))
                        }
                    }
                    for r in 0..<rows {
                        XCTAssertEqual(
                            Double(variants[0][i * rows + r]), expected[r], accuracy: 1e-5 * scale[r] + 1e-30,
                            "\(type) \(columns) row \(r)")
                    }
                }
            }
        }
        XCTAssertEqual(QuantKernels.best, QuantKernels.inUse)
    }

    /// Two or three products over the same activation rows in one job
    /// (`QuantizedMatrix.applySharingInput`, a decode step's query, key and value) give what
    /// separate products give, bit for bit: matrices cut over both cores at uneven rows, one too
    /// small to cut, one and three activation rows, rows of 9 blocks (four at a time on AVX512)
    /// and of 24.
    func testProductsSharingTheirInputGiveSeparateProductsBits() {
        for type: GGMLType in [.q8_0, .q4_0] {
            for columns in [288, 768] {
                let matrices = [770, 13, 288].enumerated().map { k, rows in
                    blocks(type, rows: rows, columns: columns, seed: UInt64(7 + k)).withUnsafeBytes {
                        QuantizedMatrix(type: type, rows: rows, columns: columns, blocks: $0.baseAddress!)
                    }
                }
                for count in [1, 3] {
                    let x = TestData.randoms(count * columns, seed: 3)
                    let scratch = QuantizedActivations()
                    let separate = matrices.map { m in
                        var y = [Float](repeating: 0, count: count * m.rows)
                        m.apply(x, &y, count: count, accumulate: false, scratch: scratch)
                        return y.map(\.bitPattern)
                    }
                    var (a, b, c) = (
                        [Float](repeating: 7, count: count * 770), [Float](repeating: 7, count: count * 13),
                        [Float](repeating: 7, count: count * 288)
                    )
                    XCTAssertTrue(
                        QuantizedMatrix.applySharingInput(
                            x, count: count, scratch: scratch, matrices[0], &a, matrices[1], &b, matrices[2], &c))
                    XCTAssertEqual(
                        [a, b, c].map { $0.map(\.bitPattern) }, separate, "\(type) \(columns) count \(count)")
                    var (d, e) = ([Float](repeating: 7, count: count * 770), [Float](repeating: 7, count: count * 13))
                    XCTAssertTrue(
                        QuantizedMatrix.applySharingInput(
                            x, count: count, scratch: scratch, matrices[0], &d, matrices[1], &e))
                    let pair = [d, e]
                    XCTAssertEqual(pair.map { $0.map(\.bitPattern) }, Array(separate.prefix(2)), "\(type) pair")
                }
            }
        }
    }

    /// The activation quantizer's vector form against the portable C one: the same bytes in the
    /// kernels' order, the same scales and block sums, for blocks with a zero block, ties (x / d
    /// exactly halfway), a value far above the rest and an infinity.
    func testTheActivationQuantizerOfEveryVariantGivesThePortableBytes() {
        let best = QuantKernels.best
        defer { QuantKernels.use(best) }
        for kind in [SWIFTLET_KIND_Q8, SWIFTLET_KIND_Q4, SWIFTLET_KIND_Q4M, SWIFTLET_KIND_Q6, SWIFTLET_KIND_Q5] {
            for blocks in [1, 7, 8, 9, 24, 64] {
                var x = TestData.randoms(blocks * 32, seed: UInt64(blocks), scale: 3)
                if blocks > 1 { x.replaceSubrange(32..<64, with: repeatElement(0, count: 32)) }
                if blocks > 2 { for i in 64..<96 { x[i] = Float(i - 64) + 0.5 }; x[70] = 127 }
                if blocks > 3 { x[100] = 1e30 }
                if blocks > 4 { x[140] = .infinity }
                func quantized(_ isa: Int) -> [[UInt32]] {
                    QuantKernels.use(isa)
                    let a = QuantizedActivations()
                    a.quantize(x, count: 1, blocks: blocks, kind: Int32(kind))
                    let n = a.blockStride
                    let q = UnsafeRawBufferPointer(start: a.q, count: a.qStride)
                    return [
                        stride(from: 0, to: a.qStride, by: 4).map {
                            q.loadUnaligned(fromByteOffset: $0, as: UInt32.self)
                        },
                        (0..<n).map { a.d[$0].bitPattern }, (0..<n).map { UInt32(bitPattern: a.low[$0]) },
                        (0..<n).map { UInt32(bitPattern: a.high[$0]) },
                    ]
                }
                let portable = quantized(0)
                for isa in QuantKernels.available.dropFirst() {
                    XCTAssertEqual(
                        quantized(isa), portable, "kind \(kind), \(blocks) blocks, \(QuantKernels.names[isa])")
                }
            }
        }
    }

    /// Prompt chunks through the tiled kernel (quant_tiles.c) give the row products' bits —
    /// those of the portable C rows, the plain reference — for Q8_0 and Q4_0, rows that fill
    /// tiles of 16 or not, whole and partial groups of blocks, odd and even activation counts,
    /// and added onto what is there when accumulating.
    func testPromptChunkTilesGiveTheRowProductsBits() throws {
        let best = QuantKernels.best
        defer { QuantKernels.use(best) }
        guard swiftlet_quant_tiles_available() != 0 else {
            throw XCTSkip("the tiled kernel needs AVX512-VNNI")
        }
        for type in [GGMLType.q8_0, .q4_0] {
            for (rows, columns) in [(16, 32), (13, 256), (37, 288), (48, 768), (20, 2048)] {
                let bytes = blocks(type, rows: rows, columns: columns, seed: UInt64(rows * columns))
                let matrix = bytes.withUnsafeBytes {
                    QuantizedMatrix(type: type, rows: rows, columns: columns, blocks: $0.baseAddress!)
                }
                XCTAssertTrue(matrix.takesChunks, "\(type)")
                for count in [1, 2, 5, 8] {
                    var x = TestData.randoms(count * columns, seed: UInt64(count), scale: 2)
                    x.replaceSubrange(0..<32, with: repeatElement(0, count: 32))  // a zero block: d = 0
                    if count > 2 { x[columns + 3] = 1e30 }  // a block dominated by one value
                    let scratch = QuantizedActivations()
                    QuantKernels.use(0)
                    var reference = [Float](repeating: 0, count: count * rows)
                    matrix.apply(x, &reference, count: count, accumulate: false, scratch: scratch)
                    QuantKernels.use(best)
                    var tiled = [Float](repeating: 7, count: count * rows)
                    matrix.applyChunk(x, &tiled, count: count, accumulate: false, scratch: scratch)
                    XCTAssertEqual(
                        tiled.map(\.bitPattern), reference.map(\.bitPattern),
                        "\(type) \(rows)×\(columns), \(count) rows")
                    var added = [Float](repeating: 0.5, count: count * rows)
                    matrix.applyChunk(x, &added, count: count, accumulate: true, scratch: scratch)
                    XCTAssertEqual(
                        added.map(\.bitPattern), reference.map { (0.5 + $0).bitPattern },
                        "\(type) \(rows)×\(columns), \(count) rows, accumulating")
                }
            }
        }
    }

    func testQuantizingAtLoadRoundsTheParametersToTheBlocksValues() {
        let config = ModelConfig(
            dim: 64, layers: 1, heads: 4, kvHeads: 4, hiddenDim: 96, vocabSize: 100, contextLength: 32,
            tiedEmbedding: true)
        for type in QuantizedWeights.loadTypes {
            let model = Transformer(config: config)
            model.initialize(seed: 2)
            let original = model.parameters.array
            let weights = QuantizedWeights.quantizing(model, to: type)
            let encoder = type.encoder!
            for view in model.layout.views {
                let before = Array(original[view.offset..<view.offset + view.count])
                let after = Array(UnsafeBufferPointer(start: model.parameters.pointer + view.offset, count: view.count))
                guard view.shape.count == 2 else { XCTAssertEqual(after, before, view.name); continue }
                var bytes = [UInt8](repeating: 0, count: view.count / 32 * encoder.blockBytes)
                bytes.withUnsafeMutableBytes { encoder.encode(before, blocks: view.count / 32, into: $0.baseAddress!) }
                var decoded = [Float](repeating: 0, count: view.count)
                bytes.withUnsafeBytes { encoder.decode($0.baseAddress!, blocks: view.count / 32, into: &decoded) }
                XCTAssertEqual(after, decoded, "\(type) \(view.name)")
            }
            XCTAssertEqual(weights.summary, "\(type) ×8")
            // q, k, v, o 64×64, gate and up 96×64, down 64×96, the tied head 100×64: 1,288 blocks.
            XCTAssertEqual(weights.bytesPerToken, 1288 * [GGMLType.q8_0: 34, .q5_0: 22, .q4_0: 18][type]!)
        }
    }

    /// Greedy tokens with quantized weights: the same alone and beside other prompts (the
    /// engine's batch invariance), and a GGUF exported in that type and used as stored
    /// generates exactly what quantizing at load does.
    func testQuantizedDecodingIsBatchInvariantAndTheStoredGGUFDecodesAsQuantizingAtLoad() throws {
        let tokenizer = try TestData.bpeTokenizer()
        let config = ModelConfig(
            dim: 64, layers: 2, heads: 4, kvHeads: 2, hiddenDim: 96, vocabSize: tokenizer.vocabSize, contextLength: 64,
            tiedEmbedding: true)
        let dir = TestData.temporaryDirectory("quantized-engine")
        let model = Transformer(config: config)
        model.initialize(seed: 4)
        let facts = CheckpointConfig(model: config, tokenizer: TokenizerFacts(tokenizer), training: [:], chat: nil)
        try Checkpoint.save(dir + "/model", files: try Checkpoint.modelFiles(facts, model: model, tokenizer: tokenizer))
        func prompt(_ n: Int, _ seed: UInt64) -> [Int32] {
            var rng = RandomGenerator(seed: seed)
            return (0..<n).map { _ in Int32(3 + rng.below(tokenizer.vocabSize - 3)) }
        }
        let requests = [(21, 7), (1, 8), (5, 9), (17, 10), (40, 11)].map {
            GenerationRequest(
                prompt: prompt($0.0, UInt64($0.1)), maxTokens: 16, sampling: SamplingSettings(temperature: 0))
        }
        func run(_ checkpoint: Checkpoint, _ requests: [GenerationRequest], parallel: Int) throws -> [[Int32]] {
            let engine = GenerationEngine(
                model: checkpoint.model, tokenizer: tokenizer,
                options: GenerationEngine.Options(parallel: parallel, promptTokensPerStep: 16))
            let ids = try requests.map { try engine.submit($0) }
            let results = engine.runUntilIdle()
            return ids.map { results[$0]!.tokens }
        }
        for format in [WeightFormat.q8_0, .q5_0, .q4_0] {
            let loaded = try Checkpoint.load(dir + "/model")
            XCTAssertNil(loaded.storedWeights)
            XCTAssertEqual(try format.prepare(loaded), .fp32)
            let together = try run(loaded, requests, parallel: 5)
            for (i, request) in requests.enumerated() {
                XCTAssertEqual(try run(loaded, [request], parallel: 1)[0], together[i], "\(format) request \(i)")
            }
            let gguf = dir + "/model.\(format.rawValue).gguf"
            try ModelExport.gguf(try Checkpoint.load(dir + "/model"), type: format.quantizedType!, to: gguf)
            let stored = try Checkpoint.load(gguf)
            XCTAssertEqual(WeightFormat.defaultFor(stored), .stored)
            XCTAssertEqual(format.bytesPerToken(loaded), WeightFormat.stored.bytesPerToken(stored))
            try WeightFormat.stored.prepare(stored)
            XCTAssertEqual(stored.model.parameters.array, loaded.model.parameters.array, "\(format)")
            XCTAssertEqual(try run(stored, requests, parallel: 5), together, "\(format) stored")
        }
        XCTAssertThrowsError(try WeightFormat.stored.prepare(try Checkpoint.load(dir + "/model")))
    }
}
