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
