/// AdamW with decoupled weight decay, as one vectorized pass over a range of the arena.
public struct AdamWSettings: Codable, Sendable, Equatable {
    public var beta1: Float = 0.9
    public var beta2: Float = 0.95
    public var epsilon: Float = 1e-8
    public var weightDecay: Float = 0.1
    public init() {}
}

public enum AdamW {
    /// p −= lr · (m̂ / (√v̂ + ε) + decay · p), with m and v updated in place.
    /// `step` counts from 1 (bias correction).
    public static func update(
        parameters: UnsafeMutablePointer<Float>, gradients: UnsafePointer<Float>,
        m: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>, count: Int,
        learningRate: Float, weightDecay: Float, step: Int, settings: AdamWSettings
    ) {
        let b1 = settings.beta1, b2 = settings.beta2
        let correction1 = 1 - Float(Double(b1).power(step))
        let correction2 = 1 - Float(Double(b2).power(step))
        let stepSize = Vec(repeating: learningRate / correction1)
        let invSqrtCorrection2 = Vec(repeating: 1 / correction2.squareRoot())
        let eps = Vec(repeating: settings.epsilon)
        let decay = Vec(repeating: 1 - learningRate * weightDecay)
        let b1v = Vec(repeating: b1), b2v = Vec(repeating: b2)
        let ib1 = Vec(repeating: 1 - b1), ib2 = Vec(repeating: 1 - b2)
        parallelRanges(count) { range in
            var i = range.lowerBound
            let count = range.upperBound
            while i + 16 <= count {
                let g = load(gradients + i)
                let mi = b1v * load(m + i) + ib1 * g
                let vi = b2v * load(v + i) + ib2 * g * g
                store(mi, m + i)
                store(vi, v + i)
                let denominator = vi.squareRoot() * invSqrtCorrection2 + eps
                store(load(parameters + i) * decay - stepSize * mi / denominator, parameters + i)
                i += 16
            }
            while i < count {
                let g = gradients[i]
                m[i] = b1 * m[i] + (1 - b1) * g
                v[i] = b2 * v[i] + (1 - b2) * g * g
                let denominator = v[i].squareRoot() / correction2.squareRoot() + settings.epsilon
                parameters[i] =
                    parameters[i] * (1 - learningRate * weightDecay) - learningRate / correction1 * m[i] / denominator
                i += 1
            }
        }
    }

    /// Σ x² over the buffer, in double for a stable global gradient norm.
    /// Each half of the buffer is summed on its own core, in blocks of 2¹⁴.
    public static func sumOfSquares(_ x: UnsafePointer<Float>, count: Int) -> Double {
        let halves = ResultSlots<Double>(count: 2)
        halves.set(1, 0)
        parallelRanges(count, minimum: 1 << 18) { range in
            var total: Double = 0
            var i = range.lowerBound
            while i < range.upperBound {
                let n = min(1 << 14, range.upperBound - i)
                total += Double(dot(x + i, x + i, n))
                i += n
            }
            halves.set(range.lowerBound == 0 ? 0 : 1, total)
        }
        return halves.all.reduce(0, +)
    }
}

extension Double {
    func power(_ n: Int) -> Double { Glibc.pow(self, Double(n)) }
}
