import Glibc

/// How the next token is chosen from the logits.
public struct SamplingSettings: Codable, Sendable, Equatable {
    /// 0 means greedy (argmax).
    public var temperature: Float = 0.8
    /// Keep only the k likeliest tokens (0 = all).
    public var topK: Int = 0
    /// Keep the smallest set whose probability reaches p (1 = all).
    public var topP: Float = 0.95
    /// Drop tokens whose probability is below minP × the likeliest token's (0 = off).
    public var minP: Float = 0
    /// CTRL-style penalty on tokens already in the prompt or the reply: a positive logit is
    /// divided by it, a negative one multiplied (1 = off).
    public var repetitionPenalty: Float = 1
    /// OpenAI's penalties on tokens of the reply so far (not the prompt): a token's logit drops by
    /// presencePenalty once it has appeared and by frequencyPenalty for every time it has (0 = off).
    public var presencePenalty: Float = 0
    public var frequencyPenalty: Float = 0
    public var seed: UInt64 = 1

    public init(
        temperature: Float = 0.8, topK: Int = 0, topP: Float = 0.95, minP: Float = 0, repetitionPenalty: Float = 1,
        presencePenalty: Float = 0, frequencyPenalty: Float = 0, seed: UInt64 = 1
    ) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.minP = minP
        self.repetitionPenalty = repetitionPenalty
        self.presencePenalty = presencePenalty
        self.frequencyPenalty = frequencyPenalty
        self.seed = seed
    }

    enum CodingKeys: String, CodingKey {
        case temperature, topK, topP, minP, repetitionPenalty, presencePenalty, frequencyPenalty, seed
    }

    /// The penalties came later: settings saved before them (chat transcripts) still load.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        temperature = try c.decode(Float.self, forKey: .temperature)
        topK = try c.decode(Int.self, forKey: .topK)
        topP = try c.decode(Float.self, forKey: .topP)
        minP = try c.decode(Float.self, forKey: .minP)
        repetitionPenalty = try c.decode(Float.self, forKey: .repetitionPenalty)
        presencePenalty = try c.decodeIfPresent(Float.self, forKey: .presencePenalty) ?? 0
        frequencyPenalty = try c.decodeIfPresent(Float.self, forKey: .frequencyPenalty) ?? 0
        seed = try c.decode(UInt64.self, forKey: .seed)
    }

    public func validate() throws {
        guard temperature >= 0, temperature.isFinite else { throw SwiftletError("--temperature must be 0 or more.") }
        guard topK >= 0 else { throw SwiftletError("--top-k must be 0 (off) or more.") }
        guard topP > 0, topP <= 1 else { throw SwiftletError("--top-p must be in (0, 1].") }
        guard minP >= 0, minP < 1 else { throw SwiftletError("--min-p must be in [0, 1).") }
        guard repetitionPenalty > 0, repetitionPenalty.isFinite else {
            throw SwiftletError("--repetition-penalty must be positive.")
        }
        guard abs(presencePenalty) <= 2 else { throw SwiftletError("--presence-penalty must be between -2 and 2.") }
        guard abs(frequencyPenalty) <= 2 else { throw SwiftletError("--frequency-penalty must be between -2 and 2.") }
    }
}

/// Repetition, presence and frequency penalties, then temperature, top-k, top-p and min-p
/// sampling, with its own reproducible random stream (so a seeded request draws the same numbers
/// whatever else runs).
public struct Sampler {
    public let settings: SamplingSettings
    var random: RandomGenerator
    var order: [Int32] = []
    /// Distinct tokens seen so far (for the repetition penalty), and a membership map.
    var seenTokens: [Int32] = []
    var isSeen: [Bool] = []
    /// How often each token of the reply was sampled (presence and frequency penalties).
    var replyCounts: [Int32: Int] = [:]

    public init(_ settings: SamplingSettings) {
        self.settings = settings
        random = RandomGenerator(seed: settings.seed)
    }

    /// Records a token of the context for the penalties: every token counts for the repetition
    /// penalty, tokens of the reply (`sampled`) also for the presence and frequency penalties.
    public mutating func observe(_ token: Int32, sampled: Bool = false) {
        guard token >= 0 else { return }
        if sampled, settings.presencePenalty != 0 || settings.frequencyPenalty != 0 {
            replyCounts[token, default: 0] += 1
        }
        guard settings.repetitionPenalty != 1 else { return }
        let i = Int(token)
        if i >= isSeen.count { isSeen += [Bool](repeating: false, count: i + 1 - isSeen.count) }
        if !isSeen[i] {
            isSeen[i] = true
            seenTokens.append(token)
        }
    }

