#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// One text and the class it belongs to, as written in the file (`"-1"`, `"positive"`, …).
public struct LabeledExample: Sendable, Equatable {
    public let text: String
    public let label: String
    public init(text: String, label: String) {
        self.text = text
        self.label = label
    }
}

/// Reading labelled text for classification. Every problem with the file is one sentence that
/// names the file and, where there is one, the line.
public enum LabeledDataReader {
    /// Reads TSV (`.tsv`), CSV (`.csv`) or JSONL (`.jsonl`), chosen by the extension (any case).
    ///
    /// - CSV follows RFC 4180: fields separated by commas, records by LF or CRLF; a field in
    ///   double quotes may hold commas, newlines and `""` (one quote). A UTF-8 byte-order mark
    ///   is skipped.
    /// - TSV has no quoting: fields are separated by tabs and records by LF (or CRLF); a `"` is
    ///   an ordinary character.
    /// - The first record of a CSV or TSV is the header. Blank lines are skipped.
    /// - JSONL is one object per non-blank line; the label may be a string, a number (written as
    ///   its text: `-1` → "-1", `1` → "1", `0.5` → "0.5") or a boolean ("true"/"false").
    ///
    /// The columns (or JSON keys) are `textColumn ?? "text"` and `labelColumn ?? "label"`,
    /// matched without regard to case. Labels are trimmed of surrounding whitespace; texts are
    /// kept as they are, but a text that is empty or only whitespace is an error, as is an empty
    /// label.
    public static func read(
        path: String, textColumn: String? = nil, labelColumn: String? = nil
    ) throws -> [LabeledExample] {
        let textName = textColumn ?? "text", labelName = labelColumn ?? "label"
        guard FileIO.exists(path) else { throw SwiftletError("\(path) does not exist.") }
        let ext =
            path.split(separator: "/").last.flatMap { name in
                name.contains(".") ? name.split(separator: ".").last.map { $0.lowercased() } : nil
            } ?? ""
        guard ["csv", "tsv", "jsonl"].contains(ext) else {
            throw SwiftletError("\(path) is not a .csv, .tsv or .jsonl file, so its format is unknown.")
        }
        var contents = try FileIO.readUTF8(path)
        if contents.unicodeScalars.first == "\u{FEFF}" { contents.unicodeScalars.removeFirst() }
        let examples: [LabeledExample]
        if ext == "jsonl" {
            examples = try jsonLines(contents, path: path, textName: textName, labelName: labelName)
        } else {
            let records = ext == "csv" ? try csvRecords(contents, path: path) : tsvRecords(contents)
            examples = try table(records, path: path, textName: textName, labelName: labelName)
        }
        guard !examples.isEmpty else {
            throw SwiftletError(ext == "jsonl" ? "\(path) has no examples in it." : "\(path) has a header but no rows.")
        }
        return examples
    }

    /// The fixed held-out split: example i goes to `test` when i mod `testEvery` is
    /// `testRemainder`, otherwise to `train`; order is kept. With `testEvery` < 1 everything is
    /// training data.
    public static func split(
        _ examples: [LabeledExample], testEvery: Int = 5, testRemainder: Int = 4
    ) -> (train: [LabeledExample], test: [LabeledExample]) {
        var train: [LabeledExample] = [], test: [LabeledExample] = []
        for (i, example) in examples.enumerated() {
            if testEvery >= 1 && i % testEvery == testRemainder { test.append(example) } else { train.append(example) }
        }
        return (train, test)
    }

    /// A record's fields and the line (1-based) it starts on.
    struct Record {
        var fields: [String]
        var line: Int
    }

    /// Turns header + records into examples, checking every row.
    static func table(_ records: [Record], path: String, textName: String, labelName: String) throws -> [LabeledExample]
    {
        guard let header = records.first else { throw SwiftletError("\(path) is empty: it has no header and no rows.") }
        let names = header.fields.map { trimmed($0) }
        func column(_ wanted: String) throws -> Int {
            let matches = names.indices.filter { names[$0].lowercased() == wanted.lowercased() }
            guard let index = matches.first else {
                let listed = names.map { "\"\($0)\"" }.joined(separator: ", ")
                throw SwiftletError("\(path) has no \"\(wanted)\" column; its header has \(listed).")
            }
            guard matches.count == 1 else { throw ambiguous(path, wanted, matches.map { names[$0] }) }
            return index
        }
        let textIndex = try column(textName), labelIndex = try column(labelName)
        var examples: [LabeledExample] = []
        examples.reserveCapacity(records.count - 1)
        for record in records.dropFirst() {
            guard record.fields.count == names.count else {
                throw SwiftletError(
                    "\(path) line \(record.line) has \(record.fields.count) fields but the header has \(names.count).")
            }
            examples.append(
                try example(
                    text: record.fields[textIndex], label: record.fields[labelIndex], path: path, line: record.line))
        }
        return examples
    }

    /// Names are matched without regard to case, so two that differ only in case are ambiguous.
    static func ambiguous(_ path: String, _ wanted: String, _ found: [String], line: Int? = nil) -> SwiftletError {
        let listed = found.map { "\"\($0)\"" }.joined(separator: " and ")
        let place = line.map { "\(path) line \($0)" } ?? path
        return SwiftletError(
            "\(place) has both \(listed), which both match \"\(wanted)\" (names are matched without regard to case); rename one."
        )
    }

