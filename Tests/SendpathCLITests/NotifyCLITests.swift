import Foundation
import Testing

/// `sendpath notify --wave`: records the notice now and prints what it announces.
@Suite("sendpath notify")
struct NotifyCLITests {
    static func window(startingIn days: Double) -> (start: String, end: String, notice: String) {
        let formatter = ISO8601DateFormatter()
        let start = Date().addingTimeInterval(days * 86_400)
        return (formatter.string(from: start), formatter.string(from: start.addingTimeInterval(6 * 3600)), "")
    }

    @Test func recordsTheNoticeOnceAndPrintsWhatItAnnounces() throws {
        let folder = try TemporaryFolder("notify")
        defer { folder.remove() }
        let window = Self.window(startingIn: 40)
        try GeneratedFleet.write(into: folder, groups: 3, maxParallel: 2, window: window, withNotice: false)
        // Without a notice the wave cannot start, even inside its window.
        let plan = try SendpathBinary.run(["reconcile", "--dry-run", "--at", window.start, "--output", "json"], directory: folder.path)
        #expect(try #require(try plan.json()["instances"] as? [[String: Any]]).allSatisfy { $0["reasonCode"] as? String == "notice-missing" })

        let first = try SendpathBinary.run(["notify", "--wave", "wave-a", "--output", "json"], directory: folder.path)
        #expect(first.status == 0, "\(first.stderr)")
        let report = try first.json()
        #expect(report["recorded"] as? Bool == true)
        #expect(report["groups"] as? Int == 3)
        #expect(report["maxParallel"] as? Int == 2)
        #expect(report["leadTimeMet"] as? Bool == true)
        #expect((report["requiredLeadTimeSeconds"] as? NSNumber)?.intValue == 30 * 86_400)
        let notice = try #require(report["notice"] as? [String: Any])
        #expect(notice["members"] as? [String] == ["inst-0-0", "inst-0-1", "inst-1-0", "inst-1-1", "inst-2-0", "inst-2-1"])
        #expect((notice["window"] as? [String: String])?["start"] == window.start)
        // Seconds, not Swift's [seconds, attoseconds]: two batches of groups at the default step times.
        let expected = try #require(notice["expectedDurationSeconds"] as? Double)
        #expect(expected > 2 * 9 * 60 && expected < 2 * 12 * 60, "\(expected)")

        // Again, unchanged: nothing new is recorded, and the text says so.
        let again = try SendpathBinary.run(["notify", "--wave", "wave-a"], directory: folder.path)
        #expect(again.status == 0)
        #expect(again.stdout.contains("Notice already in force for wave wave-a"), "\(again.stdout)")
        #expect(again.stdout.contains("Instances (6): inst-0-0, inst-0-1"))
        #expect(again.stdout.contains("Lead time: 30d required before the window; met."))
        let estimate = try #require(again.stdout.split(separator: "\n").first { $0.contains("Expected duration: about ") })
        #expect(!estimate.contains("ms"), "an estimate is whole seconds: \(estimate)")

        // The recorded notice opens the wave inside its window.
        let ready = try SendpathBinary.run(["reconcile", "--dry-run", "--at", window.start, "--output", "json"], directory: folder.path)
        #expect((try ready.json()["summary"] as? [String: Int]) == ["pending": 6], "\(ready.stdout)")
    }

    @Test func aNoticeTooCloseToTheWindowSaysSoAndTheWaveWaits() throws {
        let folder = try TemporaryFolder("notify-late")
        defer { folder.remove() }
        let window = Self.window(startingIn: 10)
        try GeneratedFleet.write(into: folder, groups: 1, window: window, withNotice: false)
        let late = try SendpathBinary.run(["notify", "--wave", "wave-a"], directory: folder.path)
        #expect(late.status == 0, "\(late.stderr)")
        #expect(late.stdout.contains("NOT met"), "\(late.stdout)")
        let plan = try SendpathBinary.run(["reconcile", "--dry-run", "--at", window.start, "--output", "json"], directory: folder.path)
        #expect(plan.status == 3)
        let instance = try #require(try plan.json()["instances"] as? [[String: Any]]).first
        #expect(instance?["reasonCode"] as? String == "notice-too-late")
        #expect((instance?["reason"] as? String)?.contains("before the window") == true, "\(instance ?? [:])")
    }

    @Test func anUnknownWaveIsABadCommandLine() throws {
        let folder = try TemporaryFolder("notify-unknown")
        defer { folder.remove() }
        try GeneratedFleet.write(into: folder, groups: 1)
        let result = try SendpathBinary.run(["notify", "--wave", "wave-z"], directory: folder.path)
        #expect(result.status == 64)
        #expect(result.stderr.contains("no wave named 'wave-z'"))
    }
}
