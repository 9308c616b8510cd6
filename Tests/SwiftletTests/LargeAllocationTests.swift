import XCTest
@testable import Swiftlet

/// The large buffers' allocation: 2 MB-aligned (and advised for huge pages) from 4 MB on.
final class LargeAllocationTests: XCTestCase {
    func testLargeBuffersAreHugePageAlignedAndSmallOnesAreNot() {
        let large = LargeAllocation.allocate(byteCount: LargeAllocation.threshold, alignment: 64)
        defer { large.deallocate() }
        XCTAssertEqual(Int(bitPattern: large) % LargeAllocation.hugePage, 0)
        let small = LargeAllocation.allocate(byteCount: LargeAllocation.threshold - 1, alignment: 64)
        defer { small.deallocate() }
        XCTAssertEqual(Int(bitPattern: small) % 64, 0)
    }

    func testALargeFloatBufferIsAlignedZeroedAndWritableToItsEnd() {
        let count = 3 << 20  // 12 MB
        let buffer = FloatBuffer(count: count)
        XCTAssertEqual(Int(bitPattern: buffer.pointer) % LargeAllocation.hugePage, 0)
        XCTAssertEqual(buffer[0], 0)
        XCTAssertEqual(buffer[count - 1], 0)
        buffer[count - 1] = 3
        XCTAssertEqual(buffer[count - 1], 3)
        let bits = BFloat16Buffer(count: count)
        XCTAssertEqual(Int(bitPattern: bits.pointer) % LargeAllocation.hugePage, 0)
        bits.reserve(2 * count)
        XCTAssertEqual(Int(bitPattern: bits.pointer) % LargeAllocation.hugePage, 0)
    }
}
