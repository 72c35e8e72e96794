import Foundation
import SendpathTestSupport
import Testing
import SendpathCore
import SendpathSimulator

/// The log the invariants are read from: what a cut-over leaves in it, fleet files from
/// before it, and `sendpath simulator check` reading it.
@Suite("The evidence log")
struct EvidenceLogTests {
    typealias F = SimulatorFixture

    @Test func aCutoverLeavesEachDeliveryAndEachAdvertisementInTheLog() async throws {
        let fixture = try F()
        defer { fixture.remove() }
        let simulator = try await fixture.seeded()
        _ = try await F.switchGroup(simulator)
        fixture.clock.advance(by: .seconds(10))
        let results = try await simulator.resend(F.group, snapshotKey: "c1/snapshot", maxAge: F.maxAge, context: F.context("c1/resend", .resendQueue))
        try await simulator.unfreeze(F.group, context: F.context("c1/unfreeze", .unfreeze))
        let report = try await simulator.check()
        #expect(report.ok, "\(report)")

        // Withdrawn from the data center, then announced at AWS, at the same instant: no overlap, no gap.
        let start = F.start.nanosecondsSinceEpoch
        #expect(try FleetFile.query(fixture.path, """
            SELECT infrastructure, location, announcedAt, coalesce(withdrawnAt, 'open') FROM advertisementInterval
            WHERE cidr = '\(F.prefixA)' ORDER BY announcedAt, infrastructure
            """) == ["adobe-dc|dc1|\(start)|\(start)", "aws|eu-west-1|\(start)|open"])
        #expect(try FleetFile.query(fixture.path, "SELECT kind FROM event WHERE cidr = '\(F.prefixA)' ORDER BY id") == ["announce", "withdraw", "announce"])
        // Every delivery, from AWS, from the declared IPs, by the resend.
        let resent = results.reduce(0) { $0 + $1.resent }
        #expect(try FleetFile.query(fixture.path, """
            SELECT instance, infrastructure, location, ips, cause, count(*) FROM delivery GROUP BY 1, 2, 3, 4, 5 ORDER BY 1
            """) == results.map { "\($0.instance)|aws|eu-west-1|\($0.instance == "acme-prod1" ? "198.51.100.10" : "198.51.100.11")|resend:c1/resend|\($0.resent)" })
        #expect(report.sendsByPath == ["aws/eu-west-1": resent])
        #expect(report.messages.delivered == resent)
        #expect(try FleetFile.query(fixture.path, "SELECT kind, instance FROM event WHERE kind IN ('freeze', 'unfreeze', 'move') ORDER BY id") == [
            "freeze|acme-prod1", "freeze|acme-prod2", "move|acme-prod1", "move|acme-prod2", "unfreeze|acme-prod1", "unfreeze|acme-prod2",
        ])
    }

    @Test func aFleetFileFromBeforeTheLogOpensAndKeepsItsAccounts() async throws {
        let fixture = try F()
        defer { fixture.remove() }
        let first = try await fixture.seeded()
        _ = try await F.switchGroup(first)
        _ = try await first.resend(F.group, snapshotKey: "c1/snapshot", maxAge: F.maxAge, context: F.context("c1/resend", .resendQueue))
        try await first.freeze(["beta-dc"], context: F.context("b/freeze", .freeze))
        let before = try await first.check()
        // The file as the simulator before the log left it (migrations v1 to v3).
        try FleetFile.execute(fixture.path, """
            DROP VIEW delivery; DROP VIEW advertisementInterval; DROP TABLE event; DROP TABLE pendingEffect;
            ALTER TABLE message DROP COLUMN held;
            DELETE FROM grdb_migrations WHERE identifier = 'v4-evidence';
            """)

        let reopened = try fixture.simulator()
        let after = try await reopened.check()
        #expect(after.messages == before.messages)
        #expect(after.frozen == ["acme-prod1", "acme-prod2", "beta-dc"])
        #expect(after.sendsByPath.isEmpty, "past deliveries have no known place")
        #expect(after.broken == ["frozen"])
        // And it goes on as any fleet: the cut-over finishes, beta-dc is released.
        try await reopened.unfreeze(F.group + ["beta-dc"], context: F.context("c1/unfreeze", .unfreeze))
        #expect(try await reopened.check().ok)
    }

    @Test func theCheckCommandExitsNonZeroAndNamesTheBrokenInvariant() async throws {
        let binary = URL(fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0])
            .deletingLastPathComponent().appendingPathComponent("sendpath").path
        try #require(FileManager.default.isExecutableFile(atPath: binary), "build the sendpath binary first (swift build --build-tests)")
        let fixture = try F()
        defer { fixture.remove() }
        let simulator = try await fixture.seeded()
        _ = try await simulator.check()
        try FleetFile.execute(fixture.path, "DELETE FROM message WHERE id = 'beta-dc/m2'")

        func check(_ arguments: [String]) throws -> (status: Int32, output: String) {
            let result = try ChildProcess.run([binary, "simulator", "check", "--fleet", fixture.path] + arguments)
            return (result.status, result.stdout)
        }
        let text = try check([])
        #expect(text.status == 1)
        #expect(text.output.hasSuffix("INVARIANTS BROKEN: lost.\n"), "\(text.output)")
        let json = try check(["--output", "json"])
        #expect(json.status == 1)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [String: Any])
        #expect(object["broken"] as? [String] == ["lost"])
        #expect((object["messages"] as? [String: Int])?["lost"] == 1)
        for key in ["doubleAdvertisements", "frozen", "mutatingOperations", "sendsWithoutRoute", "unroutedInstances"] {
            #expect(object[key] != nil, "\(key)")
        }
    }
}
