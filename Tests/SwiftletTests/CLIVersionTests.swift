import XCTest
import Foundation
@testable import Swiftlet

/// `swiftlet --version`, and the version every checkpoint records.
extension CLITests {
    func testVersionNamesTheCommitAndCheckpointsRecordIt() throws {
        let version = try run(["--version"])
        XCTAssertEqual(version.status, 0, version.stderr)
        let line = version.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertNotNil(
            line.range(
                of: #"^swiftlet [0-9]+\.[0-9]+\.[0-9]+ \(commit ([0-9a-f]{12}(-modified)?|unknown)\)$"#,
                options: .regularExpression), line)
        XCTAssertEqual(
            line, "swiftlet " + SwiftletVersion.description, "the binary and the library were built from one commit")
        // In a git checkout the commit is the one HEAD names.
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let git = Process(), pipe = Pipe()
        git.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        git.arguments = ["git", "-C", root.path, "rev-parse", "--short=12", "HEAD"]
        git.standardOutput = pipe
        git.standardError = FileHandle.nullDevice
        try git.run()
        git.waitUntilExit()
        if git.terminationStatus == 0 {
            let head = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            XCTAssertTrue(SwiftletVersion.commit.hasPrefix(head), "\(SwiftletVersion.commit) is not HEAD (\(head))")
        }

        let dir = workDirectory + "/versioned"
        FileIO.removeItem(dir)
        let trained = try run([
            "train", "--data", try corpus(), "--preset", "tiny", "--vocab-size", "320", "--steps", "1",
            "--context", "64", "--batch-tokens", "128", "--out", dir,
        ])
        XCTAssertEqual(trained.status, 0, trained.stderr)
        XCTAssertEqual(try Checkpoint.load(dir).config.writtenBy, line)
        let info = try run(["info", dir])
        XCTAssertEqual(info.status, 0, info.stderr)
        XCTAssertTrue(info.stdout.contains("swiftlet: " + SwiftletVersion.description), info.stdout)
        XCTAssertTrue(info.stdout.contains("written by \(line)"), info.stdout)
    }
}
