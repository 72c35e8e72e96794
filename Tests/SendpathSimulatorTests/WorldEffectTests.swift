import Foundation
import Synchronization
import Testing
import SendpathCore
import SendpathSimulator
import SendpathTestSupport

/// The fault effects that make the simulated world less atomic than one transaction per call:
/// part of a move, an effect landing after the client gave up, a request arriving twice, mail
/// arriving while an instance is frozen. A correct sequence of calls still leaves a clean report.
@Suite("Partial, late, duplicate and arriving effects")
struct WorldEffectTests {
    typealias F = SimulatorFixture

    /// resend, unfreeze, check: the end of a cut-over after the switch.
    private func finish(_ simulator: FleetSimulator, snapshotKey: String = "c1/snapshot") async throws -> InvariantReport {
        _ = try await simulator.resend(F.group, snapshotKey: snapshotKey, maxAge: F.maxAge, context: F.context("c1/resend", .resendQueue))
        try await simulator.unfreeze(F.group, context: F.context("c1/unfreeze", .unfreeze))
        return try await simulator.check()
    }

    @Test func aPartialSwitchMovesThePrefixAndSomeInstancesThenARetryMovesTheRest() async throws {
        let fixture = try F()
        defer { fixture.remove() }
        let partial = FaultRule(instance: "acme-prod2", operation: .switchPath, effect: try FleetFile.effect("partial"))
        let simulator = try await fixture.seeded(faults: [partial])
        try await simulator.prepareTarget(F.change(to: F.aws), context: F.context("c1/prepare", .prepareTarget))
        try await simulator.freeze(F.group, context: F.context("c1/freeze", .freeze))
        _ = try await simulator.snapshotQueue(F.group, context: F.context("c1/snapshot", .snapshotQueue))
        await expectProviderError(.transient) {
            try await simulator.switchPath(F.change(to: F.aws), context: F.context("c1/switch", .switchPath))
        }
        let half = try await simulator.observeInstances(F.group, step: nil)
        #expect(half["acme-prod1"]?.path == F.aws && half["acme-prod2"]?.path == F.dc1)
        #expect(try await simulator.observePrefixes([F.prefixA])[F.prefixA]?.advertisedFrom == [F.aws])

        try await simulator.switchPath(F.change(to: F.aws), context: F.context("c1/switch", .switchPath))
        #expect(try await simulator.observeInstances(F.group, step: nil).values.allSatisfy { $0.path == F.aws })
        let report = try await finish(simulator)
        #expect(report.ok, "\(report)")
        #expect(report.sendsByPath == [F.aws.description: report.messages.delivered])
    }

    @Test func aPartialRollbackLeavesTheRestForTheRetry() async throws {
        let fixture = try F()
        defer { fixture.remove() }
        let partial = FaultRule(instance: "acme-prod1", operation: .rollbackPath, effect: try FleetFile.effect("partial"))
        let simulator = try await fixture.seeded(faults: [partial])
        _ = try await F.switchGroup(simulator)
        await expectProviderError(.transient) {
            try await simulator.rollbackPath(F.change(to: F.dc1), context: F.context("c1/rollback", .rollbackPath))
        }
        #expect(try await simulator.observeInstances(["acme-prod2"], step: nil)["acme-prod2"]?.path == F.aws)
        try await simulator.rollbackPath(F.change(to: F.dc1), context: F.context("c1/rollback", .rollbackPath))
        let report = try await finish(simulator)
        #expect(report.ok, "\(report)")
        #expect(report.sendsByPath == [F.dc1.description: report.messages.delivered])
    }

    @Test func aLateSwitchAnswersTimeoutAndLandsWithTheRetry() async throws {
        let fixture = try F()
        defer { fixture.remove() }
        let late = FaultRule(instance: "acme-prod1", operation: .switchPath, effect: try FleetFile.effect("late"))
        let simulator = try await fixture.seeded(faults: [late])
        try await simulator.prepareTarget(F.change(to: F.aws), context: F.context("c1/prepare", .prepareTarget))
        try await simulator.freeze(F.group, context: F.context("c1/freeze", .freeze))
        _ = try await simulator.snapshotQueue(F.group, context: F.context("c1/snapshot", .snapshotQueue))
        await expectProviderError(.timeout) {
            try await simulator.switchPath(F.change(to: F.aws), context: F.context("c1/switch", .switchPath))
        }
        // Not applied yet: the answer came before the effect.
        let pending = try await simulator.check()
        #expect(pending.pendingEffects == 1)
        #expect(try await simulator.observeInstances(F.group, step: nil).values.allSatisfy { $0.path == F.aws })
        #expect(try await simulator.check().pendingEffects == 0)

        try await simulator.switchPath(F.change(to: F.aws), context: F.context("c1/switch", .switchPath))
        let report = try await finish(simulator)
        #expect(report.ok, "\(report)")
    }

    @Test func aLateSwitchLandsBeforeTheRollbackOfAClientThatGaveUp() async throws {
        let fixture = try F()
        defer { fixture.remove() }
        let late = FaultRule(instance: "acme-prod1", operation: .switchPath, effect: try FleetFile.effect("late"), count: 3)
        let simulator = try await fixture.seeded(faults: [late])
        try await simulator.prepareTarget(F.change(to: F.aws), context: F.context("c1/prepare", .prepareTarget))
        try await simulator.freeze(F.group, context: F.context("c1/freeze", .freeze))
        _ = try await simulator.snapshotQueue(F.group, context: F.context("c1/snapshot", .snapshotQueue))
        for _ in 0..<3 {
            await expectProviderError(.timeout) {
                try await simulator.switchPath(F.change(to: F.aws), context: F.context("c1/switch", .switchPath))
            }
            #expect(try await simulator.check().pendingEffects == 1)
        }
        // The client gives up and turns back: the switch lands first, then the rollback undoes it.
        try await simulator.rollbackPath(F.change(to: F.dc1), context: F.context("c1/rollback", .rollbackPath))
        #expect(try await simulator.observePrefixes([F.prefixA])[F.prefixA]?.advertisedFrom == [F.dc1])
        let report = try await finish(simulator)
        #expect(report.ok, "\(report)")
        #expect(report.pendingEffects == 0)
        // Announced at AWS by the late switch, then back: history of four events, no overlap.
        #expect(report.doubleAdvertisements == 0 && report.advertisementGaps == 0)
    }

