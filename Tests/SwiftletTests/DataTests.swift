import XCTest
@testable import Swiftlet
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

final class DataTests: XCTestCase {
    /// Documents whose tokens name them: token = 1000 · document + position, ending at `lengths[d]`.
    func labelled(_ lengths: [Int], corpus: Int = 0) -> DocumentTokens {
        var tokens: [Int32] = [], starts = [0]
        for (d, length) in lengths.enumerated() {
            tokens += (0..<length).map { Int32(100_000 * corpus + 1000 * d + $0) }
            starts.append(tokens.count)
        }
        return DocumentTokens(tokens: tokens, documentStarts: starts)
    }

    /// Every sequence stays inside one document, predicts the next token of it, and starts at position 0.
    func assertWellFormed(_ batch: Batch, file: StaticString = #filePath, line: UInt = #line) {
        for s in 0..<batch.sequenceCount {
            let rows = batch.cumulativeLengths[s]..<batch.cumulativeLengths[s + 1]
            XCTAssertEqual(batch.positions[rows], ArraySlice((0..<Int32(rows.count))), file: file, line: line)
            for r in rows {
                XCTAssertEqual(
                    batch.targets[r], batch.tokens[r] + 1, "a target crosses a document boundary", file: file,
                    line: line)
                XCTAssertEqual(batch.tokens[r] / 1000, batch.tokens[rows.lowerBound] / 1000, file: file, line: line)
            }
        }
    }

    func testPackedBatchesHaveNoPaddingAndCoverEveryDocumentOncePerEpoch() throws {
        let lengths = [3, 50, 7, 2, 130, 1, 64, 65, 12, 40]
        let documents = labelled(lengths)
        let packer = try BatchPacker(corpora: [WeightedCorpus(name: "a", documents: documents)], context: 32, seed: 9)
        let predictions = lengths.reduce(0) { $0 + max($1 - 1, 0) }
        var seen: [Int32: Int] = [:]
        var drawn = 0
        while drawn < predictions {
            let batch = packer.nextBatch(rows: min(48, predictions - drawn))
            XCTAssertEqual(batch.rows, min(48, predictions - drawn), "no padding")
            XCTAssertTrue(batch.targets.allSatisfy { $0 >= 0 })
            XCTAssertTrue(
                batch.cumulativeLengths.indices.dropFirst().allSatisfy {
                    batch.cumulativeLengths[$0] - batch.cumulativeLengths[$0 - 1] <= 32
                })
            assertWellFormed(batch)
            for t in batch.targets { seen[t, default: 0] += 1 }
            drawn += batch.rows
        }
        // One epoch: every token but each document's first is predicted exactly once.
        XCTAssertEqual(seen.count, predictions)
        XCTAssertTrue(seen.values.allSatisfy { $0 == 1 })
        XCTAssertEqual(packer.position.cursors[0].epoch, 0)
        _ = packer.nextBatch(rows: 8)
        XCTAssertEqual(packer.position.cursors[0].epoch, 1)
    }

    func testEpochsAreShuffledBySeedAndResumeExactly() throws {
        let corpus = WeightedCorpus(name: "a", documents: labelled(Array(repeating: 20, count: 30)))
        func firstTokens(_ packer: BatchPacker, batches: Int) -> [[Int32]] {
            (0..<batches).map { _ in packer.nextBatch(rows: 40).tokens }
        }
        let a = try BatchPacker(corpora: [corpus], context: 16, seed: 1)
        let b = try BatchPacker(corpora: [corpus], context: 16, seed: 1)
        let c = try BatchPacker(corpora: [corpus], context: 16, seed: 2)
        let fromA = firstTokens(a, batches: 30)
        XCTAssertEqual(fromA, firstTokens(b, batches: 30))
        XCTAssertNotEqual(fromA, firstTokens(c, batches: 30))
        // A packer rebuilt from a saved position (mid-piece, mid-epoch) continues identically.
        let d = try BatchPacker(corpora: [corpus], context: 16, seed: 1)
        _ = firstTokens(d, batches: 7)
        let saved = try JSONDecoder().decode(DataPosition.self, from: JSONEncoder().encode(d.position))
        XCTAssertNotNil(saved.carry)
        let resumed = try BatchPacker(corpora: [corpus], context: 16, seed: 1, position: saved)
        XCTAssertEqual(firstTokens(resumed, batches: 23), Array(fromA[7...]))
        // Other data cannot continue that position.
        let other = WeightedCorpus(name: "a", documents: labelled(Array(repeating: 20, count: 31)))
        XCTAssertThrowsError(try BatchPacker(corpora: [other], context: 16, seed: 1, position: saved))
    }

