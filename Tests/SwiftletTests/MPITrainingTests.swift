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

    static let mpirun: String? = ["/usr/bin/mpirun", "/usr/local/bin/mpirun"].first { FileManager.default.isExecutableFile(atPath: $0) }
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
            launch = ["-np", String(ranks), "--oversubscribe", "-q"] + (getuid() == 0 ? ["--allow-run-as-root"] : []) + [executable]
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
        let result = try run(["SwiftletTests.CommunicatorTests/testRanksSumBroadcastAndAgree"], ranks: 2, executable: testBinary)
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stderr.contains("testRanksSumBroadcastAndAgree' passed"), result.stderr)
        XCTAssertFalse(result.stderr.contains("skipped"), result.stderr)
    }

    func trainArguments(_ out: String, microBatch: Int, steps: Int = 20) throws -> [String] {
        let corpus = workDirectory + "/corpus.txt"
        if !FileIO.exists(corpus) { try FileIO.writeAtomically(TestData.text(lines: 800, seed: 3), to: corpus) }
        return ["train", "--data", corpus, "--preset", "tiny", "--vocab-size", "320", "--context", "64",
                "--steps", String(steps), "--batch-tokens", "512", "--micro-batch-tokens", String(microBatch),
                "--eval-interval", "10", "--dropout", "0.1", "--precision", "fp32", "--threads", "1", "--out", out]
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
            XCTAssertLessThanOrEqual(abs(loss - other) / abs(loss), 1e-5, "step \(step): \(loss) against \(other)", file: file, line: line)
        }
        let (modelA, modelB) = (try Checkpoint.load(a).model, try Checkpoint.load(b).model)
        XCTAssertEqual(modelA.parameters.count, modelB.parameters.count, file: file, line: line)
        var largest: Float = 0
        for i in 0..<modelA.parameters.count { largest = max(largest, abs(modelA.parameters.pointer[i] - modelB.parameters.pointer[i])) }
        XCTAssertLessThanOrEqual(largest, 1e-5, "largest weight difference", file: file, line: line)
    }

    /// Rank 0's metrics give every step's time in collectives, and within it the gradient
    /// all-reduce and the wait for the slower rank before it.
    func assertCollectivesSplit(_ directory: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let text = try FileIO.readUTF8(directory + "/metrics.jsonl")
        let records = try text.split(separator: "\n").map { try JSONDecoder().decode(MetricRecord.self, from: Data($0.utf8)) }
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
        let saved = try JSONDecoder().decode(TrainerState.self, from: Data(try FileIO.readBytes(resumed + "/" + CheckpointFiles.trainer)))
        XCTAssertEqual(saved.step, 9)
        XCTAssertEqual(saved.ranks, 2)
        result = try run(trainArguments(resumed, microBatch: 512) + ["--resume"], ranks: 2)
        XCTAssertEqual(result.status, 0, result.stderr)
        try assertSameRun(ranks, resumed)
    }

    /// Ranks started with different settings (here the seed) refuse to start, rank 0 saying so once.
    func testRanksThatDisagreeRefuseToStart() throws {
        let out = workDirectory + "/disagree"
        var arguments = try trainArguments(out, microBatch: 512, steps: 2)
        let root = getuid() == 0 ? ["--allow-run-as-root"] : []
        // Open MPI's MPMD form: one rank with --seed 1, the other with --seed 2.
        arguments = ["-q", "--oversubscribe"] + root + ["-np", "1", CLITests.binary] + arguments + ["--seed", "1", ":", "-np", "1", CLITests.binary] + arguments + ["--seed", "2"]
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
