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

    func testSlabPiecesAreAlignedDisjointAndKeepTheirSlab() {
        var pieces: [(UnsafeMutableRawPointer, Int, HugePageSlab)] = []
        for size in [1, 100, 332_000, 884_800, 64, 5_000_000, 8_388_608] {
            let (pointer, slab) = HugePageSlab.allocate(byteCount: size)
            XCTAssertEqual(Int(bitPattern: pointer) % 64, 0)
            let offset = pointer - slab.base
            XCTAssertTrue(offset >= 0 && offset + size <= HugePageSlab.bytes)
            pointer.initializeMemory(as: UInt8.self, repeating: UInt8(truncatingIfNeeded: pieces.count), count: size)
            pieces.append((pointer, size, slab))
        }
        for (i, piece) in pieces.enumerated() {
            let bytes = piece.0.assumingMemoryBound(to: UInt8.self)
            XCTAssertEqual(bytes[0], UInt8(i))
            XCTAssertEqual(bytes[piece.1 - 1], UInt8(i))
        }
    }
}
