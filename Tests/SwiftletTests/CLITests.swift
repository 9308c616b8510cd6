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
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent(".build/release/swiftlet").path
    }

    @discardableResult
    func run(_ arguments: [String], input: String? = nil) throws -> Outcome {
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: Self.binary), "build the release binary first (make test does)")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        environment["SWIFTLET_CACHE"] = workDirectory + "/cache"
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
        return Outcome(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
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
        let result = try run(["train", "--data", try corpus(), "--preset", "tiny", "--vocab-size", "320", "--steps", "3",
                              "--context", "64", "--batch-tokens", "256", "--out", dir])
        XCTAssertEqual(result.status, 0, result.stderr)
        return dir
    }

    func expectFailure(_ arguments: [String], mentioning phrase: String, input: String? = nil,
                       file: StaticString = #filePath, line: UInt = #line) throws {
        let result = try run(arguments, input: input)
        XCTAssertNotEqual(result.status, 0, "should fail: \(arguments)", file: file, line: line)
        // Progress lines may come first; the error is one line of its own.
        let errorLines = result.stderr.split(separator: "\n").filter { $0.hasPrefix("swiftlet: error:") || $0.hasPrefix("Error:") }
        XCTAssertEqual(errorLines.count, 1, "stderr: \(result.stderr)", file: file, line: line)
        XCTAssertTrue(errorLines.first?.contains(phrase) ?? false, "stderr: \(result.stderr)", file: file, line: line)
        XCTAssertFalse(result.stderr.contains("Fatal error") || result.stderr.contains("Stack dump"), result.stderr, file: file, line: line)
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
        let other = try run(["generate", "--checkpoint", dir, "--prompt", "the king", "--max-tokens", "20", "--seed", "6"])
        XCTAssertNotEqual(first.stdout, other.stdout)
        // Greedy, prompt from standard input, speed report with --verbose.
        let greedy = try run(["generate", "--checkpoint", dir, "--temperature", "0", "--max-tokens", "8", "--verbose"], input: "my lord")
        XCTAssertEqual(greedy.status, 0, greedy.stderr)
        XCTAssertTrue(greedy.stdout.hasPrefix("my lord"))
        XCTAssertTrue(greedy.stderr.contains("tokens/s"))
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
        let decoded = try run(["tokenizer", "decode", "-m", dir] + encoded.stdout.split(separator: " ").map { String($0).trimmingCharacters(in: .whitespacesAndNewlines) })
        XCTAssertEqual(decoded.stdout, "my lord 😀")
    }

    func testBenchPrintsJSONLines() throws {
        let result = try run(["bench", "train", "--dim", "64", "--layers", "1", "--heads", "4", "--vocab", "300", "--context", "32",
                              "--batch", "2", "--steps", "2", "--json"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let lines = result.stdout.split(separator: "\n").map(String.init)
        let names = try lines.map { line -> String in
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            XCTAssertNotNil(object["value"] as? Double)
            XCTAssertNotNil(object["unit"] as? String)
            return object["name"] as! String
        }
        XCTAssertEqual(names, ["fp32.peak.gflops", "train.tokens_per_s", "train.mfu"])
        try expectFailure(["bench", "train", "--precision", "fp8"], mentioning: "--precision")
    }

    func testResumeContinuesAndRefusesToOverwrite() throws {
        let dir = workDirectory + "/resume"
        FileIO.removeItem(dir)
        let base = ["train", "--data", try corpus(), "--preset", "tiny", "--vocab-size", "320", "--context", "64", "--batch-tokens", "128", "--out", dir]
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
        try expectFailure(["train", "--data", try corpus(), "--preset", "tiny", "--vocab-size", "320", "--steps", "1", "--context", "64",
                           "--out", dir], mentioning: "not a Swiftlet checkpoint")
        XCTAssertEqual(try FileIO.readUTF8(dir + "/notes.txt"), "my precious notes")
    }

    func testCtrlCSavesACheckpointThatResumes() throws {
        let dir = workDirectory + "/interrupted"
        FileIO.removeItem(dir)
        let arguments = ["train", "--data", try corpus(), "--preset", "tiny", "--vocab-size", "320", "--context", "64",
                         "--batch-tokens", "256", "--out", dir]
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
        try expectFailure(trainArgs + ["--data", try corpus(), "--vocab-size=0"], mentioning: "--vocab-size must be positive")
        try expectFailure(["train", "--data", try corpus(), "--preset", "tiny", "--vocab-size", "100000", "--steps", "1", "--out", work + "/never"],
                          mentioning: "the largest that works is")
        XCTAssertFalse(FileIO.exists(work + "/never/config.json"), "nothing half-written")
        try expectFailure(["generate", "--checkpoint", dir, "--prompt", "x", "--top-p", "1.5"], mentioning: "--top-p must be in (0, 1]")
        try expectFailure(["generate", "--checkpoint", dir, "--prompt", "x", "--top-p", "0"], mentioning: "--top-p must be in (0, 1]")
        try expectFailure(["generate", "--checkpoint", work + "/nowhere", "--prompt", "x"], mentioning: "does not exist")
        let longPrompt = String(repeating: "the king speaks of love ", count: 200)
        try expectFailure(["generate", "--checkpoint", dir, "--prompt", longPrompt], mentioning: "context")

        // Damaged copies of the checkpoint.
        let broken = work + "/broken"
        FileIO.removeItem(broken)
        try FileManager.default.copyItem(atPath: dir, toPath: broken)
        try FileIO.writeAtomically([9, 0, 0, 0, 0, 0, 0, 0] + Array("{\"a\":1}x".utf8), to: broken + "/model.safetensors")
        try expectFailure(["generate", "--checkpoint", broken, "--prompt", "x"], mentioning: "not a valid safetensors file")
        FileIO.removeItem(broken + "/tokenizer.model")
        try expectFailure(["info", broken], mentioning: "has no tokenizer.model")
    }
}
