#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Reading a user's text: files and folders split into documents, all checked to be
/// non-empty UTF-8 before any work starts.
public struct Corpus: Sendable {
    public struct Document: Sendable {
        public let path: String
        /// Plain text, or a dialogue's turns joined by newlines (what a tokenizer trains on).
        public let text: String
        /// A dialogue, rendered with the chat template when tokenized.
        public let messages: [ChatMessage]?

        public init(path: String, text: String, messages: [ChatMessage]? = nil) {
            self.path = path
            self.text = text
            self.messages = messages
        }
    }
    public let documents: [Document]

    public init(documents: [Document]) { self.documents = documents }

    /// All documents joined, each ending in a newline (the tokenizer's training text).
    public var text: String {
        documents.map { $0.text.hasSuffix("\n") ? $0.text : $0.text + "\n" }.joined()
    }
    public var byteCount: Int { documents.reduce(0) { $0 + $1.text.utf8.count } }
    public var hasDialogues: Bool { documents.contains { $0.messages != nil } }
}

/// How files become documents: each file is one, unless `separator` splits it; a `.jsonl`
/// file gives one document per line (its `text` field).
public struct DocumentFormat: Sendable, Equatable, Codable {
    public var separator: String?
    public init(separator: String? = nil) { self.separator = separator }

    /// A separator as typed on a command line: `\\n` and `\\t` become a newline and a tab.
    public static func unescaped(_ typed: String) -> String {
        typed.replacing("\\n", with: "\n").replacing("\\t", with: "\t")
    }
}

public enum CorpusReader {
    /// Expands folders (recursively, sorted) into their files.
    public static func expand(_ paths: [String]) throws -> [String] {
        var files: [String] = []
        for path in paths {
            guard FileIO.exists(path) else { throw SwiftletError("\(path) does not exist.") }
            if FileIO.isDirectory(path) {
                let found = FileIO.filesUnder(path).filter { !$0.hasSuffix(".model") }
                guard !found.isEmpty else { throw SwiftletError("the folder \(path) has no files in it.") }
                files += found
            } else {
                files.append(path)
            }
        }
        return files
    }

    public static func readText(paths: [String], format: DocumentFormat = DocumentFormat()) throws -> Corpus {
        let files = try expand(paths)
        guard !files.isEmpty else { throw SwiftletError("no input files were given.") }
        var documents: [Corpus.Document] = []
        for file in files {
            let text = try FileIO.readUTF8(file)
            documents += try self.documents(of: text, path: file, format: format)
        }
        guard documents.contains(where: { $0.text.contains(where: { !$0.isWhitespace }) }) else {
            throw SwiftletError(
                files.count == 1 ? "\(files[0]) is empty." : "the corpus (\(files.count) files) is empty.")
        }
        return Corpus(documents: documents)
    }

    /// A file's documents; empty ones (nothing but whitespace between separators) are dropped.
    static func documents(of text: String, path: String, format: DocumentFormat) throws -> [Corpus.Document] {
        if path.hasSuffix(".jsonl") { return try jsonLines(text, path: path) }
        guard let separator = format.separator, !separator.isEmpty else {
            return [Corpus.Document(path: path, text: text)]
        }
        return text.split(separator: separator)
            .map(String.init)
            .filter { $0.contains(where: { !$0.isWhitespace }) }
            .map { Corpus.Document(path: path, text: $0) }
    }

    private struct Line: Decodable {
        let text: String?
        let messages: [ChatMessage]?
    }

