import Logging
import SendpathController
import SendpathCore
import SendpathSimulator
import Testing

/// One-shot commands (`reconcile`, `status`, the schedule page, `notify`) read the journal a page
/// at a time through a compacting follower, never whole, and say the same as from the whole journal.
@Suite("One-shot commands: the journal read through a follower")
struct OneShotJournalTests {
    @Test func oneShotsReadTheJournalInPagesAndSayTheSameAsAWholeRead() async throws {
        // a1: a failed freeze, retried; b1: a failed verification, rolled back, then done again;
        // c1: resend-queue failing until held.
        let fixture = try await EngineFixture(faults: [
            FaultRule(instance: "a1", operation: .freeze, effect: .error, count: 1),
            FaultRule(instance: "b1", operation: .switchPath, effect: .changeIPs, count: 1),
            FaultRule(instance: "c1", operation: .resendQueue, effect: .error, count: 10),
        ])
        defer { fixture.remove() }
        _ = try await fixture.apply()
        _ = try await fixture.apply()
        let full = await fixture.store.cutovers(groups: nil)
        #expect(Set(full.compactMap(\.outcome)) == [.completed, .rolledBack, .held])
        // Ended cut-overs hold entries that a compacting read leaves out.
        #expect(full.contains { JournalFollower.compacted($0).entries.count < $0.entries.count })

        let paged = PageCountingStore(fixture.store)
        // Not a cursor reader: its journal is read whole, as before followers.
        let whole = DyingStore(fixture.store) { _ in false }
        func reconciler(_ store: any StateStore) -> Reconciler {
            var logger = Logger(label: "test")
            logger.logLevel = .critical
            let options = ReconcileOptions(dryRun: true, retry: RetryPolicy(maxAttempts: 3, baseDelay: .milliseconds(1)))
            return Reconciler(fleet: fixture.fleet, provider: fixture.simulator, store: store, clock: fixture.clock, lease: nil,
                              logger: logger, options: options, holder: EngineFixture.holder)
        }

        #expect(try await reconciler(paged).run() == (try await reconciler(whole).run()))
        let status = try await reconciler(paged).status()
        #expect(status == (try await reconciler(whole).status()))
        #expect(status.instances.contains { $0.journal?.outcome == "held" })
        let saved = try await reconciler(paged).plannedForSaving()
        let wholeSaved = try await reconciler(whole).plannedForSaving()
        #expect(saved.report == wholeSaved.report)
        #expect(saved.plan == wholeSaved.plan)
        #expect(try await reconciler(paged).schedule(for: status, title: "Status")
                == (try await reconciler(whole).schedule(for: status, title: "Status")))
        for wave in ["w1", "w2"] {
            let expected = try await NoticeDesk(fleet: fixture.fleet, provider: fixture.simulator, store: paged).expectedDuration(wave: wave)
            #expect(expected == (try await NoticeDesk(fleet: fixture.fleet, provider: fixture.simulator, store: whole).expectedDuration(wave: wave)))
        }

        #expect(await paged.wholeReads == 0)
        #expect(await paged.pages > 0)
    }
}

/// A store that counts its reads of the whole journal (`cutovers(groups: nil)`) and of pages.
actor PageCountingStore: ForwardingStateStore, JournalCursorReading {
    let inner: any StateStore & JournalCursorReading
    nonisolated var forwardee: any StateStore { inner }
    private(set) var wholeReads = 0
    private(set) var pages = 0

    init(_ inner: any StateStore & JournalCursorReading) { self.inner = inner }

    func cutovers(groups: Set<String>?) async throws -> [CutoverRecord] {
        if groups == nil { wholeReads += 1 }
        return try await inner.cutovers(groups: groups)
    }

    func journalEntries(after sequence: Int64, including: [Int64], limit: Int) async throws -> [SequencedEntry] {
        pages += 1
        return try await inner.journalEntries(after: sequence, including: including, limit: limit)
    }

    func cutoverHeaders(after sequence: Int64, including: [String], limit: Int) async throws -> [SequencedCutover] {
        pages += 1
        return try await inner.cutoverHeaders(after: sequence, including: including, limit: limit)
    }
}
