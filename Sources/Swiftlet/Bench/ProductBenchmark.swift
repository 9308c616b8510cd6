/// The matrix products of one training step of a model shape, each timed on its own in fp32 and
/// in bf16 (operands already rounded, as the bf16 pass hands them over): where a step's product
/// time goes, and how much bf16 gains on each shape.
extension Benchmarks {
    public static func products(config c: ModelConfig, rows: Int) -> [BenchResult] {
        var shapes: [(name: String, inFeatures: Int, outFeatures: Int, rows: Int)] = [
            ("attention", c.dim, c.dim, rows), ("mlp.up", c.dim, c.hiddenDim, rows),
            ("mlp.down", c.hiddenDim, c.dim, rows),
        ]
        shapes.append(("head", c.dim, c.vocabSize, min(rows, CrossEntropy.chunkRows)))
        var results: [BenchResult] = []
        for shape in shapes {
            let x = FloatBuffer(TestPattern.values(shape.rows * shape.inFeatures)),
                w = FloatBuffer(TestPattern.values(shape.outFeatures * shape.inFeatures, seed: 2))
            let dy = FloatBuffer(TestPattern.values(shape.rows * shape.outFeatures, seed: 3))
            let y = FloatBuffer(count: shape.rows * shape.outFeatures),
                dx = FloatBuffer(count: shape.rows * shape.inFeatures)
            let dw = FloatBuffer(count: shape.outFeatures * shape.inFeatures)
            let xBits = BFloat16Buffer(count: x.count), dyBits = BFloat16Buffer(count: dy.count)
            BFloat16.convert(x.pointer, into: xBits.pointer, count: x.count)
            BFloat16.convert(dy.pointer, into: dyBits.pointer, count: dy.count)
            let flops = 2 * Double(shape.rows * shape.inFeatures * shape.outFeatures)
            for precision in Precision.allCases where precision == .fp32 || BF16Kernels.available {
                let engine = MatrixEngine(precision: precision)
                engine.beginPass()
                let xb = precision == .bf16 ? UnsafePointer(xBits.pointer) : nil,
                    dyb = precision == .bf16 ? UnsafePointer(dyBits.pointer) : nil
                let size = "\(shape.rows)x\(shape.outFeatures)x\(shape.inFeatures)"
                let forward = time(seconds: 0.3) {
                    engine.linear(
                        x.pointer, w.pointer, y.pointer, rows: shape.rows, inFeatures: shape.inFeatures,
                        outFeatures: shape.outFeatures, xBits: xb)
                }
                let input = time(seconds: 0.3) {
                    engine.linearBackwardInput(
                        dy.pointer, w.pointer, dx.pointer, rows: shape.rows, inFeatures: shape.inFeatures,
                        outFeatures: shape.outFeatures, accumulate: false, dyBits: dyb)
                }
                let weight = time(seconds: 0.3) {
                    engine.linearBackwardWeight(
                        dy.pointer, x.pointer, dw.pointer, rows: shape.rows, inFeatures: shape.inFeatures,
                        outFeatures: shape.outFeatures, dyBits: dyb, xBits: xb)
                }
                let prefix = "product.\(precision.rawValue).\(shape.name).\(size)"
                results += [
                    BenchResult("\(prefix).forward.gflops", flops / forward / 1e9, "GFLOP/s"),
                    BenchResult("\(prefix).input_gradient.gflops", flops / input / 1e9, "GFLOP/s"),
                    BenchResult("\(prefix).weight_gradient.gflops", flops / weight / 1e9, "GFLOP/s"),
                ]
            }
        }
        return results
    }
}
