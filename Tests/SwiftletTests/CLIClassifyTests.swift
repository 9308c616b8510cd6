import XCTest
import Foundation
@testable import Swiftlet

/// `swiftlet classify` end to end.
extension CLITests {
    func testClassifyTrainLabelAndEvaluate() throws {
        let base = try checkpoint()
        let work = workDirectory
        var rng = RandomGenerator(seed: 4)
        func text(_ words: [String]) -> String {
            (0..<(2 + rng.below(3))).map { _ in words[rng.below(words.count)] }.joined(separator: " ")
        }
        let rows = (0..<80).map { i in
            i % 2 == 0
                ? "\"\(text(["king", "queen", "lord"])), truly\",royal" : "\"\(text(["night", "war", "love"]))\",plain"
        }
        try FileIO.writeAtomically("text,label\n" + rows.joined(separator: "\n") + "\n", to: work + "/labeled.csv")
        let out = work + "/classifier"
        FileIO.removeItem(out)
        let trained = try run([
            "classify", "train", "--checkpoint", base, "--data", work + "/labeled.csv", "--out", out, "--epochs", "3",
        ])
        XCTAssertEqual(trained.status, 0, trained.stderr)
        XCTAssertTrue(trained.stderr.contains("pooling: validation accuracy"), trained.stderr)
        let one = try run(["classify", "--checkpoint", out, "--text", "king queen lord, truly"])
        XCTAssertEqual(one.status, 0, one.stderr)
        XCTAssertTrue(one.stdout.hasPrefix("royal\t"), one.stdout)
        try FileIO.writeAtomically("king lord\nlove war night\n", to: work + "/texts.txt")
        let many = try run(["classify", "--checkpoint", out, "--input", work + "/texts.txt", "--json"])
        let lines = many.stdout.split(separator: "\n")
        XCTAssertEqual(lines.count, 2, many.stdout)
        let object = try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as! [String: Any]
        XCTAssertEqual((object["probabilities"] as! [String: Double]).keys.sorted(), ["plain", "royal"])
        XCTAssertEqual(
            try run(["classify", "--checkpoint", out], input: "love night\n").stdout.split(separator: "\t").first,
            "plain")
        let evaluated = try run([
            "classify", "eval", "--checkpoint", out, "--data", work + "/labeled.csv", "--plot", work + "/cm.svg",
        ])
        XCTAssertEqual(evaluated.status, 0, evaluated.stderr)
        XCTAssertTrue(
            evaluated.stdout.contains("macro-F1") && evaluated.stdout.contains("confusion matrix"), evaluated.stdout)
        XCTAssertTrue(try FileIO.readUTF8(work + "/cm.svg").hasPrefix("<svg"))
        // Zero-shot works on any checkpoint.
        let zero = try run(["classify", "--checkpoint", base, "--text", "the king", "--labels", "royal,plain"])
        XCTAssertEqual(zero.status, 0, zero.stderr)
        XCTAssertTrue(zero.stdout.hasPrefix("royal\t") || zero.stdout.hasPrefix("plain\t"), zero.stdout)

        // Bad input: one sentence each.
        try FileIO.writeAtomically("words,label\nthe king,royal\n", to: work + "/nocolumn.csv")
        try expectFailure(
            ["classify", "train", "--checkpoint", base, "--data", work + "/nocolumn.csv", "--out", work + "/never"],
            mentioning: "text")
        try FileIO.writeAtomically("text,label\nthe king,royal\nthe queen,royal\n", to: work + "/oneclass.csv")
        try expectFailure(
            ["classify", "train", "--checkpoint", base, "--data", work + "/oneclass.csv", "--out", work + "/never"],
            mentioning: "one class only")
        try FileIO.writeAtomically("text,label\n,royal\nthe queen,plain\n", to: work + "/empty.csv")
        try expectFailure(
            ["classify", "train", "--checkpoint", base, "--data", work + "/empty.csv", "--out", work + "/never"],
            mentioning: "empty")
        try expectFailure(
            [
                "classify", "train", "--checkpoint", base, "--data", work + "/labeled.csv", "--out", work + "/never",
                "--train", "lora", "--freeze-embedding",
            ], mentioning: "--freeze-embedding goes with --train full")
        // The default for a model pretrained elsewhere can be turned off; with LoRA it is off anyway.
        try expectFailure(
            [
                "classify", "train", "--checkpoint", base, "--data", work + "/labeled.csv", "--out", work + "/never",
                "--no-freeze-embedding", "--epochs", "0",
            ], mentioning: "--epochs must be between")
        try FileIO.writeAtomically("text,label\nthe king,imperial\n", to: work + "/unseen.csv")
        try expectFailure(
            ["classify", "eval", "--checkpoint", out, "--data", work + "/unseen.csv"],
            mentioning: "is not one the model knows")
        try expectFailure(
            ["classify", "--checkpoint", base, "--text", "the king"], mentioning: "has no classification head")
        XCTAssertFalse(FileIO.exists(work + "/never/config.json"))
    }
}
