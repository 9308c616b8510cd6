import CQuantKernels

/// A weight matrix in one of ggml's quantized formats (Q8_0, Q5_0, Q4_0, Q4_K, Q6_K), for the
/// single-row products of decoding: the rows are the GGUF blocks repacked for the integer dot
/// products of `CQuantKernels` (same values, a vector-friendly order), and each product
/// quantizes its activation row as llama.cpp does: per block of 32 (Q8_0) for Q8_0, Q5_0 and
/// Q4_0, per super-block of 256 (Q8_K) for the k-quants Q4_K and Q6_K, whose products are
/// llama.cpp's to the bit (kquant_kernels.c). A row's result depends only on that row and that
/// activation: batching does not change what a sequence generates.
public final class QuantizedMatrix: @unchecked Sendable {
    /// The format the values are in (as in a GGUF file).
    public let type: GGMLType
    public let rows: Int
    public let columns: Int
    /// The layout of quant_kernels.c for Q8_0, Q5_0 and Q4_0; nil for the k-quants.
    let kind: Int32?
    let blocks: Int
    let rowBytes: Int
    let storage: UnsafeMutableRawPointer
    /// The slab `storage` is a piece of, if it is one (it keeps the slab alive).
    private let slab: HugePageSlab?
    /// The same blocks in tiles of 16 rows for prompt chunks (quant_tiles.c), for Q8_0 and Q4_0
    /// on a CPU with AVX512-VNNI; nil otherwise.
    private let tiles: UnsafeMutableRawPointer?
    private let tileSlab: HugePageSlab?

    /// Bytes streamed per product (what a decoded token reads of this matrix).
    public var byteCount: Int { rows * rowBytes }

    /// The types with a kernel, and the kernel's layout for each.
    static func kind(of type: GGMLType) -> Int32? {
        switch type {
        case .q8_0: Int32(SWIFTLET_KIND_Q8)
        case .q5_0: Int32(SWIFTLET_KIND_Q5)
        case .q4_0: Int32(SWIFTLET_KIND_Q4)
        default: nil
        }
    }

    /// The k-quants, whose products take Q8_K activations (kquant_kernels.c).
    static func isKQuant(_ type: GGMLType) -> Bool { type == .q4_K || type == .q6_K }

    /// Whether a matrix of this type and row length can be packed.
    public static func supports(_ type: GGMLType, columns: Int) -> Bool {
        guard kind(of: type) != nil || isKQuant(type), let codec = type.codec else { return false }
        return columns % codec.blockElements == 0
    }

    /// Bytes of one packed row of `columns` values (`supports` holds).
    static func packedRowBytes(_ type: GGMLType, columns: Int) -> Int {
        if let kind = kind(of: type) { return swiftlet_quant_row_bytes(kind, columns / 32) }
        return swiftlet_kquant_row_bytes(Int32(type.rawValue), columns / 256)
    }

    /// Bytes a product streams for a rows × columns matrix of `type` (packed when a kernel takes
    /// it, else its elements: 2 bytes for F16 and BF16, 4 for the rest).
    public static func streamedBytes(_ type: GGMLType, rows: Int, columns: Int) -> Int {
        if supports(type, columns: columns) { return rows * packedRowBytes(type, columns: columns) }
        return rows * columns * (type == .f16 || type == .bf16 ? 2 : 4)
    }

