import XCTest
@testable import Swiftlet
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

final class ClassificationDataTests: XCTestCase {
    func write(_ text: String, _ name: String, in dir: String) throws -> String {
        let path = dir + "/" + name
        try FileIO.writeAtomically(text, to: path)
        return path
    }

    func assertMessage(
        _ expression: @autoclosure () throws -> Any, _ expected: String, file: StaticString = #filePath,
        line: UInt = #line
    ) {
        XCTAssertThrowsError(try expression(), file: file, line: line) { error in
            XCTAssertEqual((error as? SwiftletError)?.message, expected, file: file, line: line)
        }
    }

    // MARK: reading

    func testCSVWithQuotedCommasEscapedQuotesAndNewlines() throws {
        let dir = TestData.temporaryDirectory("cls-csv")
        // A byte-order mark, CRLF records, a header in another case and the columns the other way round.
        let csv =
            "\u{FEFF}Label,Text\r\n"
            + "1,plain text\r\n"
            + "-1,\"a, b and c\"\r\n"
            + "pos,\"she said \"\"hi\"\"\"\r\n"
            + "\r\n"
            + "neg,\"two\nlines, with a \"\"quote\"\"\"\n"
            + " 0 ,\"\"\"\"\n"
            + "1,no newline at the end"
        let path = try write(csv, "a.csv", in: dir)
        XCTAssertEqual(
            try LabeledDataReader.read(path: path),
            [
                LabeledExample(text: "plain text", label: "1"),
                LabeledExample(text: "a, b and c", label: "-1"),
                LabeledExample(text: "she said \"hi\"", label: "pos"),
                LabeledExample(text: "two\nlines, with a \"quote\"", label: "neg"),
                LabeledExample(text: "\"", label: "0"),
                LabeledExample(text: "no newline at the end", label: "1"),
            ])
    }

    func testTSVHasNoQuoting() throws {
        let dir = TestData.temporaryDirectory("cls-tsv")
        let path = try write("text\tlabel\nit's \"great\", really\tpos\r\n\nbad\tneg\n", "a.TSV", in: dir)
        XCTAssertEqual(
            try LabeledDataReader.read(path: path),
            [
                LabeledExample(text: "it's \"great\", really", label: "pos"),
                LabeledExample(text: "bad", label: "neg"),
            ])
    }

    func testJSONLWithNumericLabels() throws {
        let dir = TestData.temporaryDirectory("cls-jsonl")
        let jsonl =
            "{\"text\": \"good\", \"label\": 1}\n\n{\"label\": -1, \"Text\": \"bad\"}\r\n"
            + "{\"text\": \"named\", \"label\": \"positive\", \"extra\": [1, 2]}\n{\"text\": \"half\", \"label\": 0.5}\n"
        let path = try write(jsonl, "a.jsonl", in: dir)
        XCTAssertEqual(
            try LabeledDataReader.read(path: path),
            [
                LabeledExample(text: "good", label: "1"),
                LabeledExample(text: "bad", label: "-1"),
                LabeledExample(text: "named", label: "positive"),
                LabeledExample(text: "half", label: "0.5"),
            ])
    }

    func testCustomColumns() throws {
        let dir = TestData.temporaryDirectory("cls-columns")
        let csv = try write("id,review,stars\n7,\"fine, fine\",4\n8,awful,1\n", "r.csv", in: dir)
        XCTAssertEqual(
            try LabeledDataReader.read(path: csv, textColumn: "Review", labelColumn: "stars"),
            [
                LabeledExample(text: "fine, fine", label: "4"),
                LabeledExample(text: "awful", label: "1"),
            ])
        let jsonl = try write("{\"review\": \"ok\", \"stars\": 3}\n", "r.jsonl", in: dir)
        XCTAssertEqual(
            try LabeledDataReader.read(path: jsonl, textColumn: "review", labelColumn: "stars"),
            [LabeledExample(text: "ok", label: "3")])
    }

