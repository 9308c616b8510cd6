import XCTest
@testable import Swiftlet

final class SafetensorsTests: XCTestCase {
    func testRoundTripAndHeaderLayout() throws {
        let a: [Float] = [1, -2, 3.5], b: [Float] = (0..<6).map { Float($0) / 3 }
        let bytes = a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                Safetensors.serialize(
                    [.init(name: "a", shape: [3], values: pa), .init(name: "layer.b", shape: [2, 3], values: pb)],
                    metadata: ["format": "pt"])
            }
        }
        // 8-byte little-endian header length, JSON header padded to 8 bytes, then raw data.
        var length = 0
        for i in 0..<8 { length |= Int(bytes[i]) << (8 * i) }
        XCTAssertEqual((8 + length) % 8, 0)
        XCTAssertEqual(bytes.count, 8 + length + 9 * 4)
        let header = String(decoding: bytes[8..<8 + length], as: UTF8.self)
        XCTAssertTrue(header.hasPrefix("{\"__metadata__\":{\"format\":\"pt\"}"))
        XCTAssertTrue(header.contains("\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]}"))
        XCTAssertTrue(header.contains("\"layer.b\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[12,36]}"))
        let data = bytes[(8 + length)...]
        XCTAssertEqual(Array(data.prefix(4)), [0, 0, 0x80, 0x3F], "1.0 as little-endian F32")
        let parsed = try Safetensors.parse(bytes, path: "x")
        XCTAssertEqual(parsed["a"]?.values, a)
        XCTAssertEqual(parsed["layer.b"]?.shape, [2, 3])
        XCTAssertEqual(parsed["layer.b"]?.values, b)
    }

    /// A save streams each tensor from where it lies: the file written piece by piece is the
    /// joined bytes exactly, and the memory a file's views point into stays alive with its
    /// contents even when nothing else holds it (a Gemma file's gains written as gain − 1).
    func testStreamedFilesAreTheJoinedBytesAndKeepTheirMemory() throws {
        func gemmaFile() -> (FileBytes, expected: [UInt8]) {
            let model = GemmaCheckpointTests.model()
            return (Checkpoint.weightFile(model), Checkpoint.weightBytes(model))
        }
        let (file, expected) = gemmaFile()
        // Memory freed by a dropped owner would likely be handed out again here.
        let other = (0..<8).map { _ in FloatBuffer(Array(repeating: 7, count: 4096)) }
        XCTAssertGreaterThan(file.pieces.count, 2, "the tensors are views, not one copied array")
        XCTAssertEqual(file.count, expected.count)
        XCTAssertEqual(file.joined, expected)
        let path = TestData.temporaryDirectory("streamed") + "/model.safetensors"
        try FileIO.writeAtomically(file, to: path)
        XCTAssertEqual(try FileIO.readBytes(path), expected)
        let parsed = try Safetensors.parse(expected, path: path)
        let gain = try XCTUnwrap(parsed["model.norm.weight"]?.values.first)
        let model = GemmaCheckpointTests.model()
        let view = try XCTUnwrap(model.layout.views.first { $0.name == "model.norm.weight" })
        XCTAssertEqual(gain, model.parameters[view.offset] - 1, "Gemma's gains are stored as gain − 1")
        withExtendedLifetime(other) {}
    }

    func testCorruptFilesGetClearErrors() {
        for bytes in [
            [UInt8](), [1, 2, 3], [255, 255, 255, 255, 0, 0, 0, 0, 1], Array(repeating: 0, count: 8) + Array("{}".utf8),
            [10, 0, 0, 0, 0, 0, 0, 0] + Array("{not json}".utf8),
        ] {
            XCTAssertThrowsError(try Safetensors.parse(bytes, path: "m.safetensors")) { error in
                XCTAssertTrue((error as? SwiftletError)?.message.contains("m.safetensors") ?? false)
            }
        }
        // A tensor whose byte range runs past the end of the file.
        let header = "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}"
        var bytes: [UInt8] = [UInt8(header.utf8.count), 0, 0, 0, 0, 0, 0, 0] + Array(header.utf8)
        bytes += [0, 0, 0, 0]
        XCTAssertThrowsError(try Safetensors.parse(bytes, path: "w"))
        // A shape whose element count overflows.
        let huge = "{\"w\":{\"dtype\":\"F32\",\"shape\":[2305843009213693952,4],\"data_offsets\":[0,0]}}"
        let overflow: [UInt8] = [UInt8(huge.utf8.count), 0, 0, 0, 0, 0, 0, 0] + Array(huge.utf8)
        XCTAssertThrowsError(try Safetensors.parse(overflow, path: "w"))
    }
}