    /// One document per non-blank line: plain text from a "text" field, or a dialogue from a
    /// "messages" list of {"role": "system"|"user"|"assistant", "content": …}.
    static func jsonLines(_ text: String, path: String) throws -> [Corpus.Document] {
        let decoder = JSONDecoder()
        var documents: [Corpus.Document] = []
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            guard line.contains(where: { !$0.isWhitespace }) else { continue }
            let record = try? decoder.decode(Line.self, from: Data(line.utf8))
            if let messages = record?.messages {
                guard !messages.isEmpty else {
                    throw SwiftletError("\(path) line \(index + 1) has an empty \"messages\" list.")
                }
                documents.append(
                    Corpus.Document(
                        path: path, text: messages.map(\.content).joined(separator: "\n"), messages: messages))
            } else if let text = record?.text {
                if !text.isEmpty { documents.append(Corpus.Document(path: path, text: text)) }
            } else {
                throw SwiftletError(
                    "\(path) line \(index + 1) is not a JSON object with a \"text\" string or a \"messages\" list of {\"role\": system|user|assistant, \"content\": …}."
                )
            }
        }
        return documents
    }
}

/// Where training and validation text come from. A folder with `train/` and `val/`
/// subfolders (the layout `corpora/fetch.sh` writes) splits itself; otherwise the last
/// `validationFraction` of the text is held out unless validation files are given.
public struct DataSplit: Sendable {
    public let trainFiles: [String]
    public let validationFiles: [String]

    public static func resolve(data: [String], validation: [String]) throws -> DataSplit {
        guard !data.isEmpty else { throw SwiftletError("give the training text with --data.") }
        if data.count == 1, FileIO.isDirectory(data[0] + "/train") {
            let root = data[0]
            let val = validation.isEmpty && FileIO.isDirectory(root + "/val") ? [root + "/val"] : validation
            return DataSplit(
                trainFiles: try CorpusReader.expand([root + "/train"]), validationFiles: try CorpusReader.expand(val))
        }
        return DataSplit(
            trainFiles: try CorpusReader.expand(data), validationFiles: try CorpusReader.expand(validation))
    }

    /// A tokenizer.model shipped with the data, if any.
    public static func bundledTokenizer(data: [String]) -> String? {
        guard data.count == 1, FileIO.isDirectory(data[0]) else { return nil }
        let path = data[0] + "/tokenizer.model"
        return FileIO.exists(path) ? path : nil
    }
}

/// One `--data` corpus: its paths and, when mixing several, its weight. `--data a b` is one
/// corpus of two paths; `--data a:0.7 --data b:0.3` is two corpora sampled 70/30.
public struct DataSource: Sendable, Equatable {
    public let name: String
    public let paths: [String]
    public let weight: Double?

    public static func parse(_ arguments: [String]) throws -> [DataSource] {
        guard !arguments.isEmpty else { throw SwiftletError("give the training text with --data.") }
        let parsed = arguments.map(weighted)
        let weightedCount = parsed.filter { $0.weight != nil }.count
        if weightedCount == 0 {
            return [DataSource(name: name(of: arguments[0]), paths: arguments, weight: nil)]
        }
        guard weightedCount == parsed.count else {
            throw SwiftletError("give every --data a weight (PATH:WEIGHT) or none of them.")
        }
        if let bad = parsed.first(where: { !($0.weight! > 0 && $0.weight!.isFinite) }) {
            throw SwiftletError("the weight of \(bad.path) must be a positive number.")
        }
        var names: [String] = []
        return parsed.map { path, weight in
            var candidate = name(of: path)
            if names.contains(candidate) { candidate += "-\(names.count + 1)" }
            names.append(candidate)
            return DataSource(name: candidate, paths: [path], weight: weight)
        }
    }

    /// "PATH:WEIGHT" when the part after the last colon is a positive number and the whole
    /// argument is not itself an existing path.
    static func weighted(_ argument: String) -> (path: String, weight: Double?) {
        guard !FileIO.exists(argument), let colon = argument.lastIndex(of: ":"),
            let weight = Double(argument[argument.index(after: colon)...])
        else { return (argument, nil) }
        return (String(argument[..<colon]), weight)
    }

    static func name(of path: String) -> String {
        let last = path.split(separator: "/").last.map(String.init) ?? path
        return last.split(separator: ".").first.map(String.init) ?? last
    }
}
