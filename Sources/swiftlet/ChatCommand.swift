import ArgumentParser
import CLineEditor
import Swiftlet
#if canImport(Glibc)
import Glibc
#endif

struct ChatCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat",
        abstract: "Talk with a model: a REPL for chat-tuned checkpoints, or text completion for the others.",
        discussion: """
            Type a message and press Enter; end a line with a backslash to continue it. Ctrl-C stops a \
            reply; Ctrl-C at an empty prompt, Ctrl-D or /quit leaves. /help lists the commands. When \
            standard input is not a terminal, every line is one turn (or command) and each reply is \
            written followed by a newline, with no prompts.
            """)
    @OptionGroup var threading: ThreadOptions

    @Option(name: .long, help: "Checkpoint directory.")
    var checkpoint: String
    @OptionGroup var sampling: SamplingOptions
    @Option(name: .long, help: "A system prompt (chat mode).")
    var system: String?
    @Option(name: .long, help: "Start in this mode: chat or complete (default: chat for chat-tuned checkpoints).")
    var mode: String?
    @Option(
        name: .long,
        help:
            "Keep the conversation in this JSON file: loaded at start if it exists, saved after every reply and on leaving."
    )
    var transcript: String?
    @Option(name: .long, help: "Line history file (default ~/.swiftlet_history; terminal only).")
    var history: String?

    func validate() throws {
        if let mode, ChatSession.Mode(rawValue: mode) == nil {
            throw ValidationError("--mode must be chat or complete.")
        }
    }

    func run() throws {
        try runReportingErrors {
            let loaded = try Checkpoint.load(checkpoint)
            let session = ChatSession(
                model: loaded.model, tokenizer: loaded.tokenizer, chatTemplate: loaded.config.chat,
                settings: ChatSettings(sampling: sampling.settings, maxTokens: sampling.maxTokens, stop: sampling.stop),
                weights: try WeightsChoice.prepare(sampling.weights, loaded))
            session.system = system
            if let mode { try session.setMode(ChatSession.Mode(rawValue: mode)!) }
            if let transcript, FileIO.exists(transcript) {
                try session.restore(try ChatTranscript.read(transcript))
            }
            let home = getenv("HOME").map { String(cString: $0) } ?? "/tmp"
            let input = LineInput(historyPath: history ?? home + "/.swiftlet_history")
            swl_install_interrupting_handler { _ in Interrupt.requested = 1 }
            let repl = ChatREPL(session: session, input: input, transcriptPath: transcript, checkpoint: loaded)
            try repl.run()
        }
    }
}
