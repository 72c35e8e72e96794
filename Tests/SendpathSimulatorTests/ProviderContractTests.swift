import Foundation
import Testing
import SendpathCore
import SendpathSimulator

@Suite("Idempotency keys and fencing tokens")
struct ProviderContractTests {
    typealias F = SimulatorFixture

    @Test func aReplayedSnapshotReturnsTheFirstAnswerAndTakesNothingMore() async throws {
        let fixture = try F()
        defer { fixture.remove() }
        let simulator = try await fixture.seeded()
        try await simulator.freeze(["beta-dc"], context: F.context("f", .freeze))
        let first = try await simulator.snapshotQueue(["beta-dc"], context: F.context("s", .snapshotQueue))
        fixture.clock.advance(by: .seconds(60))
        let replay = try await simulator.snapshotQueue(["beta-dc"], context: F.context("s", .snapshotQueue))

        #expect(first[0].messageCount > 0)
        #expect(replay == first)
        let report = try await simulator.check()
        #expect(report.messages.inSnapshot == first[0].messageCount)
        #expect(report.mutatingOperations == 3)
    }

    @Test func aReplayedResendSendsNothingTwice() async throws {
        let fixture = try F()
        defer { fixture.remove() }
        let simulator = try await fixture.seeded()
        _ = try await F.switchGroup(simulator)
        let context = F.context("c1/resend", .resendQueue)
        let first = try await simulator.resend(F.group, snapshotKey: "c1/snapshot", maxAge: F.maxAge, context: context)
        let replay = try await simulator.resend(F.group, snapshotKey: "c1/snapshot", maxAge: F.maxAge, context: context)
        #expect(replay == first)
        let messages = try await simulator.check().messages
        #expect(messages.delivered == first.reduce(0) { $0 + $1.resent })
        #expect(messages.duplicated == 0)
    }

    @Test func resendingTheSameSnapshotUnderANewKeyIsCaughtAsDuplicates() async throws {
        let fixture = try F()
        defer { fixture.remove() }
        let simulator = try await fixture.seeded()
        _ = try await F.switchGroup(simulator)
        let first = try await simulator.resend(F.group, snapshotKey: "c1/snapshot", maxAge: F.maxAge, context: F.context("r1", .resendQueue))
        _ = try await simulator.resend(F.group, snapshotKey: "c1/snapshot", maxAge: F.maxAge, context: F.context("r2", .resendQueue))
        try await simulator.unfreeze(F.group, context: F.context("u", .unfreeze))
        let report = try await simulator.check()
        #expect(report.messages.duplicated == first.reduce(0) { $0 + $1.resent })
        #expect(!report.ok)
    }

    @Test func reusingAKeyForAnotherRequestIsAConflict() async throws {
        let fixture = try F()
        defer { fixture.remove() }
        let simulator = try await fixture.seeded()
        try await simulator.freeze(["beta-dc"], context: F.context("k", .freeze))
        await expectProviderError(.idempotencyConflict) {
            try await simulator.freeze(["acme-prod1"], context: F.context("k", .freeze))
        }
        await expectProviderError(.idempotencyConflict) {
            try await simulator.unfreeze(["beta-dc"], context: F.context("k", .unfreeze))
        }
        let report = try await simulator.check()
        #expect(report.frozen == ["beta-dc"])
        #expect(report.mutatingOperations == 3)
    }

    @Test func theOrderOfInstancesDoesNotMakeADifferentRequest() async throws {
        let fixture = try F()
        defer { fixture.remove() }
        let simulator = try await fixture.seeded()
        try await simulator.freeze(["acme-prod2", "acme-prod1"], context: F.context("k", .freeze))
        try await simulator.freeze(["acme-prod1", "acme-prod2", "acme-prod1"], context: F.context("k", .freeze))
        #expect(try await simulator.check().frozen == F.group)
    }

    @Test func aStaleFencingTokenIsRefusedAndChangesNothing() async throws {
        let fixture = try F()
        defer { fixture.remove() }
        let simulator = try await fixture.seeded()
        try await simulator.freeze(["beta-dc"], context: F.context("new/f", .freeze, token: 5))

        await expectProviderError(.staleFencingToken) {
            try await simulator.unfreeze(["beta-dc"], context: F.context("old/u", .unfreeze, token: 4))
        }
        // A replay under an old token is refused too, even with a key the provider knows.
        await expectProviderError(.staleFencingToken) {
            try await simulator.freeze(["beta-dc"], context: F.context("new/f", .freeze, token: 4))
        }
        let report = try await simulator.check()
        #expect(report.frozen == ["beta-dc"])
        #expect(report.refusedStaleTokens == 2)
        #expect(report.mutatingOperations == 3)
        // The current holder goes on.
        try await simulator.unfreeze(["beta-dc"], context: F.context("new/u", .unfreeze, token: 5))
        #expect(try await simulator.check().frozen.isEmpty)
    }

    @Test func prefixesAreFencedToo() async throws {
        let fixture = try F()
        defer { fixture.remove() }
        let simulator = try await fixture.seeded()
        _ = try await F.switchGroup(simulator, token: 7)
        // The prefix has seen token 7; a move naming only the prefix under token 6 is refused.
        let prefixOnly = PathChange(group: "pfx-a", instances: [:], prefixes: [F.prefixA: F.dc1])
        await expectProviderError(.staleFencingToken) {
            try await simulator.rollbackPath(prefixOnly, context: F.context("old/rollback", .rollbackPath, token: 6))
        }
        #expect(try await simulator.observePrefixes([F.prefixA])[F.prefixA]?.advertisedFrom == [F.aws])
    }
}