    func testBadInputGivesOneSentenceEach() throws {
        let dir = TestData.temporaryDirectory("cls-bad")
        assertMessage(try LabeledDataReader.read(path: dir + "/none.csv"), "\(dir)/none.csv does not exist.")
        let txt = try write("text,label\na,1\n", "a.txt", in: dir)
        assertMessage(
            try LabeledDataReader.read(path: txt),
            "\(txt) is not a .csv, .tsv or .jsonl file, so its format is unknown.")
        let noColumn = try write("sentence,label\na,1\n", "c.csv", in: dir)
        assertMessage(
            try LabeledDataReader.read(path: noColumn),
            "\(noColumn) has no \"text\" column; its header has \"sentence\", \"label\".")
        assertMessage(
            try LabeledDataReader.read(path: noColumn, textColumn: "sentence", labelColumn: "class"),
            "\(noColumn) has no \"class\" column; its header has \"sentence\", \"label\".")
        let fields = try write("text,label\na,1\n\"b, c\",2,3\n", "f.csv", in: dir)
        assertMessage(try LabeledDataReader.read(path: fields), "\(fields) line 3 has 3 fields but the header has 2.")
        let tsvFields = try write("text\tlabel\na\n", "f.tsv", in: dir)
        assertMessage(
            try LabeledDataReader.read(path: tsvFields), "\(tsvFields) line 2 has 1 fields but the header has 2.")
        let open = try write("text,label\na,1\n\"never\nclosed,2\n", "q.csv", in: dir)
        assertMessage(try LabeledDataReader.read(path: open), "\(open) line 3 opens a quote that is never closed.")
        let afterQuote = try write("text,label\n\"a\"b,1\n", "aq.csv", in: dir)
        assertMessage(
            try LabeledDataReader.read(path: afterQuote),
            "\(afterQuote) line 2 has text after a closing quote (a quote inside a quoted field is written \"\").")
        let emptyText = try write("text,label\na,1\n\"  \",2\n", "e.csv", in: dir)
        assertMessage(try LabeledDataReader.read(path: emptyText), "\(emptyText) line 3 has an empty text.")
        let emptyJSONText = try write("{\"text\": \"\", \"label\": 1}\n", "e.jsonl", in: dir)
        assertMessage(try LabeledDataReader.read(path: emptyJSONText), "\(emptyJSONText) line 1 has an empty text.")
        let emptyLabel = try write("text,label\na,\n", "el.csv", in: dir)
        assertMessage(try LabeledDataReader.read(path: emptyLabel), "\(emptyLabel) line 2 has an empty label.")
        let headerOnly = try write("text,label\n", "h.csv", in: dir)
        assertMessage(try LabeledDataReader.read(path: headerOnly), "\(headerOnly) has a header but no rows.")
        let empty = try write("", "empty.tsv", in: dir)
        assertMessage(try LabeledDataReader.read(path: empty), "\(empty) is empty: it has no header and no rows.")
        let blank = try write("\n\n", "blank.jsonl", in: dir)
        assertMessage(try LabeledDataReader.read(path: blank), "\(blank) has no examples in it.")
        let notObject = try write("{\"text\": \"a\", \"label\": 1}\n[1, 2]\n", "n.jsonl", in: dir)
        assertMessage(try LabeledDataReader.read(path: notObject), "\(notObject) line 2 is not a JSON object.")
        let noText = try write("{\"body\": \"a\", \"label\": 1}\n", "t.jsonl", in: dir)
        assertMessage(try LabeledDataReader.read(path: noText), "\(noText) line 1 has no \"text\" string.")
        let badLabel = try write("{\"text\": \"a\", \"label\": [1]}\n", "l.jsonl", in: dir)
        assertMessage(
            try LabeledDataReader.read(path: badLabel), "\(badLabel) line 1 has no \"label\" string or number.")
    }

    func testSplitSendsEveryFifthToTest() {
        let examples = (0..<12).map { LabeledExample(text: "t\($0)", label: "\($0 % 2)") }
        let (train, test) = LabeledDataReader.split(examples)
        XCTAssertEqual(test.map(\.text), ["t4", "t9"])
        XCTAssertEqual(train.map(\.text), ["t0", "t1", "t2", "t3", "t5", "t6", "t7", "t8", "t10", "t11"])
        let other = LabeledDataReader.split(examples, testEvery: 3, testRemainder: 0)
        XCTAssertEqual(other.test.map(\.text), ["t0", "t3", "t6", "t9"])
        XCTAssertEqual(other.train.count, 8)
        XCTAssertEqual(LabeledDataReader.split(examples, testEvery: 0).train.count, 12)
    }

