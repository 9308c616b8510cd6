/// AdamW over a parameter arena (the model's, or LoRA adapters'), tensor by tensor (weight
/// decay only where a tensor says). Owns the moment buffers; `OptimizerStep` clips and schedules.
/// The moments hold the updated tensors only, back to back in `views`' order: for views that
/// cover the arena in order (every run that can be resumed) that is the arena's own layout, and a
/// frozen tensor (a classifier's embedding table) costs no moments at all.
public final class Optimizer {
    public let views: [TensorView]
    /// The embedding table, decayed only with decayEmbeddings.
    let embedding: Int?
    public let firstMoment: FloatBuffer
    public let secondMoment: FloatBuffer
    /// Where each view's moments start.
    private let momentOffsets: [Int]

    public init(views: [TensorView], embedding: Int? = nil) {
        self.views = views
        self.embedding = embedding
        var offsets: [Int] = [], next = 0
        for view in views {
            offsets.append(next)
            next += view.count
        }
        momentOffsets = offsets
        firstMoment = FloatBuffer(count: next)
        secondMoment = FloatBuffer(count: next)
    }

    public convenience init(layout: ParameterLayout) {
        self.init(views: layout.views, embedding: layout.embedding)
    }

    /// One update; `step` counts from 1.
    public func step(
        parameters: FloatBuffer, gradients: FloatBuffer, learningRate: Float, step: Int,
        settings: AdamWSettings, decayEmbeddings: Bool
    ) {
        for (view, moments) in zip(views, momentOffsets) {
            let decays = view.isDecayed || (decayEmbeddings && view.offset == embedding)
            AdamW.update(
                parameters: parameters.pointer + view.offset, gradients: gradients.pointer + view.offset,
                m: firstMoment.pointer + moments, v: secondMoment.pointer + moments, count: view.count,
                learningRate: learningRate, weightDecay: decays ? settings.weightDecay : 0,
                step: step, settings: settings)
        }
    }
}
