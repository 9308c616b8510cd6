import XCTest
import Foundation
@testable import Swiftlet

/// Issue 12's defects through the binary: nothing of the user's is removed, and no input
/// crashes it. Each test failed on the main of before the fix.
extension CLITests {
    /// The arguments of a tiny training run into `out`.
    func tinyTraining(_ out: String, steps: Int = 1) throws -> [String] {
        ["train", "--data", try corpus(), "--preset", "tiny", "--vocab-size", "320", "--context", "64", "--batch-tokens", "128",
         "--steps", String(steps), "--out", out]
    }

    func expectNoCrash(_ result: Outcome, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertTrue(result.status == 0 || result.status == 1, "status \(result.status): \(result.stderr)", file: file, line: line)
        XCTAssertFalse(result.stderr.contains("Fatal error") || result.stderr.contains("Stack dump"), result.stderr, file: file, line: line)
    }

    func testSavingNeverRemovesAFolderBesideTheCheckpoint() throws {
        let work = workDirectory + "/beside"
        FileIO.removeItem(work)
        try FileIO.createDirectory(work + "/results.tmp")
        try FileIO.writeAtomically("my thesis", to: work + "/results.tmp/thesis.txt")
        try FileIO.createDirectory(work + "/results.old.tmp")
        try FileIO.writeAtomically("draft", to: work + "/results.old.tmp/draft.txt")
        let trained = try run(tinyTraining(work + "/results", steps: 2))
        XCTAssertEqual(trained.status, 0, trained.stderr)
        XCTAssertEqual(try FileIO.readUTF8(work + "/results.tmp/thesis.txt"), "my thesis")
        XCTAssertEqual(try FileIO.readUTF8(work + "/results.old.tmp/draft.txt"), "draft")
        // Nothing of ours is left beside it either.
        let names = try FileManager.default.contentsOfDirectory(atPath: work).sorted()
        XCTAssertEqual(names, ["results", "results.old.tmp", "results.tmp"])
    }

    func testOutAtTheRootOrDotIsRefusedAndTouchesNothing() throws {
        let work = workDirectory + "/root"
        FileIO.removeItem(work)
        try FileIO.createDirectory(work + "/.tmp")
        try FileIO.writeAtomically("keep", to: work + "/.tmp/keep.txt")
        // Run from `work`: `--out /` used to remove ./.tmp.
        for out in ["/", work + "/.", work + "/..", "/..", "."] {
            try expectFailure(tinyTraining(out), mentioning: "names no directory of its own", in: work)
        }
        try expectFailure(tinyTraining(work + "/"), mentioning: "not a Swiftlet checkpoint")
        XCTAssertEqual(try FileIO.readUTF8(work + "/.tmp/keep.txt"), "keep")
    }

    func testClassifyTrainNeverDeletesAnInterruptedCheckpoint() throws {
        let base = try checkpoint()
        let work = workDirectory + "/mine"
        FileIO.removeItem(work)
        try FileIO.createDirectory(work)
        // y/mine.old is what an interrupted save leaves: every loader takes it as y/mine.
        let trained = try run(tinyTraining(work + "/mine.old", steps: 1))
        XCTAssertEqual(trained.status, 0, trained.stderr)
        let weights = try FileIO.readBytes(work + "/mine.old/model.safetensors")
        let rows = (0..<40).map { $0 % 2 == 0 ? "the king,royal" : "love war,plain" }
        try FileIO.writeAtomically("text,label\n" + rows.joined(separator: "\n") + "\n", to: work + "/labeled.csv")
        try expectFailure(["classify", "train", "--checkpoint", base, "--data", work + "/labeled.csv", "--out", work + "/mine", "--epochs", "1"],
                          mentioning: "already holds a checkpoint")
        try expectFailure(["finetune", "--checkpoint", base, "--data", try corpus(), "--steps", "1", "--out", work + "/mine"],
                          mentioning: "already holds a checkpoint")
        XCTAssertEqual(try FileIO.readBytes(work + "/mine.old/model.safetensors"), weights)
    }

    func testAHugeLearningRateStopsAsADivergedRun() throws {
        let out = workDirectory + "/lr9"
        FileIO.removeItem(out)
        let result = try run(tinyTraining(out, steps: 4) + ["--lr", "9", "--eval-interval", "1"])
        expectNoCrash(result)
        let never = workDirectory + "/lr-never"
        try expectFailure(tinyTraining(never) + ["--min-lr=-5"], mentioning: "--min-lr")
        try expectFailure(tinyTraining(never) + ["--lr", "nan"], mentioning: "--lr")
        try expectFailure(tinyTraining(never) + ["--lr", "inf"], mentioning: "--lr")
        try expectFailure(tinyTraining(never) + ["--lr", "-1"], mentioning: "--lr")
        XCTAssertFalse(FileIO.exists(never))
    }
}
