import Swiftlet

/// A JSON document built in code, with its keys in the order written: how every response body
/// and server-sent event is produced (OpenAI's shapes include explicit nulls, which Codable
/// leaves out).
enum JSONValue: Sendable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral
{
    case null
    case bool(Bool)
    case int(Int)
    case number(Double)
    /// Written in Float's shortest form (embeddings would otherwise carry a dozen spurious digits).
    case float(Float)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])

    init(stringLiteral value: String) { self = .string(value) }
    init(integerLiteral value: Int) { self = .int(value) }
    init(booleanLiteral value: Bool) { self = .bool(value) }
    init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    init(nilLiteral: ()) { self = .null }
    init(dictionaryLiteral elements: (String, JSONValue)...) { self = .object(elements) }

    /// A number JSON can hold: a log-probability of −∞ becomes −9999, as vLLM reports it.
    static func finite(_ x: Float) -> JSONValue {
        x.isFinite ? .float(x) : .float(x.isNaN ? 0 : (x > 0 ? 9999 : -9999))
    }

    static func optional(_ value: String?) -> JSONValue { value.map { .string($0) } ?? .null }

    var serialized: String {
        var out = ""
        write(into: &out)
        return out
    }

    func write(into out: inout String) {
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .number(let x): out += x.isFinite ? (x == x.rounded() && abs(x) < 1e15 ? String(Int(x)) : "\(x)") : "0"
        case .float(let x): out += x.isFinite ? "\(x)" : "0"
        case .string(let s): out += JSONText.quoted(s)
        case .array(let items):
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += "," }
                item.write(into: &out)
            }
            out += "]"
        case .object(let fields):
            out += "{"
            for (i, (key, value)) in fields.enumerated() {
                if i > 0 { out += "," }
                out += JSONText.quoted(key)
                out += ":"
                value.write(into: &out)
            }
            out += "}"
        }
    }
}
