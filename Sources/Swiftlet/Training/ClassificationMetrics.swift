/// Counts of (actual, predicted) class pairs and the scores read off them.
///
/// Class c's precision is the share of examples predicted c that are c, its recall the share of
/// examples that are c that were predicted c, and F1 their harmonic mean. Each is 0 when it is
/// undefined: precision when nothing was predicted c, recall when no example is c, F1 when
/// precision and recall are both 0. Macro-F1 is the plain mean of F1 over all `labels`
/// (classes without examples included, at their 0), and 0 with no labels.
public struct ConfusionMatrix: Sendable, Equatable {
    public let labels: [String]
    /// counts[actual][predicted]
    public var counts: [[Int]]

    public init(labels: [String]) {
        self.labels = labels
        counts = Array(repeating: Array(repeating: 0, count: labels.count), count: labels.count)
    }

    /// Counts one example. A class index outside `labels` is a programmer's mistake and traps.
    public mutating func add(actual: Int, predicted: Int) {
        guard labels.indices.contains(actual), labels.indices.contains(predicted) else {
            fatalError("ConfusionMatrix.add: class \(actual) or \(predicted) is outside 0..<\(labels.count).")
        }
        counts[actual][predicted] += 1
    }

    public var total: Int { counts.reduce(0) { $0 + $1.reduce(0, +) } }
    public var correct: Int { labels.indices.reduce(0) { $0 + counts[$1][$1] } }
    /// Correct predictions over all of them; 0 when the matrix is empty.
    public var accuracy: Double { total == 0 ? 0 : Double(correct) / Double(total) }

    /// How many examples are of class c (the row sum).
    public func support(_ c: Int) -> Int { counts[c].reduce(0, +) }
    /// How many examples were predicted as class c (the column sum).
    public func predictedCount(_ c: Int) -> Int { counts.reduce(0) { $0 + $1[c] } }

    public func precision(_ c: Int) -> Double {
        let predicted = predictedCount(c)
        return predicted == 0 ? 0 : Double(counts[c][c]) / Double(predicted)
    }

    public func recall(_ c: Int) -> Double {
        let actual = support(c)
        return actual == 0 ? 0 : Double(counts[c][c]) / Double(actual)
    }

    public func f1(_ c: Int) -> Double {
        let p = precision(c), r = recall(c)
        return p + r == 0 ? 0 : 2 * p * r / (p + r)
    }

    public var macroF1: Double {
        labels.isEmpty ? 0 : labels.indices.reduce(0) { $0 + f1($1) } / Double(labels.count)
    }

