import Swiftlet
#if canImport(Glibc)
import Glibc
#endif

/// The chat loop: read a line, run a command or send a turn, stream the reply.
final class ChatREPL {
    let session: ChatSession
    let input: LineInput
    let transcriptPath: String?
    let checkpoint: Checkpoint
    private var toldAboutDropping = false
    /// Labels for zero-shot `/classify` (set by `/labels`).
    private var zeroShotLabels: [String]?
    /// /classify's forward pass (one context of rows), built on first use and kept.
    private lazy var extractor = FeatureExtractor(model: checkpoint.model, tokenizer: checkpoint.tokenizer, maxRows: 0)

    init(session: ChatSession, input: LineInput, transcriptPath: String?, checkpoint: Checkpoint) {
        self.session = session
        self.input = input
        self.transcriptPath = transcriptPath
        self.checkpoint = checkpoint
    }

    func run() throws {
        if input.isTerminal {
            let how =
                session.mode == .chat
                ? "chat mode" + (session.tunedForChat ? "" : "; this checkpoint was never tuned for chat")
                : "completion mode: replies continue your text"
                    + (session.tunedForChat ? "" : "; this checkpoint was never tuned for chat")
            Console.info("swiftlet chat — \(checkpoint.directory) (\(how)). /help lists the commands; Ctrl-D leaves.")
        }
        defer { saveTranscript() }
        // As in Node's and Python's REPLs, Ctrl-C at the prompt never loses the conversation: the
        // first clears the line and says how to leave; a second in a row at an empty prompt leaves.
        var interruptedAtEmptyPrompt = false
        while true {
            Interrupt.requested = 0
            let event = input.read(
                prompt: input.isTerminal ? "you> " : "", continuation: input.isTerminal ? "...> " : "")
            if case .interrupted(let empty) = event {
                if empty, interruptedAtEmptyPrompt { return }
                interruptedAtEmptyPrompt = empty
                Console.info("(to leave, press Ctrl-C again at an empty prompt, Ctrl-D, or type /quit)")
                continue
            }
            interruptedAtEmptyPrompt = false
            switch event {
            case .endOfInput, .interrupted:
                return
            case .line(let line):
                if line.hasPrefix("/") {
                    if try !command(line) { return }
                } else if line.contains(where: { !$0.isWhitespace }) {
                    reply { try self.session.send(line, onText: $0, shouldStop: $1) }
                }
            }
        }
    }

    /// Streams one reply; errors are reported and the loop goes on.
    private func reply(_ produce: (@escaping (String) -> Void, () -> Bool) throws -> ChatSession.Reply) {
        Interrupt.requested = 0
        do {
            if input.isTerminal, session.mode == .chat { Console.write("model> ") }
            let terminal = input.isTerminal
            let reply = try produce({ Console.write(terminal ? Self.printable($0) : $0) }, { Interrupt.isRequested })
            Console.write("\n")
            if reply.result.stopReason == .cancelled, input.isTerminal { Console.info("[reply stopped]") }
            if reply.droppedTurns > 0, !toldAboutDropping {
                Console.info(
                    "(the conversation filled the context of \(session.contextLength) tokens: the oldest turns are dropped from now on; the system prompt stays)"
                )
                toldAboutDropping = true
            }
            saveTranscript()
        } catch let error as SwiftletError {
            Console.write("\n")
            Console.info("swiftlet: \(error.message)")
        } catch {
            Console.info("swiftlet: \(error)")
        }
    }

