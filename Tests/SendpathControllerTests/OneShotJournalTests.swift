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
actor PageCountingStore: StateStore, JournalCursorReading {
    let inner: any StateStore & JournalCursorReading
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

    func acquireLease(scope: String, holder: LeaseHolder, ttl: Duration, now: Timestamp) async throws -> Lease {
        try await inner.acquireLease(scope: scope, holder: holder, ttl: ttl, now: now)
    }
    func renewLease(_ lease: Lease, ttl: Duration, now: Timestamp) async throws -> Lease {
        try await inner.renewLease(lease, ttl: ttl, now: now)
    }
    func raiseTokenFloor(above token: FencingToken) async throws { try await inner.raiseTokenFloor(above: token) }
    func releaseLease(_ lease: Lease) async throws { try await inner.releaseLease(lease) }
    func breakLease(scope: String, token: FencingToken) async throws { try await inner.breakLease(scope: scope, token: token) }
    func currentLease(scope: String) async throws -> Lease? { try await inner.currentLease(scope: scope) }
    func beginCutover(_ record: CutoverRecord) async throws { try await inner.beginCutover(record) }
    func append(_ entry: JournalEntry) async throws { try await inner.append(entry) }
    func finishCutover(id: String, outcome: CutoverOutcome, reason: String?, at: Timestamp) async throws {
        try await inner.finishCutover(id: id, outcome: outcome, reason: reason, at: at)
    }
    func preparations(groups: Set<String>?) async throws -> [JournalEntry] { try await inner.preparations(groups: groups) }
    func recordNotice(_ notice: NoticeRecord) async throws { try await inner.recordNotice(notice) }
    func notices() async throws -> [String: NoticeRecord] { try await inner.notices() }
    func recordRun(_ run: RunRecord) async throws { try await inner.recordRun(run) }
    func recentRuns(limit: Int) async throws -> [RunRecord] { try await inner.recentRuns(limit: limit) }
    func recordDelivery(_ delivery: NoticeDelivery) async throws { try await inner.recordDelivery(delivery) }
    func deliveries(wave: String) async throws -> [NoticeDelivery] { try await inner.deliveries(wave: wave) }
    func recordControl(_ control: ControlRecord) async throws { try await inner.recordControl(control) }
    func controls() async throws -> [ControlRecord] { try await inner.controls() }
}
