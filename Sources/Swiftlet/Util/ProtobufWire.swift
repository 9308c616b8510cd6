/// Protocol Buffers' wire format (proto2), just enough to read and write SentencePiece's model
/// files without the protobuf library: a message is a list of fields in file order, unknown
/// fields included, so a decoded message re-encodes to the same bytes.
public enum ProtobufWire {
    public enum Value: Equatable, Sendable {
        case varint(UInt64)
        case fixed64(UInt64)
        case bytes([UInt8])
        case fixed32(UInt32)
    }

    public struct Field: Equatable, Sendable {
        public var number: Int
        public var value: Value
        public init(_ number: Int, _ value: Value) {
            self.number = number
            self.value = value
        }
    }

    /// Why bytes are not a message; the caller turns it into a sentence naming the file.
    public struct Malformed: Error, Equatable {
        public let reason: String
    }

    /// Decodes one message's fields. Every length is checked against the bytes left, so no input
    /// reads out of bounds or allocates more than its own size.
    public static func decode(_ bytes: ArraySlice<UInt8>) throws(Malformed) -> [Field] {
        var fields: [Field] = []
        var i = bytes.startIndex
        let end = bytes.endIndex
        func varint() throws(Malformed) -> UInt64 {
            var result: UInt64 = 0
            for shift in stride(from: 0, to: 70, by: 7) {
                guard i < end else { throw Malformed(reason: "a number is cut short") }
                let byte = bytes[i]
                i += 1
                guard shift < 63 || byte <= 1 else { throw Malformed(reason: "a number is longer than 64 bits") }
                result |= UInt64(byte & 0x7F) << UInt64(shift)
                if byte < 0x80 { return result }
            }
            throw Malformed(reason: "a number is longer than 64 bits")
        }
        func fixed(_ size: Int) throws(Malformed) -> UInt64 {
            guard end - i >= size else { throw Malformed(reason: "a fixed-size field is cut short") }
            var result: UInt64 = 0
            for k in 0..<size { result |= UInt64(bytes[i + k]) << UInt64(8 * k) }
            i += size
            return result
        }
        while i < end {
            let key = try varint()
            let number = key >> 3
            guard number > 0, number < 1 << 29 else { throw Malformed(reason: "a field number is out of range") }
            switch key & 7 {
            case 0: fields.append(Field(Int(number), .varint(try varint())))
            case 1: fields.append(Field(Int(number), .fixed64(try fixed(8))))
            case 2:
                let length = try varint()
                guard length <= UInt64(end - i) else {
                    throw Malformed(reason: "a field is longer than the bytes left")
                }
                fields.append(Field(Int(number), .bytes(Array(bytes[i..<i + Int(length)]))))
                i += Int(length)
            case 5: fields.append(Field(Int(number), .fixed32(UInt32(try fixed(4)))))
            default: throw Malformed(reason: "wire type \(key & 7) is not one this format uses")
            }
        }
        return fields
    }

    public static func encode(_ fields: [Field]) -> [UInt8] {
        var out: [UInt8] = []
        for field in fields { append(field, to: &out) }
        return out
    }

    static func append(_ field: Field, to out: inout [UInt8]) {
        func varint(_ x: UInt64) {
            var x = x
            while x >= 0x80 {
                out.append(UInt8(x & 0x7F) | 0x80)
                x >>= 7
            }
            out.append(UInt8(x))
        }
        let number = UInt64(field.number) << 3
        switch field.value {
        case .varint(let x):
            varint(number)
            varint(x)
        case .fixed64(let x):
            varint(number | 1)
            for k in 0..<8 { out.append(UInt8(truncatingIfNeeded: x >> UInt64(8 * k))) }
        case .bytes(let b):
            varint(number | 2)
            varint(UInt64(b.count))
            out += b
        case .fixed32(let x):
            varint(number | 5)
            for k in 0..<4 { out.append(UInt8(truncatingIfNeeded: x >> UInt32(8 * k))) }
        }
    }
}

/// A decoded message with typed access by field number. Setting a field replaces its first
/// occurrence or inserts it in field-number order (the order protobuf's own encoder writes).
public struct ProtobufMessage: Equatable, Sendable {
    public var fields: [ProtobufWire.Field]

    public init(fields: [ProtobufWire.Field] = []) { self.fields = fields }

    public init(bytes: ArraySlice<UInt8>) throws(ProtobufWire.Malformed) {
        fields = try ProtobufWire.decode(bytes)
    }

    public var encoded: [UInt8] { ProtobufWire.encode(fields) }

    public func value(_ number: Int) -> ProtobufWire.Value? {
        fields.last { $0.number == number }?.value
    }

    public func has(_ number: Int) -> Bool { fields.contains { $0.number == number } }

    public mutating func set(_ number: Int, _ value: ProtobufWire.Value) {
        if let i = fields.firstIndex(where: { $0.number == number }) {
            // A repeated occurrence of a scalar would win on reading (the last one counts): drop it.
            var later = fields[(i + 1)...].filter { $0.number != number }
            later.insert(ProtobufWire.Field(number, value), at: 0)
            fields.replaceSubrange(i..., with: later)
            return
        }
        let at = fields.firstIndex { $0.number > number } ?? fields.count
        fields.insert(ProtobufWire.Field(number, value), at: at)
    }

    public mutating func remove(_ number: Int) { fields.removeAll { $0.number == number } }

    // proto2 scalar types as SentencePiece's model uses them. A value of the wrong wire type
    // reads as absent.
    public func int32(_ number: Int) -> Int32? {
        guard case .varint(let x)? = value(number) else { return nil }
        return Int32(truncatingIfNeeded: x)
    }

    public func uint64(_ number: Int) -> UInt64? {
        guard case .varint(let x)? = value(number) else { return nil }
        return x
    }

    public func bool(_ number: Int) -> Bool? {
        guard case .varint(let x)? = value(number) else { return nil }
        return x != 0
    }

    public func float(_ number: Int) -> Float? {
        guard case .fixed32(let x)? = value(number) else { return nil }
        return Float(bitPattern: x)
    }

    public func bytes(_ number: Int) -> [UInt8]? {
        guard case .bytes(let b)? = value(number) else { return nil }
        return b
    }

    public func string(_ number: Int) -> String? {
        bytes(number).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Every occurrence of a repeated string field.
    public func strings(_ number: Int) -> [String] {
        fields.compactMap { field in
            guard field.number == number, case .bytes(let b) = field.value else { return nil }
            return String(decoding: b, as: UTF8.self)
        }
    }

    /// int32 fields are sign-extended to 64 bits on the wire (−1 takes ten bytes).
    public mutating func setInt32(_ number: Int, _ x: Int32) { set(number, .varint(UInt64(bitPattern: Int64(x)))) }
    public mutating func setBool(_ number: Int, _ x: Bool) { set(number, .varint(x ? 1 : 0)) }
    public mutating func setFloat(_ number: Int, _ x: Float) { set(number, .fixed32(x.bitPattern)) }
    public mutating func setBytes(_ number: Int, _ b: [UInt8]) { set(number, .bytes(b)) }
    public mutating func setString(_ number: Int, _ s: String) { set(number, .bytes(Array(s.utf8))) }
}
