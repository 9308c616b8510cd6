import XCTest
import Foundation
@testable import Swiftlet

/// Command-line options are overrides of the library's presets: a run given none saves exactly
/// the preset (plus its length), one given an option saves the preset with that value changed,
/// and a value out of range is refused with the library's sentence naming the option.
extension CLITests {
    private func savedOptions(_ dir: String) throws -> TrainingOptions {
        try JSONDecoder().decode(
            TrainerState.self, from: Data(try FileIO.readBytes(dir + "/" + CheckpointFiles.trainer))
        ).options
    }

    func testTrainAndFinetuneOptionsOverrideTheLibrarysPresets() throws {
        let trained = workDirectory + "/preset-train", tuned = workDirectory + "/preset-finetune"
        FileIO.removeItem(trained)
        FileIO.removeItem(tuned)
        let train = try run([
            "train", "--data", try corpus(), "--preset", "tiny", "--vocab-size", "320", "--steps", "2", "--out",
            trained,
        ])
        XCTAssertEqual(train.status, 0, train.stderr)
        let context = ModelPreset.tiny.config(vocabSize: 320).contextLength
        var pretraining = TrainingOptions.pretraining(contextLength: context)
        pretraining.steps = 2
        XCTAssertEqual(try savedOptions(trained), pretraining)

        let finetune = try run([
            "finetune", "--checkpoint", trained, "--data", try corpus(), "--steps", "1", "--micro-batch-tokens", "64",
            "--lr", "1e-4", "--out", tuned,
        ])
        XCTAssertEqual(finetune.status, 0, finetune.stderr)
        var finetuning = TrainingOptions.finetuning(contextLength: context)
        (finetuning.steps, finetuning.microBatchTokens, finetuning.learningRate) = (1, 64, 1e-4)
        XCTAssertEqual(try savedOptions(tuned), finetuning)

        try expectFailure(
            [
                "finetune", "--checkpoint", trained, "--data", try corpus(), "--steps", "1", "--micro-batch-tokens",
                "0",
                "--out", workDirectory + "/never",
            ], mentioning: "--micro-batch-tokens must be between 1 and")
        try expectFailure(
            ["train", "--data", try corpus(), "--steps", "1", "--grad-clip", "-1", "--out", workDirectory + "/never"],
            mentioning: "--grad-clip")
        XCTAssertFalse(FileIO.exists(workDirectory + "/never"))
    }

    /// `--threads` on every command: each leaf of the command tree (walked through `--help`'s
    /// SUBCOMMANDS lists) names it in its help.
    func testEveryCommandTakesThreads() throws {
        func subcommands(_ help: String) -> [String] {
            guard let section = help.components(separatedBy: "SUBCOMMANDS:").dropFirst().first else { return [] }
            // "  name (default)   abstract", continued on lines indented further, up to a blank line.
            return section.split(separator: "\n", omittingEmptySubsequences: false).dropFirst()
                .prefix { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
                .filter { $0.hasPrefix("  ") && !$0.hasPrefix("   ") }
                .compactMap { $0.split(separator: " ").first.map(String.init) }
        }
        var pending = [[String]()], leaves: [[String]] = []
        while let path = pending.popLast() {
            let help = try run(path + ["--help"])
            XCTAssertEqual(help.status, 0, "\(path): \(help.stderr)")
            let text = help.stdout + help.stderr
            let children = path.isEmpty || text.contains("SUBCOMMANDS:") ? subcommands(text) : []
            if children.isEmpty {
                leaves.append(path)
                XCTAssertTrue(text.contains("--threads"), "swiftlet \(path.joined(separator: " ")) has no --threads")
            } else {
                pending += children.filter { $0 != "help" }.map { path + [$0] }
            }
        }
        XCTAssertGreaterThanOrEqual(leaves.count, 20, "\(leaves)")
        XCTAssertTrue(leaves.contains(["classify", "train"]) && leaves.contains(["bench", "products"]), "\(leaves)")
    }

    func testClassifyTrainDefaultsToFullFineTuning() {
        let defaults = ClassifierTrainingOptions()
        XCTAssertEqual(defaults.mode, .full)
        XCTAssertEqual(defaults.epochs, 6)
        XCTAssertEqual(defaults.dropout, 0.1)
        XCTAssertEqual(defaults.modelLearningRate, 3e-4)
        let head = ClassifierTrainingOptions(mode: .head)
        XCTAssertEqual(head.epochs, 10)
        XCTAssertEqual(head.dropout, 0)
        XCTAssertEqual(head.headLearningRate, 3e-3)
        XCTAssertEqual(ClassifierTrainingOptions(mode: .lora).modelLearningRate, 1e-3)
    }
}