    /// Packs `rows` rows of GGUF blocks (`type.rowBytes(elements: columns)` bytes each, back to back).
    public init(type: GGMLType, rows: Int, columns: Int, blocks source: UnsafeRawPointer) {
        precondition(Self.supports(type, columns: columns), "QuantizedMatrix: \(type) rows of \(columns)")
        self.type = type
        self.rows = rows
        self.columns = columns
        kind = Self.kind(of: type)
        blocks = columns / 32
        rowBytes = Self.packedRowBytes(type, columns: columns)
        // 64 bytes past the rows: a partial group's fp16 scales are loaded as whole words.
        // Smaller matrices share huge-page slabs (`HugePageSlab`); larger ones have their own.
        let bytes = rows * rowBytes + 64
        if bytes <= HugePageSlab.bytes / 4 {
            (storage, slab) = HugePageSlab.allocate(byteCount: bytes)
        } else {
            storage = LargeAllocation.allocate(byteCount: bytes, alignment: 64)
            slab = nil
        }
        let tileBytes = kind.map { swiftlet_quant_tile_bytes($0, rows, columns / 32) } ?? 0
        if tileBytes > 0 && swiftlet_quant_best_isa() == Int32(SWIFTLET_ISA_AVX512VNNI) {
            if tileBytes <= HugePageSlab.bytes / 4 {
                let (pointer, slab) = HugePageSlab.allocate(byteCount: tileBytes)
                (tiles, tileSlab) = (pointer, slab)
            } else {
                (tiles, tileSlab) = (LargeAllocation.allocate(byteCount: tileBytes, alignment: 64), nil)
            }
        } else {
            (tiles, tileSlab) = (nil, nil)
        }
        let sourceRowBytes = type.rowBytes(elements: columns)!
        let s = SendableRawPointer(source), d = SendableRawPointer(storage)
        let (rowBytes, blocks, ggml) = (rowBytes, blocks, Int32(type.rawValue))
        let parts = rows * columns >= 1 << 20 ? 2 : 1
        parallelFor(parts) { part in
            for r in rows * part / parts..<rows * (part + 1) / parts {
                let from = (s.pointer + r * sourceRowBytes).assumingMemoryBound(to: UInt8.self)
                let to = UnsafeMutableRawPointer(mutating: d.pointer + r * rowBytes).assumingMemoryBound(to: UInt8.self)
                if Self.isKQuant(type) {
                    _ = swiftlet_kquant_pack(ggml, from, blocks / 8, to)
                } else {
                    _ = swiftlet_quant_pack(ggml, from, blocks, to)
                }
            }
        }
        if let tiles, let kind {
            swiftlet_quant_tile_pack(
                kind, storage.assumingMemoryBound(to: UInt8.self), rowBytes, blocks, rows,
                tiles.assumingMemoryBound(to: UInt8.self))
        }
    }

    deinit {
        if slab == nil { storage.deallocate() }
        if let tiles, tileSlab == nil { tiles.deallocate() }
    }

    /// Quantizes fp32 rows with ggml's reference quantizer for `type` (one that Swiftlet writes:
    /// Q8_0, Q5_0, Q4_0), writing the values it now holds back over `values` (so that every
    /// other kernel reading them computes with the same weights).
    public static func quantizing(
        _ values: UnsafeMutablePointer<Float>, rows: Int, columns: Int, type: GGMLType
    ) -> QuantizedMatrix {
        guard let encoder = type.encoder, supports(type, columns: columns) else {
            preconditionFailure("QuantizedMatrix: Swiftlet does not quantize to \(type)")
        }
        let blocks = rows * columns / encoder.blockElements
        let bytes = UnsafeMutableRawPointer.allocate(byteCount: blocks * encoder.blockBytes, alignment: 64)
        defer { bytes.deallocate() }
        let parts = rows * columns >= 1 << 20 ? 8 : 1
        let v = SendablePointer(values), b = SendableRawPointer(bytes)
        parallelFor(parts) { part in
            let lo = blocks * part / parts, hi = blocks * (part + 1) / parts
            let out = UnsafeMutableRawPointer(mutating: b.pointer + lo * encoder.blockBytes)
            encoder.encode(v.pointer + lo * encoder.blockElements, blocks: hi - lo, into: out)
            encoder.decode(UnsafeRawPointer(out), blocks: hi - lo, into: v.pointer + lo * encoder.blockElements)
        }
        return QuantizedMatrix(type: type, rows: rows, columns: columns, blocks: bytes)
    }

    /// Y[count×rows] (+)= X[count×columns] · Wᵀ. Each weight row is read once for all `count`
    /// activation rows; large products are split over both cores by weight rows, in
    /// `Gemv.sharedParts` items (two halves left one core waiting for the other at the end of
    /// every product: perf put 5 % of a 110M-shape Q4_0 token in that wait).
    public func apply(
        _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int, accumulate: Bool,
        scratch: QuantizedActivations
    ) {
        let parts = parts(count: count)
        let ys = SendablePointer(y), w = SendableRawPointer(storage)
        guard let kind else {
            scratch.quantizeQ8K(x, count: count, superBlocks: blocks / 8)
            let q = SendableRawPointer(scratch.q8k), qStride = scratch.q8kStride
            let (ggml, rowBytes, superBlocks, rows) = (Int32(type.rawValue), rowBytes, blocks / 8, rows)
            parallelFor(parts) { part in
                swiftlet_kquant_rows(
                    ggml, w.pointer.assumingMemoryBound(to: UInt8.self), rowBytes, superBlocks, rows * part / parts,
                    rows * (part + 1) / parts, q.pointer.assumingMemoryBound(to: UInt8.self), qStride, count,
                    ys.pointer, rows, accumulate ? 1 : 0)
            }
            return
        }
        let a = scratch.quantize(x, count: count, blocks: blocks, kind: kind)
        parallelFor(parts) { part in
            self.rows(part, of: parts, kind: kind, a, count: count, ys.pointer, accumulate: accumulate)
        }
    }

