import XCTest
@testable import Swiftlet

/// The kernels Gemma 3 adds to the Llama block, each against a plain reference and its
/// backward against finite differences.
final class GemmaKernelTests: XCTestCase {
    func testGeGLUForwardAndBackward() {
        // Large gates too: the sigmoid form must saturate, not overflow.
        let count = 53
        var gate = TestData.randoms(count, seed: 6, scale: 3), up = TestData.randoms(count, seed: 7)
        gate[0] = 40
        gate[1] = -40
        let r = TestData.randoms(count, seed: 8)
        var out = [Float](repeating: 0, count: count)
        GeGLU.forward(gate: gate, up: up, out: &out, count: count)
        XCTAssertLessThan(maxAbsDifference(out, Reference.geglu(gate: gate, up: up)), 1e-5)
        var bits = [UInt16](repeating: 0, count: count)
        GeGLU.forward(gate: gate, up: up, out: &out, count: count, outBits: &bits)
        XCTAssertEqual(bits, out.map { BFloat16.round($0) })
        var dg = [Float](repeating: 0, count: count), du = dg
        GeGLU.backward(dout: r, gate: gate, up: up, dgate: &dg, dup: &du, count: count)
        let upCopy = up, gateCopy = gate
        for i in 0..<count {
            let ng = numericalDerivative(at: &gate, index: i, epsilon: 1e-3) {
                weightedSum(Reference.geglu(gate: $0, up: upCopy), r)
            }
            assertClose(Double(dg[i]), ng, relative: 1e-2, absolute: 1e-3, "dgate[\(i)]")
            let nu = numericalDerivative(at: &up, index: i, epsilon: 1e-3) {
                weightedSum(Reference.geglu(gate: gateCopy, up: $0), r)
            }
            assertClose(Double(du[i]), nu, relative: 1e-2, absolute: 1e-3, "dup[\(i)]")
        }
    }
}
