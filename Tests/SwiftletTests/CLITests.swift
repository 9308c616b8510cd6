import XCTest
import Foundation
@testable import Swiftlet

/// The command line end to end, through the release binary (built by `make test`).
final class CLITests: XCTestCase {
    struct Outcome {
        let status: Int32
        let stdout: String
        let stderr: String
    }

    static var binary: String {
        if let path = ProcessInfo.processInfo.environment["SWIFTLET_BIN"] { return path }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return root.appendingPathComponent(".build/release/swiftlet").path
    }

    @discardableResult
    func run(
        _ arguments: [String], input: String? = nil, in directory: String? = nil,
        environment extra: [String: String] = [:]
    ) throws -> Outcome {
        XCTAssertTrue(
            FileManager.default.isExecutableFile(atPath: Self.binary), "build the release binary first (make test does)"
        )
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        var environment = ProcessInfo.processInfo.environment
        environment["SWIFTLET_CACHE"] = workDirectory + "/cache"
        environment.merge(extra) { $1 }
        process.environment = environment
        let out = Pipe(), err = Pipe(), inp = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = inp
        try process.run()
        if let input { inp.fileHandleForWriting.write(input.data(using: .utf8)!) }
        try inp.fileHandleForWriting.close()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Outcome(
            status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
            stderr: String(decoding: stderr, as: UTF8.self))
    }

    var workDirectory: String { "/tmp/swiftlet-cli-tests-\(getpid())" }

    func corpus() throws -> String {
        let path = workDirectory + "/corpus.txt"
        if !FileIO.exists(path) {
            try FileIO.createDirectory(workDirectory)
            try FileIO.writeAtomically(TestData.text(lines: 600), to: path)
        }
        return path
    }

    /// A tiny trained checkpoint shared by the tests that need one.
    func checkpoint() throws -> String {
        let dir = workDirectory + "/tiny"
        if FileIO.exists(dir + "/config.json") { return dir }
        let result = try run([
            "train", "--data", try corpus(), "--preset", "tiny", "--vocab-size", "320", "--steps", "3",
            "--context", "64", "--batch-tokens", "256", "--out", dir,
        ])
        XCTAssertEqual(result.status, 0, result.stderr)
        return dir
    }

    func expectFailure(
        _ arguments: [String], mentioning phrase: String, input: String? = nil, in directory: String? = nil,
        file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let result = try run(arguments, input: input, in: directory)
        XCTAssertNotEqual(result.status, 0, "should fail: \(arguments)", file: file, line: line)
        // Progress lines may come first; the error is one line of its own.
        let errorLines = result.stderr.split(separator: "\n").filter {
            $0.hasPrefix("swiftlet: error:") || $0.hasPrefix("Error:")
        }
        XCTAssertEqual(errorLines.count, 1, "stderr: \(result.stderr)", file: file, line: line)
        XCTAssertTrue(errorLines.first?.contains(phrase) ?? false, "stderr: \(result.stderr)", file: file, line: line)
        XCTAssertFalse(
            result.stderr.contains("Fatal error") || result.stderr.contains("Stack dump"), result.stderr, file: file,
            line: line)
    }

    func testTrainThenGenerateIsReproducibleWithASeed() throws {
        let dir = try checkpoint()
        let trained = try FileIO.readUTF8(dir + "/metrics.jsonl")
        XCTAssertTrue(trained.contains("\"kind\":\"eval\""))
        let args = ["generate", "--checkpoint", dir, "--prompt", "the king", "--max-tokens", "20", "--seed", "5"]
        let first = try run(args), second = try run(args)
        XCTAssertEqual(first.status, 0, first.stderr)
        XCTAssertEqual(first.stdout, second.stdout)
        XCTAssertTrue(first.stdout.hasPrefix("the king"))
        XCTAssertGreaterThan(first.stdout.count, "the king".count)
        let other = try run([
            "generate", "--checkpoint", dir, "--prompt", "the king", "--max-tokens", "20", "--seed", "6",
        ])
        XCTAssertNotEqual(first.stdout, other.stdout)
        // Greedy, prompt from standard input, speed report with --verbose.
        let greedy = try run(
            ["generate", "--checkpoint", dir, "--temperature", "0", "--max-tokens", "8", "--verbose"], input: "my lord")
        XCTAssertEqual(greedy.status, 0, greedy.stderr)
        XCTAssertTrue(greedy.stdout.hasPrefix("my lord"))
        XCTAssertTrue(greedy.stderr.contains("tokens/s"))
    }