    /// How many items a product over `count` activation rows is cut into for the worker team.
    private func parts(count: Int) -> Int {
        count * rows * columns >= Gemv.rowsParallelThreshold ? Gemv.sharedParts(rows) : 1
    }

    /// The weight rows of item `part` of `parts` of a product with activation rows `a`.
    @inline(__always)
    private func rows(
        _ part: Int, of parts: Int, kind: Int32, _ a: QuantizedActivations.Rows, count: Int,
        _ y: UnsafeMutablePointer<Float>, accumulate: Bool
    ) {
        swiftlet_quant_rows(
            kind, storage.assumingMemoryBound(to: UInt8.self), rowBytes, blocks, rows * part / parts,
            rows * (part + 1) / parts, a.q, a.qStride, a.d, a.low, a.high, a.blockStride, count, y, rows,
            accumulate ? 1 : 0)
    }

    /// Y_k[count×rows_k] = X · W_kᵀ for two or three matrices that read the same activation rows
    /// (a layer's query, key and value, or its gate and up): the rows quantized once and every
    /// matrix's items in one job of the worker team, where separate `apply`s take one each. Each
    /// output is what `apply` gives (the same row products, however the rows are cut). False,
    /// doing nothing, unless the matrices share a block layout and a row length.
    static func applySharingInput(
        _ x: UnsafePointer<Float>, count: Int, scratch: QuantizedActivations,
        _ m0: QuantizedMatrix, _ y0: UnsafeMutablePointer<Float>, _ m1: QuantizedMatrix,
        _ y1: UnsafeMutablePointer<Float>, _ m2: QuantizedMatrix? = nil, _ y2: UnsafeMutablePointer<Float>? = nil
    ) -> Bool {
        guard let kind = m0.kind, m1.kind == kind, m1.columns == m0.columns,
            m2 == nil || (m2!.kind == kind && m2!.columns == m0.columns && y2 != nil)
        else { return false }
        let p0 = m0.parts(count: count), p1 = m1.parts(count: count), p2 = m2?.parts(count: count) ?? 0
        let a = scratch.quantize(x, count: count, blocks: m0.blocks, kind: kind)
        parallelFor(p0 + p1 + p2) { item in
            if item < p0 {
                m0.rows(item, of: p0, kind: kind, a, count: count, y0, accumulate: false)
            } else if item < p0 + p1 {
                m1.rows(item - p0, of: p1, kind: kind, a, count: count, y1, accumulate: false)
            } else {
                m2!.rows(item - p0 - p1, of: p2, kind: kind, a, count: count, y2!, accumulate: false)
            }
        }
        return true
    }
}

extension QuantizedMatrix {
    /// Whether prompt chunks can run through the tiles on this CPU now (the tests may switch
    /// to a narrower instruction set).
    var takesChunks: Bool { tiles != nil && swiftlet_quant_tiles_available() != 0 }

    /// Y[count×rows] (+)= X[count×columns] · Wᵀ for a prompt chunk through the tiles: the bits
    /// `apply` gives (each lane of the tiled kernel does a row product's operations), so a
    /// prompt's rows get what decoding them one by one would. `takesChunks` must hold. Split over
    /// both cores by tiles of 16 weight rows.
    func applyChunk(
        _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int, accumulate: Bool,
        scratch: QuantizedActivations
    ) {
        guard let kind, let tiles else { preconditionFailure("QuantizedMatrix.applyChunk: no tiles") }
        let a = scratch.quantize(x, count: count, blocks: blocks, kind: kind)
        let tileCount = (rows + 15) / 16
        let parts = count * rows * columns >= Gemv.rowsParallelThreshold ? min(tileCount, 16) : 1
        let ys = SendablePointer(y), t = SendableRawPointer(tiles)
        let (blocks, rows) = (blocks, rows)
        parallelFor(parts) { part in
            swiftlet_quant_tile_rows(
                kind, t.pointer.assumingMemoryBound(to: UInt8.self), blocks, rows, tileCount * part / parts,
                tileCount * (part + 1) / parts, a.q, a.qStride, a.d, a.low, a.high, a.blockStride, count, ys.pointer,
                rows, accumulate ? 1 : 0)
        }
    }
}

