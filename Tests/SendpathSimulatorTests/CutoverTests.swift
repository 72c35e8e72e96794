import Foundation
import Testing
import SendpathCore
import SendpathSimulator

@Suite("Cut-over sequences")
struct CutoverTests {
    typealias F = SimulatorFixture

    @Test func aHappyCutoverDeliversEveryFreshMessageOnceAndReportsTheRestExpired() async throws {
        let fixture = try F()
        defer { fixture.remove() }
        let simulator = try await fixture.seeded(latency: .milliseconds(50))
        let enqueued = try await simulator.check().messages.enqueued

        let snapshots = try await F.switchGroup(simulator)
        let verified = try await simulator.observeInstances(F.group, step: .verifyIPs)
        #expect(verified["acme-prod1"]?.sendingIPs == [IPAddress("198.51.100.10")!])
        #expect(verified["acme-prod2"]?.sendingIPs == [IPAddress("198.51.100.11")!])
        #expect(try await simulator.observeInstances(F.group, step: .verifyBuild).values.allSatisfy { $0.build == "7.3.5 build 9368" })
        let results = try await simulator.resend(F.group, snapshotKey: "c1/snapshot", maxAge: F.maxAge,
                                                 context: F.context("c1/resend", .resendQueue))
        try await simulator.unfreeze(F.group, context: F.context("c1/unfreeze", .unfreeze))

        let observed = try await simulator.observeInstances(F.group, step: nil)
        #expect(observed.values.allSatisfy { $0.path == F.aws && !$0.frozen && $0.queueDepth == 0 })
        #expect(try await simulator.observePrefixes([F.prefixA])[F.prefixA]?.advertisedFrom == [F.aws])

        // The resend covered exactly the snapshot, per instance.
        #expect(results.map(\.instance) == snapshots.map(\.instance))
        for (result, snapshot) in zip(results, snapshots) {
            #expect(result.digest == snapshot.digest)
            #expect(result.resent + result.expired == snapshot.messageCount)
            #expect(result.expired > 0 && result.resent > 0)
            #expect(result.expiredMessageIDs.count == result.expired)
        }
        let report = try await simulator.check()
        #expect(report.ok, "\(report)")
        #expect(report.messages.enqueued == enqueued)
        #expect(report.messages.delivered == results.reduce(0) { $0 + $1.resent })
        #expect(report.messages.expired == results.reduce(0) { $0 + $1.expired })
        // beta-dc did not move: its queue is still waiting.
        #expect(report.messages.delivered + report.messages.expired + report.messages.queued == enqueued)
        #expect(report.messages.duplicated == 0 && report.messages.lost == 0 && report.messages.stranded == 0)
        #expect(report.mutatingOperations == 6)
        // Ten operations (observations too), each waiting 50ms on the injected clock.
        #expect(fixture.clock.now() == F.start + .milliseconds(50 * 10))
    }

    @Test func rollbackMovesTheGroupBackAndTheQueueIsResentThere() async throws {
        let fixture = try F()
        defer { fixture.remove() }
        let simulator = try await fixture.seeded()
        _ = try await F.switchGroup(simulator)
        try await simulator.rollbackPath(F.change(to: F.dc1), context: F.context("c1/rollback", .rollbackPath))
        _ = try await simulator.resend(F.group, snapshotKey: "c1/snapshot", maxAge: F.maxAge, context: F.context("c1/resend", .resendQueue))
        try await simulator.unfreeze(F.group, context: F.context("c1/unfreeze", .unfreeze))

        #expect(try await simulator.observeInstances(F.group, step: nil).values.allSatisfy { $0.path == F.dc1 })
        #expect(try await simulator.observePrefixes([F.prefixA])[F.prefixA]?.advertisedFrom == [F.dc1])
        #expect(try await simulator.check().ok)
    }

    @Test func switchIsRefusedWhileAMemberIsStillSending() async throws {
        let fixture = try F()
        defer { fixture.remove() }
        let simulator = try await fixture.seeded()
        try await simulator.prepareTarget(F.change(to: F.aws), context: F.context("p", .prepareTarget))
        try await simulator.freeze(["acme-prod1"], context: F.context("f", .freeze))

        await expectProviderError(.rejected) {
            try await simulator.switchPath(F.change(to: F.aws), context: F.context("s", .switchPath))
        }
        #expect(try await simulator.observePrefixes([F.prefixA])[F.prefixA]?.advertisedFrom == [F.dc1])
        #expect(try await simulator.observeInstances(F.group, step: nil).values.allSatisfy { $0.path == F.dc1 })
        let report = try await simulator.check()
        #expect(report.violations.map(\.kind) == [.sentDuringSwitch])
        #expect(report.violations.first?.instance == "acme-prod2")
        #expect(!report.ok)
    }

