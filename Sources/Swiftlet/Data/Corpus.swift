/// Reading a user's text: files and folders, each file one document, all checked to be
/// non-empty UTF-8 before any work starts.
public struct Corpus: Sendable {
    public struct Document: Sendable {
        public let path: String
        public let text: String
    }
    public let documents: [Document]

    /// All documents joined, each ending in a newline (the tokenizer's training text).
    public var text: String {
        documents.map { $0.text.hasSuffix("\n") ? $0.text : $0.text + "\n" }.joined()
    }
    public var byteCount: Int { documents.reduce(0) { $0 + $1.text.utf8.count } }
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

    public static func readText(paths: [String]) throws -> Corpus {
        let files = try expand(paths)
        guard !files.isEmpty else { throw SwiftletError("no input files were given.") }
        let documents = try files.map { Corpus.Document(path: $0, text: try FileIO.readUTF8($0)) }
        let corpus = Corpus(documents: documents)
        guard documents.contains(where: { $0.text.contains(where: { !$0.isWhitespace }) }) else {
            throw SwiftletError(files.count == 1 ? "\(files[0]) is empty." : "the corpus (\(files.count) files) is empty.")
        }
        return corpus
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
            return DataSplit(trainFiles: try CorpusReader.expand([root + "/train"]), validationFiles: try CorpusReader.expand(val))
        }
        return DataSplit(trainFiles: try CorpusReader.expand(data), validationFiles: try CorpusReader.expand(validation))
    }

    /// A tokenizer.model shipped with the data, if any.
    public static func bundledTokenizer(data: [String]) -> String? {
        guard data.count == 1, FileIO.isDirectory(data[0]) else { return nil }
        let path = data[0] + "/tokenizer.model"
        return FileIO.exists(path) ? path : nil
    }
}
