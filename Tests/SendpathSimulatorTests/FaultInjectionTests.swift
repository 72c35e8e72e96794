import Foundation
import Testing
import SendpathCore
import SendpathSimulator

@Suite("Injected faults")
struct FaultInjectionTests {
    typealias F = SimulatorFixture

    @Test func anErrorFailsTheCallBeforeAnythingChangesAndARetrySucceeds() async throws {
        let fixture = try F()
        defer { fixture.remove() }
        let simulator = try await fixture.seeded(faults: [FaultRule(instance: "beta-dc", operation: .freeze, effect: .error)])
        await expectProviderError(.transient) {
            try await simulator.freeze(["beta-dc"], context: F.context("f", .freeze))
        }
        #expect(try await simulator.check().frozen.isEmpty)

        try await simulator.freeze(["beta-dc"], context: F.context("f", .freeze))
        let report = try await simulator.check()
        #expect(report.frozen == ["beta-dc"])
        #expect(report.mutatingOperations == 2)
    }

    @Test func aFaultFiresOnlyForItsStepAndInstance() async throws {
        let fixture = try F()
        defer { fixture.remove() }
        let simulator = try await fixture.seeded(faults: [FaultRule(instance: "beta-dc", operation: .unfreeze, effect: .error)])
        try await simulator.freeze(["beta-dc"], context: F.context("f", .freeze))
        try await simulator.unfreeze(["acme-prod1"], context: F.context("u1", .unfreeze))
        await expectProviderError(.transient) {
            try await simulator.unfreeze(["beta-dc"], context: F.context("u2", .unfreeze))
        }
    }

    @Test func aTimeoutCommitsTheCallAndARetryGetsTheStoredAnswer() async throws {
        let fixture = try F()
        defer { fixture.remove() }
        let simulator = try await fixture.seeded(faults: [FaultRule(instance: "beta-dc", operation: .snapshotQueue, effect: .timeout)])
        try await simulator.freeze(["beta-dc"], context: F.context("f", .freeze))
        await expectProviderError(.timeout) {
            try await simulator.snapshotQueue(["beta-dc"], context: F.context("s", .snapshotQueue))
        }
        // The snapshot was taken although its answer was lost.
        let taken = try await simulator.check().messages.inSnapshot
        #expect(taken > 0)
        #expect(try await simulator.observeInstances(["beta-dc"], step: nil)["beta-dc"]?.queueDepth == 0)

        let retry = try await simulator.snapshotQueue(["beta-dc"], context: F.context("s", .snapshotQueue))
        #expect(retry.map(\.messageCount) == [taken])
        #expect(try await simulator.check().messages.inSnapshot == taken)
    }

    @Test func aTimeoutWithUsesLeftFiresAgainOnTheRetry() async throws {
        let fixture = try F()
        defer { fixture.remove() }
        let simulator = try await fixture.seeded(faults: [FaultRule(instance: "acme-prod1", operation: .switchPath, effect: .timeout, count: 2)])
        try await simulator.prepareTarget(F.change(to: F.aws), context: F.context("p", .prepareTarget))
        try await simulator.freeze(F.group, context: F.context("f", .freeze))
        for _ in 0..<2 {
            await expectProviderError(.timeout) {
                try await simulator.switchPath(F.change(to: F.aws), context: F.context("w", .switchPath))
            }
        }
        try await simulator.switchPath(F.change(to: F.aws), context: F.context("w", .switchPath))
        #expect(try await simulator.observePrefixes([F.prefixA])[F.prefixA]?.advertisedFrom == [F.aws])
    }

    @Test func changedIPsAtTheTargetShowInVerificationAndStayBehindOnRollback() async throws {
        let fixture = try F()
        defer { fixture.remove() }
        let simulator = try await fixture.seeded(faults: [FaultRule(instance: "acme-prod2", operation: .switchPath, effect: .changeIPs)])
        _ = try await F.switchGroup(simulator)

        let verified = try await simulator.observeInstances(F.group, step: .verifyIPs)
        #expect(verified["acme-prod1"]?.sendingIPs == [IPAddress("198.51.100.10")!])
        let changed = try #require(verified["acme-prod2"]?.sendingIPs.first)
        #expect(AddressBlock.parse("100.64.0.0/10").successValue?.contains(changed) == true)

        try await simulator.rollbackPath(F.change(to: F.dc1), context: F.context("c1/rollback", .rollbackPath))
        #expect(try await simulator.observeInstances(["acme-prod2"], step: nil)["acme-prod2"]?.sendingIPs == [IPAddress("198.51.100.11")!])
        _ = try await simulator.resend(F.group, snapshotKey: "c1/snapshot", maxAge: F.maxAge, context: F.context("c1/resend", .resendQueue))
        try await simulator.unfreeze(F.group, context: F.context("c1/unfreeze", .unfreeze))
        #expect(try await simulator.check().ok)
    }

