import XCTest
@testable import Swiftlet

final class TokenizerTests: XCTestCase {
    let awkward =
        "First line\n\n  two  spaces,\tand a tab\r\nDigits 1234567890 and 3.14\n我很喜欢这个产品 😀🎉 naïve café\n   trailing   \n"

    func testRoundTripsAnyText() throws {
        let tokenizer = try TestData.tokenizer()
        for text in [awkward, "", " ", "\n\n\n", "x", "😀", "\t\t", TestData.text(lines: 5)] {
            XCTAssertEqual(tokenizer.decode(tokenizer.encode(text)), text)
            XCTAssertEqual(tokenizer.decode(tokenizer.encodeLarge(text)), text)
        }
        XCTAssertEqual(tokenizer.encodeLarge(awkward), tokenizer.encode(awkward), "line-parallel encoding is identical")
    }

    func testBPERoundTripsToo() throws {
        let bpe = try Tokenizer.train(
            text: TestData.text(), options: TokenizerTrainingOptions(vocabSize: 320, modelType: .bpe))
        XCTAssertEqual(bpe.decode(bpe.encode(awkward)), awkward)
    }

    func testReservesChatMarkersAndStandardIDs() throws {
        let tokenizer = try TestData.tokenizer()
        XCTAssertEqual(tokenizer.vocabSize, 320)
        XCTAssertEqual([tokenizer.unknownID, tokenizer.bosID, tokenizer.eosID], [0, 1, 2])
        for marker in SpecialPieces.all {
            let ids = tokenizer.encode("a\(marker)b")
            XCTAssertTrue(ids.contains(tokenizer.id(ofPiece: marker)), marker)
            XCTAssertGreaterThan(tokenizer.id(ofPiece: marker), 2)
        }
    }

    func testLoadsItsOwnSerializedModel() throws {
        let tokenizer = try TestData.tokenizer()
        let dir = TestData.temporaryDirectory("tok")
        try FileIO.writeAtomically(tokenizer.modelBytes, to: dir + "/t.model")
        let loaded = try Tokenizer(contentsOf: dir + "/t.model")
        XCTAssertEqual(loaded.encode(awkward), tokenizer.encode(awkward))
        try FileIO.writeAtomically(Array("not a model".utf8), to: dir + "/bad.model")
        XCTAssertThrowsError(try Tokenizer(contentsOf: dir + "/bad.model"))
    }

    func testTooLargeVocabularySaysWhatWouldWork() {
        XCTAssertThrowsError(
            try Tokenizer.train(text: "tiny text\nwith few words\n", options: TokenizerTrainingOptions(vocabSize: 5000))
        ) { error in
            let message = (error as? SwiftletError)?.message ?? ""
            XCTAssertTrue(message.contains("too large"), message)
            XCTAssertTrue(message.contains("the largest that works is"), message)
            // The suggested size really works.
            let largest = Int(message.split(separator: " ").last!.dropLast())!
            XCTAssertNotNil(
                try? Tokenizer.train(
                    text: "tiny text\nwith few words\n", options: TokenizerTrainingOptions(vocabSize: largest)))
        }
        XCTAssertThrowsError(try Tokenizer.train(text: "text\n", options: TokenizerTrainingOptions(vocabSize: 0)))
        XCTAssertThrowsError(
            try Tokenizer.train(
                text: TestData.text() + "ÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏ\n", options: TokenizerTrainingOptions(vocabSize: 290))
        ) { error in
            let message = (error as? SwiftletError)?.message ?? ""
            XCTAssertTrue(message.contains("too small") && message.contains("at least"), message)
        }
        XCTAssertThrowsError(try Tokenizer.train(text: "\n\n", options: TokenizerTrainingOptions(vocabSize: 300)))
    }

    func testStreamingNeverSplitsACharacter() throws {
        let tokenizer = try TestData.tokenizer()
        let text = "é我😀 ok"
        var streamer = TextStreamer(tokenizer: tokenizer)
        var pieces: [String] = []
        for id in tokenizer.encode(text) { pieces.append(streamer.push(id)) }
        pieces.append(streamer.flush())
        XCTAssertEqual(pieces.joined(), text)
        XCTAssertFalse(pieces.contains { $0.contains("\u{FFFD}") })
    }
}
