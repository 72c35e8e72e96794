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
        let provider = HookedProvider(inner: fixture.simulator, before: { step in if step == .prepareTarget { stop.request() } })
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
        // Groups run side by side: the refused intent is whichever group's came first.
        let records = await fixture.store.cutovers(groups: nil)
        let record = try #require(records.first { $0.entries.contains { $0.phase == .fenced } }, "no fenced entry in \(records.map(\.id))")
        let fenced = try #require(record.entries.first { $0.phase == .fenced })
        #expect(fenced.step == .snapshotQueue)
        #expect(fenced.attempt == 1)
        #expect(fenced.idempotencyKey == record.key(CutoverMachine.Move(.snapshotQueue)))
    }
}


/// The apply report shows reasons as they stand after the run.
@Suite("Reports after the run")
struct ReportAfterRunTests {
    @Test func aWaveWaitingOnAnEarlierWaveIsNotReportedWaitingAfterThatWaveCompleted() async throws {
        let fixture = try await EngineFixture()
        defer { fixture.remove() }
        // w2 runs after w1.
        let ordered = try PinnedCutoverTests.edit(fixture, "waves.yaml") { text in
            text.replacingOccurrences(of: "maxParallel: 2\n", with: "maxParallel: 2\n  after: [w1]\n")
        }
        let plan = try await PinnedCutoverTests.reconciler(fixture, fleet: ordered, store: fixture.store, dryRun: true).run()
        #expect(plan.instances.first { $0.name == "c1" }?.reason?.contains("must complete first") == true)
        let report = try await PinnedCutoverTests.reconciler(fixture, fleet: ordered, store: fixture.store).run()
        #expect(report.status(of: "a1") == .migrated)
        let c1 = try #require(report.instances.first { $0.name == "c1" })
        #expect(c1.reason?.contains("must complete first") != true, "\(c1.reason ?? "")")
        #expect(c1.reason?.contains("next run starts it") == true, "\(c1.reason ?? "")")
        #expect(report.outcome == .waiting)
    }
}
