import SendpathCore
import SendpathTestSupport
import Testing

/// A controller's follower keeps of an ended cut-over only what a plan reads of it.
@Suite("Journal follower: ended cut-overs compacted")
struct JournalFollowerTests {
    typealias C = JournalFollowerContract

    @Test func anEndedCutoverKeepsWhatPlansRead() async throws {
        let store: any StateStore = InMemoryStateStore()
        let follower = JournalFollower(store: store, pageSize: 4, compactingFinished: true)
        try await store.beginCutover(C.cutover("g1", 1, at: 0))
        try await store.beginCutover(C.cutover("g2", 1, at: 1))
        // Intents, a failed attempt, a resume, a rollback step, then the steps done.
        try await store.append(C.entry("g1#1", .freeze, .intent, at: 2))
        try await store.append(C.entry("g1#1", .freeze, .failed, at: 3))
        try await store.append(C.entry("g1#1", .freeze, .resumed, at: 4))
        try await C.steps(store, "g1#1", 8, from: 5)
        // A snapshot and a resend with their messages: a plan reads only the counts.
        var snapshot = C.entry("g1#1", .snapshotQueue, .done, at: 28)
        snapshot.detail = StepDetail(snapshots: [QueueSnapshot(instance: "a", messageCount: 2, digest: "d",
                                                                messages: [QueuedMessage(id: "a/m1", enqueuedAt: C.t0),
                                                                           QueuedMessage(id: "a/m2", enqueuedAt: C.t0)])])
        try await store.append(snapshot)
        var resend = C.entry("g1#1", .resendQueue, .done, at: 29)
        resend.detail = StepDetail(message: "1 resent, 1 expired",
                                   resends: [ResendResult(instance: "a", resent: 1, expired: 1, expiredMessageIDs: ["a/m1"], digest: "d")])
        try await store.append(resend)
        try await store.append(C.entry("g1#1", .switchPath, .resumed, at: 30))
        try await C.steps(store, "g2#1", 3, from: 5)
        // Open: kept whole.
        #expect(try await follower.cutovers() == (try await store.cutovers(groups: nil)))
        try await store.finishCutover(id: "g1#1", outcome: .completed, reason: nil, at: C.t0 + .seconds(40))
        try await store.finishCutover(id: "g2#1", outcome: .held, reason: "held", at: C.t0 + .seconds(40))
        let full = try await store.cutovers(groups: nil)
        let kept = try await follower.cutovers()
        #expect(kept == full.map(JournalFollower.compacted))
        let g1 = try #require(kept.first { $0.id == "g1#1" })
        #expect(g1.entries.count == 10)
        #expect(g1.entries.allSatisfy { $0.detail?.resends == nil && $0.detail?.snapshots?.allSatisfy { $0.messages == nil } ?? true })
        #expect(g1.entries.contains { $0.detail?.snapshots?.first?.messageCount == 2 })
        #expect(g1.entries.contains { $0.detail?.message == "1 resent, 1 expired" })
        #expect(g1.entries.count < full.first { $0.id == "g1#1" }!.entries.count)
        // Held: kept whole (it is replayed when resumed).
        #expect(kept.first { $0.id == "g2#1" } == full.first { $0.id == "g2#1" })
        // What plans read of them is the same.
        #expect(DurationEstimator(journal: kept) == DurationEstimator(journal: full))
        #expect(zip(kept, full).allSatisfy { JournalSummary($0) == JournalSummary($1) })
        // Entries after the end (a late resume mark) still arrive, and are compacted in turn.
        try await store.append(C.entry("g1#1", .unfreeze, .resumed, at: 50))
        let later = try await follower.cutovers()
        #expect(later == (try await store.cutovers(groups: nil)).map(JournalFollower.compacted))
    }
}