    func testPromptsFileWritesResultsInInputOrder() throws {
        let dir = try checkpoint()
        let file = workDirectory + "/prompts.txt"
        let lines = [
            "the king speaks",
            "{\"prompt\": \"my lord\", \"max_tokens\": 3, \"temperature\": 0}",
            "",
            "{\"prompt\": \"good night\", \"seed\": 9, \"top_k\": 5, \"min_p\": 0.05, \"repetition_penalty\": 1.3, \"stop\": [\"zz\"]}",
            "what is this",
        ]
        try FileIO.writeAtomically(lines.joined(separator: "\n") + "\n", to: file)
        let out = workDirectory + "/completions.jsonl"
        FileIO.removeItem(out)
        let result = try run([
            "generate", "--checkpoint", dir, "--prompts-file", file, "--parallel", "2", "--max-tokens", "6",
            "--seed", "4", "--out", out,
        ])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(result.stdout, "")
        let records = try FileIO.readUTF8(out).split(separator: "\n").map {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any]
        }
        XCTAssertEqual(
            records.map { $0["prompt"] as? String }, ["the king speaks", "my lord", "good night", "what is this"])
        for record in records {
            XCTAssertEqual(
                Set(record.keys), ["prompt", "completion", "tokens", "stop_reason", "ttft_ms", "tokens_per_s"])
            XCTAssertNotNil(record["completion"] as? String)
            XCTAssertLessThanOrEqual(record["tokens"] as! Int, 6)
        }
        XCTAssertLessThanOrEqual(records[1]["tokens"] as! Int, 3)
        // The same file to standard output gives the same completions (seeded), one parallel slot or several.
        let serial = try run([
            "generate", "--checkpoint", dir, "--prompts-file", file, "--parallel", "1", "--max-tokens", "6", "--seed",
            "4",
        ])
        XCTAssertEqual(serial.status, 0, serial.stderr)
        let serialCompletions = try serial.stdout.split(separator: "\n").map {
            (try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any])["completion"] as! String
        }
        XCTAssertEqual(serialCompletions, records.map { $0["completion"] as! String })

        try FileIO.writeAtomically("fine\n{\"prompt\": 3}\n", to: workDirectory + "/bad.jsonl")
        try expectFailure(
            ["generate", "--checkpoint", dir, "--prompts-file", workDirectory + "/bad.jsonl"], mentioning: "line 2")
        try expectFailure(
            ["generate", "--checkpoint", dir, "--prompts-file", workDirectory + "/absent.txt"],
            mentioning: "does not exist")
        let long = String(repeating: "the king speaks of love ", count: 200)
        try FileIO.writeAtomically("short\n\n" + long + "\n", to: workDirectory + "/long.txt")
        try expectFailure(
            [
                "generate", "--checkpoint", dir, "--prompts-file", workDirectory + "/long.txt", "--out",
                workDirectory + "/never.jsonl",
            ],
            mentioning: "line 3")
        XCTAssertFalse(FileIO.exists(workDirectory + "/never.jsonl"), "nothing half-written")
    }

    func testGenerateStopsAtAStopString() throws {
        let dir = try checkpoint()
        let base = [
            "generate", "--checkpoint", dir, "--prompt", "the king", "--max-tokens", "30", "--temperature", "0",
        ]
        let free = try run(base)
        XCTAssertEqual(free.status, 0, free.stderr)
        let reply = String(free.stdout.dropFirst("the king".count).dropLast())  // without the final newline
        guard reply.count > 6 else { return XCTFail("reply too short to cut: \(reply)") }
        let stop = String(Array(reply)[4..<6])
        let cut = try run(base + ["--stop", stop, "--min-p", "0.1", "--repetition-penalty", "1.0"])
        XCTAssertEqual(cut.status, 0, cut.stderr)
        XCTAssertEqual(cut.stdout, "the king" + String(reply[..<reply.range(of: stop)!.lowerBound]) + "\n")
        try expectFailure(base + ["--min-p", "1"], mentioning: "--min-p must be in [0, 1)")
        try expectFailure(base + ["--repetition-penalty", "0"], mentioning: "--repetition-penalty must be positive")
    }

    func testInfoEvalAndTokenizerCommands() throws {
        let dir = try checkpoint()
        let info = try run(["info", dir])
        XCTAssertEqual(info.status, 0, info.stderr)
        XCTAssertTrue(info.stdout.contains("parameters:") && info.stdout.contains("tokenizer: 320 pieces"), info.stdout)
        let eval = try run(["eval", "--checkpoint", dir, "--data", try corpus()])
        XCTAssertEqual(eval.status, 0, eval.stderr)
        XCTAssertTrue(eval.stdout.contains("bits per byte:"), eval.stdout)
        let encoded = try run(["tokenizer", "encode", "-m", dir, "--ids", "my lord 😀"])
        let decoded = try run(
            ["tokenizer", "decode", "-m", dir]
                + encoded.stdout.split(separator: " ").map {
                    String($0).trimmingCharacters(in: .whitespacesAndNewlines)
                })
        XCTAssertEqual(decoded.stdout, "my lord 😀")
    }

    /// `info` and `export` name the checkpoint first or take `--checkpoint` like the other
    /// commands; none, or two different ones, get one sentence.
    func testInfoAndExportTakeTheCheckpointEitherWay() throws {
        let dir = try checkpoint()
        let first = try run(["info", dir]), named = try run(["info", "--checkpoint", dir])
        XCTAssertEqual(named.status, 0, named.stderr)
        XCTAssertEqual(named.stdout, first.stdout)
        try expectFailure(["info"], mentioning: "say which checkpoint")
        try expectFailure(["info", dir, "--checkpoint", dir + "-other"], mentioning: "two checkpoints given")
        let gguf = workDirectory + "/either-way.gguf"
        try? FileManager.default.removeItem(atPath: gguf)
        let export = try run(["export", "--checkpoint", dir, "--format", "gguf", "-o", gguf])
        XCTAssertEqual(export.status, 0, export.stderr)
        let exported = try run(["info", gguf])
        XCTAssertEqual(exported.status, 0, exported.stderr)
        XCTAssertTrue(exported.stdout.contains("format: GGUF"), exported.stdout)
        try expectFailure(["export", "--format", "gguf", "-o", gguf + "2"], mentioning: "say which checkpoint")
    }

    func testBenchPrintsJSONLines() throws {
        let result = try run([
            "bench", "train", "--dim", "64", "--layers", "1", "--heads", "4", "--vocab", "300", "--context", "32",
            "--batch", "2", "--steps", "2", "--json",
        ])
        XCTAssertEqual(result.status, 0, result.stderr)
        let lines = result.stdout.split(separator: "\n").map(String.init)
        let names = try lines.map { line -> String in
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            XCTAssertNotNil(object["value"] as? Double)
            XCTAssertNotNil(object["unit"] as? String)
            return object["name"] as! String
        }
        // MFU is against the peak of the precision measured: bf16 by default where the CPU has it.
        XCTAssertEqual(names, ["\(Precision.trainingDefault.rawValue).peak.gflops", "train.tokens_per_s", "train.mfu"])
        let fp32 = try run([
            "bench", "train", "--dim", "64", "--layers", "1", "--heads", "4", "--vocab", "300", "--context", "32",
            "--batch", "2", "--steps", "1", "--json", "--precision", "fp32",
        ])
        XCTAssertTrue(fp32.stdout.hasPrefix("{\"name\":\"fp32.peak.gflops\""), fp32.stdout)
        let generate = try run([
            "bench", "generate", "--dim", "64", "--layers", "1", "--heads", "4", "--vocab", "300", "--context", "256",
            "--prompts", "2", "--new-tokens", "4", "--prompt-tokens", "5", "--join-tokens", "20", "--json",
        ])
        XCTAssertEqual(generate.status, 0, generate.stderr)
        XCTAssertEqual(
            try generate.stdout.split(separator: "\n").map {
                (try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any])["name"] as! String
            },
            [
                "generate.parallel.tokens_per_s", "generate.sequential.tokens_per_s", "generate.speedup",
                "generate.ttft_busy_ms",
            ])
        try expectFailure(["bench", "train", "--precision", "fp8"], mentioning: "--precision")
        // bench decode --model times a checkpoint's own weights, one result per format asked for.
        let decode = try run([
            "bench", "decode", "--model", try checkpoint(), "--weights", "fp32,q4_0", "--tokens", "4",
            "--prompt-tokens", "8", "--json",
        ])
        XCTAssertEqual(decode.status, 0, decode.stderr)
        XCTAssertEqual(
            try decode.stdout.split(separator: "\n").map {
                (try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any])["name"] as! String
            },
            ["prompt.tokens_per_s", "decode.tokens_per_s", "prompt.q4_0.tokens_per_s", "decode.q4_0.tokens_per_s"])
        try expectFailure(["bench", "decode", "--weights", "stored"], mentioning: "and stored, with --model")
        try expectFailure(
            ["bench", "decode", "--model", try checkpoint(), "--weights", "stored"],
            mentioning: "has no quantized tensors to use as stored")
    }

    /// Training is bf16 by default where the CPU has the instructions and they pay (the command
    /// says once what it measured); without them (or with SWIFTLET_NO_BF16=1, which hides them)
    /// it is fp32 and says so once; --precision fp32 stays.
    func testTrainingPrecisionDefaultsToBF16WhereTheCPUHasIt() throws {
        let base = [
            "train", "--data", try corpus(), "--preset", "tiny", "--vocab-size", "320", "--context", "64",
            "--batch-tokens", "128",
            "--steps", "2",
        ]
        let saved = workDirectory + "/precision"
        FileIO.removeItem(saved)
        let chosen = try run(base + ["--out", saved])
        XCTAssertEqual(chosen.status, 0, chosen.stderr)
        XCTAssertTrue(
            chosen.stderr.contains("precision: \(Precision.trainingDefault.rawValue)"), chosen.stderr)
        if MatrixEngine.bf16IsNative {
            XCTAssertEqual(
                chosen.stderr.components(separatedBy: "the fp32 FMA rate on this CPU").count, 2,
                "says once why: \(chosen.stderr)")
        }
        func savedPrecision() throws -> Precision {
            try JSONDecoder().decode(
                TrainerState.self, from: Data(try FileIO.readBytes(saved + "/" + CheckpointFiles.trainer))
            ).options.precision
        }
        XCTAssertEqual(try savedPrecision(), Precision.trainingDefault)
        FileIO.removeItem(saved)
        let hidden = try run(base + ["--out", saved], environment: ["SWIFTLET_NO_BF16": "1"])
        XCTAssertEqual(hidden.status, 0, hidden.stderr)
        XCTAssertEqual(
            hidden.stderr.components(separatedBy: "this CPU has no AVX512-BF16").count, 2, "said once: \(hidden.stderr)"
        )
        XCTAssertEqual(try savedPrecision(), .fp32)
        let refused = try run(
            base + ["--out", saved + "-bf16", "--precision", "bf16"], environment: ["SWIFTLET_NO_BF16": "1"])
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.stderr.contains("no bf16 instructions"), refused.stderr)
        FileIO.removeItem(saved)
        let fp32 = try run(base + ["--out", saved, "--precision", "fp32"])
        XCTAssertEqual(fp32.status, 0, fp32.stderr)
        XCTAssertTrue(fp32.stderr.contains("precision: fp32"), fp32.stderr)
    }

    func testResumeContinuesAndRefusesToOverwrite() throws {
        let dir = workDirectory + "/resume"
        FileIO.removeItem(dir)
        let base = [
            "train", "--data", try corpus(), "--preset", "tiny", "--vocab-size", "320", "--context", "64",
            "--batch-tokens", "128", "--out", dir,
        ]
        XCTAssertEqual(try run(base + ["--steps", "2"]).status, 0)
        try expectFailure(base + ["--steps", "2"], mentioning: "already holds a checkpoint")
        try expectFailure(base + ["--resume", "--lr", "0.1"], mentioning: "--lr differ")
        let resumed = try run(base + ["--resume", "--steps", "4"])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertTrue(resumed.stderr.contains("resuming \(dir) at step 2 of 4"), resumed.stderr)
        XCTAssertEqual(try Checkpoint.load(dir).config.training["steps"], "4")
    }

    func testNeverOverwritesAFolderThatIsNotACheckpoint() throws {
        let dir = workDirectory + "/notes"
        FileIO.removeItem(dir)
        try FileIO.createDirectory(dir)
        try FileIO.writeAtomically("my precious notes", to: dir + "/notes.txt")
        try expectFailure(
            [
                "train", "--data", try corpus(), "--preset", "tiny", "--vocab-size", "320", "--steps", "1", "--context",
                "64",
                "--out", dir,
            ], mentioning: "not a Swiftlet checkpoint")
        XCTAssertEqual(try FileIO.readUTF8(dir + "/notes.txt"), "my precious notes")
    }

    func testCtrlCSavesACheckpointThatResumes() throws {
        let dir = workDirectory + "/interrupted"
        FileIO.removeItem(dir)
        let arguments = [
            "train", "--data", try corpus(), "--preset", "tiny", "--vocab-size", "320", "--context", "64",
            "--batch-tokens", "256", "--out", dir,
        ]
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = arguments + ["--steps", "100000"]
        var environment = ProcessInfo.processInfo.environment
        environment["SWIFTLET_CACHE"] = workDirectory + "/cache"
        process.environment = environment
        let err = Pipe()
        process.standardError = err
        process.standardOutput = Pipe()
        try process.run()
        // Wait for the first progress line, then interrupt.
        var stderr = ""
        while !stderr.contains("step 1") {
            let chunk = err.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            stderr += String(decoding: chunk, as: UTF8.self)
        }
        kill(process.processIdentifier, SIGINT)
        stderr += String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 130, stderr)
        XCTAssertTrue(stderr.contains("interrupted"), stderr)
        let saved = Int(try Checkpoint.load(dir).config.training["steps"] ?? "0") ?? 0
        XCTAssertGreaterThan(saved, 0)
        let resumed = try run(arguments + ["--resume", "--steps", String(saved + 3)])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertEqual(try Checkpoint.load(dir).config.training["steps"], String(saved + 3))
    }

    func testBadInputGetsOneClearSentence() throws {
        let dir = try checkpoint()
        let work = workDirectory
        try FileIO.writeAtomically("", to: work + "/empty.txt")
        try FileIO.writeAtomically([0xFF, 0xFE, 0x00, 0x81, 0xC3, 0x28], to: work + "/binary.bin")
        let trainArgs = ["train", "--preset", "tiny", "--steps", "1", "--out", work + "/never"]
        try expectFailure(trainArgs + ["--data", work + "/missing.txt"], mentioning: "does not exist")
        try expectFailure(trainArgs + ["--data", work + "/empty.txt"], mentioning: "is empty")
        try expectFailure(trainArgs + ["--data", work + "/binary.bin"], mentioning: "not UTF-8")
        try FileIO.writeAtomically(Array("h\0e\0l\0l\0o\0".utf8), to: work + "/utf16.txt")
        try expectFailure(trainArgs + ["--data", work + "/utf16.txt"], mentioning: "not UTF-8")
        try expectFailure(trainArgs + ["--data", try corpus(), "--steps=-5"], mentioning: "--steps must be positive")
        try expectFailure(
            trainArgs + ["--data", try corpus(), "--vocab-size=0"], mentioning: "--vocab-size must be between 1 and")
        try expectFailure(
            [
                "train", "--data", try corpus(), "--preset", "tiny", "--vocab-size", "100000", "--steps", "1", "--out",
                work + "/never",
            ],
            mentioning: "the largest that works is")
        XCTAssertFalse(FileIO.exists(work + "/never/config.json"), "nothing half-written")
        try expectFailure(
            ["generate", "--checkpoint", dir, "--prompt", "x", "--top-p", "1.5"],
            mentioning: "--top-p must be in (0, 1]")
        try expectFailure(
            ["generate", "--checkpoint", dir, "--prompt", "x", "--top-p", "0"], mentioning: "--top-p must be in (0, 1]")
        try expectFailure(
            ["generate", "--checkpoint", work + "/nowhere", "--prompt", "x"], mentioning: "does not exist")
        try expectFailure(
            ["generate", "--checkpoint", dir + "/config.json", "--prompt", "x"],
            mentioning: "is a file, not a checkpoint")
        let longPrompt = String(repeating: "the king speaks of love ", count: 200)
        try expectFailure(["generate", "--checkpoint", dir, "--prompt", longPrompt], mentioning: "context")

        // Damaged copies of the checkpoint.
        let broken = work + "/broken"
        FileIO.removeItem(broken)
        try FileManager.default.copyItem(atPath: dir, toPath: broken)
        try FileIO.writeAtomically(
            [9, 0, 0, 0, 0, 0, 0, 0] + Array("{\"a\":1}x".utf8), to: broken + "/model.safetensors")
        try expectFailure(
            ["generate", "--checkpoint", broken, "--prompt", "x"], mentioning: "not a valid safetensors file")
        FileIO.removeItem(broken + "/tokenizer.model")
        try expectFailure(["info", broken], mentioning: "has no tokenizer.model")
    }
}
