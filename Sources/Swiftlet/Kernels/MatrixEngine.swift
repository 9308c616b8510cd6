import CDNNL

/// Numeric precision of the training pass's matrix products.
public enum Precision: String, Codable, CaseIterable, Sendable {
    /// fp32 inputs, fp32 accumulation (`dnnl_sgemm`).
    case fp32
    /// bf16 inputs, fp32 accumulation and output (oneDNN's matmul primitive with the CPU's bf16
    /// dot-product instructions; ≈ 1.8× the fp32 rate here). Master weights, gradients and
    /// everything outside the products stay fp32.
    case bf16

    /// What training uses unless told otherwise: bf16 where the CPU has bf16 dot-product
    /// instructions (AVX512-BF16, which every CPU with AMX also has) and they are measured
    /// clearly faster than its fp32 FMAs (`DefaultPrecision`), fp32 elsewhere.
    public static var trainingDefault: Precision { DefaultPrecision.thisMachine.precision }

    /// One line for the user about the precision a run trains in; `requested` when the user
    /// chose it with --precision, else it is the default and the line says why.
    public func describedForTraining(requested: Bool) -> String {
        let why = requested ? nil : DefaultPrecision.thisMachine.why
        switch self {
        case .bf16:
            return "precision: bf16 products and attention with fp32 accumulation, fp32 master weights"
                + (why.map { " (the default: \($0); --precision fp32 to change)" } ?? "")
        case .fp32:
            guard let why else { return "precision: fp32" }
            if DefaultPrecision.thisMachine.reason == .noBF16Instructions { return "precision: fp32 (\(why))" }
            return "precision: fp32 (the default: \(why); --precision bf16 to use it anyway)"
        }
    }
}

/// The three products of a linear layer in either precision. In bf16 the operands are rounded
/// to bf16 just before each product and oneDNN matmul primitives are cached per shape. A
/// weight is rounded once per pass (weights do not change within one) and reused by the
/// forward and backward products; an activation is rounded again unless the caller passes its
/// bf16 copy (`xBits`, `dyBits`: written by the kernel that produced it, so it is rounded once
/// for all the products it feeds) or says it is the same, unchanged input as the slot's previous
/// product. In fp32 the bf16 copies are ignored. One engine serves one thread.
public final class MatrixEngine {
    public let precision: Precision
    private var scratchA = BFloat16Buffer(count: 0)
    private var scratchB = BFloat16Buffer(count: 0)
    /// The activation each scratch slot holds a bf16 copy of (two slots, as a tuple: a fresh
    /// array in every `beginPass` would be a heap allocation per step).
    private var lastActivation: (UnsafePointer<Float>?, UnsafePointer<Float>?) = (nil, nil)
    private var weightCopies: [UnsafePointer<Float>: (copy: BFloat16Buffer, pass: Int)] = [:]
    private var pass = 0
    private var products: [PrimitiveKey: Product] = [:]

    public init(precision: Precision) { self.precision = precision }

    /// Bytes of the bf16 copies held now (the weights' and the operands' scratch), for checking
    /// the memory plan. oneDNN's scratchpads (`Product`) are not counted here or in the plan.
    var bfloat16Bytes: Int {
        2 * (scratchA.capacity + scratchB.capacity + weightCopies.values.reduce(0) { $0 + $1.copy.capacity })
    }

    /// Marks the start of a forward/backward pass: weights may have changed since the last one.
    public func beginPass() {
        pass += 1
        lastActivation = (nil, nil)
    }

    enum Operand {
        case weight
        case activation
        /// The same buffer, unchanged, as this operand slot's previous product.
        case unchangedActivation
        /// Already rounded by the caller: these bits are the operand.
        case rounded(UnsafePointer<UInt16>)

        static func activation(_ bits: UnsafePointer<UInt16>?, sameInput: Bool = false) -> Operand {
            if let bits { return .rounded(bits) }
            return sameInput ? .unchangedActivation : .activation
        }
    }

