/// AdamW over the whole parameter arena, tensor by tensor (weight decay only where the layout
/// says), with global gradient-norm clipping. Owns the two moment buffers.
public final class Optimizer {
    public let layout: ParameterLayout
    public let firstMoment: FloatBuffer
    public let secondMoment: FloatBuffer

    public init(layout: ParameterLayout) {
        self.layout = layout
        firstMoment = FloatBuffer(count: layout.totalCount)
        secondMoment = FloatBuffer(count: layout.totalCount)
    }

    /// Scales the gradients so their global L2 norm is at most `maxNorm` (0 = no clipping).
    /// Returns the norm before clipping.
    @discardableResult
    public func clip(_ gradients: FloatBuffer, maxNorm: Float) -> Double {
        let norm = AdamW.sumOfSquares(gradients.pointer, count: gradients.count).squareRoot()
        if maxNorm > 0, norm > Double(maxNorm) {
            scaleInPlace(gradients.pointer, count: gradients.count, by: Float(Double(maxNorm) / norm))
        }
        return norm
    }

    /// One update; `step` counts from 1.
    public func step(parameters: FloatBuffer, gradients: FloatBuffer, learningRate: Float, step: Int,
                     settings: AdamWSettings, decayEmbeddings: Bool) {
        for view in layout.views {
            let decays = view.isDecayed || (decayEmbeddings && view.offset == layout.embedding)
            AdamW.update(parameters: parameters.pointer + view.offset, gradients: gradients.pointer + view.offset,
                         m: firstMoment.pointer + view.offset, v: secondMoment.pointer + view.offset, count: view.count,
                         learningRate: learningRate, weightDecay: decays ? settings.weightDecay : 0,
                         step: step, settings: settings)
        }
    }
}
