/// AdamW over a parameter arena (the model's, or LoRA adapters'), tensor by tensor (weight
/// decay only where a tensor says). Owns the moment buffers; `OptimizerStep` clips and schedules.
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

    /// One update; `step` counts from 1.
    public func step(
        parameters: FloatBuffer, gradients: FloatBuffer, learningRate: Float, step: Int,
        settings: AdamWSettings, decayEmbeddings: Bool
    ) {
        for view in views {
            let decays = view.isDecayed || (decayEmbeddings && view.offset == embedding)
            AdamW.update(
                parameters: parameters.pointer + view.offset, gradients: gradients.pointer + view.offset,
                m: firstMoment.pointer + view.offset, v: secondMoment.pointer + view.offset, count: view.count,
                learningRate: learningRate, weightDecay: decays ? settings.weightDecay : 0,
                step: step, settings: settings)
        }
    }
}