    deinit {
        for p in products.values {
            dnnl_primitive_destroy(p.primitive)
            for m in p.memory { dnnl_memory_destroy(m) }
            p.arguments.deallocate()
            p.scratchpad?.deallocate()
        }
    }

    /// y[rows×out] (+)= x[rows×in] · W[out×in]ᵀ
    /// `sameInput`: x is the buffer of the previous `linear` call, unchanged.
    public func linear(
        _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
        rows: Int, inFeatures: Int, outFeatures: Int, accumulate: Bool = false, sameInput: Bool = false,
        xBits: UnsafePointer<UInt16>? = nil
    ) {
        guard precision == .bf16 else {
            return Gemm.linear(
                x, w, y, rows: rows, inFeatures: inFeatures, outFeatures: outFeatures, accumulate: accumulate)
        }
        matmul(
            a: (x, .activation(xBits, sameInput: sameInput), false), b: (w, .weight, true), c: y,
            m: rows, n: outFeatures, k: inFeatures, accumulate: accumulate)
    }

    /// dx[rows×in] (+)= dy[rows×out] · W[out×in]
    public func linearBackwardInput(
        _ dy: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
        rows: Int, inFeatures: Int, outFeatures: Int, accumulate: Bool, dyBits: UnsafePointer<UInt16>? = nil
    ) {
        guard precision == .bf16 else {
            return Gemm.linearBackwardInput(
                dy, w, dx, rows: rows, inFeatures: inFeatures, outFeatures: outFeatures, accumulate: accumulate)
        }
        matmul(
            a: (dy, .activation(dyBits), false), b: (w, .weight, false), c: dx, m: rows, n: inFeatures, k: outFeatures,
            accumulate: accumulate)
    }

    /// dW[out×in] += dy[rows×out]ᵀ · x[rows×in]. `sameInput`: x is the buffer of the previous
    /// `linearBackwardWeight` call, unchanged.
    public func linearBackwardWeight(
        _ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ dw: UnsafeMutablePointer<Float>,
        rows: Int, inFeatures: Int, outFeatures: Int, sameInput: Bool = false,
        dyBits: UnsafePointer<UInt16>? = nil, xBits: UnsafePointer<UInt16>? = nil
    ) {
        guard precision == .bf16 else {
            return Gemm.linearBackwardWeight(dy, x, dw, rows: rows, inFeatures: inFeatures, outFeatures: outFeatures)
        }
        matmul(
            a: (dy, .activation(dyBits), true), b: (x, .activation(xBits, sameInput: sameInput), false), c: dw,
            m: outFeatures, n: inFeatures, k: rows, accumulate: true)
    }

    /// C[m×n] (+)= op(A)[m×k] · op(B)[k×n], A stored (m×k) or, transposed, (k×m); B stored (k×n)
    /// or, transposed, (n×k); all row-major and contiguous.
    private func matmul(
        a: (UnsafePointer<Float>, Operand, transposed: Bool), b: (UnsafePointer<Float>, Operand, transposed: Bool),
        c: UnsafeMutablePointer<Float>, m: Int, n: Int, k: Int, accumulate: Bool
    ) {
        if m == 0 || n == 0 { return }
        ComputeThreads.applyToMatrixLibrary()  // before a primitive is made: oneDNN plans it for the team's size
        if k == 0 {
            if !accumulate { c.update(repeating: 0, count: m * n) }
            return
        }
        let aBits = rounded(a.0, count: m * k, as: a.1, slot: 0)
        let bBits = rounded(b.0, count: k * n, as: b.1, slot: 1)
        let key = PrimitiveKey(
            m: m, n: n, k: k, aTransposed: a.transposed, bTransposed: b.transposed, accumulate: accumulate)
        let product = products[key] ?? makeProduct(key)
        // The shape's memory objects are made once; a call only points them at its buffers.
        check(dnnl_memory_set_data_handle(product.memory[0], aBits))
        check(dnnl_memory_set_data_handle(product.memory[1], bBits))
        check(dnnl_memory_set_data_handle(product.memory[2], c))
        check(
            dnnl_primitive_execute(
                product.primitive, DNNLContext.shared.stream, product.argumentCount, product.arguments))
        check(dnnl_stream_wait(DNNLContext.shared.stream))
    }

