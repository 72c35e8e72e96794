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
}
