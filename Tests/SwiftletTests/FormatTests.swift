import XCTest
@testable import Swiftlet

/// Issue 12: formatting traps on nothing — huge, tiny, negative, NaN, ±infinity.
final class FormatTests: XCTestCase {
    func testFixedHandlesEveryDouble() {
        XCTAssertEqual(Format.fixed(3.14159, 2), "3.14")
        XCTAssertEqual(Format.fixed(-0.004, 2), "0.00")
        XCTAssertEqual(Format.fixed(-1.5, 1), "-1.5")
        XCTAssertEqual(Format.fixed(0.1 + 0.2, 4), "0.3000")
        XCTAssertEqual(Format.fixed(999.9996, 3), "1000.000")
        // Perplexity of a loss of 40 nats: exp(40) ≈ 2.35e17 — the formatter used to trap here.
        for x in [exp(40.0), exp(33.0), 1e20, -1e300, Double.greatestFiniteMagnitude, 9.007e15, 123456789012345.6] {
            for digits in [0, 1, 2, 4, 20, -3] {
                let text = Format.fixed(x, digits)
                XCTAssertFalse(text.isEmpty)
            }
        }
        XCTAssertEqual(Format.fixed(1e20, 2), "1.00e20")
        XCTAssertEqual(Format.fixed(.nan, 3), "nan")
        XCTAssertEqual(Format.fixed(.infinity, 3), "inf")
        XCTAssertEqual(Format.fixed(-.infinity, 3), "-inf")
        XCTAssertEqual(Format.fixed(.leastNonzeroMagnitude, 2), "0.00")
    }

    func testScientificSecondsCountsAndBytes() {
        XCTAssertEqual(Format.scientific(0.0018), "1.80e-3")
        XCTAssertEqual(Format.scientific(.leastNonzeroMagnitude), "4.94e-324")
        XCTAssertEqual(Format.scientific(-.greatestFiniteMagnitude), "-1.80e308")
        XCTAssertEqual(Format.scientific(0), "0")
        XCTAssertEqual(Format.scientific(.nan), "nan")
        XCTAssertEqual(Format.seconds(1e300), "1.00e300s")
        XCTAssertEqual(Format.seconds(-.infinity), "?")
        XCTAssertEqual(Format.seconds(3725), "1h02m05s")
        XCTAssertEqual(Format.grouped(Int.min), "-9,223,372,036,854,775,808")
        XCTAssertEqual(Format.count(Int.max), "9.22e18")
        XCTAssertEqual(Format.bytes(24 << 30), "24.0 GiB")
        XCTAssertEqual(Format.bytes(Int.max), "8.0 EiB")
        XCTAssertEqual(Format.bytes(512), "512 bytes")
        XCTAssertEqual(Format.eta(elapsed: 1e308, done: 1, total: Int.max), "?")
    }
}
