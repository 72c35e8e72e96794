import Testing
import SendpathController
import SendpathCore
import SendpathSimulator

@Suite("Reconcile engine against the simulator")
struct ReconcilerTests {
    @Test func anApplyMigratesEveryGroupAndKeepsEveryInvariant() async throws {
        let fixture = try await EngineFixture()
        defer { fixture.remove() }
        let report = try await fixture.apply()
        #expect(report.outcome == .converged)
        #expect(report.summary == ["migrated": 5])
        let check = try await fixture.simulator.check()
        #expect(check.ok, "\(check)")
        #expect(check.messages.delivered + check.messages.expired == check.messages.enqueued)
        #expect(check.messages.expired > 0)
        let expired = report.instances.compactMap(\.messages).reduce(0) { $0 + $1.expired }
        #expect(expired == check.messages.expired)
    }

    @Test func aSecondApplyCallsNoMutatingOperation() async throws {
        let fixture = try await EngineFixture()
        defer { fixture.remove() }
        _ = try await fixture.apply()
        let before = try await fixture.simulator.check().mutatingOperations
        let again = try await fixture.apply()
        #expect(again.outcome == .converged)
        #expect(again.summary == ["migrated": 5])
        #expect(try await fixture.simulator.check().mutatingOperations == before)
    }

    @Test func dryRunListsExactlyTheStepsTheApplyRuns() async throws {
        let fixture = try await EngineFixture()
        defer { fixture.remove() }
        let plan = try await fixture.dryRun()
        #expect(plan.outcome == .changesPending)
        var planned: [String: [String]] = [:]
        for instance in plan.instances where planned[instance.group] == nil {
            planned[instance.group] = instance.steps.map { $0.rollback == true ? "rollback:\($0.name.rawValue)" : $0.name.rawValue }
        }
        #expect(try await fixture.simulator.check().mutatingOperations == 0)
        _ = try await fixture.apply()
        #expect(try await fixture.journalledMoves() == planned)
    }

    @Test func scopeLimitsTheRunToTheSelectedGroups() async throws {
        let fixture = try await EngineFixture()
        defer { fixture.remove() }
        let report = try await fixture.reconciler(scope: ["pfx-b"]).run()
        #expect(report.instances.map(\.name) == ["b1"])
        #expect(report.status(of: "b1") == .migrated)
        let rest = try await fixture.dryRun()
        #expect(rest.status(of: "a1") == .pending)
    }

    @Test func aSecondReconcilerIsLockedOut() async throws {
        let fixture = try await EngineFixture()
        defer { fixture.remove() }
        let other = LeaseHolder(id: "other", host: "test-host", pid: 2, command: "sendpath reconcile")
        _ = try await fixture.store.acquireLease(scope: Lease.reconcilerScope, holder: other, ttl: .seconds(60), now: fixture.clock.now())
        await #expect(throws: StateStoreError.self) { _ = try await fixture.apply() }
        #expect(try await fixture.simulator.check().mutatingOperations == 0)
    }

    @Test func theWindowEndingTurnsACutoverBack() async throws {
        // Every provider call takes 5 minutes. Reading the provider's highest fencing token and
        // planning (two observations) leave 35 minutes: the cut-over fits (about 9.5 minutes plus
        // a 20-minute reserve), but after prepare-target, freeze and snapshot-queue only the
        // reserve is left, so it turns back before the switch. The way back (resend, then the
        // checks of IPs and routes and the unfreeze) fits in the reserve.
        let end = Timestamp(rfc3339: "2024-01-17T04:00:00Z")!
        let fixture = try await EngineFixture(latency: .seconds(300), policy: "rollbackReserve: 20m", at: end - .seconds(50 * 60))
        defer { fixture.remove() }
        let report = try await fixture.reconciler(scope: ["pfx-b"]).run()
        #expect(report.status(of: "b1") == .rolledBack)
        #expect(report.outcome == .rolledBack)
        let check = try await fixture.simulator.check()
        #expect(check.ok, "\(check)")
        // Unfrozen before the window ended (the report's own observations come after).
        let unfrozen = await fixture.store.cutovers(groups: ["pfx-b"]).last?.entries
            .last { $0.step == .unfreeze && $0.rollback && $0.phase == .done }?.at
        #expect(unfrozen.map { $0 <= end } == true, "\(String(describing: unfrozen))")
        let moves = try await fixture.journalledMoves()
        #expect(moves["pfx-b"] == ["prepare-target", "freeze", "snapshot-queue", "rollback:resend-queue", "rollback:unfreeze"])
    }

    @Test func groupsRunInParallelUpToTheWaveLimit() async throws {
        let fixture = try await EngineFixture()
        defer { fixture.remove() }
        let report = try await fixture.reconciler(maxParallel: 1).run()
        #expect(report.summary == ["migrated": 5])
    }

    @Test func reconcilersSharingAStoreDivideTheGroupsAndNeverWorkOneTwice() async throws {
        let fixture = try await EngineFixture(latency: .milliseconds(1), sharesWork: true)
        defer { fixture.remove() }
        let holders = (1...3).map { LeaseHolder(id: "replica-\($0)", host: "test-host", pid: Int32($0), command: "controller") }
        let reports = try await withThrowingTaskGroup(of: ReconcileReport.self) { tasks in
            for holder in holders { tasks.addTask { try await fixture.reconciler(holder: holder).run() } }
            var all: [ReconcileReport] = []
            for try await report in tasks { all.append(report) }
            return all
        }
        #expect(reports.count == 3)
        let after = try await fixture.apply()
        #expect(after.summary == ["migrated": 5])
        let check = try await fixture.simulator.check()
        #expect(check.ok, "\(check)")
        // Each group has exactly one cut-over, and its journal came from one holder.
        let cutovers = await fixture.store.cutovers(groups: nil)
        #expect(cutovers.count == 3)
        for record in cutovers { #expect(Set(record.entries.map(\.holder)).count == 1, "\(record.id)") }
    }
}