    /// logit −= count · frequency + presence for every token of the reply (OpenAI's definition).
    public static func applyPresenceAndFrequencyPenalties(
        _ logits: UnsafeMutablePointer<Float>, vocab: Int, counts: [Int32: Int],
        presence: Float, frequency: Float
    ) {
        for (t, count) in counts where t >= 0 && Int(t) < vocab {
            logits[Int(t)] -= Float(count) * frequency + presence
        }
    }

    /// Divides positive logits of `tokens` by `penalty` and multiplies negative ones (CTRL, as in Hugging Face).
    public static func applyRepetitionPenalty(
        _ logits: UnsafeMutablePointer<Float>, vocab: Int, tokens: [Int32], penalty: Float
    ) {
        for t in tokens where t >= 0 && Int(t) < vocab {
            let l = logits[Int(t)]
            logits[Int(t)] = l > 0 ? l / penalty : l * penalty
        }
    }

    /// Picks a token; overwrites `logits` (with probabilities).
    public mutating func sample(_ logits: UnsafeMutablePointer<Float>, vocab: Int) -> Int32 {
        if settings.repetitionPenalty != 1 {
            Sampler.applyRepetitionPenalty(
                logits, vocab: vocab, tokens: seenTokens, penalty: settings.repetitionPenalty)
        }
        if !replyCounts.isEmpty {
            Sampler.applyPresenceAndFrequencyPenalties(
                logits, vocab: vocab, counts: replyCounts,
                presence: settings.presencePenalty, frequency: settings.frequencyPenalty)
        }
        if settings.temperature == 0 { return argmax(logits, vocab: vocab) }
        Sampler.softmax(logits, vocab: vocab, temperature: settings.temperature)
        let limitK = settings.topK > 0 && settings.topK < vocab
        let limitMin = settings.minP > 0
        if !limitK && settings.topP >= 1 && !limitMin { return draw(logits, candidates: nil, vocab: vocab, total: 1) }
        let maxProbability = maximum(logits, count: vocab)
        let minFloor = settings.minP * maxProbability
        // Sort candidates by probability (only those that can matter: top-k, or above a floor).
        // Below (1 − p)/(vocab − 1) a token cannot be needed to reach p; never above the likeliest
        // token, so at least one candidate always remains.
        let nucleusFloor = limitK || settings.topP >= 1 ? 0 : (1 - settings.topP) / Float(max(vocab - 1, 1))
        let floor = min(max(nucleusFloor, minFloor), maxProbability)
        order.removeAll(keepingCapacity: true)
        for i in 0..<vocab where logits[i] >= floor { order.append(Int32(i)) }
        order.sort { logits[Int($0)] > logits[Int($1)] }
        if limitK && order.count > settings.topK { order.removeLast(order.count - settings.topK) }
        var kept = 0
        var cumulative: Float = 0
        for id in order {
            // min-p: the list is sorted, so the first token under the floor ends it.
            if kept > 0 && logits[Int(id)] < minFloor { break }
            cumulative += logits[Int(id)]
            kept += 1
            if cumulative >= settings.topP { break }
        }
        order.removeLast(order.count - kept)
        guard !order.isEmpty else { return argmax(logits, vocab: vocab) }
        return draw(logits, candidates: order, vocab: vocab, total: cumulative)
    }

    /// logits ← softmax(logits / temperature), 16 lanes at a time: a server samples every
    /// running sequence's token on the engine thread between forward passes, and 4,096 scalar
    /// `expf` calls per token were a measurable part of a 16-sequence step. exp is `fastExp`
    /// (≈ 2 ulp); a logit more than 87 below the largest (−∞ included) gets probability 0.
    static func softmax(_ logits: UnsafeMutablePointer<Float>, vocab: Int, temperature: Float) {
        let largest = maximum(logits, count: vocab)
        let shift = Vec(repeating: largest), inverse = Vec(repeating: 1 / temperature)
        @inline(__always) func exponentiate(_ x: Vec) -> Vec {
            let d = (x - shift) * inverse
            var e = fastExp(d)
            e.replace(with: 0, where: d .< -87)
            return e
        }
        var acc = Vec()
        var i = 0
        while i + 16 <= vocab {
            let e = exponentiate(load(logits + i))
            store(e, logits + i)
            acc += e
            i += 16
        }
        var sum = horizontalSum(acc)
        while i < vocab {
            let e = exponentiate(Vec(repeating: logits[i]))[0]
            logits[i] = e
            sum += e
            i += 1
        }
        scaleInPlace(logits, count: vocab, by: 1 / sum)
    }

    private func argmax(_ logits: UnsafeMutablePointer<Float>, vocab: Int) -> Int32 {
        var best = 0
        for i in 1..<vocab where logits[i] > logits[best] { best = i }
        return Int32(best)
    }

    private mutating func draw(
        _ probabilities: UnsafeMutablePointer<Float>, candidates: [Int32]?, vocab: Int, total: Float
    ) -> Int32 {
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
