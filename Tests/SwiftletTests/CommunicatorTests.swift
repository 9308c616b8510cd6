import XCTest
@testable import Swiftlet

/// The collectives of data-parallel training. Alone they are identities; under mpirun
/// (MPITrainingTests runs this test bundle with `mpirun -np 2`) every rank checks what the
/// others contributed.
final class CommunicatorTests: XCTestCase {
    func testOneProcessAloneKeepsItsValues() throws {
        let single = SingleProcess()
        XCTAssertEqual(single.rank, 0)
        XCTAssertEqual(single.size, 1)
        var values: [Float] = [1, -2, 3]
        try values.withUnsafeMutableBufferPointer { try single.allReduceSum($0.baseAddress!, count: 3) }
        XCTAssertEqual(values, [1, -2, 3])
        XCTAssertTrue(try single.agree(on: 0xDEAD_BEEF_0123_4567))
    }

    func testThreadCountDefaultsToTheCoresThisProcessMayUse() {
        XCTAssertGreaterThanOrEqual(ComputeThreads.defaultCount, 1)
        XCTAssertLessThanOrEqual(ComputeThreads.defaultCount, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    }

    func testRanksSumBroadcastAndAgree() throws {
        guard ParallelEnvironment.launcher != nil else {
            throw XCTSkip("runs under mpirun (MPITrainingTests.testCommunicatorUnderMPI starts it)")
        }
        let world = try Communicators.world()
        let mpi = try XCTUnwrap(world as? MPICommunicator)
        XCTAssertGreaterThan(world.size, 1, "started under mpirun with one rank")
        let (rank, size) = (world.rank, world.size)
        // Several buckets, the last one partial.
        mpi.bucketFloats = 1000
        let count = 2500
        let buffer = FloatBuffer(count: count)
        for i in 0..<count { buffer.pointer[i] = Float(i % 97) * Float(rank + 1) }
        try world.allReduceSum(buffer.pointer, count: count)
        let ranksSum = Float(size * (size + 1) / 2)
        for i in 0..<count where buffer.pointer[i] != Float(i % 97) * ranksSum {
            XCTFail("element \(i) is \(buffer.pointer[i]), not \(Float(i % 97) * ranksSum)")
            break
        }
        var sums = [Double(rank), 1]
        try world.allReduceSum(&sums)
        XCTAssertEqual(sums, [Double(size * (size - 1) / 2), Double(size)])
        var largest = [Double(rank), -Double(rank)]
        try world.allReduceMax(&largest)
        XCTAssertEqual(largest, [Double(size - 1), 0])
        var bytes = [UInt8](repeating: UInt8(rank), count: 5)
        try world.broadcast(&bytes, root: size - 1)
        XCTAssertEqual(bytes, [UInt8](repeating: UInt8(size - 1), count: 5))
        XCTAssertTrue(try world.agree(on: 0xFEED_FACE_CAFE_0001))
        XCTAssertFalse(try world.agree(on: rank == 0 ? 7 : 7 | 1 << 40))
        XCTAssertFalse(try world.agree(on: rank == 0 ? 1 << 33 : 1 << 33 | 1))
        try world.barrier()
        XCTAssertGreaterThan(world.communicationSeconds, 0)
        // mpirun counts a rank that exits without MPI_Finalize as failed.
        Communicators.finish()
    }
}
