import XCTest
@testable import Swiftlet

/// The k-quant kernels (kquant_kernels.c) against a reference twin written here from llama.cpp's
/// arithmetic: ggml's Q8_K activation blocks, Q4_K rows as its repacked kernel sums them (exact
/// integers per super-block, two fp32 accumulators by fused multiply-adds, one subtracted from
/// the other) and Q6_K rows as its vec_dot_q6_K_q8_K does (eight int32 lanes per super-block,
/// eight fp32 accumulators, summed in its order). Both variants must give the twin's bits.
final class KQuantKernelTests: XCTestCase {
    /// ggml's quantize_row_q8_K_ref: per 256, the first element of largest magnitude m,
    /// q = (−127 / m) · x rounded to nearest even, d = 1 / (−127 / m). Values and each 256's d.
    static func q8K(_ x: [Float]) -> (q: [Int8], d: [Float]) {
        var q = [Int8](repeating: 0, count: x.count), d: [Float] = []
        for b in 0..<x.count / 256 {
            var max: Float = 0, amax: Float = 0
            for v in x[b * 256..<(b + 1) * 256] where abs(v) > amax { (amax, max) = (abs(v), v) }
            guard amax != 0 else { d.append(0); continue }
            let iscale = -127 / max
            for i in b * 256..<(b + 1) * 256 { q[i] = Int8(Swift.min(127, (iscale * x[i]).rounded(.toNearestOrEven))) }
            d.append(1 / iscale)
        }
        return (q, d)
    }

    static func half(_ bytes: ArraySlice<UInt8>, _ at: Int) -> Float {
        Float16Bits.value(UInt16(bytes[at]) | UInt16(bytes[at + 1]) << 8)
    }

    /// One Q4_K row (144-byte blocks as in the file) against quantized activations.
    static func q4KRow(_ row: ArraySlice<UInt8>, _ q: ArraySlice<Int8>, _ d: ArraySlice<Float>) -> Float {
        var acc: Float = 0, mins: Float = 0
        for b in 0..<row.count / 144 {
            let block = row[(row.startIndex + b * 144)...], s = block.startIndex + 4, qs = block.startIndex + 16
            let x = q.startIndex + 256 * b
            var sum: Int32 = 0, minSum: Int32 = 0
            for sub in 0..<8 {
                let scale, min: Int32
                if sub < 4 {
                    (scale, min) = (Int32(block[s + sub] & 63), Int32(block[s + sub + 4] & 63))
                } else {
                    scale = Int32(block[s + sub + 4] & 0xF | (block[s + sub - 4] >> 6) << 4)
                    min = Int32(block[s + sub + 4] >> 4 | (block[s + sub] >> 6) << 4)
                }
                var dot: Int32 = 0, values: Int32 = 0
                for i in 0..<32 {
                    let byte = block[qs + 32 * (sub / 2) + i]
                    dot += Int32(sub % 2 == 0 ? byte & 0xF : byte >> 4) * Int32(q[x + 32 * sub + i])
                    values += Int32(q[x + 32 * sub + i])
                }
                sum += scale * dot
                minSum += min * values
            }
            let d8 = d[d.startIndex + b]
            acc = acc.addingProduct(Float(sum), half(block, block.startIndex) * d8)
            mins = mins.addingProduct(Float(minSum), half(block, block.startIndex + 2) * d8)
        }
        return acc - mins
    }

