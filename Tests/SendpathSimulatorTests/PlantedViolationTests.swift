import Foundation
import Testing
import SendpathCore
import SendpathSimulator

/// For each invariant of `simulator check`, the violation planted — by a wrong sequence of
/// provider calls, or in the fleet file — and the report naming it. Each check reads the
/// evidence a breach leaves (the delivery log, the advertisement history, the freeze and move
/// log), never the complement of other counts: every test here failed on the simulator
/// whose `lost` and `doubleAdvertisements` could not fail.
@Suite("Planted violations")
struct PlantedViolationTests {
    typealias F = SimulatorFixture

    /// The report names exactly `invariant` as broken (and so is not ok).
    private func expectBroken(_ report: InvariantReport, _ invariants: [String],
                              sourceLocation: Testing.SourceLocation = #_sourceLocation) throws {
        #expect(!report.ok, "\(report)", sourceLocation: sourceLocation)
        #expect(try FleetFile.broken(report) == invariants, sourceLocation: sourceLocation)
    }

    @Test func aQueuedMessageWhoseRowDisappearsIsLost() async throws {
        let fixture = try F()
        defer { fixture.remove() }
        let simulator = try await fixture.seeded()
        let enqueued = try await simulator.check().messages.enqueued
        try FleetFile.execute(fixture.path, "DELETE FROM message WHERE id = 'acme-prod1/m1'")

        let report = try await simulator.check()
        #expect(report.messages.lost == 1)
        #expect(report.messages.enqueued == enqueued)
        try expectBroken(report, ["lost"])
    }

    @Test func aMessageMarkedDeliveredWithoutADeliveryIsLost() async throws {
        let fixture = try F()
        defer { fixture.remove() }
        let simulator = try await fixture.seeded()
        try FleetFile.execute(fixture.path, "UPDATE message SET state = 'delivered', deliveries = 1 WHERE id = 'acme-prod1/m1'")

        let report = try await simulator.check()
        #expect(report.messages.lost == 1)
        #expect(report.messages.delivered == 0)
        try expectBroken(report, ["lost"])
    }

    @Test func aSecondDeliveryIsDuplicatedEvenWhenTheCounterIsReset() async throws {
        let fixture = try F()
        defer { fixture.remove() }
        let simulator = try await fixture.seeded()
        _ = try await F.switchGroup(simulator)
        // Two resends of one snapshot under two keys: the provider does each.
        let first = try await simulator.resend(F.group, snapshotKey: "c1/snapshot", maxAge: F.maxAge, context: F.context("r1", .resendQueue))
        _ = try await simulator.resend(F.group, snapshotKey: "c1/snapshot", maxAge: F.maxAge, context: F.context("r2", .resendQueue))
        try await simulator.unfreeze(F.group, context: F.context("u", .unfreeze))
        // A file whose per-message counter hides it: the deliveries are still in the log.
        try FleetFile.execute(fixture.path, "UPDATE message SET deliveries = min(deliveries, 1)")

        let report = try await simulator.check()
        #expect(report.messages.duplicated == first.reduce(0) { $0 + $1.resent })
        try expectBroken(report, ["duplicated"])
    }

    @Test func anAnnouncementAtTheTargetBeforeTheWithdrawalAtTheSourceIsADoubleAdvertisement() async throws {
        let fixture = try F()
        defer { fixture.remove() }
        let simulator = try await fixture.seeded()
        // A route moved by announcing at the target first, withdrawing at the source a second
        // later: by the end it is advertised from one place only.
        let announced = FleetFile.nanoseconds(F.start + .seconds(1)), withdrawn = FleetFile.nanoseconds(F.start + .seconds(2))
        try FleetFile.execute(fixture.path, """
            INSERT INTO event (at, kind, cidr, infrastructure, location) VALUES (\(announced), 'announce', '\(F.prefixB)', 'aws', 'eu-west-1');
            INSERT INTO event (at, kind, cidr, infrastructure, location) VALUES (\(withdrawn), 'withdraw', '\(F.prefixB)', 'adobe-dc', 'lon5');
            UPDATE advertisement SET infrastructure = 'aws', location = 'eu-west-1' WHERE cidr = '\(F.prefixB)';
            INSERT INTO event (at, kind, instance, infrastructure, location) VALUES (\(withdrawn), 'move', 'beta-dc', 'aws', 'eu-west-1');
            UPDATE instance SET infrastructure = 'aws', location = 'eu-west-1' WHERE name = 'beta-dc';
            """)
        #expect(try await simulator.observePrefixes([F.prefixB])[F.prefixB]?.advertisedFrom == [F.aws])

        let report = try await simulator.check()
        #expect(report.doubleAdvertisements == 1)
        // beta-dc moved while it was sending: that shows too.
        try expectBroken(report, ["doubleAdvertisements", "movesWhileSending"])
    }

