import XCTest
import Foundation
@testable import Swiftlet

/// Issue 12's defects through the binary: nothing of the user's is removed, and no input
/// crashes it. Each test failed on the main of before the fix.
extension CLITests {
    /// The arguments of a tiny training run into `out`.
    func tinyTraining(_ out: String, steps: Int = 1) throws -> [String] {
        [
            "train", "--data", try corpus(), "--preset", "tiny", "--vocab-size", "320", "--context", "64",
            "--batch-tokens", "128",
            "--steps", String(steps), "--out", out,
        ]
    }

    func expectNoCrash(_ result: Outcome, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertTrue(
            result.status == 0 || result.status == 1, "status \(result.status): \(result.stderr)", file: file,
            line: line)
        XCTAssertFalse(
            result.stderr.contains("Fatal error") || result.stderr.contains("Stack dump"), result.stderr, file: file,
            line: line)
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
        try expectFailure(
            [
                "classify", "train", "--checkpoint", base, "--data", work + "/labeled.csv", "--out", work + "/mine",
                "--epochs", "1",
            ],
            mentioning: "already holds a checkpoint")
        try expectFailure(
            ["finetune", "--checkpoint", base, "--data", try corpus(), "--steps", "1", "--out", work + "/mine"],
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

/// Crafted checkpoint files and unbounded options through the binary.
extension CLITests {
    /// A copy of the shared tiny checkpoint to damage.
    func copyOfCheckpoint(_ name: String) throws -> String {
        let source = try checkpoint(), dir = workDirectory + "/" + name
        FileIO.removeItem(dir)
        try FileManager.default.copyItem(atPath: source, toPath: dir)
        return dir
    }

    func testACraftedTokenizerModelIsAnErrorNotACrash() throws {
        let dir = try copyOfCheckpoint("crafted-tokenizer")
        var proto = try SentencePieceModelProto(bytes: try FileIO.readBytes(dir + "/tokenizer.model"))
        var units = [UInt32](repeating: 0, count: 256)
        units[0] = 0x3FFFFF << 10 | 1 << 9  // the root's children lie gigabytes past the array
        proto.normalizerSpec.precompiledCharsmap = HardeningTests.charsmap(units: units, normalized: [0])
        try FileIO.writeAtomically(proto.serialized, to: dir + "/tokenizer.model")
        // The config names the crafted model's fingerprint, as a crafted checkpoint would.
        let configPath = dir + "/config.json"
        let config = try String(decoding: FileIO.readBytes(configPath), as: UTF8.self)
            .replacingOccurrences(
                of: Fingerprint.hex(try FileIO.readBytes(try checkpoint() + "/tokenizer.model")),
                with: Fingerprint.hex(proto.serialized))
        try FileIO.writeAtomically(config, to: configPath)
        try expectFailure(["info", dir], mentioning: "character map is broken")
        try expectFailure(
            ["generate", "--checkpoint", dir, "--prompt", "the king", "--max-tokens", "2"],
            mentioning: "character map is broken")
    }

    func testDamagedTrainingStateIsAnErrorNotACrash() throws {
        let dir = try copyOfCheckpoint("bad-trainer")
        let path = dir + "/trainer.json"
        var state = try JSONSerialization.jsonObject(with: Data(try FileIO.readBytes(path))) as! [String: Any]
        var data = state["data"] as! [String: Any]
        data["carry"] = ["corpus": 0, "start": 90_000_000, "end": 90_000_100]
        state["data"] = data
        try FileIO.writeAtomically(Array(try JSONSerialization.data(withJSONObject: state)), to: path)
        let base = [
            "train", "--data", try corpus(), "--preset", "tiny", "--vocab-size", "320", "--context", "64",
            "--batch-tokens", "256",
            "--out", dir, "--resume", "--steps", "5",
        ]
        try expectFailure(base, mentioning: "not one of the data's pieces")
        data["carry"] = ["corpus": 7, "start": 0, "end": 10]
        state["data"] = data
        try FileIO.writeAtomically(Array(try JSONSerialization.data(withJSONObject: state)), to: path)
        try expectFailure(base, mentioning: "not one of the data's pieces")
    }

    func testDuplicateClassifierLabelsAreAnErrorNotACrash() throws {
        let base = try checkpoint(), work = workDirectory + "/dup-labels"
        FileIO.removeItem(work)
        try FileIO.createDirectory(work)
        let rows = (0..<40).map { $0 % 2 == 0 ? "the king,royal" : "love war,plain" }
        try FileIO.writeAtomically("text,label\n" + rows.joined(separator: "\n") + "\n", to: work + "/labeled.csv")
        let out = work + "/head"
        let trained = try run([
            "classify", "train", "--checkpoint", base, "--data", work + "/labeled.csv", "--out", out, "--epochs", "1",
        ])
        XCTAssertEqual(trained.status, 0, trained.stderr)
        try FileIO.writeAtomically(#"{"labels":["plain","plain"],"pooling":"mean"}"#, to: out + "/classifier.json")
        try expectFailure(
            ["classify", "eval", "--checkpoint", out, "--data", work + "/labeled.csv"], mentioning: "twice")
    }

    func testNonFiniteWeightsAreRefusedNamingTheTensor() throws {
        let dir = try copyOfCheckpoint("nan-weights")
        let loaded = try Checkpoint.load(dir)
        loaded.model.parameters[loaded.model.layout.layers[1].up + 5] = .nan
        try FileIO.writeAtomically(Checkpoint.weightBytes(loaded.model), to: dir + "/model.safetensors")
        try expectFailure(
            ["eval", "--checkpoint", dir, "--data", try corpus()], mentioning: "model.layers.1.mlp.up_proj.weight")
        try expectFailure(["info", dir], mentioning: "not a finite number")
    }

    func testAConfigLargerThanItsWeightsIsRefusedBeforeAllocating() throws {
        let dir = try copyOfCheckpoint("huge-config")
        let path = dir + "/config.json"
        var config = try JSONSerialization.jsonObject(with: Data(try FileIO.readBytes(path))) as! [String: Any]
        config["hidden_size"] = 16384
        config["num_hidden_layers"] = 256
        config["num_attention_heads"] = 128
        config["num_key_value_heads"] = 128
        config["head_dim"] = 128
        config["intermediate_size"] = 43712
        try FileIO.writeAtomically(Array(try JSONSerialization.data(withJSONObject: config)), to: path)
        try expectFailure(["info", dir], mentioning: "describes a model of")
    }

    func testUnboundedOptionsAreRefused() throws {
        let base = try checkpoint(), never = workDirectory + "/never-made"
        try FileIO.writeAtomically("text,label\nthe king,royal\nlove,plain\n", to: workDirectory + "/two.csv")
        let classify = [
            "classify", "train", "--checkpoint", base, "--data", workDirectory + "/two.csv", "--out", never,
        ]
        try expectFailure(classify + ["--batch-size", String(Int.max)], mentioning: "--batch-size")
        try expectFailure(classify + ["--lora-rank", "100000", "--train", "lora"], mentioning: "--lora-rank")
        try expectFailure(classify + ["--lr", "nan"], mentioning: "--lr")
        try expectFailure(classify + ["--lr", "-1"], mentioning: "--lr")
        try expectFailure(
            tinyTraining(never) + ["--micro-batch-tokens", String(1 << 40)], mentioning: "--micro-batch-tokens")
        try expectFailure(tinyTraining(never) + ["--context", "1000000000"], mentioning: "--context")
        try expectFailure(
            ["generate", "--checkpoint", base, "--prompt", "a", "--max-tokens", String(Int.max)],
            mentioning: "--max-tokens")
        XCTAssertFalse(FileIO.exists(never))
    }

    func testManyLongSequencesAreRefusedBeforeTheKVCacheIsAllocated() throws {
        // The small preset's shape with a 131,072-token context: 256 sequences need 464 GB of cache.
        let dir = workDirectory + "/long-context"
        let tokenizer = try Checkpoint.load(try checkpoint()).tokenizer
        var config = ModelPreset.small.config(vocabSize: tokenizer.vocabSize)
        config.contextLength = 131_072
        let model = Transformer(config: config)
        model.initialize(seed: 1)
        FileIO.removeItem(dir)
        try Checkpoint.save(
            dir,
            files: [
                CheckpointFiles.config: try Checkpoint.configBytes(
                    CheckpointConfig(model: config, tokenizer: TokenizerFacts(tokenizer))),
                CheckpointFiles.model: Checkpoint.weightBytes(model),
                CheckpointFiles.tokenizer: tokenizer.modelBytes,
            ])
        try FileIO.writeAtomically("the king\nmy lord\n", to: workDirectory + "/two-prompts.txt")
        try expectFailure(
            [
                "generate", "--checkpoint", dir, "--prompts-file", workDirectory + "/two-prompts.txt", "--parallel",
                "256",
            ],
            mentioning: "KV cache")
    }

    func testStandardInputAndProcessSubstitutionAreFiles() throws {
        let dir = try checkpoint()
        let generated = try run(
            ["generate", "--checkpoint", dir, "--prompts-file", "/dev/stdin", "--max-tokens", "3"],
            input: "the king\nmy lord\n")
        XCTAssertEqual(generated.status, 0, generated.stderr)
        XCTAssertEqual(generated.stdout.split(separator: "\n").count, 2, generated.stdout)
        let labeled = try run(
            ["classify", "--checkpoint", dir, "--input", "/dev/stdin", "--labels", "royal,plain"],
            input: "the king\nlove\n")
        XCTAssertEqual(labeled.status, 0, labeled.stderr)
        XCTAssertEqual(labeled.stdout.split(separator: "\n").count, 2, labeled.stdout)
    }

    func testAmbiguousColumnsAreAnError() throws {
        let base = try checkpoint()
        try FileIO.writeAtomically(
            "{\"text\":\"the king\",\"label\":\"royal\",\"Label\":\"plain\"}\n{\"text\":\"love\",\"label\":\"plain\",\"Label\":\"royal\"}\n",
            to: workDirectory + "/both.jsonl")
        try expectFailure(
            [
                "classify", "eval", "--checkpoint", base, "--data", workDirectory + "/both.jsonl", "--labels",
                "royal,plain",
            ],
            mentioning: "which both match")
    }

    func testResumeTakesNewEvaluationAndSaveIntervals() throws {
        let out = workDirectory + "/intervals"
        FileIO.removeItem(out)
        XCTAssertEqual(try run(tinyTraining(out, steps: 2)).status, 0)
        let resumed = try run(tinyTraining(out, steps: 6) + ["--resume", "--eval-interval", "1"])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        let evals = try FileIO.readUTF8(out + "/metrics.jsonl").split(separator: "\n").filter {
            $0.contains("\"eval\"")
        }.count
        XCTAssertGreaterThanOrEqual(evals, 5, "an evaluation at every resumed step")
    }
}
