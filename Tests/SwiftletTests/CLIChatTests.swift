import XCTest
import Foundation
import CTestSupport
@testable import Swiftlet

/// `swiftlet chat` through a pipe and through a pseudo-terminal.
extension CLITests {
    /// A tiny checkpoint marked as chat-tuned (its config names the template), so chat mode is the default.
    func chatCheckpoint(context: Int = 64) throws -> String {
        let dir = workDirectory + "/chat-\(context)"
        if FileIO.exists(dir + "/config.json") { return dir }
        let base = try checkpoint()
        let loaded = try Checkpoint.load(base)
        var config = loaded.config
        config.chat = .standard
        config.model.contextLength = context
        try Checkpoint.save(
            dir,
            files: [
                CheckpointFiles.config: try Checkpoint.configBytes(config),
                CheckpointFiles.model: try FileIO.readBytes(base + "/" + CheckpointFiles.model),
                CheckpointFiles.tokenizer: loaded.tokenizer.modelBytes,
            ])
        return dir
    }

    func testChatThroughAPipeRunsEveryCommand() throws {
        let dir = try chatCheckpoint()
        let work = workDirectory
        let script =
            [
                "the king", "my lord", "/show", "/stats", "/undo", "/show", "/regen", "/system Be brief.",
                "/set temperature 0", "/set top_k 5", "/set top_p 0.9", "/set min_p 0.05",
                "/set repetition_penalty 1.1",
                "/set max_tokens 6", "/set seed 3", "/set colour blue", "/save \(work)/talk.json", "/reset", "/show",
                "/load \(work)/talk.json", "/show", "/mode complete", "good night", "/mode chat", "/help", "/bogus",
                "/classify the king", "/labels royal, plain", "/classify the king", "/labels", "/quit", "never read",
            ].joined(separator: "\n") + "\n"
        let result = try run(
            ["chat", "--checkpoint", dir, "--seed", "1", "--max-tokens", "8", "--transcript", work + "/kept.json"],
            input: script)
        XCTAssertEqual(result.status, 0, result.stderr)
        let out = result.stdout
        XCTAssertFalse(out.contains("you>") || out.contains("\u{1B}["), "no prompts or escape codes through a pipe")
        XCTAssertTrue(out.contains("context: ") && out.contains("of 64 tokens used, 4 turns"), out)
        XCTAssertTrue(out.contains("last reply: "), out)
        XCTAssertTrue(out.contains("(last exchange removed)") && out.contains("2 turns"), out)
        XCTAssertTrue(out.contains("(temperature = 0)") && out.contains("(seed = 3)"), out)
        XCTAssertTrue(out.contains("(conversation cleared)") && out.contains("0 turns"), out)
        XCTAssertTrue(out.contains("(loaded 2 turns from"), out)
        XCTAssertTrue(out.contains("system: Be brief."), out)
        XCTAssertTrue(out.contains("(complete mode)") && out.contains("(chat mode)"), out)
        XCTAssertTrue(out.contains("/regen"), "the help lists the commands")
        XCTAssertTrue(result.stderr.contains("/set knows temperature"), result.stderr)
        XCTAssertTrue(result.stderr.contains("unknown command /bogus"), result.stderr)
        XCTAssertTrue(result.stderr.contains("no classification head; set zero-shot labels first"), result.stderr)
        XCTAssertTrue(
            out.contains("(zero-shot labels: royal, plain)") && out.contains("(zero-shot labels removed)"), out)
        XCTAssertNotNil(
            out.range(of: #"(royal|plain) 0\.\d{3}  (royal|plain) 0\.\d{3}"#, options: .regularExpression), out)
        // The transcript was kept and /load restored it.
        let kept = try ChatTranscript.read(work + "/kept.json")
        XCTAssertEqual(kept.turns.count, 4)
        XCTAssertEqual(kept.turns[2].content, "good night")
        XCTAssertEqual(kept.system, "Be brief.")
        XCTAssertEqual(kept.settings.maxTokens, 6)
        let saved = try ChatTranscript.read(work + "/talk.json")
        XCTAssertEqual(saved.turns.map(\.role), [.user, .assistant])
        // Replies are one line each, in order, the same for the same seed.
        let replies = try run(
            ["chat", "--checkpoint", dir, "--seed", "4", "--max-tokens", "5", "--temperature", "0"],
            input: "the king\nmy lord\n")
        let again = try run(
            ["chat", "--checkpoint", dir, "--seed", "4", "--max-tokens", "5", "--temperature", "0"],
            input: "the king\nmy lord\n")
        XCTAssertEqual(replies.stdout, again.stdout)
        XCTAssertEqual(replies.status, 0, replies.stderr)
        XCTAssertTrue(replies.stdout.hasSuffix("\n"))
        // A trailing backslash continues the turn on the next line.
        let continued = try run(
            ["chat", "--checkpoint", dir, "--max-tokens", "3", "--transcript", work + "/continued.json"],
            input: "the king \\\nspeaks\n/show\n")
        XCTAssertTrue(continued.stdout.contains(", 2 turns"), continued.stdout)
        XCTAssertEqual(try ChatTranscript.read(work + "/continued.json").turns.first?.content, "the king \nspeaks")
        try expectFailure(
            ["chat", "--checkpoint", dir, "--mode", "poetry"], mentioning: "--mode must be chat or complete")
        try FileIO.writeAtomically("not json", to: work + "/bad.json")
        try expectFailure(
            ["chat", "--checkpoint", dir, "--transcript", work + "/bad.json"],
            mentioning: "is not a Swiftlet chat transcript")
    }

    func testChatOnATerminalStopsARepliesOnCtrlCAndKeepsTheConversation() throws {
        // Random weights of the small preset's shape with a long context: a reply of up to
        // 2000 tokens takes seconds, so it is still running when Ctrl-C arrives.
        let dir = workDirectory + "/slow-chat"
        if !FileIO.exists(dir + "/config.json") {
            let tokenizer = try Checkpoint.load(try checkpoint()).tokenizer
            var config = ModelPreset.small.config(vocabSize: tokenizer.vocabSize)
            config.contextLength = 2048
            let model = Transformer(config: config)
            model.initialize(seed: 1)
            try Checkpoint.save(
                dir,
                files: [
                    CheckpointFiles.config: try Checkpoint.configBytes(
                        CheckpointConfig(model: config, tokenizer: TokenizerFacts(tokenizer))),
                    CheckpointFiles.model: Checkpoint.weightBytes(model),
                    CheckpointFiles.tokenizer: tokenizer.modelBytes,
                ])
        }
        let terminal = try PseudoTerminal()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.binary)
        // Greedy: these random weights never pick the end-of-sequence token, so the reply runs its
        // 2000 tokens (≈ 5 s here) unless stopped; sampling could end it at any moment.
        process.arguments = [
            "chat", "--checkpoint", dir, "--max-tokens", "2000", "--temperature", "0",
            "--history", workDirectory + "/history",
        ]
        var environment = ProcessInfo.processInfo.environment
        environment["TERM"] = "dumb"
        process.environment = environment
        process.standardInput = terminal.secondary
        process.standardOutput = terminal.secondary
        process.standardError = terminal.secondary
        try process.run()
        XCTAssertTrue(terminal.read(until: "completion mode"), terminal.output)
        XCTAssertTrue(terminal.read(until: "you> "), terminal.output)
        terminal.write("the king speaks\r")
        Thread.sleep(forTimeInterval: 0.5)
        kill(process.processIdentifier, SIGINT)
        XCTAssertTrue(terminal.read(until: "[reply stopped]"), terminal.output)
        XCTAssertTrue(terminal.read(until: "you> "), terminal.output)
        terminal.write("/show\r")
        XCTAssertTrue(
            terminal.read(until: "2 turns"), "the stopped exchange is part of the conversation: \(terminal.output)")
        XCTAssertTrue(terminal.read(until: "you> "), terminal.output)
        // Issue 12: Ctrl-C at the prompt (say, meant for a reply that had just ended) does not
        // leave; it says how to. With text typed, it clears the line.
        kill(process.processIdentifier, SIGINT)
        XCTAssertTrue(terminal.read(until: "to leave, press Ctrl-C again"), terminal.output)
        XCTAssertTrue(terminal.read(until: "you> "), terminal.output)
        terminal.write("my lord")
        Thread.sleep(forTimeInterval: 0.3)
        kill(process.processIdentifier, SIGINT)
        XCTAssertTrue(terminal.read(until: "to leave, press Ctrl-C again"), terminal.output)
        XCTAssertTrue(terminal.read(until: "you> "), terminal.output)
        terminal.write("/show\r")
        XCTAssertTrue(terminal.read(until: "2 turns"), "the cleared line was not sent: \(terminal.output)")
        XCTAssertTrue(terminal.read(until: "you> "), terminal.output)
        XCTAssertTrue(process.isRunning, terminal.output)
        // Two in a row at an empty prompt leave.
        kill(process.processIdentifier, SIGINT)
        XCTAssertTrue(terminal.read(until: "you> "), terminal.output)
        kill(process.processIdentifier, SIGINT)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, terminal.output)
        XCTAssertTrue(try FileIO.readUTF8(workDirectory + "/history").contains("/show"), "history is kept")
    }
}

/// A pseudo-terminal pair: the child gets the secondary side, the test talks through the primary.
final class PseudoTerminal {
    let primary: Int32
    let secondary: FileHandle
    private(set) var output = ""

    init() throws {
        var fd: Int32 = -1
        primary = swl_test_open_pseudo_terminal(&fd)
        guard primary >= 0 else { throw SwiftletError("no pseudo-terminal available") }
        secondary = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
    }

    deinit { close(primary) }

    func write(_ text: String) {
        _ = text.withCString { Glibc.write(primary, $0, strlen($0)) }
    }

    /// Reads until `marker` appears in what was read since the last match (10 s at most).
    func read(until marker: String) -> Bool {
        let deadline = Date().addingTimeInterval(10)
        var buffer = [UInt8](repeating: 0, count: 4096)
        while Date() < deadline {
            if let range = output.range(of: marker) {
                output.removeSubrange(..<range.upperBound)
                return true
            }
            let n = Glibc.read(primary, &buffer, buffer.count)
            if n > 0 {
                output += String(decoding: buffer[..<n], as: UTF8.self)
            } else {
                Thread.sleep(forTimeInterval: 0.01)
            }
        }
        return false
    }
}
