/// SIMD building blocks shared by the kernels. Written to avoid the slow paths measured in
/// swift-performance.md: no `.max()`/`.sum()` on SIMD16 (scalar NaN-aware code), no
/// float→int conversions lane by lane.
public typealias Vec = SIMD16<Float>
public let vecWidth = 16

@inline(__always) func horizontalSum(_ v: Vec) -> Float {
    let a = v.lowHalf + v.highHalf
    let b = a.lowHalf + a.highHalf
    let c = b.lowHalf + b.highHalf
    return c[0] + c[1]
}

/// `horizontalSum` of twelve vectors at once: lane i of the result is horizontalSum(v[i])
/// (lanes 12–15 hold 0), bit for bit. Each step adds, lane by lane, exactly the two partial
/// sums `horizontalSum` adds at that step, but the lanes of several vectors share every add and
/// shuffle: twelve outputs take about five dozen vector instructions instead of twelve
/// reductions of their own, each ending in scalar adds.
@inline(__always) func horizontalSums12(
    _ v0: Vec, _ v1: Vec, _ v2: Vec, _ v3: Vec, _ v4: Vec, _ v5: Vec, _ v6: Vec, _ v7: Vec, _ v8: Vec, _ v9: Vec,
    _ v10: Vec, _ v11: Vec
) -> Vec {
    // 1: v.lowHalf + v.highHalf (8 partial sums), two vectors per result.
    let h0 = sumHalves(v0, v1), h1 = sumHalves(v2, v3), h2 = sumHalves(v4, v5), h3 = sumHalves(v6, v7)
    let h4 = sumHalves(v8, v9), h5 = sumHalves(v10, v11)
    // 2: their halves (4 partial sums), four vectors per result, one per 128-bit quarter.
    let q0 = sumQuarters(h0, h1), q1 = sumQuarters(h2, h3), q2 = sumQuarters(h4, h5)
    // 3: lanes 0, 1 + lanes 2, 3 of each quarter (2 partial sums), eight vectors per result.
    let t0 = sumLanePairs(q0, q1), t1 = sumLanePairs(q2, Vec())
    // 4: lane 0 + lane 1.
    return Vec(lowHalf: t0.evenHalf + t0.oddHalf, highHalf: t1.evenHalf + t1.oddHalf)
}

/// [p.lowHalf + p.highHalf, q.lowHalf + q.highHalf].
@inline(__always) func sumHalves(_ p: Vec, _ q: Vec) -> Vec {
    Vec(lowHalf: p.lowHalf, highHalf: q.lowHalf) + Vec(lowHalf: p.highHalf, highHalf: q.highHalf)
}

/// For vectors whose halves each hold one vector's 8 partial sums: quarter k of the result sums
/// the two quarters of half k of [a, b] (a's low half, a's high half, b's low half, b's high half).
@inline(__always) func sumQuarters(_ a: Vec, _ b: Vec) -> Vec {
    let x = Vec(
        lowHalf: SIMD8(lowHalf: a.lowHalf.lowHalf, highHalf: a.highHalf.lowHalf),
        highHalf: SIMD8(lowHalf: b.lowHalf.lowHalf, highHalf: b.highHalf.lowHalf))
    let y = Vec(
        lowHalf: SIMD8(lowHalf: a.lowHalf.highHalf, highHalf: a.highHalf.highHalf),
        highHalf: SIMD8(lowHalf: b.lowHalf.highHalf, highHalf: b.highHalf.highHalf))
    return x + y
}

/// For vectors whose quarters each hold one vector's 4 partial sums: lanes 2k, 2k + 1 of the
/// result are [l0 + l2, l1 + l3] of quarter k of [a, b] (a's four quarters, then b's). Written
/// with 64-bit lanes (a lane pair each), which LLVM turns into two-source permutes, where a
/// result built lane by lane was not.
@inline(__always) func sumLanePairs(_ a: Vec, _ b: Vec) -> Vec {
    let p = unsafeBitCast(a, to: SIMD8<Double>.self), q = unsafeBitCast(b, to: SIMD8<Double>.self)
    let x = SIMD8<Double>(lowHalf: p.evenHalf, highHalf: q.evenHalf)
    let y = SIMD8<Double>(lowHalf: p.oddHalf, highHalf: q.oddHalf)
    return unsafeBitCast(x, to: Vec.self) + unsafeBitCast(y, to: Vec.self)
}