    @Test func aLateEffectIsDroppedWhenANewerFencingTokenArrivesFirst() async throws {
        let fixture = try F()
        defer { fixture.remove() }
        let late = FaultRule(instance: "beta-dc", operation: .freeze, effect: try FleetFile.effect("late"))
        let simulator = try await fixture.seeded(faults: [late])
        await expectProviderError(.timeout) {
            try await simulator.freeze(["beta-dc"], context: F.context("old/freeze", .freeze, token: 1))
        }
        // Another reconciler (token 2) reaches beta-dc before the old freeze lands: it never does.
        try await simulator.unfreeze(["beta-dc"], context: F.context("new/unfreeze", .unfreeze, token: 2))
        #expect(try await simulator.observeInstances(["beta-dc"], step: nil)["beta-dc"]?.frozen == false)
        let report = try await simulator.check()
        #expect(report.ok && report.pendingEffects == 0, "\(report)")
    }

    @Test func aDuplicatedResendSendsOnce() async throws {
        let fixture = try F()
        defer { fixture.remove() }
        let duplicate = FaultRule(instance: "acme-prod1", operation: .resendQueue, effect: try FleetFile.effect("duplicate"))
        let simulator = try await fixture.seeded(faults: [duplicate])
        _ = try await F.switchGroup(simulator)
        let before = try await simulator.check().mutatingOperations
        let report = try await finish(simulator)
        #expect(report.ok, "\(report)")
        #expect(report.messages.duplicated == 0 && report.messages.delivered > 0)
        // Both copies reached the simulator: one applied, one replayed.
        #expect(report.mutatingOperations == before + 3)
    }

    @Test func twoConcurrentCallsWithOneKeyOnTwoConnectionsSendOnce() async throws {
        for round in 0..<5 {
            let fixture = try F()
            defer { fixture.remove() }
            let simulator = try await fixture.seeded()
            _ = try await F.switchGroup(simulator)
            // Two simulators on one file (as two server processes) get the same resend at once.
            let others = [simulator, try fixture.simulator()]
            let index = Mutex(0)
            let results = try SimultaneousStart.run(count: 2) {
                let mine = others[index.withLock { value in defer { value += 1 }; return value }]
                return try BlockingCall.run {
                    try await mine.resend(F.group, snapshotKey: "c1/snapshot", maxAge: F.maxAge, context: F.context("c1/resend", .resendQueue))
                }
            }
            #expect(results[0] == results[1], "round \(round)")
            try await simulator.unfreeze(F.group, context: F.context("c1/unfreeze", .unfreeze))
            let report = try await simulator.check()
            #expect(report.ok, "round \(round): \(report)")
            #expect(report.messages.delivered == results[0].reduce(0) { $0 + $1.resent })
        }
    }

    @Test func mailArrivingWhileFrozenIsHeldThenSentOnceFromTheNewPath() async throws {
        let fixture = try F()
        defer { fixture.remove() }
        let arrivals = FaultRule(instance: "acme-prod1", operation: .switchPath, effect: try FleetFile.effect("arrivals"))
        let simulator = try await fixture.seeded(faults: [arrivals])
        let enqueued = try await simulator.check().messages.enqueued
        _ = try await F.switchGroup(simulator)
        let held = try await simulator.check()
        #expect(held.messages.held == 3 && held.messages.enqueued == enqueued + 3)
        #expect(try await simulator.observeInstances(["acme-prod1"], step: nil)["acme-prod1"]?.queueDepth == 3)

        let report = try await finish(simulator)
        #expect(report.ok, "\(report)")
        #expect(report.messages.held == 0 && report.messages.duplicated == 0 && report.messages.lost == 0)
        #expect(report.sendsByPath == [F.aws.description: report.messages.delivered])
        #expect(try await simulator.observeInstances(["acme-prod1"], step: nil)["acme-prod1"]?.queueDepth == 0)
    }

    @Test func mailArrivingBeforeTheSnapshotIsTakenWithIt() async throws {
        let fixture = try F()
        defer { fixture.remove() }
        let arrivals = FaultRule(instance: "acme-prod2", operation: .freeze, effect: try FleetFile.effect("arrivals"))
        let simulator = try await fixture.seeded(faults: [arrivals])
        let snapshots = try await F.switchGroup(simulator)
        #expect(snapshots.first { $0.instance == "acme-prod2" }?.messages?.contains { $0.id == "acme-prod2/arrival-1" } == true)
        let report = try await finish(simulator)
        #expect(report.ok, "\(report)")
        #expect(report.messages.held == 0)
    }
}

/// Runs async work to completion from a plain thread.
enum BlockingCall {
    static func run<Value: Sendable>(_ work: @escaping @Sendable () async throws -> Value) throws -> Value {
        let result = Mutex<Result<Value, any Error>?>(nil)
        let done = DispatchSemaphore(value: 0)
        Task {
            let outcome: Result<Value, any Error>
            do { outcome = .success(try await work()) } catch { outcome = .failure(error) }
            result.withLock { $0 = outcome }
            done.signal()
        }
        done.wait()
        return try result.withLock { $0! }.get()
    }
}
