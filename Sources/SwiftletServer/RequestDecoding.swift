#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Request bodies are decoded into plain Decodable structs; every decoding failure becomes a 400
/// that names the field at fault, in the request's own spelling (`messages[0].content`).
enum RequestDecoding {
    static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(bytes))
        } catch let error as APIError {
            throw error
        } catch let DecodingError.typeMismatch(expected, context) {
            let field = path(context.codingPath)
            if field.isEmpty { throw APIError(.badRequest, "the request body must be a JSON object.") }
            throw APIError.invalid(field, "`\(field)` must be \(describe(expected)).")
        } catch let DecodingError.keyNotFound(key, context) {
            let field = path(context.codingPath + [key])
            throw APIError.invalid(field, "`\(field)` is required.")
        } catch let DecodingError.valueNotFound(expected, context) {
            let field = path(context.codingPath)
            throw APIError.invalid(field, "`\(field)` must be \(describe(expected)), not null.")
        } catch let DecodingError.dataCorrupted(context) {
            let field = path(context.codingPath)
            if field.isEmpty { throw APIError(.badRequest, "the request body is not valid JSON.") }
            // A number that does not fit the field's type (3.5 for an integer, 1e40 for a float).
            throw APIError.invalid(field, "`\(field)` is out of range for its type.")
        } catch {
            throw APIError(.badRequest, "the request body could not be read as JSON.")
        }
    }

    /// `messages[0].content` from a coding path.
    static func path(_ keys: [any CodingKey]) -> String {
        var out = ""
        for key in keys {
            if let index = key.intValue, key.stringValue == "Index \(index)" || key.stringValue == String(index) {
                out += "[\(index)]"
            } else {
                out += (out.isEmpty ? "" : ".") + key.stringValue
            }
        }
        return out
    }

    static func describe(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Bool.Type: "true or false"
        case is Int.Type, is Int64.Type, is UInt64.Type: "an integer"
        case is Double.Type, is Float.Type: "a number"
        default:
            String(describing: type).hasPrefix("Array")
                ? "an array"
                : String(describing: type).hasPrefix("Dictionary") ? "an object" : "a value of another type"
        }
    }
}

/// A field that may be a string or an array of strings (`stop`).
struct StringOrList: Decodable, Sendable {
    var values: [String]
    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let one = try? container.decode(String.self) {
            values = [one]
        } else if let many = try? container.decode([String].self) {
            values = many
        } else {
            let field = RequestDecoding.path(decoder.codingPath)
            throw APIError.invalid(field, "`\(field)` must be a string or an array of strings.")
        }
    }
}

/// What `prompt` (completions) and `input` (embeddings) may be: a text, texts, token ids, or
/// lists of token ids. Each text or list is one input.
struct TextsOrTokens: Decodable, Sendable {
    enum Item: Sendable {
        case text(String)
        case tokens([Int])
    }
    var items: [Item]
    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let one = try? container.decode(String.self) {
            items = [.text(one)]
        } else if let texts = try? container.decode([String].self) {
            items = texts.map { .text($0) }
        } else if let tokens = try? container.decode([Int].self) {
            items = [.tokens(tokens)]
        } else if let lists = try? container.decode([[Int]].self) {
            items = lists.map { .tokens($0) }
        } else {
            let field = RequestDecoding.path(decoder.codingPath)
            throw APIError.invalid(
                field,
                "`\(field)` must be a string, an array of strings, an array of token ids or an array of such arrays.")
        }
    }
}

/// Any JSON value, read only to learn whether a field we do not support was given.
struct AnyJSON: Decodable, Sendable {
    /// false for null, an empty string, array or object, and false.
    let isMeaningful: Bool
    init(from decoder: any Decoder) throws {
        if var array = try? decoder.unkeyedContainer() {
            isMeaningful = !array.isAtEnd
            while !array.isAtEnd { _ = try array.decode(AnyJSON.self) }
            return
        }
        if let object = try? decoder.container(keyedBy: AnyKey.self) {
            isMeaningful = !object.allKeys.isEmpty
            return
        }
        let value = try decoder.singleValueContainer()
        if value.decodeNil() {
            isMeaningful = false
        } else if let b = try? value.decode(Bool.self) {
            isMeaningful = b
        } else if let s = try? value.decode(String.self) {
            isMeaningful = !s.isEmpty
        } else {
            isMeaningful = true
        }
    }

    struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int?
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) {
            self.intValue = intValue
            stringValue = String(intValue)
        }
    }
}

/// An integer field; 2.5 or "3" is a 400 that names the field (JSONDecoder's own error for a
/// fractional number does not say where it was).
struct WholeNumber: Decodable, Sendable {
    let value: Int
    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let value = try? container.decode(Int.self) {
            self.value = value
            return
        }
        let field = RequestDecoding.path(decoder.codingPath)
        throw APIError.invalid(field, "`\(field)` must be an integer.")
    }
}