    /// The fetched corpus (`bash corpora/fetch-polarity.sh`), read as the classifier will read it.
    func testPolarityCorpusReadsWhenFetched() throws {
        let dir = #filePath.split(separator: "/").dropLast(3).joined(separator: "/")
        let train = "/" + dir + "/corpora/polarity/train.csv", test = "/" + dir + "/corpora/polarity/test.csv"
        try XCTSkipUnless(FileIO.exists(train) && FileIO.exists(test), "corpora/polarity is not fetched")
        let trainExamples = try LabeledDataReader.read(path: train),
            testExamples = try LabeledDataReader.read(path: test)
        XCTAssertEqual(trainExamples.count, 3200)
        XCTAssertEqual(testExamples.count, 800)
        XCTAssertEqual(trainExamples.filter { $0.label == "1" }.count, 1600)
        XCTAssertEqual(testExamples.filter { $0.label == "-1" }.count, 400)
        XCTAssertEqual(Set((trainExamples + testExamples).map(\.label)), ["1", "-1"])
    }

    // MARK: metrics

    /// Rows are actual, columns predicted:
    ///          cat dog bird
    ///   cat      5   2    1
    ///   dog      1   6    1
    ///   bird     0   2    4
    func threeClassMatrix() -> ConfusionMatrix {
        var m = ConfusionMatrix(labels: ["cat", "dog", "bird"])
        let rows = [[5, 2, 1], [1, 6, 1], [0, 2, 4]]
        for a in 0..<3 {
            for p in 0..<3 {
                for _ in 0..<rows[a][p] { m.add(actual: a, predicted: p) }
            }
        }
        return m
    }

    func testThreeClassScoresMatchHandComputation() {
        let m = threeClassMatrix()
        XCTAssertEqual(m.counts, [[5, 2, 1], [1, 6, 1], [0, 2, 4]])
        XCTAssertEqual(m.total, 22)
        XCTAssertEqual(m.accuracy, 15.0 / 22.0, accuracy: 1e-12)  // diagonal 5 + 6 + 4
        // Precision = diagonal / column sum (6, 10, 6); recall = diagonal / row sum (8, 8, 6).
        XCTAssertEqual(m.precision(0), 5.0 / 6.0, accuracy: 1e-12)
        XCTAssertEqual(m.precision(1), 6.0 / 10.0, accuracy: 1e-12)
        XCTAssertEqual(m.precision(2), 4.0 / 6.0, accuracy: 1e-12)
        XCTAssertEqual(m.recall(0), 5.0 / 8.0, accuracy: 1e-12)
        XCTAssertEqual(m.recall(1), 6.0 / 8.0, accuracy: 1e-12)
        XCTAssertEqual(m.recall(2), 4.0 / 6.0, accuracy: 1e-12)
        // F1 = 2TP / (2TP + FP + FN): cat 10/14, dog 12/18, bird 8/12.
        XCTAssertEqual(m.f1(0), 5.0 / 7.0, accuracy: 1e-12)
        XCTAssertEqual(m.f1(1), 2.0 / 3.0, accuracy: 1e-12)
        XCTAssertEqual(m.f1(2), 2.0 / 3.0, accuracy: 1e-12)
        // (15/21 + 14/21 + 14/21) / 3
        XCTAssertEqual(m.macroF1, 43.0 / 63.0, accuracy: 1e-12)
    }