    /// The bf16 bits of an operand: a weight's per-pass copy, or the slot's scratch.
    private func rounded(
        _ source: UnsafePointer<Float>, count: Int, as operand: Operand, slot: Int
    ) -> UnsafeMutablePointer<UInt16> {
        switch operand {
        case .rounded(let bits):
            return UnsafeMutablePointer(mutating: bits)
        case .weight:
            if let cached = weightCopies[source], cached.pass == pass, cached.copy.capacity >= count {
                return cached.copy.pointer
            }
            let copy = weightCopies[source]?.copy ?? BFloat16Buffer(count: count)
            copy.reserve(count)
            BFloat16.convert(source, into: copy.pointer, count: count)
            weightCopies[source] = (copy, pass)
            return copy.pointer
        case .activation, .unchangedActivation:
            let scratch = slot == 0 ? scratchA : scratchB
            if case .unchangedActivation = operand, (slot == 0 ? lastActivation.0 : lastActivation.1) == source {
                return scratch.pointer
            }
            scratch.reserve(count)
            BFloat16.convert(source, into: scratch.pointer, count: count)
            if slot == 0 { lastActivation.0 = source } else { lastActivation.1 = source }
            return scratch.pointer
        }
    }

    private struct PrimitiveKey: Hashable {
        let m, n, k: Int
        let aTransposed, bTransposed, accumulate: Bool
    }

    /// A product shape's primitive, its memory objects (source, weights, destination: buffers set
    /// per call; then its own scratchpad, when it needs one) and the execution arguments naming
    /// them. The scratchpad is the user's (ours, allocated once), so oneDNN allocates nothing
    /// per call.
    private struct Product {
        let primitive: dnnl_primitive_t
        let memory: [dnnl_memory_t]
        let arguments: UnsafeMutablePointer<dnnl_exec_arg_t>
        let argumentCount: Int32
        let scratchpad: UnsafeMutableRawPointer?
    }

    private func makeProduct(_ key: PrimitiveKey) -> Product {
        var (aDesc, bDesc, cDesc) = descriptors(key)
        var descriptor = dnnl_matmul_desc_t()
        check(dnnl_matmul_desc_init(&descriptor, &aDesc, &bDesc, nil, &cDesc))
        var attributes: dnnl_primitive_attr_t?
        check(dnnl_primitive_attr_create(&attributes))
        defer { dnnl_primitive_attr_destroy(attributes) }
        if key.accumulate {
            var postOps: dnnl_post_ops_t?
            check(dnnl_post_ops_create(&postOps))
            check(dnnl_post_ops_append_sum(postOps, 1))
            check(dnnl_primitive_attr_set_post_ops(attributes, postOps))
            dnnl_post_ops_destroy(postOps)
        }
        check(dnnl_primitive_attr_set_scratchpad_mode(attributes, dnnl_scratchpad_mode_user))
        var primitiveDescriptor: dnnl_primitive_desc_t?
        check(dnnl_primitive_desc_create(&primitiveDescriptor, &descriptor, attributes, DNNLContext.shared.engine, nil))
        defer { dnnl_primitive_desc_destroy(primitiveDescriptor) }
        var primitive: dnnl_primitive_t?
        check(dnnl_primitive_create(&primitive, primitiveDescriptor))
        let engine = DNNLContext.shared.engine
        var memory: [dnnl_memory_t] = []
        for var desc in [aDesc, bDesc, cDesc] {
            var object: dnnl_memory_t?
            check(dnnl_memory_create(&object, &desc, engine, nil))
            memory.append(object!)
        }
        var scratchpad: UnsafeMutableRawPointer?
        if let scratchpadDesc = dnnl_primitive_desc_query_md(primitiveDescriptor, dnnl_query_scratchpad_md, 0) {
            let bytes = dnnl_memory_desc_get_size(scratchpadDesc)
            if bytes > 0 {
                scratchpad = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
                var object: dnnl_memory_t?
                check(dnnl_memory_create(&object, scratchpadDesc, engine, scratchpad))
                memory.append(object!)
            }
        }
        let arguments = UnsafeMutablePointer<dnnl_exec_arg_t>.allocate(capacity: 4)
        arguments[0] = dnnl_exec_arg_t(arg: DNNL_ARG_SRC, memory: memory[0])
        arguments[1] = dnnl_exec_arg_t(arg: DNNL_ARG_WEIGHTS, memory: memory[1])
        arguments[2] = dnnl_exec_arg_t(arg: DNNL_ARG_DST, memory: memory[2])
        if memory.count > 3 { arguments[3] = dnnl_exec_arg_t(arg: DNNL_ARG_SCRATCHPAD, memory: memory[3]) }
        let product = Product(
            primitive: primitive!, memory: memory, arguments: arguments, argumentCount: Int32(memory.count),
            scratchpad: scratchpad)
        products[key] = product
        return product
    }

