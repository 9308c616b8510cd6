/// A 64-bit digest of what a data-parallel run's ranks must share — options, tokenizer,
/// data, weights and optimizer state — so that ranks started with different files or
/// settings refuse to train together instead of silently training apart. Not cryptographic:
/// it catches mistakes, not adversaries.
public struct RunFingerprint: Sendable, Equatable {
    public private(set) var value: UInt64 = 0xCBF2_9CE4_8422_2325

    public init() {}

    public mutating func add(_ raw: UnsafeRawBufferPointer) {
        var h = value
        let words = raw.count / 8
        for i in 0..<words {
            h = (h ^ raw.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)) &* 0x0000_0100_0000_01B3
            h ^= h >> 29
        }
        for i in (words * 8)..<raw.count { h = (h ^ UInt64(raw[i])) &* 0x0000_0100_0000_01B3 }
        value = (h ^ UInt64(raw.count)) &* 0x9E37_79B9_7F4A_7C15
    }

    public mutating func add<T>(_ values: [T]) {
        values.withUnsafeBytes { add($0) }
    }

    public mutating func add(_ text: String) { add(Array(text.utf8)) }

    public mutating func add(_ buffer: FloatBuffer) {
        add(UnsafeRawBufferPointer(start: buffer.pointer, count: buffer.count * 4))
    }

    public mutating func add(_ documents: DocumentTokens) {
        add(documents.tokens)
        add(documents.documentStarts)
        if let trainable = documents.trainable { add(trainable.map { $0 ? UInt8(1) : 0 }) }
    }
}