    /// A readable fixed-width table: per-class precision/recall/F1/support, accuracy, macro-F1,
    /// then the confusion matrix with row = actual, column = predicted. Labels longer than 16
    /// characters are cut to 15 and an ellipsis.
    public func report() -> String {
        let names = labels.map { Self.truncated($0, 16) }
        let nameWidth = max(5, names.map(\.count).max() ?? 0)
        var lines: [String] = []
        lines.append(
            Self.leftAligned("class", nameWidth) + Self.rightAligned("precision", 11) + Self.rightAligned("recall", 9)
                + Self.rightAligned("f1", 9) + Self.rightAligned("support", 9))
        for c in labels.indices {
            lines.append(
                Self.leftAligned(names[c], nameWidth) + Self.rightAligned(Format.fixed(precision(c), 3), 11)
                    + Self.rightAligned(Format.fixed(recall(c), 3), 9)
                    + Self.rightAligned(Format.fixed(f1(c), 3), 9) + Self.rightAligned(String(support(c)), 9))
        }
        lines.append("")
        lines.append("accuracy  " + Format.fixed(accuracy, 3) + "  (\(correct) of \(total))")
        lines.append("macro-F1  " + Format.fixed(macroF1, 3))
        lines.append("")
        lines.append("confusion matrix (row = actual, column = predicted)")
        let cellWidth = max(names.map(\.count).max() ?? 0, String(counts.joined().max() ?? 0).count) + 2
        lines.append(Self.leftAligned("", nameWidth) + names.map { Self.rightAligned($0, cellWidth) }.joined())
        for c in labels.indices {
            lines.append(
                Self.leftAligned(names[c], nameWidth)
                    + counts[c].map { Self.rightAligned(String($0), cellWidth) }.joined())
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// A self-contained SVG heat map of the counts: rows are the actual classes, columns the
    /// predicted ones, each cell shaded by its count over the largest count.
    public func svg(title: String) -> String {
        let n = labels.count
        let names = labels.map { Self.truncated($0, 14) }
        let cell = n <= 6 ? 60.0 : max(24.0, 360.0 / Double(n))
        let labelWidth = Double(names.map(\.count).max() ?? 0) * 7.5 + 14
        let left = 36 + labelWidth, top = 76.0
        let width = left + Double(n) * cell + 20, height = top + Double(n) * cell + 20
        let largest = max(1, counts.joined().max() ?? 0)
        let fontSize = cell >= 40 ? 13 : 10
        var s =
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" font-family=\"sans-serif\" font-size=\"12\">\n"
        s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        s += "<text x=\"10\" y=\"22\" font-size=\"15\">\(Self.xmlEscaped(title))</text>\n"
        s += "<text x=\"\(Int(left + Double(n) * cell / 2))\" y=\"42\" text-anchor=\"middle\">predicted</text>\n"
        s +=
            "<text x=\"16\" y=\"\(Int(top + Double(n) * cell / 2))\" transform=\"rotate(-90 16 \(Int(top + Double(n) * cell / 2)))\" text-anchor=\"middle\">actual</text>\n"
        for c in 0..<n {
            let name = Self.xmlEscaped(names[c])
            s +=
                "<text x=\"\(Int(left + (Double(c) + 0.5) * cell))\" y=\"\(Int(top) - 8)\" text-anchor=\"middle\">\(name)</text>\n"
            s +=
                "<text x=\"\(Int(left) - 6)\" y=\"\(Int(top + (Double(c) + 0.5) * cell) + 4)\" text-anchor=\"end\">\(name)</text>\n"
        }
        for a in 0..<n {
            for p in 0..<n {
                let share = Double(counts[a][p]) / Double(largest)
                // White to a blue (#2a5db0) in proportion to the count.
                let r = Int(255 - share * (255 - 42)), g = Int(255 - share * (255 - 93)),
                    b = Int(255 - share * (255 - 176))
                let x = left + Double(p) * cell, y = top + Double(a) * cell
                s +=
                    "<rect x=\"\(Int(x))\" y=\"\(Int(y))\" width=\"\(Int(cell))\" height=\"\(Int(cell))\" fill=\"rgb(\(r),\(g),\(b))\" stroke=\"#999\"/>\n"
                s +=
                    "<text x=\"\(Int(x + cell / 2))\" y=\"\(Int(y + cell / 2) + 4)\" text-anchor=\"middle\" font-size=\"\(fontSize)\" fill=\"\(share > 0.5 ? "white" : "black")\">\(counts[a][p])</text>\n"
            }
        }
        s += "</svg>\n"
        return s
    }

    static func truncated(_ label: String, _ limit: Int) -> String {
        label.count <= limit ? label : String(label.prefix(limit - 1)) + "…"
    }

    static func leftAligned(_ s: String, _ width: Int) -> String {
        s + String(repeating: " ", count: max(0, width - s.count))
    }

    /// Right-aligned in `width` columns, at least one space before it.
    static func rightAligned(_ s: String, _ width: Int) -> String {
        String(repeating: " ", count: max(1, width - s.count)) + s
    }

    static func xmlEscaped(_ s: String) -> String {
        var out = ""
        for ch in s {
            switch ch {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            default: out.append(ch)
            }
        }
        return out
    }
}
