import Foundation
import Testing

/// `status --at TIME` evaluates like a dry run at TIME (issue 13): the same gates, the same
/// exit code, and nothing changed or created.
@Suite("status --at")
struct StatusAtCLITests {
    @Test func statusAtATimeAnswersAsADryRunAtThatTime() throws {
        let folder = try TemporaryFolder("status-at")
        defer { folder.remove() }
        try GeneratedFleet.write(into: folder, groups: 2)
        for (time, code, reason) in [(GeneratedFleet.beforeWindow, Int32(3), "window-not-open"), (GeneratedFleet.inWindow, Int32(0), nil)] {
            let status = try SendpathBinary.run(["status", "--at", time, "--output", "json"], directory: folder.path)
            let plan = try SendpathBinary.run(["reconcile", "--dry-run", "--at", time, "--output", "json"], directory: folder.path)
            #expect(status.status == code, "\(time): \(status.stderr)")
            #expect(status.status == plan.status, "status and a dry run at \(time) agree")
            let statusJSON = try status.json(), planJSON = try plan.json()
            #expect(statusJSON["at"] as? String == time)
            let reasons = (statusJSON["instances"] as? [[String: Any]] ?? []).map { $0["reasonCode"] as? String }
            #expect(reasons == (planJSON["instances"] as? [[String: Any]] ?? []).map { $0["reasonCode"] as? String })
            #expect(reasons.allSatisfy { $0 == reason }, "\(time): \(reasons)")
        }
        #expect(!FileManager.default.fileExists(atPath: folder.path + "/.sendpath"))
        let bad = try SendpathBinary.run(["status", "--at", "2300-01-01T00:00:00Z"], directory: folder.path)
        #expect(bad.status == 64)
        #expect(bad.stderr.contains("--at"), "\(bad.stderr)")
    }

    /// The text table is written in pieces as it is laid out (issue 14): with more rows than one
    /// piece holds, every instance still has one row, every column starts where its header does,
    /// and the cells say what the JSON says.
    @Test func theStatusTableWrittenInPiecesKeepsEveryRowAligned() throws {
        let folder = try TemporaryFolder("status-table")
        defer { folder.remove() }
        try GeneratedFleet.write(into: folder, groups: 700)
        let text = try SendpathBinary.run(["status", "--at", GeneratedFleet.inWindow], directory: folder.path)
        let json = try SendpathBinary.run(["status", "--at", GeneratedFleet.inWindow, "--output", "json"], directory: folder.path)
        #expect(text.status == json.status, "\(text.stderr)")
        #expect(text.stdout.utf8.count > 1 << 16, "more than one piece of output")
        let instances = try json.json()["instances"] as? [[String: Any]] ?? []
        #expect(instances.count == 1400)
        let lines = text.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let header = try #require(lines.firstIndex { $0.hasPrefix("INSTANCE") })
        func offset(_ column: String) throws -> Int {
            try #require(lines[header].range(of: column)).lowerBound.utf16Offset(in: lines[header])
        }
        let wave = try offset("WAVE"), status = try offset("STATUS")
        let rows = Array(lines[(header + 1)...].prefix { !$0.isEmpty })
        #expect(rows.count == instances.count)
        for (row, instance) in zip(rows, instances) {
            let name = instance["name"] as? String ?? "?"
            #expect(row.hasPrefix(name + " "), "\(row)")
            let cells = Array(row.utf16)
            #expect(String(utf16CodeUnits: Array(cells[wave...]), count: cells.count - wave).hasPrefix((instance["wave"] as? String ?? "?") + " "))
            var expected = instance["status"] as? String ?? "?"
            if let code = instance["reasonCode"] as? String { expected += " (\(code))" }
            #expect(String(utf16CodeUnits: Array(cells[status...]), count: cells.count - status) == expected, "\(row)")
        }
        #expect(lines.contains { $0.hasPrefix("Summary: ") })
    }
}
