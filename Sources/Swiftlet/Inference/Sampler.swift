import Glibc

/// How the next token is chosen from the logits.
public struct SamplingSettings: Codable, Sendable, Equatable {
    /// 0 means greedy (argmax).
    public var temperature: Float = 0.8
    /// Keep only the k likeliest tokens (0 = all).
    public var topK: Int = 0
    /// Keep the smallest set whose probability reaches p (1 = all).
    public var topP: Float = 0.95
    public var seed: UInt64 = 1

    public init(temperature: Float = 0.8, topK: Int = 0, topP: Float = 0.95, seed: UInt64 = 1) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.seed = seed
    }

    public func validate() throws {
        guard temperature >= 0, temperature.isFinite else { throw SwiftletError("--temperature must be 0 or more.") }
        guard topK >= 0 else { throw SwiftletError("--top-k must be 0 (off) or more.") }
        guard topP > 0, topP <= 1 else { throw SwiftletError("--top-p must be in (0, 1].") }
    }
}

/// Temperature, top-k and top-p sampling with its own reproducible random stream.
public struct Sampler {
    public let settings: SamplingSettings
    var random: RandomGenerator
    var order: [Int32] = []

    public init(_ settings: SamplingSettings) {
        self.settings = settings
        random = RandomGenerator(seed: settings.seed)
    }

    public mutating func sample(_ logits: UnsafeMutablePointer<Float>, vocab: Int) -> Int32 {
        if settings.temperature == 0 { return argmax(logits, vocab: vocab) }
        var maxLogit = -Float.infinity
        for i in 0..<vocab { maxLogit = max(maxLogit, logits[i]) }
        var sum: Float = 0
        for i in 0..<vocab {
            let p = expf((logits[i] - maxLogit) / settings.temperature)
            logits[i] = p
            sum += p
        }
        for i in 0..<vocab { logits[i] /= sum }
        let limitK = settings.topK > 0 && settings.topK < vocab
        if !limitK && settings.topP >= 1 { return draw(logits, candidates: nil, vocab: vocab, total: 1) }
        // Sort candidates by probability (only those that can matter: top-k, or above a floor).
        order.removeAll(keepingCapacity: true)
        // Never above the likeliest token, so at least one candidate always remains.
        let floor = limitK ? 0 : min((1 - settings.topP) / Float(max(vocab - 1, 1)), maximum(logits, count: vocab))
        for i in 0..<vocab where logits[i] >= floor { order.append(Int32(i)) }
        order.sort { logits[Int($0)] > logits[Int($1)] }
        if limitK && order.count > settings.topK { order.removeLast(order.count - settings.topK) }
        var kept = 0
        var cumulative: Float = 0
        for id in order {
            cumulative += logits[Int(id)]
            kept += 1
            if cumulative >= settings.topP { break }
        }
        order.removeLast(order.count - kept)
        guard !order.isEmpty else { return argmax(logits, vocab: vocab) }
        return draw(logits, candidates: order, vocab: vocab, total: cumulative)
    }

    private func argmax(_ logits: UnsafeMutablePointer<Float>, vocab: Int) -> Int32 {
        var best = 0
        for i in 1..<vocab where logits[i] > logits[best] { best = i }
        return Int32(best)
    }

    private mutating func draw(_ probabilities: UnsafeMutablePointer<Float>, candidates: [Int32]?, vocab: Int, total: Float) -> Int32 {
        let target = Float(random.uniform()) * total
        var cumulative: Float = 0
        if let candidates {
            for id in candidates {
                cumulative += probabilities[Int(id)]
                if target < cumulative { return id }
            }
            return candidates.last!
        }
        for i in 0..<vocab {
            cumulative += probabilities[i]
            if target < cumulative { return Int32(i) }
        }
        return Int32(vocab - 1)
    }
}
