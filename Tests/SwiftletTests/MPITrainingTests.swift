import XCTest
import Foundation
@testable import Swiftlet

/// Data-parallel training end to end: `mpirun -np 2 swiftlet train` against one process with
/// the same global batch, and a resumed two-rank run against an uninterrupted one. Skipped (with
/// the reason) only where mpirun is not installed; `make test` installs it.
final class MPITrainingTests: XCTestCase {
    struct Outcome {
        let status: Int32
        let stderr: String
    }

    static let mpirun: String? = ["/usr/bin/mpirun", "/usr/local/bin/mpirun"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }
    var workDirectory: String { "/tmp/swiftlet-mpi-tests-\(getpid())" }

    override func setUpWithError() throws {
        guard Self.mpirun != nil else {
            throw XCTSkip("mpirun is not installed (apt-get install openmpi-bin; make test installs it)")
        }
        try FileIO.createDirectory(workDirectory)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: workDirectory)
    }

    /// Runs the release binary, under `mpirun -np ranks` when ranks > 0.
    @discardableResult
    func run(_ arguments: [String], ranks: Int = 0, executable: String = CLITests.binary) throws -> Outcome {
        let process = Process()
        var launch: [String] = []
        if ranks > 0 {
            launch =
                ["-np", String(ranks), "--oversubscribe", "-q"] + (getuid() == 0 ? ["--allow-run-as-root"] : []) + [
                    executable
                ]
            process.executableURL = URL(fileURLWithPath: Self.mpirun!)
        } else {
            process.executableURL = URL(fileURLWithPath: executable)
        }
        process.arguments = launch + arguments
        var environment = ProcessInfo.processInfo.environment
        environment["SWIFTLET_CACHE"] = workDirectory + "/cache"
        process.environment = environment
        // One pipe for both: XCTest reports on standard output, Swiftlet on standard error.
        let output = Pipe()
        process.standardError = output
        process.standardOutput = output
        try process.run()
        let text = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Outcome(status: process.terminationStatus, stderr: String(decoding: text, as: UTF8.self))
    }

    /// The collectives themselves, rank against rank (CommunicatorTests under mpirun).
    func testCommunicatorUnderMPI() throws {
        // This very test bundle's executable, whatever launched it.
        let testBinary = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        let result = try run(
            ["SwiftletTests.CommunicatorTests/testRanksSumBroadcastAndAgree"], ranks: 2, executable: testBinary)
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stderr.contains("testRanksSumBroadcastAndAgree' passed"), result.stderr)
        XCTAssertFalse(result.stderr.contains("skipped"), result.stderr)
    }

    func trainArguments(_ out: String, microBatch: Int, steps: Int = 20) throws -> [String] {
        let corpus = workDirectory + "/corpus.txt"
        if !FileIO.exists(corpus) { try FileIO.writeAtomically(TestData.text(lines: 800, seed: 3), to: corpus) }
        return [
            "train", "--data", corpus, "--preset", "tiny", "--vocab-size", "320", "--context", "64",
            "--steps", String(steps), "--batch-tokens", "512", "--micro-batch-tokens", String(microBatch),
            "--eval-interval", "10", "--dropout", "0.1", "--precision", "fp32", "--threads", "1", "--out", out,
        ]
    }

    func trainLosses(_ directory: String) throws -> [Int: Double] {
        let text = try FileIO.readUTF8(directory + "/metrics.jsonl")
        var losses: [Int: Double] = [:]
        for line in text.split(separator: "\n") {
            let record = try JSONDecoder().decode(MetricRecord.self, from: Data(line.utf8))
            if record.kind == "train" { losses[record.step] = record.loss }
        }
        return losses
    }

    func assertSameRun(_ a: String, _ b: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let (lossesA, lossesB) = (try trainLosses(a), try trainLosses(b))
        XCTAssertEqual(lossesA.keys.sorted(), Array(1...20), file: file, line: line)
        XCTAssertEqual(lossesA.keys.sorted(), lossesB.keys.sorted(), file: file, line: line)
        for (step, loss) in lossesA {
            let other = lossesB[step] ?? .nan
            XCTAssertLessThanOrEqual(
                abs(loss - other) / abs(loss), 1e-5, "step \(step): \(loss) against \(other)", file: file, line: line)
        }
        let (modelA, modelB) = (try Checkpoint.load(a).model, try Checkpoint.load(b).model)
        XCTAssertEqual(modelA.parameters.count, modelB.parameters.count, file: file, line: line)
        var largest: Float = 0
        for i in 0..<modelA.parameters.count {
            largest = max(largest, abs(modelA.parameters.pointer[i] - modelB.parameters.pointer[i]))
        }
        XCTAssertLessThanOrEqual(largest, 1e-5, "largest weight difference", file: file, line: line)
    }

    /// Rank 0's metrics give every step's time in collectives, and within it the gradient
    /// all-reduce and the wait for the slower rank before it.
    func assertCollectivesSplit(_ directory: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let text = try FileIO.readUTF8(directory + "/metrics.jsonl")
        let records = try text.split(separator: "\n").map {
            try JSONDecoder().decode(MetricRecord.self, from: Data($0.utf8))
        }
        let steps = records.filter { $0.kind == "train" }
        XCTAssertEqual(steps.count, 20, file: file, line: line)
        for record in steps {
            let total = try XCTUnwrap(record.communicationSeconds, file: file, line: line)
            let reduce = try XCTUnwrap(record.allReduceSeconds, file: file, line: line)
            let waiting = try XCTUnwrap(record.waitingSeconds, file: file, line: line)
            XCTAssertGreaterThan(reduce, 0, "step \(record.step)", file: file, line: line)
            XCTAssertGreaterThanOrEqual(waiting, 0, "step \(record.step)", file: file, line: line)
            XCTAssertLessThanOrEqual(reduce + waiting, total + 1e-9, "step \(record.step)", file: file, line: line)
        }
    }

    /// Two ranks of 256 rows each against one process drawing the same two 256-row
    /// micro-batches; then two ranks stopped at step 9 and resumed against the uninterrupted run.
    func testTwoRanksTrainAsOneProcessWithTheSameGlobalBatch() throws {
        let single = workDirectory + "/single", ranks = workDirectory + "/ranks", resumed = workDirectory + "/resumed"
        var result = try run(trainArguments(single, microBatch: 256))
        XCTAssertEqual(result.status, 0, result.stderr)
        result = try run(trainArguments(ranks, microBatch: 512), ranks: 2)
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stderr.contains("2 ranks"), result.stderr)
        try assertSameRun(single, ranks)
        try assertCollectivesSplit(ranks)

        result = try run(trainArguments(resumed, microBatch: 512) + ["--stop-at", "9"], ranks: 2)
        XCTAssertEqual(result.status, 0, result.stderr)
        let saved = try JSONDecoder().decode(
            TrainerState.self, from: Data(try FileIO.readBytes(resumed + "/" + CheckpointFiles.trainer)))
        XCTAssertEqual(saved.step, 9)
        XCTAssertEqual(saved.ranks, 2)
        result = try run(trainArguments(resumed, microBatch: 512) + ["--resume"], ranks: 2)
        XCTAssertEqual(result.status, 0, result.stderr)
        try assertSameRun(ranks, resumed)
    }

    func classifyArguments(_ out: String, mode: String, batchSize: Int, extra: [String]) throws -> [String] {
        let base = workDirectory + "/base", labeled = workDirectory + "/labeled.csv"
        if !FileIO.exists(base + "/config.json") {
            let result = try run(try trainArguments(base, microBatch: 512, steps: 3))
            XCTAssertEqual(result.status, 0, result.stderr)
        }
        if !FileIO.exists(labeled) {
            var rng = RandomGenerator(seed: 4)
            func text(_ words: [String]) -> String {
                (0..<(2 + rng.below(12))).map { _ in words[rng.below(words.count)] }.joined(separator: " ")
            }
            // Overlapping words and a third of the labels flipped: the loss stays far from zero,
            // so relative differences between the runs measure something.
            let rows = (0..<300).map { i in
                let royal = i % 2 == 0
                let words = text(royal ? ["king", "queen", "lord", "night"] : ["night", "war", "love", "lord"])
                return "\"\(words)\",\(royal != (rng.below(3) == 0) ? "royal" : "plain")"
            }
            try FileIO.writeAtomically("text,label\n" + rows.joined(separator: "\n") + "\n", to: labeled)
        }
        return [
            "classify", "train", "--checkpoint", base, "--data", labeled, "--train", mode, "--epochs", "2",
            "--batch-size", String(batchSize),
            "--threads", "1", "--out", out,
        ] + extra
    }

    /// Every end-to-end step's loss, every epoch's validation, the head and the weights alike.
    func assertSameClassifier(
        _ a: String, _ b: String, steps: Int, file: StaticString = #filePath, line: UInt = #line
    ) throws {
        func records(_ directory: String) throws -> [MetricRecord] {
            try FileIO.readUTF8(directory + "/metrics.jsonl").split(separator: "\n").map {
                try JSONDecoder().decode(MetricRecord.self, from: Data($0.utf8))
            }
        }
        let (recordsA, recordsB) = (try records(a), try records(b))
        XCTAssertEqual(recordsA.filter { $0.kind == "train" }.map(\.step), Array(1...steps), file: file, line: line)
        XCTAssertEqual(recordsA.filter { $0.kind == "eval" }.count, 2, file: file, line: line)
        XCTAssertEqual(recordsA.map(\.kind), recordsB.map(\.kind), file: file, line: line)
        for (x, y) in zip(recordsA, recordsB) {
            XCTAssertEqual(x.step, y.step, file: file, line: line)
            XCTAssertLessThanOrEqual(
                abs(x.loss - y.loss) / abs(x.loss), 1e-5, "\(x.kind) at step \(x.step): \(x.loss) against \(y.loss)",
                file: file, line: line)
            XCTAssertEqual(x.accuracy, y.accuracy, file: file, line: line)
        }
        let (modelA, modelB) = (try Checkpoint.load(a), try Checkpoint.load(b))
        XCTAssertEqual(
            modelA.config.training["classifierEpoch"], modelB.config.training["classifierEpoch"], file: file, line: line
        )
        let (headA, headB) = (
            try XCTUnwrap(modelA.classifier, file: file, line: line),
            try XCTUnwrap(modelB.classifier, file: file, line: line)
        )
        for (x, y) in [(modelA.model.parameters, modelB.model.parameters), (headA.parameters, headB.parameters)] {
            XCTAssertEqual(x.count, y.count, file: file, line: line)
            var largest: Float = 0
            for i in 0..<x.count { largest = max(largest, abs(x.pointer[i] - y.pointer[i])) }
            XCTAssertLessThanOrEqual(largest, 1e-5, "largest weight difference", file: file, line: line)
        }
    }

    /// classify train on two ranks against one process taking the same passes (a rank's share
    /// per pass): full fine-tuning with dropout on 10 texts a step (shares of 5); LoRA on 7 (shares
    /// of 4 and 3, and the epoch's last step of 4 texts split 2 and 2).
    func testTwoRanksTrainAClassifierAsOneProcess() throws {
        let single = workDirectory + "/classify-single", ranks = workDirectory + "/classify-ranks"
        var result = try run(
            classifyArguments(
                single, mode: "full", batchSize: 10, extra: ["--dropout", "0.1", "--micro-batch-size", "5"]))
        XCTAssertEqual(result.status, 0, result.stderr)
        result = try run(classifyArguments(ranks, mode: "full", batchSize: 10, extra: ["--dropout", "0.1"]), ranks: 2)
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stderr.contains("data parallel: Open MPI, 2 ranks"), result.stderr)
        try assertSameClassifier(single, ranks, steps: 2 * 27)

        let loraSingle = workDirectory + "/lora-single", loraRanks = workDirectory + "/lora-ranks"
        result = try run(classifyArguments(loraSingle, mode: "lora", batchSize: 7, extra: ["--micro-batch-size", "4"]))
        XCTAssertEqual(result.status, 0, result.stderr)
        result = try run(classifyArguments(loraRanks, mode: "lora", batchSize: 7, extra: []), ranks: 2)
        XCTAssertEqual(result.status, 0, result.stderr)
        try assertSameClassifier(loraSingle, loraRanks, steps: 2 * 39)
    }

    /// The pid of rank `rank` among this test's mpirun jobs (its environment names the rank and
    /// this test's own cache folder), if it is running.
    func pidOfRank(_ rank: Int) -> pid_t? {
        let cache = "SWIFTLET_CACHE=" + workDirectory + "/cache"
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = pid_t(entry), let environ = FileManager.default.contents(atPath: "/proc/\(entry)/environ")
            else { continue }
            let variables = Set(environ.split(separator: 0).map { String(decoding: $0, as: UTF8.self) })
            if variables.contains(cache), variables.contains("OMPI_COMM_WORLD_RANK=\(rank)") { return pid }
        }
        return nil
    }

    /// A rank killed in the middle of a run ends the job: mpirun fails, rank 0 says once what is
    /// kept, and the last checkpoint is intact and loads.
    func testARankThatDiesEndsTheJobWithOneMessage() throws {
        let out = workDirectory + "/killed"
        var arguments = try trainArguments(out, microBatch: 512, steps: 100_000)
        arguments += ["--save-interval", "5"]
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.mpirun!)
        process.arguments =
            ["-np", "2", "--oversubscribe", "-q"] + (getuid() == 0 ? ["--allow-run-as-root"] : []) + [CLITests.binary]
            + arguments
        var environment = ProcessInfo.processInfo.environment
        environment["SWIFTLET_CACHE"] = workDirectory + "/cache"
        process.environment = environment
        let err = Pipe()
        process.standardError = err
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(120)
        while !Checkpoint.isComplete(out), process.isRunning, Date() < deadline { usleep(50_000) }
        XCTAssertTrue(Checkpoint.isComplete(out), "a checkpoint was saved before the kill")
        let victim = try XCTUnwrap(pidOfRank(1), "rank 1 is running")
        kill(victim, SIGKILL)
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        XCTAssertNotEqual(process.terminationStatus, 0, stderr)
        let ours = stderr.split(separator: "\n").filter { $0.hasPrefix("swiftlet:") }
        XCTAssertEqual(ours.count, 1, stderr)
        XCTAssertTrue(ours.first.map { $0.contains("is intact") && !$0.contains("rank 1") } ?? false, stderr)
        let saved = try JSONDecoder().decode(
            TrainerState.self, from: Data(try FileIO.readBytes(out + "/" + CheckpointFiles.trainer)))
        XCTAssertEqual(saved.step % 5, 0)
        XCTAssertNoThrow(try Checkpoint.load(out))
    }

    /// Ranks started with different settings (here the seed) refuse to start, rank 0 saying so once.
    func testRanksThatDisagreeRefuseToStart() throws {
        let out = workDirectory + "/disagree"
        var arguments = try trainArguments(out, microBatch: 512, steps: 2)
        let root = getuid() == 0 ? ["--allow-run-as-root"] : []
        // Open MPI's MPMD form: one rank with --seed 1, the other with --seed 2.
        arguments =
            ["-q", "--oversubscribe"] + root + ["-np", "1", CLITests.binary] + arguments + [
                "--seed", "1", ":", "-np", "1", CLITests.binary,
            ] + arguments + ["--seed", "2"]
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.mpirun!)
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        environment["SWIFTLET_CACHE"] = workDirectory + "/cache"
        process.environment = environment
        let err = Pipe()
        process.standardError = err
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        XCTAssertNotEqual(process.terminationStatus, 0, stderr)
        let errors = stderr.split(separator: "\n").filter { $0.hasPrefix("swiftlet: error") }
        XCTAssertEqual(errors.count, 1, stderr)
        XCTAssertTrue(errors.first?.contains("do not all have the same settings") ?? false, stderr)
        XCTAssertFalse(FileIO.exists(out + "/model.safetensors"), "nothing is trained or saved")
    }
}