/// Activation rows quantized for `QuantizedMatrix` products: int8 values per block of 32 in the
/// kernels' order, each block's scale and the sums of its two halves; or, for the k-quants,
/// ggml's Q8_K blocks. Grows as needed; one per thread that runs products.
public final class QuantizedActivations {
    private(set) var q8k = UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 64)
    private var q8kCapacity = 64
    private(set) var q8kStride = 0

    private(set) var q = UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 64)
    private(set) var d = UnsafeMutablePointer<Float>.allocate(capacity: 8)
    private(set) var low = UnsafeMutablePointer<Int32>.allocate(capacity: 8)
    private(set) var high = UnsafeMutablePointer<Int32>.allocate(capacity: 8)
    private var capacity = (bytes: 64, blocks: 8)
    private(set) var qStride = 0, blockStride = 0

    public init() {}
    deinit {
        q8k.deallocate()
        q.deallocate()
        d.deallocate()
        low.deallocate()
        high.deallocate()
    }

    func quantizeQ8K(_ x: UnsafePointer<Float>, count: Int, superBlocks: Int) {
        q8kStride = swiftlet_q8k_row_bytes(superBlocks)
        if count * q8kStride > q8kCapacity {
            q8k.deallocate()
            q8kCapacity = count * q8kStride
            q8k = UnsafeMutableRawPointer.allocate(byteCount: q8kCapacity, alignment: 64)
        }
        for i in 0..<count {
            swiftlet_q8k_quantize(
                x + i * superBlocks * 256, superBlocks, (q8k + i * q8kStride).assumingMemoryBound(to: UInt8.self))
        }
    }

    /// What the block kernels read of the rows `quantize` wrote, in one value the worker
    /// closures can capture (the pointers stay valid until the next `quantize`).
    struct Rows: @unchecked Sendable {
        let q: UnsafeMutablePointer<Int8>
        let d: UnsafeMutablePointer<Float>
        let low: UnsafeMutablePointer<Int32>
        let high: UnsafeMutablePointer<Int32>
        let qStride: Int
        let blockStride: Int
    }

    /// Quantizes `count` rows of `blocks` × 32 values for the products of layout `kind`.
    @discardableResult
    func quantize(_ x: UnsafePointer<Float>, count: Int, blocks: Int, kind: Int32) -> Rows {
        qStride = swiftlet_quant_activation_bytes(blocks)
        blockStride = swiftlet_quant_activation_blocks(blocks)
        if count * qStride > capacity.bytes || count * blockStride > capacity.blocks {
            q.deallocate(); d.deallocate(); low.deallocate(); high.deallocate()
            capacity = (count * qStride, count * blockStride)
            q = UnsafeMutableRawPointer.allocate(byteCount: capacity.bytes, alignment: 64)
            d = .allocate(capacity: capacity.blocks)
            low = .allocate(capacity: capacity.blocks)
            high = .allocate(capacity: capacity.blocks)
        }
        for i in 0..<count {
            swiftlet_quant_activation(
                kind, x + i * blocks * 32, blocks, (q + i * qStride).assumingMemoryBound(to: Int8.self),
                d + i * blockStride, low + i * blockStride, high + i * blockStride)
        }
        return Rows(
            q: q.assumingMemoryBound(to: Int8.self), d: d, low: low, high: high, qStride: qStride,
            blockStride: blockStride)
    }
}

/// Which of the integer dot-product kernels this CPU runs, by name (for `info` and the tests).
public enum QuantKernels {
    public static let names = ["portable C", "AVX2", "AVX-VNNI", "AVX512-VNNI"]
    public static var best: Int { Int(swiftlet_quant_best_isa()) }
    public static var inUse: Int { Int(swiftlet_quant_isa()) }
    /// The variants this CPU runs (AVX512-VNNI does not imply AVX-VNNI: Zen 4 has only the former).
    public static var available: [Int] { (0..<names.count).filter { swiftlet_quant_isa_available(Int32($0)) != 0 } }
    /// Chooses a variant (at most the best): the tests run every one this CPU has.
    static func use(_ isa: Int) { swiftlet_quant_use_isa(Int32(isa)) }
}
