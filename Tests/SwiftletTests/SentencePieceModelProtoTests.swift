import XCTest
@testable import Swiftlet

final class SentencePieceModelProtoTests: XCTestCase {
    func testWireFormatRoundTripsEveryKindOfField() throws {
        let fields: [ProtobufWire.Field] = [
            .init(1, .varint(0)), .init(2, .varint(300)), .init(3, .varint(UInt64.max)),
            .init(4, .fixed32(Float(-1.5).bitPattern)), .init(5, .fixed64(0x0102_0304_0506_0708)),
            .init(6, .bytes([])), .init(7, .bytes(Array("▁piece".utf8))), .init(1 << 20, .varint(1)),
        ]
        let bytes = ProtobufWire.encode(fields)
        XCTAssertEqual(try ProtobufWire.decode(bytes[...]), fields)
        // 300 is the two bytes 0xAC 0x02 after its key (field 2, wire type 0).
        XCTAssertEqual(Array(ProtobufWire.encode([.init(2, .varint(300))])), [0x10, 0xAC, 0x02])
        var message = ProtobufMessage()
        message.setInt32(43, -1)
        XCTAssertEqual(message.encoded.count, 2 + 10, "a negative int32 is sign-extended to ten bytes")
        XCTAssertEqual(try ProtobufMessage(bytes: message.encoded[...]).int32(43), -1)
    }

    func testSettersKeepFieldNumberOrder() {
        var message = ProtobufMessage()
        message.setBool(35, true)
        message.setInt32(4, 320)
        message.setString(1, "x")
        message.setInt32(4, 321)
        XCTAssertEqual(message.fields.map(\.number), [1, 4, 35])
        XCTAssertEqual(message.int32(4), 321)
    }

    func testMalformedBytesAreErrorsNeverCrashes() throws {
        let model = try TestData.tokenizer().modelBytes
        // Every prefix either decodes or is refused; so does every single-byte corruption.
        for length in stride(from: 0, to: model.count, by: 7) {
            _ = try? SentencePieceModelProto(bytes: Array(model[..<length]))
        }
        var rng = RandomGenerator(seed: 3)
        for _ in 0..<2000 {
            var damaged = model
            damaged[rng.below(damaged.count)] = UInt8(truncatingIfNeeded: rng.below(256))
            _ = try? SentencePieceModelProto(bytes: damaged)
        }
        XCTAssertThrowsError(try SentencePieceModelProto(bytes: [0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F])) { error in
            XCTAssertEqual(
                (error as? SwiftletError)?.message,
                "not a valid SentencePiece model (a field is longer than the bytes left).")
        }
        XCTAssertThrowsError(try SentencePieceModelProto(bytes: [0x0B]))  // wire type 3 (groups)
        XCTAssertThrowsError(try SentencePieceModelProto(bytes: [0x08, 0x01]))  // pieces must be messages
    }

    func testReadsAndRewritesAModelSentencePieceTrainedBitForBit() throws {
        for type in TokenizerModelType.allCases {
            let tokenizer = try Tokenizer.train(
                text: TestData.text(), options: TokenizerTrainingOptions(vocabSize: 320, modelType: type))
            let proto = try SentencePieceModelProto(bytes: tokenizer.modelBytes)
            XCTAssertEqual(proto.serialized, tokenizer.modelBytes, "\(type)")
            XCTAssertEqual(proto.pieces.count, tokenizer.vocabSize)
            XCTAssertEqual(proto.trainerSpec.modelType, type == .bpe ? .bpe : .unigram)
            XCTAssertEqual(proto.trainerSpec.vocabSize, 320)
            XCTAssertTrue(proto.trainerSpec.byteFallback)
            XCTAssertTrue(proto.trainerSpec.splitDigits)
            XCTAssertEqual(
                [
                    proto.trainerSpec.unknownID, proto.trainerSpec.bosID, proto.trainerSpec.eosID,
                    proto.trainerSpec.padID,
                ], [0, 1, 2, -1])
            XCTAssertEqual(proto.trainerSpec.userDefinedSymbols, SpecialPieces.all)
            XCTAssertFalse(proto.normalizerSpec.addDummyPrefix)
            XCTAssertFalse(proto.normalizerSpec.removeExtraWhitespaces)
            XCTAssertEqual(proto.normalizerSpec.name, "identity")
            XCTAssertEqual(proto.normalizerSpec.precompiledCharsmap, [])
            for (id, piece) in proto.pieces.enumerated() {
                XCTAssertEqual(piece.piece, tokenizer.piece(Int32(id)))
                XCTAssertEqual(piece.type == .byte, tokenizer.pieceBytes[id].count == 1 && piece.piece.hasPrefix("<0x"))
            }
            XCTAssertEqual(proto.pieces[0].type, .unknown)
            XCTAssertEqual(proto.pieces[1].type, .control)
            XCTAssertEqual(proto.pieces[3].type, .userDefined)
        }
    }

    /// A model assembled piece by piece (as from another format's tables) loads in
    /// libsentencepiece and segments by its scores.
    func testAModelBuiltFromTablesLoadsInSentencePiece() throws {
        let trained = try SentencePieceModelProto(bytes: TestData.tokenizer().modelBytes)
        var pieces: [SentencePieceModelProto.Piece] = [
            .init(piece: "<unk>", score: 0, type: .unknown), .init(piece: "<s>", score: 0, type: .control),
            .init(piece: "</s>", score: 0, type: .control),
        ]
        pieces += (0..<256).map {
            .init(piece: "<0x" + String($0, radix: 16, uppercase: true).leftPadded(to: 2) + ">", score: 0, type: .byte)
        }
        for (text, score) in [("a", -1.0), ("b", -1.0), ("ab", -0.5), ("▁", -1.0), ("abab", -5.0)] as [(String, Float)]
        {
            pieces.append(.init(piece: text, score: score, type: .normal))
        }
        var model = SentencePieceModelProto(
            pieces: pieces, trainerSpec: trained.trainerSpec, normalizerSpec: trained.normalizerSpec)
        model.trainerSpec.vocabSize = Int32(pieces.count)
        let tokenizer = try Tokenizer(modelBytes: model.serialized)
        XCTAssertEqual(tokenizer.vocabSize, pieces.count)
        let ab = tokenizer.id(ofPiece: "ab"), space = tokenizer.id(ofPiece: "▁")
        XCTAssertEqual(tokenizer.encode("abab ab"), [ab, ab, space, ab], "unigram scores pick ab|ab over abab")
        XCTAssertEqual(tokenizer.decode(tokenizer.encode("abc é")), "abc é", "byte fallback")
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
