import CLineEditor
import Swiftlet
#if canImport(Glibc)
import Glibc
#endif

/// Where the chat REPL's lines come from: libedit on a terminal (editing, persistent history),
/// plain lines from a pipe (no prompts, no escape codes).
final class LineInput {
    enum Event {
        case line(String)
        /// Ctrl-C at the prompt; `empty` when nothing had been typed.
        case interrupted(empty: Bool)
        case endOfInput
    }

    private(set) var isTerminal: Bool
    private var editor: OpaquePointer?
    private var pending: [UInt8] = []
    private var inputEnded = false

    init(historyPath: String?) {
        isTerminal = isatty(0) != 0 && isatty(1) != 0
        if isTerminal {
            editor = swl_line_editor_open("swiftlet", historyPath, 1000)
            // Without an editor (libedit could not start) the terminal is read like a pipe.
            if editor == nil { isTerminal = false }
        }
    }

    deinit { swl_line_editor_close(editor) }

    /// One logical line: a trailing backslash continues it on the next line.
    func read(prompt: String, continuation: String) -> Event {
        var parts: [String] = []
        while true {
            switch readPhysical(prompt: parts.isEmpty ? prompt : continuation) {
            case .line(let text):
                if text.hasSuffix("\\") {
                    parts.append(String(text.dropLast()))
                    continue
                }
                parts.append(text)
                let whole = parts.joined(separator: "\n")
                if isTerminal, !whole.isEmpty { swl_line_editor_remember(editor, whole) }
                return .line(whole)
            case .interrupted(let empty):
                return .interrupted(empty: empty && parts.isEmpty)
            case .endOfInput:
                return parts.isEmpty ? .endOfInput : .line(parts.joined(separator: "\n"))
            }
        }
    }

    private func readPhysical(prompt: String) -> Event {
        if isTerminal {
            var interrupted: Int32 = 0
            guard let raw = swl_line_editor_read(editor, prompt, &interrupted) else {
                if interrupted != 0 {
                    let empty = swl_line_editor_line_is_empty(editor) != 0
                    swl_line_editor_clear_line(editor)
                    fputs("\n", stdout)
                    return .interrupted(empty: empty)
                }
                return .endOfInput
            }
            var text = String(cString: raw)
            if text.hasSuffix("\n") { text.removeLast() }
            return .line(text)
        }
        // A pipe: bytes up to the next newline.
        while true {
            if let newline = pending.firstIndex(of: 10) {
                let line = String(decoding: pending[..<newline], as: UTF8.self)
                pending.removeSubrange(...newline)
                return .line(line.hasSuffix("\r") ? String(line.dropLast()) : line)
            }
            if inputEnded {
                if pending.isEmpty { return .endOfInput }
                defer { pending.removeAll() }
                return .line(String(decoding: pending, as: UTF8.self))
            }
            var buffer = [UInt8](repeating: 0, count: 4096)
            let n = Glibc.read(0, &buffer, buffer.count)
            if n > 0 {
                pending += buffer[..<n]
            } else if n < 0, errno == EINTR {
                return .interrupted(empty: pending.isEmpty)
            } else {
                inputEnded = true
            }
        }
    }
}
