import XCTest
@testable import Swiftlet

/// The rank-sharded batches of data-parallel training: each rank's slice of a step, put side by
/// side with the others', is the batch one process draws with one rank's share per micro-batch.
final class BatchPlanTests: XCTestCase {
    func testSharesAreEqualAndSplitIntoMicroBatches() {
        XCTAssertEqual(BatchPlan(batchTokens: 100, microBatchTokens: 30, ranks: 1).microBatches, [[30, 30, 30, 10]])
        XCTAssertEqual(
            BatchPlan(batchTokens: 100, microBatchTokens: 30, ranks: 2).microBatches, [[30, 20], [30, 20]])
        XCTAssertEqual(BatchPlan(batchTokens: 10, microBatchTokens: 64, ranks: 3).microBatches, [[4], [3], [3]])
        XCTAssertEqual(BatchPlan(batchTokens: 100, microBatchTokens: 30, ranks: 2).firstMicroBatch(of: 1), 2)
    }

    /// Dialogue-like data (some targets untrained) over several steps, so pieces are cut at
    /// rank boundaries and their remainders carried across them.
    func testRanksTogetherDrawWhatOneProcessDraws() throws {
        var documents = DocumentTokens(tokens: [], documentStarts: [0])
        var random = RandomGenerator(seed: 4)
        for d in 0..<40 {
            let length = 2 + Int(random.next() % 90)
            documents.append(
                (0..<length).map { Int32(d * 1000 + $0) }, trainable: (0..<length).map { ($0 + d) % 3 != 0 })
        }
        let corpora = [WeightedCorpus(name: "a", documents: documents)]
        let single = try BatchPacker(corpora: corpora, context: 32, seed: 5)
        let ranks = try (0..<3).map { _ in try BatchPacker(corpora: corpora, context: 32, seed: 5) }
        let batchTokens = 301
        let plan = BatchPlan(batchTokens: batchTokens, microBatchTokens: 40, ranks: 3)
        for _ in 0..<12 {
            // One process drawing the same micro-batches in the same order.
            let reference = plan.microBatches.joined().map { single.nextBatch(rows: $0) }
            let referenceTargets = reference.reduce(0) { $0 + $1.lossTokens }
            var together: [Batch] = []
            for (rank, packer) in ranks.enumerated() {
                let (batches, targets) = plan.draw(from: packer, rank: rank)
                XCTAssertEqual(targets, referenceTargets, "rank \(rank) counts the global batch's targets")
                XCTAssertEqual(batches.map(\.rows), plan.microBatches[rank])
                together += batches
                XCTAssertEqual(packer.position, single.position, "every rank is where one process is after the step")
            }
            XCTAssertEqual(together.map(\.tokens), reference.map(\.tokens))
            XCTAssertEqual(together.map(\.targets), reference.map(\.targets))
            XCTAssertEqual(together.map(\.positions), reference.map(\.positions))
            XCTAssertEqual(together.map(\.cumulativeLengths), reference.map(\.cumulativeLengths))
        }
    }

    func testFingerprintsTellDataApart() {
        var a = RunFingerprint(), b = RunFingerprint(), c = RunFingerprint()
        a.add(DocumentTokens(stream: [1, 2, 3, 4]))
        b.add(DocumentTokens(stream: [1, 2, 3, 4]))
        c.add(DocumentTokens(stream: [1, 2, 4, 3]))
        XCTAssertEqual(a, b)
        XCTAssertNotEqual(a, c)
        var d = RunFingerprint(), e = RunFingerprint()
        d.add("ab")
        e.add("ba")
        XCTAssertNotEqual(d, e)
    }
}
