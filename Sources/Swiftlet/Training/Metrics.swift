/// One line of metrics.jsonl: a training step or an evaluation.
public struct MetricRecord: Codable, Sendable, Equatable {
    public var step: Int
    public var kind: String  // "train" or "eval"
    public var loss: Double
    public var learningRate: Double?
    public var tokensPerSecond: Double?
    public var trainingSeconds: Double?
    /// A data-parallel step's time in collectives (the gradient all-reduce and a few small sums).
    public var communicationSeconds: Double?
    /// Of which the gradient all-reduce alone, once every rank was ready…
    public var allReduceSeconds: Double?
    /// …and the wait for the slowest rank before it.
    public var waitingSeconds: Double?
    public var perplexity: Double?
    public var bitsPerByte: Double?
    /// A classifier's validation accuracy (0–1), with its validation loss.
    public var accuracy: Double?
    /// Which validation corpus an evaluation is of, when a run has several (nil: all of them).
    public var corpus: String?

    public init(step: Int, kind: String, loss: Double) {
        self.step = step
        self.kind = kind
        self.loss = loss
    }

    public var jsonLine: String {
        var fields = ["\"step\":\(step)", "\"kind\":\"\(kind)\"", "\"loss\":\(json(loss))"]
        if let learningRate { fields.append("\"learningRate\":\(json(learningRate))") }
        if let tokensPerSecond { fields.append("\"tokensPerSecond\":\(json(tokensPerSecond))") }
        if let trainingSeconds { fields.append("\"trainingSeconds\":\(json(trainingSeconds))") }
        if let communicationSeconds { fields.append("\"communicationSeconds\":\(json(communicationSeconds))") }
        if let allReduceSeconds { fields.append("\"allReduceSeconds\":\(json(allReduceSeconds))") }
        if let waitingSeconds { fields.append("\"waitingSeconds\":\(json(waitingSeconds))") }
        if let perplexity { fields.append("\"perplexity\":\(json(perplexity))") }
        if let bitsPerByte { fields.append("\"bitsPerByte\":\(json(bitsPerByte))") }
        if let accuracy { fields.append("\"accuracy\":\(json(accuracy))") }
        if let corpus { fields.append("\"corpus\":\(JSONText.quoted(corpus))") }
        return "{" + fields.joined(separator: ",") + "}"
    }

    private func json(_ x: Double) -> String { x.isFinite ? "\(x)" : "null" }
}

/// The loss curve as a self-contained SVG: training loss (thin) and validation loss (dots
/// joined), against steps.
public enum LossCurve {
    public static func svg(_ records: [MetricRecord], title: String) -> String {
        let width = 720.0, height = 420.0, left = 60.0, right = 20.0, top = 40.0, bottom = 50.0
        let train = records.filter { $0.kind == "train" && $0.loss.isFinite }
        let eval = records.filter { $0.kind == "eval" && $0.corpus == nil && $0.loss.isFinite }
        let all = train + eval
        guard !all.isEmpty else {
            return
                "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"60\"><text x=\"10\" y=\"30\">no data yet</text></svg>\n"
        }
        let maxStep = Double(max(1, all.map(\.step).max()!))
        let losses = all.map(\.loss)
        let lo = max(0, losses.min()! - 0.1), hi = min(losses.max()!, (losses.min()! + 1) * 3) + 0.1
        func x(_ step: Int) -> Double { left + Double(step) / maxStep * (width - left - right) }
        func y(_ loss: Double) -> Double { top + (1 - (min(loss, hi) - lo) / (hi - lo)) * (height - top - bottom) }
        var s =
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" font-family=\"sans-serif\" font-size=\"12\">\n"
        s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        s += "<text x=\"\(Int(left))\" y=\"24\" font-size=\"15\">\(escape(title))</text>\n"
        // Axes with five ticks each.
        s +=
            "<line x1=\"\(Int(left))\" y1=\"\(Int(height - bottom))\" x2=\"\(Int(width - right))\" y2=\"\(Int(height - bottom))\" stroke=\"black\"/>\n"
        s +=
            "<line x1=\"\(Int(left))\" y1=\"\(Int(top))\" x2=\"\(Int(left))\" y2=\"\(Int(height - bottom))\" stroke=\"black\"/>\n"
        for i in 0...4 {
            let loss = lo + (hi - lo) * Double(i) / 4
            let step = Int(maxStep * Double(i) / 4)
            s +=
                "<text x=\"\(Int(left) - 8)\" y=\"\(Int(y(loss)) + 4)\" text-anchor=\"end\">\(rounded(loss, 2))</text>\n"
            s +=
                "<line x1=\"\(Int(left))\" y1=\"\(Int(y(loss)))\" x2=\"\(Int(width - right))\" y2=\"\(Int(y(loss)))\" stroke=\"#eee\"/>\n"
            s +=
                "<text x=\"\(Int(x(step)))\" y=\"\(Int(height - bottom) + 18)\" text-anchor=\"middle\">\(step)</text>\n"
        }
        s += "<text x=\"\(Int((left + width) / 2))\" y=\"\(Int(height) - 8)\" text-anchor=\"middle\">step</text>\n"
        s +=
            "<text x=\"16\" y=\"\(Int(height / 2))\" transform=\"rotate(-90 16 \(Int(height / 2)))\" text-anchor=\"middle\">loss (nats/token)</text>\n"
        if !train.isEmpty {
            let points = train.map { "\(rounded(x($0.step), 1)),\(rounded(y($0.loss), 1))" }.joined(separator: " ")
            s += "<polyline fill=\"none\" stroke=\"#4a7fd4\" stroke-width=\"1\" points=\"\(points)\"/>\n"
        }
        if !eval.isEmpty {
            let points = eval.map { "\(rounded(x($0.step), 1)),\(rounded(y($0.loss), 1))" }.joined(separator: " ")
            s += "<polyline fill=\"none\" stroke=\"#d4574a\" stroke-width=\"2\" points=\"\(points)\"/>\n"
            for r in eval {
                s +=
                    "<circle cx=\"\(rounded(x(r.step), 1))\" cy=\"\(rounded(y(r.loss), 1))\" r=\"3\" fill=\"#d4574a\"/>\n"
            }
        }
        s += "<text x=\"\(Int(width - right) - 150)\" y=\"\(Int(top) + 4)\" fill=\"#4a7fd4\">— training loss</text>\n"
        s +=
            "<text x=\"\(Int(width - right) - 150)\" y=\"\(Int(top) + 20)\" fill=\"#d4574a\">● validation loss</text>\n"
        s += "</svg>\n"
        return s
    }

    static func rounded(_ v: Double, _ digits: Int) -> String {
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let r = (v * scale).rounded() / scale
        return "\(r)"
    }

    static func escape(_ s: String) -> String {
        s.replacingAll("&", with: "&amp;").replacingAll("<", with: "&lt;").replacingAll(">", with: "&gt;")
    }
}