    /// One Q6_K row (210-byte blocks as in the file).
    static func q6KRow(_ row: ArraySlice<UInt8>, _ q: ArraySlice<Int8>, _ d: ArraySlice<Float>) -> Float {
        var acc = [Float](repeating: 0, count: 8)
        for b in 0..<row.count / 210 {
            let block = row[(row.startIndex + b * 210)...], ql = block.startIndex, qh = ql + 128, sc = ql + 192
            let x = q.startIndex + 256 * b
            func scale(_ i: Int) -> Int32 { Int32(Int8(bitPattern: block[sc + i])) }
            var lanes = [Int32](repeating: 0, count: 8)
            for value in 0..<256 {
                let n = value / 128, c = value % 128 / 32, l = value % 32
                let low = block[ql + 64 * n + 32 * (c % 2) + l], high = block[qh + 32 * n + l]
                let v = Int32(c < 2 ? low & 0xF : low >> 4) | Int32((high >> (2 * c)) & 3) << 4
                lanes[l / 4] += scale(8 * n + 2 * c + l / 16) * v * Int32(q[x + value])
            }
            let d = d[d.startIndex + b] * half(block, block.startIndex + 208)
            for l in 0..<8 {
                // 32 · Σ scale · (sum of 16 values) for the sums 2l and 2l + 1.
                var correction: Int32 = 0
                for k in [2 * l, 2 * l + 1] {
                    correction += scale(k) * q[(x + 16 * k)..<(x + 16 * k + 16)].reduce(0) { $0 + Int32($1) }
                }
                lanes[l] -= 32 * correction
                acc[l] = acc[l].addingProduct(d, Float(lanes[l]))
            }
        }
        return ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]))
    }

    /// Random blocks (every bit pattern of the values and 6-bit scales is legal) with sane fp16 scales.
    func blocks(_ type: GGMLType, count: Int, seed: UInt64) -> [UInt8] {
        let size = type == .q4_K ? 144 : 210
        var rng = RandomGenerator(seed: seed)
        var bytes = (0..<count * size).map { _ in UInt8(rng.below(256)) }
        func put(_ offset: Int, _ value: Float) {
            let bits = Float16Bits.round(value)
            (bytes[offset], bytes[offset + 1]) = (UInt8(bits & 0xFF), UInt8(bits >> 8))
        }
        for b in 0..<count {
            if type == .q4_K {
                put(b * size, 0.001 + 0.01 * Float(rng.uniform()))
                put(b * size + 2, 0.001 + 0.01 * Float(rng.uniform()))
            } else {
                put(b * size + 208, (Float(rng.uniform()) - 0.5) * 0.002)
            }
        }
        return bytes
    }

    func testQ8KActivationsAreGgmlsBlocks() {
        var x = TestData.randoms(3 * 256, seed: 5)
        x.replaceSubrange(256..<512, with: repeatElement(0, count: 256))  // d = 0
        x[600] = 9
        x[700] = -9  // equal magnitudes: the first one's sign
        let scratch = QuantizedActivations()
        scratch.quantizeQ8K(x, count: 1, superBlocks: 3)
        XCTAssertEqual(scratch.q8kStride, 3 * 292)
        let out = Array(UnsafeRawBufferPointer(start: scratch.q8k, count: 3 * 292))
        let (q, d) = Self.q8K(x)
        for b in 0..<3 {
            let block = Array(out[b * 292..<(b + 1) * 292])
            let scale = block.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 0, as: Float.self) }
            XCTAssertEqual(scale.bitPattern, d[b].bitPattern, "block \(b)")
            XCTAssertEqual(block[4..<260].map { Int8(bitPattern: $0) }, Array(q[b * 256..<(b + 1) * 256]))
            for j in 0..<16 {
                let sum = block.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 260 + 2 * j, as: Int16.self) }
                XCTAssertEqual(Int(sum), q[b * 256 + 16 * j..<b * 256 + 16 * j + 16].reduce(0) { $0 + Int($1) })
            }
        }
        XCTAssertLessThan(d[2], 0)  // the first largest (+9) sets the sign: iscale = −127 / 9
    }

    func testKQuantRowsMatchTheTwinBitForBitInEveryVariant() {
        let best = QuantKernels.best
        defer { QuantKernels.use(best) }
        for type in [GGMLType.q4_K, .q6_K] {
            let size = type == .q4_K ? 144 : 210
            for columns in [256, 1024, 2048 + 256] {
                let rows = 11, superBlocks = columns / 256
                let bytes = blocks(type, count: rows * superBlocks, seed: UInt64(columns) + 3)
                let matrix = bytes.withUnsafeBytes {
                    QuantizedMatrix(type: type, rows: rows, columns: columns, blocks: $0.baseAddress!)
                }
                XCTAssertEqual(matrix.byteCount, rows * superBlocks * (type == .q4_K ? 148 : 210))
                var x = TestData.randoms(2 * columns, seed: 8, scale: 3)
                x.replaceSubrange(0..<256, with: repeatElement(0, count: 256))
                let (q, d) = Self.q8K(x)
                let twin = (0..<2).flatMap { i in
                    (0..<rows).map { r in
                        let row = bytes[r * superBlocks * size..<(r + 1) * superBlocks * size]
                        let qi = q[i * columns..<(i + 1) * columns], di = d[i * superBlocks..<(i + 1) * superBlocks]
                        return type == .q4_K ? Self.q4KRow(row, qi, di) : Self.q6KRow(row, qi, di)
                    }
                }
                let scratch = QuantizedActivations()
                for isa in QuantKernels.available {
                    QuantKernels.use(isa)
                    var y = [Float](repeating: 0, count: 2 * rows)
                    matrix.apply(x, &y, count: 2, accumulate: false, scratch: scratch)
                    XCTAssertEqual(
                        y.map(\.bitPattern), twin.map(\.bitPattern), "\(type) \(columns) \(QuantKernels.names[isa])")
                }
            }
        }
    }
}
