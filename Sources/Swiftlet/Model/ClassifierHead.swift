/// How a text's hidden states become one vector for the classifier.
public enum Pooling: String, Codable, CaseIterable, Sendable {
    /// The mean over every token of the text.
    case mean
    /// The last token's state (it has seen the whole text); texts end with the end-of-sequence token.
    case last
}

/// What a classifier checkpoint says about its head: saved as classifier.json.
public struct ClassifierConfig: Codable, Sendable, Equatable {
    public var labels: [String]
    public var pooling: Pooling
    public init(labels: [String], pooling: Pooling) {
        self.labels = labels
        self.pooling = pooling
    }

    /// Labels: 2 to 65,536, each non-empty and named once (they key every lookup).
    public func validate() throws {
        guard labels.count >= 2 else { throw SwiftletError("it names fewer than two labels.") }
        guard labels.count <= 65_536 else {
            throw SwiftletError("it names \(labels.count) labels; at most 65,536 are supported.")
        }
        guard labels.allSatisfy({ !$0.isEmpty }) else { throw SwiftletError("it has an empty label.") }
        var seen = Set<String>()
        if let repeated = labels.first(where: { !seen.insert($0).inserted }) {
            throw SwiftletError("it names the label \(repeated) twice.")
        }
    }
}

/// A linear softmax classifier on a pooled final hidden state: logits = W·pooled + b, with W
/// (classes × dim) and b (classes) in one small arena.
public final class ClassifierHead: @unchecked Sendable {
    public let config: ClassifierConfig
    public let dim: Int
    public let parameters: FloatBuffer
    public let views: [TensorView]

    public init(config: ClassifierConfig, dim: Int) {
        self.config = config
        self.dim = dim
        let classes = config.labels.count
        views = [
            TensorView(name: "classifier.weight", offset: 0, shape: [classes, dim], isDecayed: true),
            TensorView(name: "classifier.bias", offset: classes * dim, shape: [classes], isDecayed: false),
        ]
        parameters = FloatBuffer(count: classes * dim + classes)
    }

    public var classes: Int { config.labels.count }
    var weight: UnsafeMutablePointer<Float> { parameters.pointer }
    var bias: UnsafeMutablePointer<Float> { parameters.pointer + classes * dim }

    /// Small random weights (the final norm's output has unit scale), zero bias.
    public func initialize(seed: UInt64) {
        var rng = RandomGenerator(seed: seed ^ 0xC1A5)
        for i in 0..<classes * dim { weight[i] = rng.normal() * 0.02 }
        bias.update(repeating: 0, count: classes)
    }

    /// pooled (sequences × dim) from the hidden rows of packed sequences.
    public static func pool(
        _ hidden: UnsafePointer<Float>, cumulativeLengths: [Int], dim: Int, pooling: Pooling,
        into pooled: UnsafeMutablePointer<Float>
    ) {
        for s in 0..<cumulativeLengths.count - 1 {
            let start = cumulativeLengths[s], end = cumulativeLengths[s + 1]
            let out = pooled + s * dim
            switch pooling {
            case .last:
                out.update(from: hidden + (end - 1) * dim, count: dim)
            case .mean:
                out.update(repeating: 0, count: dim)
                for r in start..<end { axpy(1, hidden + r * dim, out, dim) }
                scaleInPlace(out, count: dim, by: 1 / Float(end - start))
            }
        }
    }

    /// The adjoint of `pool`: writes ∂loss/∂hidden for every row from ∂loss/∂pooled.
    public static func unpool(
        _ dPooled: UnsafePointer<Float>, cumulativeLengths: [Int], dim: Int, pooling: Pooling,
        into dHidden: UnsafeMutablePointer<Float>
    ) {
        for s in 0..<cumulativeLengths.count - 1 {
            let start = cumulativeLengths[s], end = cumulativeLengths[s + 1]
            let g = dPooled + s * dim
            switch pooling {
            case .last:
                (dHidden + start * dim).update(repeating: 0, count: (end - start - 1) * dim)
                (dHidden + (end - 1) * dim).update(from: g, count: dim)
            case .mean:
                let scale = 1 / Float(end - start)
                for r in start..<end {
                    let row = dHidden + r * dim
                    for d in 0..<dim { row[d] = g[d] * scale }
                }
            }
        }
    }

    /// Class probabilities (count × classes) of pooled vectors.
    public func probabilities(_ pooled: UnsafePointer<Float>, count: Int) -> [[Float]] {
        (0..<count).map { i in
            var logits = (0..<classes).map { c in dot(weight + c * dim, pooled + i * dim, dim) + bias[c] }
            let top = logits.max()!
            var sum: Float = 0
            for c in 0..<classes {
                logits[c] = expf(logits[c] - top)
                sum += logits[c]
            }
            return logits.map { $0 / sum }
        }
    }

    /// Weighted softmax cross-entropy over `count` pooled vectors with class indices `labels`:
    /// returns Σ wᵢ·lossᵢ and Σ wᵢ; adds ∂(Σ wᵢ·lossᵢ / normalizer)/∂W, ∂b to `gradients` (laid out
    /// like `parameters`) and writes ∂/∂pooled into `dPooled` when given.
    public func lossAndGradients(
        _ pooled: UnsafePointer<Float>, labels: [Int], classWeights: [Float]?, normalizer: Float,
        gradients: FloatBuffer, dPooled: UnsafeMutablePointer<Float>?
    ) -> (loss: Double, weight: Double) {
        let probabilities = self.probabilities(pooled, count: labels.count)
        var loss = 0.0, total = 0.0
        let g = gradients.pointer, gBias = gradients.pointer + classes * dim
        for (i, label) in labels.enumerated() {
            let w = classWeights?[label] ?? 1
            loss += Double(w) * -log(Double(max(probabilities[i][label], 1e-30)))
            total += Double(w)
            let x = pooled + i * dim
            dPooled.map { ($0 + i * dim).update(repeating: 0, count: dim) }
            for c in 0..<classes {
                let delta = (probabilities[i][c] - (c == label ? 1 : 0)) * w / normalizer
                axpy(delta, x, g + c * dim, dim)
                gBias[c] += delta
                if let dPooled { axpy(delta, weight + c * dim, dPooled + i * dim, dim) }
            }
        }
        return (loss, total)
    }
}