    @Test func unfreezingOnChangedIPsIsRecordedAsAViolation() async throws {
        let fixture = try F()
        defer { fixture.remove() }
        let simulator = try await fixture.seeded(faults: [FaultRule(instance: "acme-prod1", operation: .switchPath, effect: .changeIPs)])
        _ = try await F.switchGroup(simulator)
        await expectProviderError(.rejected) {
            try await simulator.resend(F.group, snapshotKey: "c1/snapshot", maxAge: F.maxAge, context: F.context("r", .resendQueue))
        }
        try await simulator.unfreeze(F.group, context: F.context("u", .unfreeze))
        let report = try await simulator.check()
        #expect(report.frozen.isEmpty)
        #expect(report.violations.map(\.kind) == [.sentFromUndeclaredIPs, .sentFromUndeclaredIPs])
        #expect(report.violations.allSatisfy { $0.instance == "acme-prod1" })
        #expect(!report.ok)
    }

    @Test func aChangedBuildShowsInTheVerificationThatTriggeredIt() async throws {
        let fixture = try F()
        defer { fixture.remove() }
        let simulator = try await fixture.seeded(faults: [FaultRule(instance: "acme-prod1", operation: .verifyBuild, effect: .changeBuild)])
        _ = try await F.switchGroup(simulator)
        #expect(try await simulator.observeInstances(F.group, step: .verifyIPs)["acme-prod1"]?.build == "7.3.5 build 9368")

        let verified = try await simulator.observeInstances(F.group, step: .verifyBuild)
        #expect(verified["acme-prod1"]?.build == "7.3.5 build 9368-hotfix")
        #expect(verified["acme-prod2"]?.build == "7.3.5 build 9368")
        // The target stays misconfigured after the fault is used up.
        #expect(try await simulator.observeInstances(["acme-prod1"], step: .verifyBuild)["acme-prod1"]?.build == "7.3.5 build 9368-hotfix")
    }

    @Test func aVerificationErrorFailsTheObservation() async throws {
        let fixture = try F()
        defer { fixture.remove() }
        let simulator = try await fixture.seeded(faults: [FaultRule(instance: "acme-prod1", operation: .verifyIPs, effect: .error)])
        await expectProviderError(.transient) {
            try await simulator.observeInstances(F.group, step: .verifyIPs)
        }
        #expect(try await simulator.observeInstances(F.group, step: .verifyIPs).count == 2)
    }

    @Test func usedFaultsStayUsedWhenTheFileIsReopened() async throws {
        let fixture = try F()
        defer { fixture.remove() }
        let faults = [FaultRule(instance: "beta-dc", operation: .freeze, effect: .error, count: 1)]
        do {
            let simulator = try await fixture.seeded(faults: faults)
            await expectProviderError(.transient) {
                try await simulator.freeze(["beta-dc"], context: F.context("f", .freeze))
            }
        }
        let reopened = try fixture.simulator(faults: faults)
        try await reopened.freeze(["beta-dc"], context: F.context("f", .freeze))
        #expect(try await reopened.check().frozen == ["beta-dc"])
    }
}

@Suite("Injected faults on IPv6 instances")
struct IPv6FaultTests {
    typealias F = SimulatorFixture

    @Test func changedIPv6AddressesComeFromTheUniqueLocalRange() async throws {
        let fixture = try F()
        defer { fixture.remove() }
        let simulator = try await fixture.seeded(faults: [FaultRule(instance: "beta-dc", operation: .freeze, effect: .changeIPs)])
        try await simulator.freeze(["beta-dc"], context: F.context("f", .freeze))
        let ips = try #require(try await simulator.observeInstances(["beta-dc"], step: nil)["beta-dc"]?.sendingIPs)
        #expect(ips.count == 1)
        #expect(AddressBlock.parse("fd00::/8").successValue?.contains(ips[0]) == true)

        try await simulator.unfreeze(["beta-dc"], context: F.context("u", .unfreeze))
        #expect(try await simulator.check().violations.map(\.kind) == [.sentFromUndeclaredIPs])
    }
}
