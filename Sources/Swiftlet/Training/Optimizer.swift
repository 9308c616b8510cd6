/// AdamW over a parameter arena (the model's, or LoRA adapters'), tensor by tensor (weight
/// decay only where a tensor says), with global gradient-norm clipping. Owns the moment buffers.
public final class Optimizer {
    public let views: [TensorView]
    /// The embedding table, decayed only with decayEmbeddings.
    let embedding: Int?
    public let firstMoment: FloatBuffer
    public let secondMoment: FloatBuffer

    public init(views: [TensorView], count: Int, embedding: Int? = nil) {
        self.views = views
        self.embedding = embedding
        firstMoment = FloatBuffer(count: count)
        secondMoment = FloatBuffer(count: count)
    }

    public convenience init(layout: ParameterLayout) {
        self.init(views: layout.views, count: layout.totalCount, embedding: layout.embedding)
    }

    /// Scales the gradients so their global L2 norm is at most `maxNorm` (0 = no clipping).
    /// Returns the norm before clipping.
    @discardableResult
    public func clip(_ gradients: FloatBuffer, maxNorm: Float) -> Double {
        let norm = AdamW.sumOfSquares(gradients.pointer, count: gradients.count).squareRoot()
        if maxNorm > 0, norm > Double(maxNorm) {
            let p = gradients.pointer, factor = Float(Double(maxNorm) / norm)
            parallelRanges(gradients.count) { scaleInPlace(p + $0.lowerBound, count: $0.count, by: factor) }
        }
        return norm
    }

    /// One update; `step` counts from 1.
    public func step(parameters: FloatBuffer, gradients: FloatBuffer, learningRate: Float, step: Int,
                     settings: AdamWSettings, decayEmbeddings: Bool) {
        for view in views {
            let decays = view.isDecayed || (decayEmbeddings && view.offset == embedding)
            AdamW.update(parameters: parameters.pointer + view.offset, gradients: gradients.pointer + view.offset,
                         m: firstMoment.pointer + view.offset, v: secondMoment.pointer + view.offset, count: view.count,
                         learningRate: learningRate, weightDecay: decays ? settings.weightDecay : 0,
                         step: step, settings: settings)
        }
    }
}
