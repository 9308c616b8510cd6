/// Serves many completions at once. Each `step()` is one forward pass over a batch that mixes
/// the next token of every running sequence with chunks of prompts still being read (up to
/// `promptTokensPerStep` prompt tokens), then samples and streams each sequence that got logits.
/// KV caches live in a shared block pool; a finished or cancelled request returns its blocks
/// at once. The engine schedules; `GenerationPass` computes. Not thread-safe: one caller drives it.
public final class GenerationEngine {
    public struct Options: Sendable {
        /// Sequences generating at once.
        public var parallel = 8
        /// Prompt tokens read per step, at most; a prompt longer than this is read in chunks of this size.
        public var promptTokensPerStep = 256
        /// Tokens per KV block.
        public var blockSize = 16
        /// KV blocks in the pool (default: room for `parallel` full contexts).
        public var blocks: Int?
        /// bf16: the engine rounds the model's weights to bf16 in place and decodes from a bf16
        /// copy, streaming half the bytes per token (the model is then for inference only).
        public var weights: Precision = .fp32
        /// What the KV cache holds: f32, or f16 with llama.cpp's flash-attention arithmetic.
        public var kvCache: KVCacheFormat = .f32
        public init(
            parallel: Int = 8, promptTokensPerStep: Int = 256, blockSize: Int = 16, blocks: Int? = nil,
            weights: Precision = .fp32, kvCache: KVCacheFormat = .f32
        ) {
            self.parallel = parallel
            self.promptTokensPerStep = promptTokensPerStep
            self.blockSize = blockSize
            self.blocks = blocks
            self.weights = weights
            self.kvCache = kvCache
        }
    }

    public typealias RequestID = Int

    final class ActiveRequest {
        let id: RequestID
        let request: GenerationRequest
        var sampler: Sampler
        var streamer: TextStreamer?
        var stops: StopStrings
        var table = BlockTable()
        /// The tokens whose keys and values `table` holds, in order.
        var cachedTokens: [Int32] = []
        /// Prompt tokens taken from a kept cache.
        var reused = 0
        /// Blocks this sequence may need at most; admission keeps them available.
        let reservedBlocks: Int
        var prefilled = 0
        var generated: [Int32] = []
        /// Sampled, not yet run through the model.
        var pendingToken: Int32?
        var text = ""
        let submitted = Stopwatch.now()
        var firstToken: Double?

        init(id: RequestID, request: GenerationRequest, tokenizer: Tokenizer?, reservedBlocks: Int) {
            self.id = id
            self.request = request
            self.reservedBlocks = reservedBlocks
            sampler = Sampler(request.sampling)
            streamer = tokenizer.map { TextStreamer(tokenizer: $0) }
            stops = StopStrings(request.stop)
            for token in request.prompt { sampler.observe(token) }
        }

        var isPrefilling: Bool { prefilled < request.prompt.count }
    }

    public let model: Transformer
    public let tokenizer: Tokenizer?
    public let options: Options
    public let pool: KVBlockPool
    let forwardPass: GenerationPass
    /// The step's new tokens and the requests they belong to, refilled every step.
    var stepBatch = GenerationBatch()
    var stepOwners: [ActiveRequest] = []
    /// One row of logits kept before sampling, for requests that report log-probabilities.
    let rawLogits: UnsafeMutablePointer<Float>
    var waiting: [ActiveRequest] = []
    var running: [ActiveRequest] = []
    var finished: [(id: RequestID, result: GenerationResult)] = []
    /// KV caches of finished requests that asked to keep them (see GenerationEngine+Caches).
    var kept: [RequestID: (tokens: [Int32], table: BlockTable)] = [:]
    var nextID = 0

    /// What an engine with these options allocates for this model (weights included).
    public static func memoryPlan(_ c: ModelConfig, options: Options) -> MemoryPlan {
        let perSequence = (c.contextLength + options.blockSize - 1) / max(options.blockSize, 1)
        var plan = MemoryPlan.generation(
            c, sequences: 0, rows: options.promptTokensPerStep + options.parallel, logitRows: options.parallel)
        plan.add(
            "KV cache", floats: 2, c.layers, options.blocks ?? options.parallel * perSequence, options.blockSize,
            c.kvDim)
        return plan
    }

    /// Without a tokenizer there is no text (callbacks get nothing, stop strings are refused) and no token ends the text.
    public init(model: Transformer, tokenizer: Tokenizer?, options: Options = Options()) {
        self.model = model
        self.tokenizer = tokenizer
        self.options = options
        if options.parallel < 1 || options.promptTokensPerStep < 1 || options.blockSize < 1 {
            fatalError("GenerationEngine options must be positive")
        }
        let c = model.config
        let perSequence = (c.contextLength + options.blockSize - 1) / options.blockSize
        pool = KVBlockPool(
            config: c, blockCount: options.blocks ?? options.parallel * perSequence, blockSize: options.blockSize,
            format: options.kvCache)
        if options.weights == .bf16 { model.roundParametersToBFloat16() }
        forwardPass = GenerationPass(
            model: model, pool: pool, maxRows: options.promptTokensPerStep + options.parallel,
            maxLogitRows: options.parallel, weights: options.weights)
        rawLogits = .allocate(capacity: c.vocabSize)
    }