    /// Control characters a model may produce (other than newline and tab) would drive the
    /// terminal; they are shown as U+FFFD.
    static func printable(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: { $0.value < 0x20 && $0 != "\n" && $0 != "\t" || $0.value == 0x7F })
        else { return text }
        return String(
            String.UnicodeScalarView(
                text.unicodeScalars.map {
                    ($0.value < 0x20 && $0 != "\n" && $0 != "\t") || $0.value == 0x7F ? "\u{FFFD}" : $0
                }))
    }

    private func saveTranscript() {
        guard let transcriptPath else { return }
        do {
            try session.transcript.write(to: transcriptPath)
        } catch {
            Console.info(
                "swiftlet: could not save the transcript to \(transcriptPath): \((error as? SwiftletError)?.message ?? "\(error)")"
            )
        }
    }

    /// Runs a slash command; false means leave.
    private func command(_ line: String) throws -> Bool {
        let parts = line.dropFirst().split(separator: " ", maxSplits: 1).map(String.init)
        let name = parts.first ?? "", argument = parts.count > 1 ? parts[1].trimmingWhitespace : ""
        do {
            switch name {
            case "quit", "exit":
                return false
            case "help":
                print(Self.help)
            case "reset":
                session.reset()
                print("(conversation cleared)")
            case "system":
                session.system = argument.isEmpty ? nil : argument
                print(argument.isEmpty ? "(system prompt removed)" : "(system prompt set)")
            case "set":
                try set(argument)
            case "show":
                show()
            case "regen":
                reply { try self.session.regenerate(onText: $0, shouldStop: $1) }
            case "undo":
                try session.undo()
                print("(last exchange removed)")
            case "save":
                guard !argument.isEmpty else { throw SwiftletError("/save needs a file name.") }
                try session.transcript.write(to: argument)
                print("(saved \(session.turns.count) turns to \(argument))")
            case "load":
                guard !argument.isEmpty else { throw SwiftletError("/load needs a file name.") }
                try session.restore(try ChatTranscript.read(argument))
                print("(loaded \(session.turns.count) turns from \(argument))")
            case "stats":
                guard let last = session.lastReply else { throw SwiftletError("there is no reply yet.") }
                print(
                    "last reply: \(last.tokens.count) tokens, first token after \(Format.fixed(last.timeToFirstToken * 1000, 1)) ms, \(Format.fixed(last.tokensPerSecond, 1)) tokens/s (stopped: \(last.stopReason.rawValue)); prompt \(last.promptTokens) tokens"
                )
            case "labels":
                let labels = argument.split(separator: ",").map { String($0).trimmingWhitespace }.filter { !$0.isEmpty }
                zeroShotLabels = labels.isEmpty ? nil : try ZeroShot(labels: labels).labels
                print(
                    labels.isEmpty
                        ? "(zero-shot labels removed)" : "(zero-shot labels: \(labels.joined(separator: ", ")))")
            case "classify":
                guard !argument.isEmpty else { throw SwiftletError("/classify needs a text.") }
                let zeroShot = try zeroShotLabels.map { try ZeroShot(labels: $0) }
                if zeroShot == nil, checkpoint.classifier == nil {
                    throw SwiftletError(
                        "this checkpoint has no classification head; set zero-shot labels first with /labels a,b,c.")
                }
                let (labels, probabilities) = try ClassifyCommand.probabilities(
                    [argument], checkpoint: checkpoint, zeroShot: zeroShot,
                    extractor: extractor)
                let ranked = zip(labels, probabilities[0]).sorted { $0.1 > $1.1 }
                print(ranked.map { "\($0.0) \(Format.fixed(Double($0.1), 3))" }.joined(separator: "  "))
            case "mode":
                guard let mode = ChatSession.Mode(rawValue: argument) else {
                    throw SwiftletError("/mode takes chat or complete.")
                }
                try session.setMode(mode)
                print(
                    "(\(mode.rawValue) mode\(mode == .chat && !session.tunedForChat ? "; this checkpoint was never tuned for chat" : ""))"
                )
            default:
                throw SwiftletError("unknown command /\(name); /help lists them.")
            }
        } catch let error as SwiftletError {
            Console.info("swiftlet: \(error.message)")
        }
        Console.flush()
        return true
    }

    private func set(_ argument: String) throws {
        let words = argument.split(separator: " ").map(String.init)
        guard words.count == 2 else { throw SwiftletError("/set takes a name and a value, e.g. /set temperature 0.7.") }
        var settings = session.settings
        func number<T: LosslessStringConvertible>(_: T.Type) throws -> T {
            guard let value = T(words[1]) else {
                throw SwiftletError("\(words[1]) is not a valid value for \(words[0]).")
            }
            return value
        }
        switch words[0] {
        case "temperature": settings.sampling.temperature = try number(Float.self)
        case "top_k": settings.sampling.topK = try number(Int.self)
        case "top_p": settings.sampling.topP = try number(Float.self)
        case "min_p": settings.sampling.minP = try number(Float.self)
        case "repetition_penalty": settings.sampling.repetitionPenalty = try number(Float.self)
        case "seed": settings.sampling.seed = try number(UInt64.self)
        case "max_tokens":
            settings.maxTokens = try number(Int.self)
            guard settings.maxTokens > 0 else { throw SwiftletError("max_tokens must be positive.") }
        default:
            throw SwiftletError("/set knows temperature, top_k, top_p, min_p, repetition_penalty, max_tokens and seed.")
        }
        try settings.sampling.validate()
        session.settings = settings
        print("(\(words[0]) = \(words[1]))")
    }

    private func show() {
        let s = session.settings.sampling
        print("mode: \(session.mode.rawValue)\(session.tunedForChat ? "" : " (checkpoint not tuned for chat)")")
        print(
            "temperature \(s.temperature), top_k \(s.topK), top_p \(s.topP), min_p \(s.minP), repetition_penalty \(s.repetitionPenalty), max_tokens \(session.settings.maxTokens), seed \(s.seed)"
        )
        print("system: \(session.system ?? "(none)")")
        print("context: \(session.contextUsed) of \(session.contextLength) tokens used, \(session.turns.count) turns")
    }

    static let help = """
        /help                 this list
        /quit                 leave (also Ctrl-D, or Ctrl-C twice at an empty prompt)
        /reset                forget the conversation (the system prompt stays)
        /system TEXT          set the system prompt (no text removes it)
        /set NAME VALUE       temperature, top_k, top_p, min_p, repetition_penalty, max_tokens, seed
        /show                 the settings and how much of the context is used
        /regen                replace the last reply with a new one
        /undo                 remove the last exchange
        /save FILE, /load FILE   the conversation as JSON
        /stats                time to first token and tokens/s of the last reply
        /mode chat|complete   chat turns, or plain continuation of your text
        /classify TEXT        label probabilities (the checkpoint's classifier, or zero-shot)
        /labels a,b,c         zero-shot labels for /classify (none: back to the classifier)
        Ctrl-C stops a reply; a line ending in \\ continues on the next line.
        """
}
