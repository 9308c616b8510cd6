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
        let lines = (0..<80).map { "{\"text\": \(JSONText.quoted(TestData.text(lines: 2, seed: UInt64(500 + $0))))}" }
            .joined(separator: "\n")
        try FileIO.writeAtomically(lines, to: work + "/notes.jsonl")
        let dir = work + "/mixed"
        FileIO.removeItem(dir)
        let arguments = [
            "train", "--data", work + "/speeches.txt:0.6", work + "/notes.jsonl:0.4", "--doc-separator", "\\n\\n",
            "--preset", "tiny", "--vocab-size", "320", "--context", "64", "--batch-tokens", "200", "--eval-interval",
            "3",
            "--out", dir,
        ]
        let result = try run(arguments + ["--steps", "3"])
        XCTAssertEqual(result.status, 0, result.stderr)
        // 120 and 80 documents, less the held-out 5 % (the document it cuts counts on both sides).
        XCTAssertTrue(result.stderr.contains("speeches: 115 documents"), result.stderr)
        XCTAssertTrue(result.stderr.contains("notes: 77 documents"), result.stderr)
        // Packed rows are never padding (DataTests shows it), so the progress line shows no pad figure.
        XCTAssertNotNil(
            result.stderr.range(
                of: #"step [0-9]+/3 \| loss [0-9.]+ \| [0-9,]+ tok/s \| lr "#, options: .regularExpression),
            result.stderr)
        XCTAssertFalse(result.stderr.contains("| pad"), result.stderr)
        XCTAssertTrue(
            result.stderr.contains("  speeches: loss") && result.stderr.contains("  notes: loss"), result.stderr)
        let metrics = try FileIO.readUTF8(dir + "/metrics.jsonl")
        XCTAssertTrue(metrics.contains("\"corpus\":\"notes\""), metrics)
        // Resuming needs the same mix.
        try expectFailure(
            [
                "train", "--data", work + "/speeches.txt:0.5", work + "/notes.jsonl:0.5", "--doc-separator", "\\n\\n",
                "--out", dir, "--resume", "--steps", "4",
            ], mentioning: "the --data weights differ")
        let resumed = try run(arguments + ["--resume", "--steps", "4"])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        try expectFailure(
            [
                "train", "--data", work + "/speeches.txt:0.5", work + "/notes.jsonl", "--steps", "1", "--out",
                work + "/never",
            ],
            mentioning: "give every --data a weight")
        try FileIO.writeAtomically("{\"text\": 3}\n", to: work + "/bad.jsonl")
        try expectFailure(
            ["train", "--data", work + "/bad.jsonl", "--steps", "1", "--out", work + "/never"],
            mentioning: "bad.jsonl line 1 is not a JSON object with a \"text\" string")
    }
}

/// `swiftlet finetune` end to end.
extension CLITests {
    func testFinetuneOnDialoguesKeepsTheBestAndLeavesTheBaseAlone() throws {
        let base = try checkpoint()
        let work = workDirectory
        let baseWeights = try FileIO.readBytes(base + "/model.safetensors")
        let lines = (0..<60).map { i in
            "{\"messages\": [{\"role\": \"user\", \"content\": \"the king \(i % 7)\"}, {\"role\": \"assistant\", \"content\": \"my lord \(i % 5)\"}]}"
        }
        try FileIO.writeAtomically(lines.joined(separator: "\n"), to: work + "/dialogues.jsonl")
        let out = work + "/tuned"
        FileIO.removeItem(out)
        let arguments = [
            "finetune", "--checkpoint", base, "--data", work + "/dialogues.jsonl", "--out", out, "--steps", "6",
            "--eval-interval", "3", "--batch-tokens", "128",
        ]
        let result = try run(arguments)
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stderr.contains("step 0: validation loss"), result.stderr)
        XCTAssertTrue(result.stderr.contains("dialogues (assistant tokens trained)"), result.stderr)
        let tuned = try Checkpoint.load(out)
        XCTAssertEqual(tuned.config.chat, ChatTemplate.standard)
        XCTAssertEqual(tuned.config.training["finetunedFrom"], base)
        XCTAssertEqual(try FileIO.readBytes(base + "/model.safetensors"), baseWeights, "the base is never modified")
        try expectFailure(arguments, mentioning: "already holds a checkpoint")
        try expectFailure(
            [
                "finetune", "--checkpoint", work + "/nowhere", "--data", work + "/dialogues.jsonl", "--out",
                work + "/never",
                "--steps", "1",
            ], mentioning: "does not exist")
        try FileIO.writeAtomically(
            "{\"messages\": [{\"role\": \"narrator\", \"content\": \"x\"}]}\n", to: work + "/roles.jsonl")
        try expectFailure(
            [
                "finetune", "--checkpoint", base, "--data", work + "/roles.jsonl", "--out", work + "/never", "--steps",
                "1",
            ],
            mentioning: "roles.jsonl line 1")
        try expectFailure(
            ["finetune", "--checkpoint", base, "--data", work + "/dialogues.jsonl", "--out", work + "/never"],
            mentioning: "--steps N or --time")
    }
}