    deinit { rawLogits.deallocate() }

    /// Checks that a request can ever run; throws one sentence when not. Reads only what never
    /// changes (the model's shape, the pool's size), so any thread may call it.
    public func validate(_ request: GenerationRequest) throws {
        let context = model.config.contextLength
        guard !request.prompt.isEmpty else { throw SwiftletError("the prompt is empty.") }
        guard request.prompt.count < context else {
            throw SwiftletError(
                "the prompt is \(request.prompt.count) tokens, but the model's context holds \(context) (the prompt must leave room for at least one new token)."
            )
        }
        guard request.prompt.allSatisfy({ $0 >= 0 && Int($0) < model.config.vocabSize }) else {
            throw SwiftletError(
                "the prompt holds token ids outside the model's vocabulary of \(model.config.vocabSize).")
        }
        guard request.maxTokens > 0 else { throw SwiftletError("the largest number of new tokens must be positive.") }
        try request.sampling.validate()
        guard !request.stop.contains(where: \.isEmpty) else { throw SwiftletError("a stop string must not be empty.") }
        guard request.stop.isEmpty || tokenizer != nil else {
            throw SwiftletError("stop strings need a tokenizer to decode text.")
        }
        guard (request.logprobs ?? 0) >= 0 else {
            throw SwiftletError("the number of alternative log-probabilities must not be negative.")
        }
        let reserved = reservedBlocks(request)
        guard reserved <= pool.blockCount else {
            throw SwiftletError("the request needs \(reserved) KV blocks but the pool holds \(pool.blockCount).")
        }
    }

    func reservedBlocks(_ request: GenerationRequest) -> Int {
        let context = model.config.contextLength
        return pool.blocksFor(tokens: min(request.prompt.count + min(request.maxTokens, context), context))
    }

    /// Queues a request; throws (one sentence) when it can never run.
    @discardableResult
    public func submit(_ request: GenerationRequest) throws -> RequestID {
        try validate(request)
        let id = nextID
        nextID += 1
        let sequence = ActiveRequest(
            id: id, request: request, tokenizer: tokenizer, reservedBlocks: reservedBlocks(request))
        if let reused = request.reusing { adoptCache(reused, into: sequence) }
        waiting.append(sequence)
        return id
    }

    /// Stops a request now (also from inside its own callback) and frees its KV blocks.
    public func cancel(_ id: RequestID) {
        if let sequence = running.first(where: { $0.id == id }) ?? waiting.first(where: { $0.id == id }) {
            finish(sequence, .cancelled)
        }
    }

    public var isIdle: Bool { waiting.isEmpty && running.isEmpty }
    public var runningCount: Int { running.count }
    public var waitingCount: Int { waiting.count }
    /// KV blocks held by running sequences and kept caches.
    public var blocksInUse: Int { pool.blockCount - pool.freeBlocks }

    /// One forward pass and the sampling after it. Returns the requests that ended since the
    /// last call (including ones cancelled in between).
    public func step() -> [(id: RequestID, result: GenerationResult)] {
        endExpired()
        admit()
        stepBatch.removeAll()
        stepOwners.removeAll(keepingCapacity: true)
        // Every running sequence's next token…
        for sequence in running {
            guard let token = sequence.pendingToken else { continue }
            growOrFail(sequence, toHold: sequence.table.length + 1)
            stepBatch.append(
                CollectionOfOne(token), past: sequence.table.length, blocks: sequence.table.blocks, wantsLogits: true)
            stepOwners.append(sequence)
        }
        // …then prompt chunks, first come first served. A prompt is always cut at the same
        // places (multiples of promptTokensPerStep), whatever else runs, so its arithmetic is
        // the same alone or in company; a chunk that does not fit waits for the next step.
        var budget = options.promptTokensPerStep
        for sequence in running where sequence.isPrefilling {
            let prompt = sequence.request.prompt
            let count = min(prompt.count - sequence.prefilled, options.promptTokensPerStep)
            if count > budget { break }
            budget -= count
            growOrFail(sequence, toHold: sequence.prefilled + count)
            let done = sequence.prefilled + count == prompt.count
            stepBatch.append(
                prompt[sequence.prefilled..<(sequence.prefilled + count)], past: sequence.prefilled,
                blocks: sequence.table.blocks, wantsLogits: done)
            stepOwners.append(sequence)
        }
        if !stepBatch.isEmpty {
            forwardPass.forward(stepBatch)
            var logitRow = 0
            for (entry, sequence) in zip(stepBatch.entries, stepOwners) {
                let logits = forwardPass.logits.pointer + logitRow * model.config.vocabSize
                if entry.wantsLogits { logitRow += 1 }
                // A callback earlier in this loop may have cancelled this sequence.
                guard running.contains(where: { $0 === sequence }) else { continue }
                sequence.table.length += entry.count
                sequence.cachedTokens += stepBatch.tokens[entry.tokenStart..<entry.tokenStart + entry.count]
                if sequence.isPrefilling { sequence.prefilled += entry.count }
                sequence.pendingToken = nil
                guard entry.wantsLogits else { continue }
                let vocab = model.config.vocabSize
                // The sampler overwrites the logits: log-probabilities are read from a copy.
                if let top = sequence.request.logprobs, sequence.request.onToken != nil {
                    rawLogits.update(from: logits, count: vocab)
                    let token = sequence.sampler.sample(logits, vocab: vocab)
                    advance(
                        sequence, with: token, logprobs: Logprobs.of(token, logits: rawLogits, vocab: vocab, top: top))
                } else {
                    advance(sequence, with: sequence.sampler.sample(logits, vocab: vocab))
                }
            }
        }
        defer { finished.removeAll() }
        return finished
    }