@inline(__always) func horizontalMax(_ v: Vec) -> Float {
    var a = v.lowHalf
    let ah = v.highHalf
    a.replace(with: ah, where: a .< ah)
    var b = a.lowHalf
    let bh = a.highHalf
    b.replace(with: bh, where: b .< bh)
    var c = b.lowHalf
    let ch = b.highHalf
    c.replace(with: ch, where: c .< ch)
    return Swift.max(c[0], c[1])
}

@inline(__always) func vmax(_ a: Vec, _ b: Vec) -> Vec { a.replacing(with: b, where: a .< b) }

/// exp(x) to ~2 ulp for x in [-87, 88]: 2^n · 2^f with n = round(x·log2 e) found by the
/// add-and-subtract 1.5·2²³ trick, and a degree-6 polynomial for 2^f on [-0.5, 0.5].
@inline(__always) func fastExp(_ x: Vec) -> Vec {
    var x = x
    x.replace(with: -87, where: x .< -87)
    x.replace(with: 88, where: x .> 88)
    let magic: Float = 12_582_912  // 1.5 · 2²³
    let t = x * 1.442_695_04
    let shifted = t + magic
    let n = shifted - magic
    let f = t - n
    var p = Vec(repeating: 1.540_353_0e-4)
    p = p * f + 1.333_355_8e-3
    p = p * f + 9.618_129_1e-3
    p = p * f + 5.550_410_9e-2
    p = p * f + 2.402_265_1e-1
    p = p * f + 6.931_471_8e-1
    p = p * f + 1.0
    // The low mantissa bits of `shifted` hold n as an integer (offset by 2²²).
    let nBits = unsafeBitCast(shifted, to: SIMD16<Int32>.self) &- 0x4B40_0000
    let scale = unsafeBitCast((nBits &+ 127) &<< 23, to: Vec.self)
    return p * scale
}

@inline(__always) func fastExp(_ x: Float) -> Float {
    fastExp(Vec(repeating: x))[0]
}

@inline(__always) func load(_ p: UnsafePointer<Float>) -> Vec {
    UnsafeRawPointer(p).loadUnaligned(as: Vec.self)
}

@inline(__always) func load(_ p: UnsafeMutablePointer<Float>) -> Vec {
    UnsafeRawPointer(p).loadUnaligned(as: Vec.self)
}

@inline(__always) func store(_ v: Vec, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: Vec.self)
}

/// Dot product of two length-n vectors (`weightDot` with fp32 weights: two accumulators over
/// 32-float steps, then a 16-float step, then the scalar tail).
@inline(__always) func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
    weightDot(a, b, n)
}

/// y += alpha · x over n floats.
@inline(__always) func axpy(_ alpha: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
    let a = Vec(repeating: alpha)
    var i = 0
    while i + 16 <= n {
        store(load(y + i).addingProduct(a, load(x + i)), y + i)
        i += 16
    }
    while i < n {
        y[i] += alpha * x[i]
        i += 1
    }
}

/// Largest of x[0..<count].
@inline(__always) func maximum(_ x: UnsafeMutablePointer<Float>, count: Int) -> Float {
    var m = Vec(repeating: -Float.greatestFiniteMagnitude)
    var j = 0
    while j + 16 <= count {
        m = vmax(m, load(x + j))
        j += 16
    }
    var result = horizontalMax(m)
    while j < count {
        result = Swift.max(result, x[j])
        j += 1
    }
    return result
}

/// x[j] *= factor.
@inline(__always) func scaleInPlace(_ x: UnsafeMutablePointer<Float>, count: Int, by factor: Float) {
    let f = Vec(repeating: factor)
    var j = 0
    while j + 16 <= count {
        store(load(x + j) * f, x + j)
        j += 16
    }
    while j < count {
        x[j] *= factor
        j += 1
    }
}

/// x[j] = exp(x[j] − shift); returns Σ x[j].
@inline(__always) func exponentiateInPlace(_ x: UnsafeMutablePointer<Float>, count: Int, minus shift: Float) -> Float {
    let sv = Vec(repeating: shift)
    var acc = Vec()
    var j = 0
    while j + 16 <= count {
        let e = fastExp(load(x + j) - sv)
        store(e, x + j)
        acc += e
        j += 16
    }
    var sum = horizontalSum(acc)
    while j < count {
        let e = fastExp(x[j] - shift)
        x[j] = e
        sum += e
        j += 1
    }
    return sum
}