    @Test func aPrefixAnnouncedNowhereForAWhileIsAGap() async throws {
        let fixture = try F()
        defer { fixture.remove() }
        let simulator = try await fixture.seeded()
        let withdrawn = FleetFile.nanoseconds(F.start + .seconds(1)), announced = FleetFile.nanoseconds(F.start + .seconds(5))
        try FleetFile.execute(fixture.path, """
            INSERT INTO event (at, kind, cidr, infrastructure, location) VALUES (\(withdrawn), 'withdraw', '\(F.prefixB)', 'adobe-dc', 'lon5');
            INSERT INTO event (at, kind, cidr, infrastructure, location) VALUES (\(announced), 'announce', '\(F.prefixB)', 'adobe-dc', 'lon5');
            """)
        let report = try await simulator.check()
        #expect(try FleetFile.count(report, "advertisementGaps") == 1)
        try expectBroken(report, ["advertisementGaps"])
    }

    @Test func aPrefixWithdrawnEverywhereNowIsAGapAndLeavesItsInstancesUnrouted() async throws {
        let fixture = try F()
        defer { fixture.remove() }
        let simulator = try await fixture.seeded()
        try FleetFile.execute(fixture.path, "DELETE FROM advertisement WHERE cidr = '\(F.prefixB)'")
        let report = try await simulator.check()
        #expect(try FleetFile.count(report, "advertisementGaps") == 1)
        #expect(try FleetFile.json(report)["unroutedInstances"] as? [String] == ["beta-dc"])
        try expectBroken(report, ["advertisementGaps", "unroutedInstances"])
    }

    @Test func aSwitchWithoutAnInstanceAddedLaterToThePrefixIsRefused() async throws {
        let fixture = try F()
        defer { fixture.remove() }
        let simulator = try await fixture.seeded()
        // acme-prod3 joins pfx-a in the manifests after the first seed.
        _ = try await simulator.seed(from: try F.loadFleet(adding: [("acme-prod3", "198.51.100.12")]))

        try await simulator.prepareTarget(F.change(to: F.aws), context: F.context("p", .prepareTarget))
        try await simulator.freeze(F.group, context: F.context("f", .freeze))
        await expectProviderError(.rejected) {
            try await simulator.switchPath(F.change(to: F.aws), context: F.context("s", .switchPath))
        }
        #expect(try await simulator.observePrefixes([F.prefixA])[F.prefixA]?.advertisedFrom == [F.dc1])
        let report = try await simulator.check()
        #expect(report.violations.map(\.kind) == [.partialPrefixMove])
        #expect(report.violations.first?.instance == "acme-prod3")
    }

    @Test func anInstanceAddedAfterItsPrefixMovedIsSeenUnrouted() async throws {
        let fixture = try F()
        defer { fixture.remove() }
        let simulator = try await fixture.seeded()
        _ = try await F.switchGroup(simulator)
        _ = try await simulator.resend(F.group, snapshotKey: "c1/snapshot", maxAge: F.maxAge, context: F.context("r", .resendQueue))
        try await simulator.unfreeze(F.group, context: F.context("u", .unfreeze))
        #expect(try await simulator.check().ok)

        // acme-prod3 appears in pfx-a, which is on AWS now; it starts in the data center.
        _ = try await simulator.seed(from: try F.loadFleet(adding: [("acme-prod3", "198.51.100.12")]))
        let report = try await simulator.check()
        #expect(try FleetFile.json(report)["unroutedInstances"] as? [String] == ["acme-prod3"])
        try expectBroken(report, ["unroutedInstances"])
    }

    @Test func mailSentFromAPlaceItsPrefixLeftIsSentWithoutRoute() async throws {
        let fixture = try F()
        defer { fixture.remove() }
        let arrivals = FaultRule(instance: "acme-prod3", operation: .verifyIPs, effect: try FleetFile.effect("arrivals"))
        let simulator = try await fixture.seeded(faults: [arrivals])
        _ = try await F.switchGroup(simulator)
        _ = try await simulator.seed(from: try F.loadFleet(adding: [("acme-prod3", "198.51.100.12")]))
        // Mail reaches acme-prod3, which sends it from the data center.
        _ = try await simulator.observeInstances(["acme-prod3"], step: .verifyIPs)

        let report = try await simulator.check()
        #expect(try FleetFile.count(report, "sendsWithoutRoute") == 3)
        #expect((try FleetFile.json(report)["sendsByPath"] as? [String: Int])?["adobe-dc/dc1"] == 3)
        #expect(report.messages.delivered == 3 && report.messages.lost == 0)
        // Its prefix's instances are in two places: the sends are also during a path change.
        try expectBroken(report, ["sendsWithoutRoute", "sendsDuringPathChange", "unroutedInstances", "frozen"])
    }