    /// Memory descriptors of A (m×k), B (k×n) in bf16 and C (m×n) in f32, with the stored
    /// transpositions expressed as format tags.
    private func descriptors(_ key: PrimitiveKey) -> (dnnl_memory_desc_t, dnnl_memory_desc_t, dnnl_memory_desc_t) {
        var a = dnnl_memory_desc_t(), b = dnnl_memory_desc_t(), c = dnnl_memory_desc_t()
        func describe(
            _ desc: inout dnnl_memory_desc_t, _ rows: Int, _ columns: Int, _ type: dnnl_data_type_t, transposed: Bool
        ) {
            let dims: [Int64] = [Int64(rows), Int64(columns)] + Array(repeating: 0, count: Int(DNNL_MAX_NDIMS) - 2)
            dims.withUnsafeBufferPointer {
                check(dnnl_memory_desc_init_by_tag(&desc, 2, $0.baseAddress, type, transposed ? dnnl_ba : dnnl_ab))
            }
        }
        describe(&a, key.m, key.k, dnnl_bf16, transposed: key.aTransposed)
        describe(&b, key.k, key.n, dnnl_bf16, transposed: key.bTransposed)
        describe(&c, key.m, key.n, dnnl_f32, transposed: false)
        return (a, b, c)
    }

    /// oneDNN failing here is an environment fault, not bad input: stop with its status.
    /// (Not `precondition`: release builds use -Ounchecked, which skips those checks.)
    private func check(_ status: dnnl_status_t, line: Int = #line) {
        if status != dnnl_success {
            fatalError("oneDNN call failed with status \(status.rawValue) (MatrixEngine.swift:\(line))")
        }
    }

    /// Whether this CPU runs bf16 products natively (oneDNN picks a bf16 kernel, and the bf16
    /// attention kernels have their instructions).
    public static var bf16IsNative: Bool { BF16Kernels.available }
}

/// The process's oneDNN engine and stream.
final class DNNLContext: @unchecked Sendable {
    static let shared = DNNLContext()
    let engine: dnnl_engine_t
    let stream: dnnl_stream_t
    let bf16IsNative: Bool

    private init() {
        var engine: dnnl_engine_t?
        let engineStatus = dnnl_engine_create(&engine, dnnl_cpu, 0)
        if engineStatus != dnnl_success { fatalError("oneDNN CPU engine unavailable") }
        var stream: dnnl_stream_t?
        let streamStatus = dnnl_stream_create(&stream, engine, dnnl_stream_default_flags.rawValue)
        if streamStatus != dnnl_success { fatalError("oneDNN stream unavailable") }
        self.engine = engine!
        self.stream = stream!
        let isa = dnnl_get_effective_cpu_isa()
        bf16IsNative = isa.rawValue & dnnl_cpu_isa_avx512_core_bf16.rawValue == dnnl_cpu_isa_avx512_core_bf16.rawValue
    }
}
