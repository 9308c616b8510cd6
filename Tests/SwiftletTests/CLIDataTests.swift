import XCTest
import Foundation
@testable import Swiftlet

/// `swiftlet train` with documents and mixed corpora, through the release binary.
extension CLITests {
    func testMixedCorporaWithDocumentSeparators() throws {
        let work = workDirectory
        try FileIO.createDirectory(work)
        // Short documents separated by blank lines, and a JSONL corpus.
        let speeches = (0..<120).map { TestData.text(lines: 1 + $0 % 5, seed: UInt64($0)) }.joined(separator: "\n\n")
        try FileIO.writeAtomically(speeches, to: work + "/speeches.txt")
        let lines = (0..<80).map { "{\"text\": \(JSONText.quoted(TestData.text(lines: 2, seed: UInt64(500 + $0))))}" }.joined(separator: "\n")
        try FileIO.writeAtomically(lines, to: work + "/notes.jsonl")
        let dir = work + "/mixed"
        FileIO.removeItem(dir)
        let arguments = ["train", "--data", work + "/speeches.txt:0.6", work + "/notes.jsonl:0.4", "--doc-separator", "\\n\\n",
                         "--preset", "tiny", "--vocab-size", "320", "--context", "64", "--batch-tokens", "200", "--eval-interval", "3",
                         "--out", dir]
        let result = try run(arguments + ["--steps", "3"])
        XCTAssertEqual(result.status, 0, result.stderr)
        // 120 and 80 documents, less the held-out 5 % (the document it cuts counts on both sides).
        XCTAssertTrue(result.stderr.contains("speeches: 115 documents"), result.stderr)
        XCTAssertTrue(result.stderr.contains("notes: 77 documents"), result.stderr)
        XCTAssertTrue(result.stderr.contains("| pad 0.0% |"), result.stderr)
        XCTAssertTrue(result.stderr.contains("  speeches: loss") && result.stderr.contains("  notes: loss"), result.stderr)
        let metrics = try FileIO.readUTF8(dir + "/metrics.jsonl")
        XCTAssertTrue(metrics.contains("\"corpus\":\"notes\""), metrics)
        // Resuming needs the same mix.
        try expectFailure(["train", "--data", work + "/speeches.txt:0.5", work + "/notes.jsonl:0.5", "--doc-separator", "\\n\\n",
                           "--out", dir, "--resume", "--steps", "4"], mentioning: "the --data weights differ")
        let resumed = try run(arguments + ["--resume", "--steps", "4"])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        try expectFailure(["train", "--data", work + "/speeches.txt:0.5", work + "/notes.jsonl", "--steps", "1", "--out", work + "/never"],
                          mentioning: "give every --data a weight")
        try FileIO.writeAtomically("{\"text\": 3}\n", to: work + "/bad.jsonl")
        try expectFailure(["train", "--data", work + "/bad.jsonl", "--steps", "1", "--out", work + "/never"],
                          mentioning: "bad.jsonl line 1 is not a JSON object with a \"text\" string")
    }
}
