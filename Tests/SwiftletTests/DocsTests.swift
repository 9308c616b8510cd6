import Foundation
import XCTest

/// docs/ARCHITECTURE.md walks the code file by file and names what it visits; a rename that
/// forgets the map would leave it naming code that is gone. This checks every code name in it.
final class DocsTests: XCTestCase {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    func testArchitectureMapNamesCodeThatExists() throws {
        let map = try String(contentsOf: root.appendingPathComponent("docs/ARCHITECTURE.md"), encoding: .utf8)
        let spans = map.components(separatedBy: "`").enumerated().filter { $0.offset % 2 == 1 }.map(\.element)
        let sources = try swiftSources(under: ["Sources", "Tests"])
        let code = sources.map(\.text).joined(separator: "\n")
        var missing: [String] = []
        var checked = 0
        for span in Set(spans) {
            guard let verdict = check(span, sources: sources, code: code) else { continue }
            checked += 1
            if !verdict { missing.append(span) }
        }
        XCTAssertGreaterThan(checked, 50, "the map should name files, types and members in backticks")
        // The check itself tells a missing name from a present one.
        XCTAssertEqual(check("Block.forward", sources: sources, code: code), true)
        XCTAssertEqual(check("Block.noSuchMember", sources: sources, code: code), false)
        XCTAssertEqual(check("Model/NoSuchFile.swift", sources: sources, code: code), false)
        XCTAssertEqual(missing.sorted(), [], "docs/ARCHITECTURE.md names code that does not exist")
    }

    /// nil: not a code name (a command, an expression, prose); otherwise whether it exists.
    func check(_ span: String, sources: [(path: String, text: String)], code: String) -> Bool? {
        if span.hasPrefix("../") || span.contains(" ") { return nil }
        if span.contains("/") || span.hasSuffix(".swift") {
            let fileManager = FileManager.default
            if span.contains("/") {
                return ["", "Sources/", "Sources/Swiftlet/"].contains {
                    fileManager.fileExists(atPath: root.appendingPathComponent($0 + span).path)
                }
            }
            return sources.contains { $0.path.hasSuffix("/" + span) }
        }
        // Type, Type.member, .member, member, with an optional argument list: `RoPE.apply(inverse:)`.
        let name = span.split(separator: "(").first.map(String.init) ?? span
        let parts = name.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        let identifier = #"^[A-Za-z_][A-Za-z0-9_]*$"#
        guard parts.count <= 2,
            parts.allSatisfy({ $0.isEmpty || $0.range(of: identifier, options: .regularExpression) != nil })
        else { return nil }
        var found = true
        if let type = parts.first, !type.isEmpty {
            if type.first!.isUppercase {
                found = declares(code, #"(struct|class|enum|protocol|typealias|actor|extension)\s+"# + type + #"\b"#)
            } else if parts.count == 1 {
                return declares(code, #"(func|var|let|case)\s+"# + type + #"\b"#)
                    || declares(code, #"\b"# + type + #"\b"#)
            } else {
                return nil
            }
        }
        if parts.count == 2 {
            let member = parts[1]
            found =
                found
                && declares(code, #"(func|var|let|case|init)\s+"# + member + #"\b|case\s+[^\n]*\b"# + member + #"\b"#)
        }
        return found
    }

    func declares(_ code: String, _ pattern: String) -> Bool {
        code.range(of: pattern, options: .regularExpression) != nil
    }

    func swiftSources(under folders: [String]) throws -> [(path: String, text: String)] {
        var files: [(String, String)] = []
        for folder in folders {
            let base = root.appendingPathComponent(folder)
            guard let walker = FileManager.default.enumerator(at: base, includingPropertiesForKeys: nil) else {
                continue
            }
            for case let url as URL in walker where ["swift", "c", "h"].contains(url.pathExtension) {
                files.append((url.path, try String(contentsOf: url, encoding: .utf8)))
            }
        }
        return files
    }
}
