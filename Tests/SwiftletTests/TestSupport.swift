import XCTest
@testable import Swiftlet
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension FileIO {
    /// Tests clean their own scratch folders recursively; the library never removes that way.
    static func removeItem(_ path: String) {
        try? FileManager.default.removeItem(atPath: path)
    }
}

enum TestData {
    static func randoms(_ count: Int, seed: UInt64, scale: Float = 1) -> [Float] {
        var rng = RandomGenerator(seed: seed)
        return (0..<count).map { _ in rng.normal() * scale }
    }

    /// A deterministic English-like text with newlines, indentation and numbers.
    static func text(lines: Int = 400, seed: UInt64 = 7) -> String {
        let words = [
            "the", "king", "queen", "speaks", "of", "love", "and", "war", "my", "lord", "good", "night",
            "sweet", "prince", "what", "is", "this", "that", "I", "you", "shall", "not", "be", "to", "here",
        ]
        var rng = RandomGenerator(seed: seed)
        var out = ""
        for i in 0..<lines {
            if i % 9 == 0 { out += "ACT \(i / 9 + 1).\n" }
            let n = 3 + rng.below(8)
            out +=
                (i % 4 == 0 ? "    " : "") + (0..<n).map { _ in words[rng.below(words.count)] }.joined(separator: " ")
                + ".\n"
        }
        return out
    }

    static func temporaryDirectory(_ name: String) -> String {
        let path = "/tmp/swiftlet-tests-\(getpid())/\(name)"
        FileIO.removeItem(path)
        try! FileIO.createDirectory(path)
        return path
    }

    nonisolated(unsafe) static var cachedTokenizer: Tokenizer?
    static func tokenizer() throws -> Tokenizer {
        if let cachedTokenizer { return cachedTokenizer }
        // Unigram, as these tests were written against (BPE became the default later).
        let t = try Tokenizer.train(
            text: text(), options: TokenizerTrainingOptions(vocabSize: 320, modelType: .unigram))
        cachedTokenizer = t
        return t
    }

    nonisolated(unsafe) static var cachedBPETokenizer: Tokenizer?
    /// The default kind of tokenizer (BPE), the one llama.cpp tokenizes exactly as Swiftlet does.
    static func bpeTokenizer() throws -> Tokenizer {
        if let cachedBPETokenizer { return cachedBPETokenizer }
        let t = try Tokenizer.train(text: text(), options: TokenizerTrainingOptions(vocabSize: 320, modelType: .bpe))
        cachedBPETokenizer = t
        return t
    }
}

/// Central finite differences of a scalar function of one coordinate, in Double.
func numericalDerivative(at x: inout [Float], index: Int, epsilon: Float, _ f: ([Float]) -> Double) -> Double {
    let saved = x[index]
    x[index] = saved + epsilon
    let plus = f(x)
    x[index] = saved - epsilon
    let minus = f(x)
    x[index] = saved
    return (plus - minus) / Double(2 * epsilon)
}

func assertClose(
    _ a: Double, _ b: Double, relative: Double, absolute: Double, _ message: String = "",
    file: StaticString = #filePath, line: UInt = #line
) {
    let ok = abs(a - b) <= absolute + relative * max(abs(a), abs(b))
    XCTAssert(ok, "\(a) vs \(b) \(message)", file: file, line: line)
}

func maxAbsDifference(_ a: [Float], _ b: [Float]) -> Float {
    zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
}

/// Σ x·w in Double: a scalar loss whose gradient with respect to x is w.
func weightedSum(_ x: [Float], _ w: [Float]) -> Double {
    zip(x, w).reduce(0) { $0 + Double($1.0) * Double($1.1) }
}

/// The whole model's gradient of the mean loss over `batch` against central differences, at
/// three coordinates of every tensor.
func assertModelGradientMatchesFiniteDifferences(
    _ model: Transformer, _ batch: Batch, file: StaticString = #filePath,
    line: UInt = #line
) {
    let pass = TrainingPass(model: model, maxRows: batch.rows)
    pass.forwardBackward(batch, gradientTokens: batch.lossTokens)
    let analytic = pass.gradients.array
    func meanLoss() -> Double { pass.loss(batch) / Double(batch.lossTokens) }
    var rng = RandomGenerator(seed: 5)
    for view in model.layout.views {
        for _ in 0..<3 {
            let i = view.offset + rng.below(view.count)
            let saved = model.parameters[i]
            let eps: Float = 1e-2
            model.parameters[i] = saved + eps
            let plus = meanLoss()
            model.parameters[i] = saved - eps
            let minus = meanLoss()
            model.parameters[i] = saved
            let numeric = (plus - minus) / Double(2 * eps)
            assertClose(Double(analytic[i]), numeric, relative: 3e-2, absolute: 3e-4, view.name, file: file, line: line)
        }
    }
}
