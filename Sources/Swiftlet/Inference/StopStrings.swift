/// Holds back streamed text that might be the beginning of a stop string until it is decided,
/// and cuts the text where a stop string appears (the stop string itself is never emitted).
/// Works on UTF-8 bytes of complete characters (what `TextStreamer` hands out), so it never
/// splits a character: a stop string starts with a lead byte.
public struct StopStrings {
    let stops: [[UInt8]]
    var held: [UInt8] = []

    public init(_ stops: [String]) {
        self.stops = stops.map { Array($0.utf8) }.filter { !$0.isEmpty }
    }

    /// Adds text; returns what may be shown now and whether a stop string was completed
    /// (then everything from it on is dropped).
    public mutating func push(_ text: String) -> (text: String, stopped: Bool) {
        guard !stops.isEmpty else { return (text, false) }
        held += text.utf8
        if let cut = earliestMatch() {
            defer { held.removeAll() }
            return (String(decoding: held[..<cut], as: UTF8.self), true)
        }
        let keep = longestPartialMatch()
        let shown = String(decoding: held[..<(held.count - keep)], as: UTF8.self)
        held.removeFirst(held.count - keep)
        return (shown, false)
    }

    /// Whatever was held back (the reply ended without completing a stop string).
    public mutating func flush() -> String {
        defer { held.removeAll() }
        return String(decoding: held, as: UTF8.self)
    }

    /// Byte index of the first occurrence of any stop string in `held`.
    func earliestMatch() -> Int? {
        var best: Int?
        for stop in stops where stop.count <= held.count {
            for start in 0...(held.count - stop.count) where best == nil || start < best! {
                if held[start..<(start + stop.count)].elementsEqual(stop) {
                    best = start
                    break
                }
            }
        }
        return best
    }

    /// Length of the longest end of `held` that is the beginning of a stop string.
    func longestPartialMatch() -> Int {
        var longest = 0
        for stop in stops {
            for length in stride(from: min(stop.count - 1, held.count), to: longest, by: -1)
            where held[(held.count - length)...].elementsEqual(stop[..<length]) {
                longest = length
                break
            }
        }
        return longest
    }
}
