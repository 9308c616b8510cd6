import XCTest
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
@testable import Swiftlet

/// `swiftlet serve` end to end: it listens, answers, stops cleanly on Ctrl-C, and refuses bad input.
extension CLITests {
    /// Starts `swiftlet serve` on a free port; returns the process, its port and its stderr pipe.
    func startServer(_ extra: [String] = []) throws -> (process: Process, port: Int, stderr: Pipe) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = ["serve", "--checkpoint", try checkpoint(), "--port", "0"] + extra
        let err = Pipe()
        process.standardError = err
        process.standardOutput = Pipe()
        try process.run()
        var stderr = ""
        while !stderr.contains("/v1 (") {
            let chunk = err.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            stderr += String(decoding: chunk, as: UTF8.self)
        }
        guard let range = stderr.range(of: #"http://127\.0\.0\.1:(\d+)/v1"#, options: .regularExpression) else {
            process.terminate()
            throw SwiftletError("the server did not say where it listens: \(stderr)")
        }
        let port = Int(stderr[range].dropFirst("http://127.0.0.1:".count).dropLast(3))!
        return (process, port, err)
    }

    func http(_ port: Int, _ path: String, json: String? = nil) throws -> (status: Int, body: String) {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
        if let json {
            request.httpMethod = "POST"
            request.httpBody = Data(json.utf8)
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var outcome: (Int, String) = (0, "")
        URLSession.shared.dataTask(with: request) { data, response, _ in
            outcome = ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data ?? Data(), as: UTF8.self))
            done.signal()
        }.resume()
        done.wait()
        return outcome
    }

    func testServeAnswersAndStopsOnCtrlC() throws {
        let (process, port, err) = try startServer(["--parallel", "2"])
        let health = try http(port, "/health")
        XCTAssertEqual(health.status, 200)
        XCTAssertTrue(health.body.contains("\"ok\""), health.body)
        let completion = try http(
            port, "/v1/completions", json: #"{"prompt": "the king", "max_tokens": 5, "temperature": 0}"#)
        XCTAssertEqual(completion.status, 200, completion.body)
        XCTAssertTrue(completion.body.contains("\"text_completion\""), completion.body)
        // A second server cannot take the same port: one sentence, not a crash.
        let second = try run(["serve", "--checkpoint", try checkpoint(), "--port", String(port)])
        XCTAssertEqual(second.status, 1)
        XCTAssertTrue(
            second.stderr.contains("swiftlet: error: cannot listen on 127.0.0.1:\(port): Address already in use."),
            second.stderr)
        kill(process.processIdentifier, SIGINT)
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, stderr)
        XCTAssertTrue(stderr.contains("stopping") && stderr.contains("stopped"), stderr)
    }

    func testServeRefusesBadOptions() throws {
        try expectFailure(["serve", "--checkpoint", workDirectory + "/nowhere"], mentioning: "does not exist")
        try expectFailure(
            ["serve", "--checkpoint", try checkpoint(), "--port", "70000"],
            mentioning: "--port must be between 0 and 65535")
        try expectFailure(
            ["serve", "--checkpoint", try checkpoint(), "--parallel", "0"],
            mentioning: "--parallel must be between 1 and 256")
        try expectFailure(
            ["serve", "--checkpoint", try checkpoint(), "--api-key", ""], mentioning: "--api-key must not be empty")
        try expectFailure(
            ["serve", "--checkpoint", try checkpoint(), "--weights", "int4"],
            mentioning: "--weights must be one of fp32, bf16, q8_0, q5_0, q4_0, stored.")
    }
}