    func testUndefinedScoresAreZero() {
        var m = ConfusionMatrix(labels: ["a", "b", "c"])
        m.add(actual: 0, predicted: 0)
        m.add(actual: 0, predicted: 0)
        m.add(actual: 1, predicted: 0)
        // b has an example but no predictions; c has neither.
        XCTAssertEqual(m.precision(1), 0)
        XCTAssertEqual(m.recall(1), 0)
        XCTAssertEqual(m.f1(1), 0)
        XCTAssertEqual(m.precision(2), 0)
        XCTAssertEqual(m.recall(2), 0)
        XCTAssertEqual(m.f1(2), 0)
        XCTAssertEqual(m.precision(0), 2.0 / 3.0, accuracy: 1e-12)
        XCTAssertEqual(m.recall(0), 1)
        XCTAssertEqual(m.f1(0), 0.8, accuracy: 1e-12)
        XCTAssertEqual(m.macroF1, 0.8 / 3, accuracy: 1e-12)
        let empty = ConfusionMatrix(labels: ["x"])
        XCTAssertEqual(empty.accuracy, 0)
        XCTAssertEqual(empty.macroF1, 0)
        XCTAssertEqual(ConfusionMatrix(labels: []).macroF1, 0)
    }

    func testReportShowsTheScoresAndTheMatrix() {
        let report = threeClassMatrix().report()
        let lines = report.split(separator: "\n").map(String.init)
        XCTAssertEqual(
            lines.first { $0.hasPrefix("cat ") }?.split(separator: " "), ["cat", "0.833", "0.625", "0.714", "8"])
        XCTAssertEqual(
            lines.first { $0.hasPrefix("dog ") }?.split(separator: " "), ["dog", "0.600", "0.750", "0.667", "8"])
        XCTAssertEqual(
            lines.first { $0.hasPrefix("bird ") }?.split(separator: " "), ["bird", "0.667", "0.667", "0.667", "6"])
        XCTAssertTrue(report.contains("accuracy  0.682  (15 of 22)"), report)
        XCTAssertTrue(report.contains("macro-F1  0.683"), report)
        let matrix = Array(lines.drop { !$0.hasPrefix("confusion matrix") }.dropFirst())
        XCTAssertEqual(
            matrix.map { $0.split(separator: " ").map(String.init) },
            [
                ["cat", "dog", "bird"], ["cat", "5", "2", "1"], ["dog", "1", "6", "1"], ["bird", "0", "2", "4"],
            ])
        // Columns line up: every matrix line has the same width.
        XCTAssertEqual(Set(matrix.map(\.count)).count, 1, report)

        var long = ConfusionMatrix(labels: ["a label that is far too long to print", "b"])
        long.add(actual: 0, predicted: 1)
        let cut = long.report()
        XCTAssertTrue(cut.contains("a label that is…"), cut)
        XCTAssertFalse(cut.contains("far too long"), cut)
    }

    func testSVGIsWellFormedAndEscaped() {
        var m = ConfusionMatrix(labels: ["<b>", "A&B"])
        m.add(actual: 0, predicted: 0)
        m.add(actual: 0, predicted: 1)
        m.add(actual: 1, predicted: 1)
        m.add(actual: 1, predicted: 1)
        m.add(actual: 1, predicted: 1)
        let svg = m.svg(title: "R&D <test>")
        XCTAssertTrue(svg.hasPrefix("<svg xmlns=\"http://www.w3.org/2000/svg\""))
        XCTAssertTrue(svg.hasSuffix("</svg>\n"))
        XCTAssertTrue(svg.contains("R&amp;D &lt;test&gt;"))
        XCTAssertTrue(svg.contains("&lt;b&gt;") && svg.contains("A&amp;B"))
        XCTAssertFalse(svg.contains("<b>") || svg.contains("A&B") || svg.contains("R&D"))
        XCTAssertTrue(svg.contains(">actual</text>") && svg.contains(">predicted</text>"))
        for count in ["1", "3", "0"] { XCTAssertTrue(svg.contains(">\(count)</text>"), count) }
        XCTAssertEqual(svg.ranges(of: "<rect ").count, 1 + 4)  // background + cells
        // Every tag opened is closed: each <text> has its </text>, and no '<' starts anything else.
        XCTAssertEqual(svg.ranges(of: "<text").count, svg.ranges(of: "</text>").count)
        let tags = svg.split(separator: "<").map { $0.prefix { $0 != " " && $0 != ">" } }
        XCTAssertTrue(
            tags.allSatisfy { ["svg", "/svg", "rect", "text", "/text"].contains(String($0)) }, "\(Set(tags))")
    }
}