    func testCorporaAreMixedByWeight() throws {
        let a = WeightedCorpus(name: "a", weight: 0.7, documents: labelled(Array(repeating: 9, count: 50), corpus: 1))
        let b = WeightedCorpus(name: "b", weight: 0.3, documents: labelled(Array(repeating: 9, count: 50), corpus: 2))
        let packer = try BatchPacker(corpora: [a, b], context: 8, seed: 3)
        var fromA = 0, total = 0
        for _ in 0..<200 {
            let batch = packer.nextBatch(rows: 64)
            assertWellFormed(batch)
            fromA += batch.tokens.filter { $0 / 100_000 == 1 }.count
            total += batch.rows
        }
        XCTAssertEqual(Double(fromA) / Double(total), 0.7, accuracy: 0.03)
    }

    func testEvaluationWindowsStayInsideDocuments() {
        let documents = labelled([5, 40, 2, 1, 17])
        let windows = Evaluator.windows(of: documents, context: 16, maxTokens: .max)
        XCTAssertEqual(windows.reduce(0) { $0 + $1.rows }, 4 + 39 + 1 + 16)
        for window in windows {
            XCTAssertLessThanOrEqual(window.tokens.count, 17)
            XCTAssertTrue(window.tokens.allSatisfy { $0 / 1000 == window.tokens.first! / 1000 })
        }
    }

    func testSplittingKeepsDocumentBoundaries() {
        let documents = labelled([10, 10, 10])
        let (head, tail) = documents.split(at: 15)
        XCTAssertEqual(head.documentStarts, [0, 10, 15])
        XCTAssertEqual(tail.documentStarts, [0, 5, 15])
        XCTAssertEqual(head.tokens + tail.tokens, documents.tokens)
        let (whole, empty) = documents.split(at: 30)
        XCTAssertEqual(whole, documents)
        XCTAssertEqual(empty.documentCount, 0)
    }

    func testFilesBecomeDocuments() throws {
        let dir = TestData.temporaryDirectory("documents")
        try FileIO.writeAtomically("first one\n\nsecond\n\n\n\nthird\n", to: dir + "/plain.txt")
        try FileIO.writeAtomically(
            "{\"text\": \"a line\"}\n\n{\"text\": \"another\\nline\", \"id\": 3}\n", to: dir + "/lines.jsonl")
        let split = try CorpusReader.readText(paths: [dir + "/plain.txt"], format: DocumentFormat(separator: "\n\n"))
        XCTAssertEqual(split.documents.map(\.text), ["first one", "second", "third\n"])
        XCTAssertEqual(try CorpusReader.readText(paths: [dir + "/plain.txt"]).documents.count, 1)
        XCTAssertEqual(
            try CorpusReader.readText(paths: [dir + "/lines.jsonl"]).documents.map(\.text), ["a line", "another\nline"])
        try FileIO.writeAtomically("{\"text\": \"ok\"}\n{\"body\": \"no text\"}\n", to: dir + "/bad.jsonl")
        XCTAssertThrowsError(try CorpusReader.readText(paths: [dir + "/bad.jsonl"])) { error in
            XCTAssertTrue(
                ((error as? SwiftletError)?.message ?? "").hasPrefix(
                    "\(dir)/bad.jsonl line 2 is not a JSON object with a \"text\" string"))
        }
        XCTAssertEqual(DocumentFormat.unescaped("\\n\\n"), "\n\n")
    }

    func testDataSourcesParseWeights() throws {
        XCTAssertEqual(try DataSource.parse(["a", "b"]), [DataSource(name: "a", paths: ["a", "b"], weight: nil)])
        let mixed = try DataSource.parse(["corpora/shakespeare:0.7", "my/notes.txt:0.3"])
        XCTAssertEqual(mixed.map(\.name), ["shakespeare", "notes"])
        XCTAssertEqual(mixed.map(\.paths), [["corpora/shakespeare"], ["my/notes.txt"]])
        XCTAssertEqual(mixed.map(\.weight), [0.7, 0.3])
        XCTAssertThrowsError(try DataSource.parse(["a:0.5", "b"]))
        XCTAssertThrowsError(try DataSource.parse(["a:0", "b:1"]))
    }

    func testTokenCacheKeepsDocuments() {
        let documents = labelled([4, 1, 9])
        let bytes = TokenCache.encode(documents, key: 42)
        XCTAssertEqual(TokenCache.decode(bytes, key: 42, vocabSize: 10_000), documents)
        XCTAssertNil(TokenCache.decode(bytes, key: 42, vocabSize: 100), "out-of-range tokens are rejected")
        XCTAssertNil(TokenCache.decode(Array(bytes.dropLast(3)), key: 42, vocabSize: 10_000))
        XCTAssertNil(TokenCache.decode(bytes, key: 43, vocabSize: 10_000), "another corpus's cache is not this one's")
        // Issue 12: a valid layout with wrong tokens used to be trusted; the checksum catches it.
        var wrong = bytes
        wrong[wrong.count - 12] ^= 1
        XCTAssertNil(TokenCache.decode(wrong, key: 42, vocabSize: 10_000))
    }
}
