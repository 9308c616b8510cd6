/// Turns a token stream into text pieces that never split a multi-byte UTF-8 character:
/// bytes of an unfinished character wait for the token that completes them.
public struct TextStreamer {
    let tokenizer: Tokenizer
    var pending: [UInt8] = []

    public init(tokenizer: Tokenizer) { self.tokenizer = tokenizer }

    public mutating func push(_ id: Int32) -> String {
        guard id >= 0, Int(id) < tokenizer.vocabSize else { return "" }
        pending += tokenizer.pieceBytes[Int(id)]
        let complete = completePrefixLength(pending)
        guard complete > 0 else { return "" }
        let text = String(decoding: pending[..<complete], as: UTF8.self)
        pending.removeFirst(complete)
        return text
    }

    /// Whatever is left (an unfinished character becomes U+FFFD).
    public mutating func flush() -> String {
        defer { pending.removeAll() }
        return pending.isEmpty ? "" : String(decoding: pending, as: UTF8.self)
    }

    /// Length of the longest prefix that does not end inside a character.
    func completePrefixLength(_ bytes: [UInt8]) -> Int {
        var i = bytes.count - 1
        var back = 0
        while i >= 0, back < 4, bytes[i] & 0xC0 == 0x80 {
            i -= 1
            back += 1
        }
        guard i >= 0 else { return bytes.count }
        let lead = bytes[i]
        let need = lead < 0x80 ? 1 : lead >> 5 == 0b110 ? 2 : lead >> 4 == 0b1110 ? 3 : lead >> 3 == 0b11110 ? 4 : 1
        return bytes.count - i >= need ? bytes.count : i
    }
}
