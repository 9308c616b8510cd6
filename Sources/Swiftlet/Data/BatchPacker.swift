/// A training corpus and its share of the batches.
public struct WeightedCorpus: Sendable {
    public let name: String
    public let weight: Double
    public let documents: DocumentTokens

    public init(name: String, weight: Double = 1, documents: DocumentTokens) {
        self.name = name
        self.weight = weight
        self.documents = documents
    }
}

/// Where the packer is in the data: saved with every checkpoint, so a resumed run draws
/// exactly the batches it would have drawn.
public struct DataPosition: Codable, Sendable, Equatable {
    public struct Cursor: Codable, Sendable, Equatable {
        /// Epoch of this corpus (each corpus cycles on its own) and the next piece of its order.
        public var epoch = 0
        public var next = 0
    }
    /// A piece of one corpus's documents: its token range (inputs plus the final target).
    public struct Piece: Codable, Sendable, Equatable {
        public var corpus: Int
        public var start: Int
        public var end: Int
    }
    public var cursors: [Cursor]
    /// The rest of a piece that the previous batch's end cut; it starts the next batch.
    public var carry: Piece?
    /// Chooses a corpus by weight for each piece.
    public var random: RandomGenerator
    /// Pieces per corpus when the run started: a resumed run must see the same data.
    public var pieceCounts: [Int]
}

/// Packs training batches from whole documents, nothing else in between: a batch is a budget of
/// rows filled with pieces of documents back to back, each piece a sequence of its own
/// (attention never crosses it, RoPE positions restart at 0, its first token is predicted by
/// nothing and its last predicts nothing beyond the document). A document longer than the
/// context is cut into context-sized pieces; a piece that does not fit the rest of a batch is
/// cut there and its remainder starts the next batch, so batches carry no padding at all.
/// Each epoch visits every piece of a corpus once, in an order shuffled by the run's seed and
/// the epoch; with several corpora each piece comes from one drawn by weight.
public final class BatchPacker {
    public let corpora: [WeightedCorpus]
    public let context: Int
    let seed: UInt64
    public private(set) var position: DataPosition
    /// Per corpus: token ranges of the pieces (inputs plus the final target).
    let pieceStarts: [[Int]]
    let pieceEnds: [[Int]]
    private var orders: [(epoch: Int, order: [Int])]
    private let cumulativeWeights: [Double]

    public init(corpora: [WeightedCorpus], context: Int, seed: UInt64, position: DataPosition? = nil) throws {
        guard !corpora.isEmpty else { throw SwiftletError("there is no training text.") }
        self.corpora = corpora
        self.context = context
        self.seed = seed
        var starts: [[Int]] = [], ends: [[Int]] = []
        for corpus in corpora {
            var s: [Int] = [], e: [Int] = []
            for d in 0..<corpus.documents.documentCount {
                let range = corpus.documents.document(d)
                var start = range.lowerBound
                while range.upperBound - start >= 2 {
                    s.append(start)
                    e.append(min(start + context + 1, range.upperBound))
                    start += context
                }
            }
            guard !s.isEmpty else {
                throw SwiftletError("the training text \(corpus.name) has no document of two or more tokens.")
            }
            starts.append(s)
            ends.append(e)
        }
        pieceStarts = starts
        pieceEnds = ends
        let total = corpora.reduce(0) { $0 + $1.weight }
        var cumulative: [Double] = []
        var sum = 0.0
        for corpus in corpora {
            sum += corpus.weight / total
            cumulative.append(sum)
        }
        cumulativeWeights = cumulative
        let counts = starts.map(\.count)
        if let position {
            guard position.pieceCounts == counts, position.cursors.count == corpora.count,
                zip(position.cursors, counts).allSatisfy({
                    $0.next >= 0 && $0.next <= $1 && $0.epoch >= 0 && $0.epoch < 1 << 40
                })
            else {
                throw SwiftletError(
                    "the training data differs from the data the run started with; resume with the same --data.")
            }
            // The rest of a cut piece must be the tail of one of the corpus's pieces.
            if let carry = position.carry {
                guard carry.corpus >= 0, carry.corpus < corpora.count, carry.end - carry.start >= 2,
                    zip(starts[carry.corpus], ends[carry.corpus]).contains(where: {
                        $0 < carry.start && carry.end == $1
                    })
                else {
                    throw SwiftletError(
                        "the saved position in the training data (a piece at \(carry.start)..<\(carry.end)) is not one of the data's pieces; resume with the same --data."
                    )
                }
            }
            guard position.random.state.count == 4 else {
                throw SwiftletError("the saved data order's random state is damaged.")
            }
            self.position = position
        } else {
            var mix = seed ^ 0xDA7A
            self.position = DataPosition(
                cursors: Array(repeating: DataPosition.Cursor(), count: corpora.count), carry: nil,
                random: RandomGenerator(seed: RandomGenerator.splitMix(&mix)), pieceCounts: counts)
        }
        orders = Array(repeating: (-1, []), count: corpora.count)
    }