    @Test func switchIsRefusedWhenAPrefixWouldMoveWithoutOneOfItsInstances() async throws {
        let fixture = try F()
        defer { fixture.remove() }
        let simulator = try await fixture.seeded()
        let partial = F.change(to: F.aws, instances: ["acme-prod1"])
        try await simulator.prepareTarget(partial, context: F.context("p", .prepareTarget))
        try await simulator.freeze(["acme-prod1"], context: F.context("f", .freeze))

        await expectProviderError(.rejected) {
            try await simulator.switchPath(partial, context: F.context("s", .switchPath))
        }
        #expect(try await simulator.observePrefixes([F.prefixA])[F.prefixA]?.advertisedFrom == [F.dc1])
        #expect(try await simulator.observeInstances(["acme-prod1"], step: nil)["acme-prod1"]?.path == F.dc1)
        let violations = try await simulator.check().violations
        #expect(violations.map(\.kind) == [.partialPrefixMove])
        #expect(violations.first?.instance == "acme-prod2")
    }

    @Test func switchIsRefusedToATargetThatWasNotPrepared() async throws {
        let fixture = try F()
        defer { fixture.remove() }
        let simulator = try await fixture.seeded()
        try await simulator.freeze(F.group, context: F.context("f", .freeze))
        let error = await expectProviderError(.rejected) {
            try await simulator.switchPath(F.change(to: F.aws), context: F.context("s", .switchPath))
        }
        #expect(error?.message.contains("target not prepared") == true)
        #expect(try await simulator.check().violations.isEmpty)
    }

    @Test func aSnapshotNobodyResentIsStrandedOnceTheInstanceSendsAgain() async throws {
        let fixture = try F()
        defer { fixture.remove() }
        let simulator = try await fixture.seeded()
        try await simulator.freeze(["beta-dc"], context: F.context("f", .freeze))
        let snapshot = try await simulator.snapshotQueue(["beta-dc"], context: F.context("s", .snapshotQueue))
        #expect(try await simulator.check().messages.stranded == 0)

        try await simulator.unfreeze(["beta-dc"], context: F.context("u", .unfreeze))
        let report = try await simulator.check()
        #expect(report.messages.stranded == snapshot[0].messageCount)
        #expect(report.messages.inSnapshot == snapshot[0].messageCount)
        #expect(report.messages.lost == 0)
        #expect(!report.ok)
    }

    @Test func takingTheQueueOfASendingInstanceIsRefused() async throws {
        let fixture = try F()
        defer { fixture.remove() }
        let simulator = try await fixture.seeded()
        await expectProviderError(.rejected) {
            try await simulator.snapshotQueue(["beta-dc"], context: F.context("s", .snapshotQueue))
        }
        #expect(try await simulator.check().messages.inSnapshot == 0)
    }

    @Test func resendIsRefusedFromAPathItsPrefixIsNotAdvertisedFrom() async throws {
        let fixture = try F()
        defer { fixture.remove() }
        let simulator = try await fixture.seeded()
        // A buggy move: the instances go to AWS, their prefix stays in the data center.
        let withoutPrefix = F.change(to: F.aws, prefixes: [])
        try await simulator.prepareTarget(withoutPrefix, context: F.context("p", .prepareTarget))
        try await simulator.freeze(F.group, context: F.context("f", .freeze))
        _ = try await simulator.snapshotQueue(F.group, context: F.context("s", .snapshotQueue))
        try await simulator.switchPath(withoutPrefix, context: F.context("w", .switchPath))

        await expectProviderError(.rejected) {
            try await simulator.resend(F.group, snapshotKey: "s", maxAge: F.maxAge, context: F.context("r", .resendQueue))
        }
        let report = try await simulator.check()
        #expect(report.messages.delivered == 0)
        #expect(Set(report.violations.map(\.kind)) == [.sentWithoutRoute])
    }

    @Test func resendingASnapshotNeverTakenSendsNothing() async throws {
        let fixture = try F()
        defer { fixture.remove() }
        let simulator = try await fixture.seeded()
        let results = try await simulator.resend(["beta-dc"], snapshotKey: "never", maxAge: F.maxAge, context: F.context("r", .resendQueue))
        #expect(results.map(\.resent) == [0])
        #expect(results.map(\.digest) == [FNV1a.digest(ofMessageIDs: [])])
    }

    @Test func callsOnUnknownInstancesAreNotFound() async throws {
        let fixture = try F()
        defer { fixture.remove() }
        let simulator = try await fixture.seeded()
        await expectProviderError(.notFound) {
            try await simulator.freeze(["acme-prod1", "ghost"], context: F.context("f", .freeze))
        }
        #expect(try await simulator.check().frozen.isEmpty)
    }
}
