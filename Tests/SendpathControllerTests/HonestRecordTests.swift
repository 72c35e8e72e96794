import Synchronization
import Testing
import SendpathController
import SendpathCore
import SendpathSimulator

/// What the journal records of a stop is what happened: a stop request starts no new cut-over,
/// and a refused journal entry is recorded under the step and key it was for.
@Suite("Honest records of stops and refusals")
struct HonestRecordTests {
    @Test func aStopRequestedDuringPrepareTargetStartsNoCutover() async throws {
        let fixture = try await EngineFixture()
        defer { fixture.remove() }
        let stop = StopRequest()
        // SIGTERM arrives while prepare-target runs.
        let provider = StopDuringPrepare(inner: fixture.simulator, stop: stop)
        var reconciler = fixture.reconciler(scope: ["pfx-b"], provider: provider)
        reconciler = Reconciler(fleet: reconciler.fleet, provider: provider, store: fixture.store, clock: fixture.clock,
                                lease: reconciler.lease, logger: reconciler.logger,
                                options: ReconcileOptions(scope: ["pfx-b"], retry: RetryPolicy(maxAttempts: 3, baseDelay: .milliseconds(1)),
                                                          stop: stop),
                                holder: EngineFixture.holder)
        let report = try await reconciler.run()
        #expect(report.status(of: "b1") == .blocked)
        #expect(report.instances.first { $0.name == "b1" }?.reason?.contains("stop was requested") == true)
        #expect(await fixture.store.cutovers(groups: nil).isEmpty)
        #expect(try await PinnedCutoverTests.frozen(fixture, ["b1"]) == [])
    }

    @Test func aRunKilledBeforeItEndedIsMarkedDiedByTheNextApply() async throws {
        let fixture = try await EngineFixture()
        defer { fixture.remove() }
        _ = try await PinnedCutoverTests.killedRun(fixture, diesAt: DyingStore.Write.done(.snapshotQueue))
        let killed = try #require(await fixture.store.recentRuns(limit: 10).first)
        #expect(killed.finishedAt == nil)
        fixture.clock.advance(by: .seconds(5))
        _ = try await fixture.apply()
        let runs = await fixture.store.recentRuns(limit: 10)
        let marked = try #require(runs.first { $0.id == killed.id })
        #expect(marked.outcome == .error)
        #expect(marked.summary["died"] == 1)
        #expect(marked.finishedAt != nil)
        #expect(runs.allSatisfy { $0.finishedAt != nil })
    }

    @Test func aRefusedJournalEntryIsRecordedUnderItsStepAndKey() async throws {
        let fixture = try await EngineFixture()
        defer { fixture.remove() }
        // The store refuses the snapshot-queue intent: the lease has a newer holder.
        let refusing = DyingStore(fixture.store, afterWrite: false, failure: StateStoreError.leaseLost(scope: "group:pfx-b"),
                                  once: true, diesAt: DyingStore.Write.entry(.snapshotQueue, .intent))
        _ = try await PinnedCutoverTests.reconciler(fixture, fleet: fixture.fleet, store: refusing).run()
        let record = try #require(await fixture.store.cutovers(groups: nil).first)
        let fenced = try #require(record.entries.first { $0.phase == .fenced })
        #expect(fenced.step == .snapshotQueue)
        #expect(fenced.attempt == 1)
        #expect(fenced.idempotencyKey == record.key(CutoverMachine.Move(.snapshotQueue)))
    }
}

/// Requests a stop while prepare-target runs, and forwards every call.
struct StopDuringPrepare: Provider {
    let inner: FleetSimulator
    let stop: StopRequest

    func prepareTarget(_ change: PathChange, context: MutationContext) async throws(ProviderError) {
        stop.request()
        try await inner.prepareTarget(change, context: context)
    }
    func highestFencingToken() async throws(ProviderError) -> FencingToken { try await inner.highestFencingToken() }
    func observeInstances(_ names: [String], step: StepName?) async throws(ProviderError) -> [String: ObservedInstance] {
        try await inner.observeInstances(names, step: step)
    }
    func observePrefixes(_ cidrs: [AddressBlock]) async throws(ProviderError) -> [AddressBlock: ObservedPrefix] {
        try await inner.observePrefixes(cidrs)
    }
    func freeze(_ instances: [String], context: MutationContext) async throws(ProviderError) {
        try await inner.freeze(instances, context: context)
    }
    func snapshotQueue(_ instances: [String], context: MutationContext) async throws(ProviderError) -> [QueueSnapshot] {
        try await inner.snapshotQueue(instances, context: context)
    }
    func switchPath(_ change: PathChange, context: MutationContext) async throws(ProviderError) {
        try await inner.switchPath(change, context: context)
    }
    func resend(_ instances: [String], snapshotKey: String, maxAge: Duration,
                context: MutationContext) async throws(ProviderError) -> [ResendResult] {
        try await inner.resend(instances, snapshotKey: snapshotKey, maxAge: maxAge, context: context)
    }
    func unfreeze(_ instances: [String], context: MutationContext) async throws(ProviderError) {
        try await inner.unfreeze(instances, context: context)
    }
    func rollbackPath(_ change: PathChange, context: MutationContext) async throws(ProviderError) {
        try await inner.rollbackPath(change, context: context)
    }
}
