import Foundation
import Testing

/// `--log-format json`: every line on stderr is one JSON object (log records, validation
/// diagnostics, `--verbose` progress, error lines, command-line errors), with RFC 3339 UTC
/// times that have fractional seconds, and numbers as JSON numbers.
@Suite("JSON logs: every stderr line is one JSON object")
struct JSONLogsCLITests {
    /// Parses every stderr line as a JSON object, recording an issue for each that is not.
    static func objects(_ result: SendpathBinary.Result, sourceLocation: SourceLocation = #_sourceLocation) -> [[String: Any]] {
        let lines = result.stderr.split(separator: "\n", omittingEmptySubsequences: false).dropLast(result.stderr.hasSuffix("\n") ? 1 : 0)
        var objects: [[String: Any]] = []
        var bad: [String] = []
        for line in lines {
            if let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] {
                objects.append(object)
            } else {
                bad.append(String(line))
            }
        }
        #expect(bad.isEmpty, "\(bad.count) of \(lines.count) stderr lines are not JSON objects: \(bad.prefix(5))", sourceLocation: sourceLocation)
        // And a third-party parser agrees: jq reads each line as one JSON object (make deps installs jq).
        #expect(jqAcceptsEveryLine(result.stderr), "jq rejects a stderr line: \(result.stderr)", sourceLocation: sourceLocation)
        for object in objects {
            let time = object["time"] as? String ?? ""
            #expect(time.wholeMatch(of: /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z/) != nil, "time \(time)", sourceLocation: sourceLocation)
            #expect(object["level"] is String && object["message"] is String, "\(object)", sourceLocation: sourceLocation)
            // No number hides in a string: quantities are JSON numbers.
            let fields = (object["metadata"] as? [String: Any] ?? [:]).merging(object, uniquingKeysWith: { $1 })
            for (key, value) in fields {
                if let text = value as? String, text.wholeMatch(of: /-?[1-9]\d*|0/) != nil,
                   !["id", "name", "key", "holder", "group", "message"].contains(key.split(separator: ".").last.map(String.init) ?? "") {
                    Issue.record("\(key) is the string \"\(text)\", not a number: \(object)", sourceLocation: sourceLocation)
                }
            }
        }
        return objects
    }

    /// `jq -R -s -e`: splits the text into lines and parses each non-empty one with `fromjson`,
    /// which fails on anything but one whole JSON text; each must be an object.
    static func jqAcceptsEveryLine(_ text: String) -> Bool {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["jq", "-R", "-s", "-e", #"split("\n") | map(select(length > 0) | fromjson | type == "object") | all"#]
        let input = Pipe()
        process.standardInput = input
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return false }
        input.fileHandleForWriting.write(Data(text.utf8))
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
        return process.terminationStatus == 0
    }

    /// A JSON number (JSONSerialization gives NSNumber), not a string.
    static func isNumber(_ value: Any?) -> Bool {
        guard let value, !(value is String) else { return false }
        return value is NSNumber || value is Int || value is Double
    }

    @Test func verboseReconcileWritesOnlyJSONLines() throws {
        let folder = try TemporaryFolder("jsonlogs")
        defer { folder.remove() }
        // 10.x prefixes: non-public-address warnings come first, then the live progress.
        try GeneratedFleet.write(into: folder, groups: 2)
        let run = try SendpathBinary.run(["reconcile", "--at", GeneratedFleet.inWindow, "--verbose", "--log-format", "json"], directory: folder.path)
        #expect(run.status == 0, "\(run.stderr)")
        let objects = Self.objects(run)
        #expect(objects.count >= 20, "\(run.stderr)")
        let started = objects.filter { $0["message"] as? String == "step started" }
        let finished = objects.filter { $0["message"] as? String == "step finished" }
        #expect(started.count >= 14 && finished.count == started.count, "\(run.stderr)")
        #expect(started.allSatisfy { Self.isNumber($0["step.attempt"]) && $0["step.name"] is String && $0["cutover.group"] is String })
        #expect(finished.allSatisfy { Self.isNumber($0["step.duration_s"]) && $0["step.phase"] as? String == "done" })
        let warnings = objects.filter { $0["rule"] as? String == "non-public-address" }
        #expect(!warnings.isEmpty && warnings.allSatisfy { $0["level"] as? String == "warning" && Self.isNumber($0["line"]) })
        // Human output is unchanged.
        let human = try SendpathBinary.run(["reconcile", "--at", GeneratedFleet.inWindow, "--verbose"], directory: folder.path)
        #expect(!human.stderr.contains("{\""), "\(human.stderr)")
    }

    @Test func validateDiagnosticsAreJSONObjects() throws {
        let folder = try TemporaryFolder("jsonlogs")
        defer { folder.remove() }
        try folder.write("prod.yaml", ValidateCLITests.broken)
        let result = try SendpathBinary.run(["validate", "prod.yaml", "--log-format", "json"], directory: folder.path)
        #expect(result.status == 65)
        let objects = Self.objects(result)
        #expect(objects.count == 4, "\(result.stderr)")
        let unknown = try #require(objects.first { $0["rule"] as? String == "unknown-field" })
        #expect(unknown["level"] as? String == "error")
        #expect(unknown["file"] as? String == "prod.yaml")
        #expect(unknown["line"] as? Int == 11 && Self.isNumber(unknown["line"]))
        #expect(unknown["column"] as? Int == 3 && Self.isNumber(unknown["column"]))
        #expect(unknown["message"] as? String == "unknown field 'sendingIp' in Instance spec")
        #expect(unknown["hint"] as? String == "did you mean 'sendingIPs'?")
        let last = try #require(objects.last)
        #expect(last["errors"] as? Int == 3 && Self.isNumber(last["errors"]), "\(last)")
    }

    @Test(arguments: [["reconcile", "--bogus"], ["validate", "--output", "xml"], ["reconcile", "--dry-run", "--wave", "nope"]])
    func commandLineErrorsAreJSONObjects(arguments: [String]) throws {
        let folder = try TemporaryFolder("jsonlogs")
        defer { folder.remove() }
        try GeneratedFleet.write(into: folder, groups: 1)
        let result = try SendpathBinary.run(arguments + ["--log-format", "json"], directory: folder.path)
        #expect(result.status == 64, "\(result.stderr)")
        let objects = Self.objects(result)
        #expect(objects.contains { $0["level"] as? String == "error" && Self.isNumber($0["exit.code"]) }, "\(result.stderr)")
    }

    @Test func aFailingCommandWritesItsErrorAsJSON() throws {
        let folder = try TemporaryFolder("jsonlogs")
        defer { folder.remove() }
        try GeneratedFleet.write(into: folder, groups: 1)
        // A state database that is not one: the command fails at run time, not at parsing.
        try folder.write("not-a-db.db", "this is not SQLite\n")
        let result = try SendpathBinary.run(["reconcile", "--at", GeneratedFleet.inWindow, "--state", "sqlite:not-a-db.db",
                                             "--log-format", "json"], directory: folder.path)
        #expect(result.status != 0)
        let objects = Self.objects(result)
        #expect(objects.contains { $0["level"] as? String == "error" && $0["outcome"] as? String == "error" }, "\(result.stderr)")
    }
}
