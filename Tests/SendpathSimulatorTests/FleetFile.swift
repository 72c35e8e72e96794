import Foundation
import Testing
import SendpathCore
import SendpathSimulator
import SendpathTestSupport

/// Plants violations directly in a fleet file, as something other than the simulator would
/// (with the `sqlite3` shell), and reads reports as `simulator check --output json` prints
/// them, by key: the planted-violation tests run unchanged against older simulators, whose
/// reports lack the newer keys.
enum FleetFile {
    /// Runs SQL on the fleet file with the sqlite3 shell; fails the test with its message.
    static func execute(_ path: String, _ sql: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) throws {
        _ = try query(path, sql, sourceLocation: sourceLocation)
    }

    /// Runs SQL with the sqlite3 shell and returns what it prints: one line per row, columns
    /// separated by `|`.
    static func query(_ path: String, _ sql: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) throws -> [String] {
        let result = try ChildProcess.run(["/usr/bin/sqlite3", "-bail", path, sql])
        let printed = result.stdout
        try #require(result.status == 0, "sqlite3 failed: \(result.stderr)", sourceLocation: sourceLocation)
        return printed.split(separator: "\n").map(String.init)
    }

    /// The report as its JSON object.
    static func json(_ report: InvariantReport) throws -> [String: Any] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return try #require(try JSONSerialization.jsonObject(with: encoder.encode(report)) as? [String: Any])
    }

    /// The names of the broken invariants the report gives (none from a report without them).
    static func broken(_ report: InvariantReport) throws -> [String] {
        try json(report)["broken"] as? [String] ?? []
    }

    static func count(_ report: InvariantReport, _ key: String) throws -> Int? {
        try json(report)[key] as? Int
    }

    static func message(_ report: InvariantReport, _ key: String) throws -> Int? {
        (try json(report)["messages"] as? [String: Any])?[key] as? Int
    }

    /// Nanoseconds since the epoch, as the fleet file stores times.
    static func nanoseconds(_ time: Timestamp) -> Int64 { time.nanosecondsSinceEpoch }

    /// A fault effect by its name in faults files (absent from older simulators).
    static func effect(_ name: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) throws -> FaultEffect {
        try #require(FaultEffect(rawValue: name), "the simulator has no fault effect '\(name)'", sourceLocation: sourceLocation)
    }
}