    static func example(text: String, label rawLabel: String, path: String, line: Int) throws -> LabeledExample {
        guard text.contains(where: { !$0.isWhitespace }) else {
            throw SwiftletError("\(path) line \(line) has an empty text.")
        }
        let label = trimmed(rawLabel)
        guard !label.isEmpty else { throw SwiftletError("\(path) line \(line) has an empty label.") }
        return LabeledExample(text: text, label: label)
    }

    static func trimmed(_ s: String) -> String {
        String(s.drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed())
    }

    /// RFC 4180 records, walked one Unicode scalar at a time (a Character would fuse "\r\n").
    static func csvRecords(_ contents: String, path: String) throws -> [Record] {
        var records: [Record] = []
        var fields: [String] = []
        var field = String.UnicodeScalarView()
        var line = 1, recordLine = 1, quoteLine = 1
        var inQuotes = false, wasQuoted = false, afterQuote = false
        var recordHasContent = false
        func endField() {
            fields.append(String(field))
            field = String.UnicodeScalarView()
            wasQuoted = false
            afterQuote = false
        }
        func endRecord() {
            endField()
            // A line with nothing on it is skipped, not read as a record of one empty field.
            if recordHasContent { records.append(Record(fields: fields, line: recordLine)) }
            fields = []
            recordHasContent = false
        }
        var scalars = contents.unicodeScalars.makeIterator()
        var pending: Unicode.Scalar? = nil
        while let c = pending ?? scalars.next() {
            pending = nil
            if inQuotes {
                if c == "\"" {
                    let next = scalars.next()
                    if next == "\"" {
                        field.append("\"")
                    } else {
                        inQuotes = false
                        afterQuote = true
                        pending = next
                    }
                } else {
                    if c == "\n" { line += 1 }
                    field.append(c)
                }
                continue
            }
            switch c {
            case ",":
                recordHasContent = true
                endField()
            case "\r", "\n":
                if c == "\r" {
                    let next = scalars.next()
                    if next != "\n" { pending = next }
                }
                endRecord()
                line += 1
                recordLine = line
            case "\"" where field.isEmpty && !wasQuoted && !afterQuote:
                recordHasContent = true
                inQuotes = true
                wasQuoted = true
                quoteLine = line
            default:
                if afterQuote {
                    throw SwiftletError(
                        "\(path) line \(line) has text after a closing quote (a quote inside a quoted field is written \"\")."
                    )
                }
                recordHasContent = true
                field.append(c)
            }
        }
        if inQuotes { throw SwiftletError("\(path) line \(quoteLine) opens a quote that is never closed.") }
        endRecord()
        return records
    }

    /// Lines split at LF with a CR before it dropped (by scalars: to a String, "\r\n" is one
    /// Character and would not split at "\n").
    static func lines(_ contents: String) -> [String] {
        contents.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            String(line.last == "\r" ? line.dropLast() : line)
        }
    }

    /// Tab-separated records: no quoting, one record per line.
    static func tsvRecords(_ contents: String) -> [Record] {
        var records: [Record] = []
        for (index, text) in lines(contents).enumerated() {
            guard !text.isEmpty else { continue }
            records.append(
                Record(
                    fields: text.split(separator: "\t", omittingEmptySubsequences: false).map(String.init),
                    line: index + 1))
        }
        return records
    }

    /// A JSON value as label or text: strings as they are, numbers and booleans as their text.
    enum JSONField: Decodable {
        case string(String), number(String), other

        init(from decoder: Decoder) throws {
            let value = try decoder.singleValueContainer()
            if let s = try? value.decode(String.self) {
                self = .string(s)
            } else if let i = try? value.decode(Int.self) {
                self = .number(String(i))
            } else if let d = try? value.decode(Double.self) {
                self = .number(String(d))
            } else if let b = try? value.decode(Bool.self) {
                self = .number(String(b))
            } else {
                self = .other
            }
        }
    }

    static func jsonLines(
        _ contents: String, path: String, textName: String, labelName: String
    ) throws -> [LabeledExample] {
        let decoder = JSONDecoder()
        var examples: [LabeledExample] = []
        for (index, rawLine) in lines(contents).enumerated() {
            guard rawLine.contains(where: { !$0.isWhitespace }) else { continue }
            let line = index + 1
            func field(_ object: [String: JSONField], _ name: String) throws -> JSONField? {
                let matches = object.filter { $0.key.lowercased() == name.lowercased() }
                guard matches.count <= 1 else { throw ambiguous(path, name, matches.keys.sorted(), line: line) }
                return matches.first?.value
            }
            guard let object = try? decoder.decode([String: JSONField].self, from: Data(rawLine.utf8)) else {
                throw SwiftletError("\(path) line \(line) is not a JSON object.")
            }
            guard case .string(let text)? = try field(object, textName) else {
                throw SwiftletError("\(path) line \(line) has no \"\(textName)\" string.")
            }
            let label: String
            switch try field(object, labelName) {
            case .string(let s)?, .number(let s)?: label = s
            default: throw SwiftletError("\(path) line \(line) has no \"\(labelName)\" string or number.")
            }
            examples.append(try example(text: text, label: label, path: path, line: line))
        }
        return examples
    }
}