    /// The next `rows` prediction rows, packed.
    public func nextBatch(rows capacity: Int) -> Batch {
        var batch = Batch(tokens: [], targets: [], positions: [], cumulativeLengths: [0])
        batch.reserve(capacity)
        while batch.rows < capacity {
            let piece = position.carry ?? nextPiece()
            position.carry = nil
            let documents = corpora[piece.corpus].documents
            let room = capacity - batch.rows
            if piece.end - piece.start - 1 <= room {
                batch.append(documents.window(piece.start, piece.end))
            } else {
                batch.append(documents.window(piece.start, piece.start + room + 1))
                position.carry = DataPosition.Piece(corpus: piece.corpus, start: piece.start + room, end: piece.end)
            }
        }
        return batch
    }

    /// Moves past the `rows` rows `nextBatch(rows:)` would pack, without packing them: another
    /// rank of a data-parallel job trains on them. Returns how many of them are targets.
    public func skipBatch(rows capacity: Int) -> Int {
        var rows = 0, targets = 0
        while rows < capacity {
            let piece = position.carry ?? nextPiece()
            position.carry = nil
            let room = capacity - rows
            var end = piece.end
            if piece.end - piece.start - 1 > room {
                end = piece.start + room + 1
                position.carry = DataPosition.Piece(corpus: piece.corpus, start: piece.start + room, end: piece.end)
            }
            rows += end - piece.start - 1
            // The targets are tokens start+1..<end, less those not trained (Batch.append's rule).
            if let trainable = corpora[piece.corpus].documents.trainable {
                targets += trainable[(piece.start + 1)..<end].reduce(0) { $0 + ($1 ? 1 : 0) }
            } else {
                targets += end - piece.start - 1
            }
        }
        return targets
    }

    private func nextPiece() -> DataPosition.Piece {
        var c = 0
        if corpora.count > 1 {
            let u = position.random.uniform()
            c = cumulativeWeights.firstIndex { u < $0 } ?? corpora.count - 1
        }
        if position.cursors[c].next == pieceStarts[c].count {
            position.cursors[c].epoch += 1
            position.cursors[c].next = 0
        }
        let cursor = position.cursors[c]
        if orders[c].epoch != cursor.epoch { orders[c] = (cursor.epoch, shuffledOrder(corpus: c, epoch: cursor.epoch)) }
        let index = orders[c].order[cursor.next]
        position.cursors[c].next += 1
        return DataPosition.Piece(corpus: c, start: pieceStarts[c][index], end: pieceEnds[c][index])
    }

    /// Fisher–Yates with a generator keyed by (seed, corpus, epoch): any epoch's order can be
    /// rebuilt from the saved position alone.
    private func shuffledOrder(corpus: Int, epoch: Int) -> [Int] {
        var mix = seed ^ UInt64(corpus) &* 0x9E37_79B9_7F4A_7C15 ^ UInt64(epoch) &* 0xC2B2_AE3D_27D4_EB4F
        var random = RandomGenerator(seed: RandomGenerator.splitMix(&mix))
        var order = Array(0..<pieceStarts[corpus].count)
        random.shuffle(&order)
        return order
    }
}