    @Test func mailSentFromChangedIPsIsSentFromUndeclaredIPs() async throws {
        let fixture = try F()
        defer { fixture.remove() }
        let faults = [FaultRule(instance: "beta-dc", operation: .verifyIPs, effect: .changeIPs),
                      FaultRule(instance: "beta-dc", operation: .verifyBuild, effect: try FleetFile.effect("arrivals"))]
        let simulator = try await fixture.seeded(faults: faults)
        _ = try await simulator.observeInstances(["beta-dc"], step: .verifyIPs)
        _ = try await simulator.observeInstances(["beta-dc"], step: .verifyBuild)

        let report = try await simulator.check()
        #expect(try FleetFile.count(report, "sendsFromUndeclaredIPs") == 3)
        try expectBroken(report, ["sendsFromUndeclaredIPs"])
    }

    @Test func mailAnInstanceSendsWhileFrozenIsSeen() async throws {
        let fixture = try F()
        defer { fixture.remove() }
        let simulator = try await fixture.seeded()
        try await simulator.freeze(["acme-prod1"], context: F.context("f", .freeze))
        let at = FleetFile.nanoseconds(F.start + .seconds(1))
        try FleetFile.execute(fixture.path, """
            INSERT INTO event (at, kind, instance, message, infrastructure, location, ips, cause)
            VALUES (\(at), 'deliver', 'acme-prod1', 'acme-prod1/m1', 'adobe-dc', 'dc1', '198.51.100.10', 'send');
            UPDATE message SET state = 'delivered', deliveries = 1 WHERE id = 'acme-prod1/m1';
            """)
        try await simulator.unfreeze(["acme-prod1"], context: F.context("u", .unfreeze))

        let report = try await simulator.check()
        #expect(try FleetFile.count(report, "sendsWhileFrozen") == 1)
        try expectBroken(report, ["sendsWhileFrozen"])
    }

    @Test func aResendWhileTheGroupIsHalfMovedIsSentDuringAPathChange() async throws {
        let fixture = try F()
        defer { fixture.remove() }
        let partial = FaultRule(instance: "acme-prod1", operation: .switchPath, effect: try FleetFile.effect("partial"))
        let simulator = try await fixture.seeded(faults: [partial])
        try await simulator.prepareTarget(F.change(to: F.aws), context: F.context("p", .prepareTarget))
        try await simulator.freeze(F.group, context: F.context("f", .freeze))
        _ = try await simulator.snapshotQueue(F.group, context: F.context("s", .snapshotQueue))
        await expectProviderError(.transient) {
            try await simulator.switchPath(F.change(to: F.aws), context: F.context("sw", .switchPath))
        }
        // The prefix and acme-prod1 moved, acme-prod2 did not: resending acme-prod1's queue now
        // (a wrong sequence: the switch never succeeded) sends while pfx-a is changing place.
        let observed = try await simulator.observeInstances(F.group, step: nil)
        #expect(observed["acme-prod1"]?.path == F.aws && observed["acme-prod2"]?.path == F.dc1)
        let results = try await simulator.resend(["acme-prod1"], snapshotKey: "s", maxAge: F.maxAge, context: F.context("r", .resendQueue))
        #expect(results.first?.resent ?? 0 > 0)

        let report = try await simulator.check()
        #expect(try FleetFile.count(report, "sendsDuringPathChange") == results.first?.resent)
        try expectBroken(report, ["sendsDuringPathChange", "frozen"])
    }

    @Test func aMoveOfAnInstanceThatWasSendingIsSeen() async throws {
        let fixture = try F()
        defer { fixture.remove() }
        let simulator = try await fixture.seeded()
        let at = FleetFile.nanoseconds(F.start + .seconds(1))
        try FleetFile.execute(fixture.path, """
            INSERT INTO event (at, kind, instance, infrastructure, location) VALUES (\(at), 'move', 'beta-dc', 'adobe-dc', 'lon6');
            INSERT INTO event (at, kind, instance, infrastructure, location) VALUES (\(at), 'move', 'beta-dc', 'adobe-dc', 'lon5');
            """)
        let report = try await simulator.check()
        #expect(try FleetFile.count(report, "movesWhileSending") == 2)
        try expectBroken(report, ["movesWhileSending"])
    }

    @Test func aFreezeLeftBehindIsNamed() async throws {
        let fixture = try F()
        defer { fixture.remove() }
        let simulator = try await fixture.seeded()
        try await simulator.freeze(["acme-prod2"], context: F.context("f", .freeze))
        let report = try await simulator.check()
        #expect(try FleetFile.count(report, "frozenInstances") == 1)
        try expectBroken(report, ["frozen"])
    }
}