    /// Steps until every request has ended; returns all results by id.
    public func runUntilIdle(shouldStop: () -> Bool = { false }) -> [RequestID: GenerationResult] {
        var results: [RequestID: GenerationResult] = [:]
        while !isIdle {
            if shouldStop() { for s in running + waiting { cancel(s.id) } }
            for (id, result) in step() { results[id] = result }
        }
        for (id, result) in step() { results[id] = result }
        return results
    }

    /// Ends the requests whose deadline has passed, running or waiting.
    func endExpired() {
        let now = Stopwatch.now()
        for sequence in running + waiting {
            if let deadline = sequence.request.deadline, now >= deadline { finish(sequence, .timeLimit) }
        }
    }

    /// Moves waiting requests into the running set while there are slots and KV blocks for
    /// their worst case (so a running sequence never finds the pool empty).
    func admit() {
        var owed = 0
        for s in running { owed += max(0, s.reservedBlocks - s.table.blocks.count) }
        while running.count < options.parallel, let next = waiting.first,
            pool.freeBlocks - owed >= next.reservedBlocks - next.table.blocks.count
        {
            waiting.removeFirst()
            running.append(next)
            owed += max(0, next.reservedBlocks - next.table.blocks.count)
        }
    }

    func growOrFail(_ sequence: ActiveRequest, toHold tokens: Int) {
        if !sequence.table.grow(toHold: tokens, from: pool) { fatalError("KV pool exhausted despite reservations") }
    }

    /// Takes a sampled token: end, stream, or queue it for the next step.
    func advance(_ sequence: ActiveRequest, with token: Int32, logprobs: GeneratedToken? = nil) {
        if sequence.firstToken == nil { sequence.firstToken = Stopwatch.now() }
        if let tokenizer, tokenizer.endOfGenerationIDs.contains(token) { return finish(sequence, .endOfSequence) }
        sequence.generated.append(token)
        sequence.sampler.observe(token, sampled: true)
        if let onToken = sequence.request.onToken {
            onToken(logprobs ?? GeneratedToken(token: token, logprob: nil, topLogprobs: []))
            // The callback may have cancelled the request.
            guard running.contains(where: { $0 === sequence }) else { return }
        }
        if sequence.streamer != nil {
            let (shown, stopped) = sequence.stops.push(sequence.streamer!.push(token))
            emit(shown, to: sequence)
            if stopped { return finish(sequence, .stopString) }
            // The callback may have cancelled the request.
            guard running.contains(where: { $0 === sequence }) else { return }
        }
        if sequence.generated.count == sequence.request.maxTokens { return finish(sequence, .tokenLimit) }
        if sequence.table.length == model.config.contextLength { return finish(sequence, .contextFull) }
        sequence.pendingToken = token
    }

    func emit(_ text: String, to sequence: ActiveRequest) {
        guard !text.isEmpty else { return }
        sequence.text += text
        sequence.request.onText(text)
    }

    func finish(_ sequence: ActiveRequest, _ reason: GenerationResult.StopReason) {
        running.removeAll { $0 === sequence }
        waiting.removeAll { $0 === sequence }
        if sequence.request.keepCache {
            kept[sequence.id] = (sequence.cachedTokens, sequence.table)
        } else {
            sequence.table.release(to: pool)
        }
        // Text still held back is shown unless a stop string ended the reply or it was cancelled.
        if reason != .cancelled && reason != .stopString, sequence.streamer != nil {
            let tail = sequence.stops.push(sequence.streamer!.flush()).text + sequence.stops.flush()
            emit(tail, to: sequence)
        }
        let now = Stopwatch.now()
        let first = sequence.firstToken ?? now
        var result = GenerationResult(
            tokens: sequence.generated, text: sequence.text, promptTokens: sequence.request.prompt.count,
            stopReason: reason, timeToFirstToken: first - sequence.submitted, generationSeconds: now - first)
        result.reusedPromptTokens = sequence.reused
        finished.append((sequence.id, result))
    }
}
