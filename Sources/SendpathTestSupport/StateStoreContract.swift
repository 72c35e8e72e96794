public import SendpathCore
import Testing

/// The state-store contract as one test body, run against every implementation
/// (in memory, SQLite, PostgreSQL). Each check uses `#expect`, so a failure names the store.
public struct StateStoreContract: Sendable {
    public let makeStore: @Sendable () async throws -> any StateStore

    public init(makeStore: @escaping @Sendable () async throws -> any StateStore) {
        self.makeStore = makeStore
    }

    static let t0 = Timestamp(rfc3339: "2024-01-13T20:00:00Z")!
    static let alice = LeaseHolder(id: "alice-1", host: "host-a", pid: 101, command: "sendpath reconcile")
    static let bob = LeaseHolder(id: "bob-1", host: "host-b", pid: 202, command: "sendpath controller")

    /// Runs every check.
    public func runAll() async throws {
        try await leasesAreExclusiveAndTokensGrow()
        try await anyOfSeveralLeasesGoesToOneHolderEach()
        try await renewAndReleaseRespectTheCurrentGrant()
        try await journalKeepsCutoversInOrder()
        try await noticesAndRunsRoundTrip()
        try await journalRefusesHoldersThatLostTheirLease()
        try await controlsKeepTheirOrder()
        try await deliveriesKeepTheFirstOfEachNoticeTenantAndChannel()
    }

    /// Suspend, approve and resume come back in the order they were recorded (even at the
    /// same instant), and read as the state they leave.
    public func controlsKeepTheirOrder() async throws {
        let store = try await makeStore()
        #expect(try await store.controls().isEmpty)
        let records = [
            ControlRecord(kind: .suspend, by: "alice@host-a", at: Self.t0, reason: "incident 42: bounces"),
            ControlRecord(kind: .suspend, wave: "w1", by: "bob@host-b", at: Self.t0),
            ControlRecord(kind: .approve, group: "g1", cutover: 2, by: "carol", at: Self.t0 + .seconds(1)),
            ControlRecord(kind: .resume, by: "alice@host-a", at: Self.t0 + .seconds(2)),
        ]
        for record in records { try await store.recordControl(record) }
        let read = try await store.controls()
        #expect(read == records)
        let state = OperatorControls(read)
        #expect(state.suspension(of: "w1") == nil)
        #expect(state.lastResume(of: "w1") == Self.t0 + .seconds(2))
        #expect(state.approval(group: "g1", cutover: 2)?.by == "carol")
        #expect(state.approval(group: "g1", cutover: 3) == nil)
    }

    public func journalRefusesHoldersThatLostTheirLease() async throws {
        let store = try await makeStore()
        let window = Window(start: Self.t0, end: Self.t0 + .seconds(3600))
        let baseline = CutoverBaseline(members: [:], prefixes: [:], target: SendingPath(infrastructure: .aws, location: "eu-west-1"))
        try await store.beginCutover(CutoverRecord(id: "g1#1", group: "g1", wave: "w1", members: ["a"], window: window,
                                                   startedAt: Self.t0, baseline: baseline))
        let old = try await store.acquireLease(scope: Lease.groupScope("g1"), holder: Self.alice, ttl: .seconds(30), now: Self.t0)
        func entry(_ phase: JournalEntry.Phase, _ token: FencingToken, _ holder: String) -> JournalEntry {
            JournalEntry(cutoverID: "g1#1", group: "g1", step: .freeze, phase: phase, attempt: 1, idempotencyKey: "g1#1/freeze",
                         fencingToken: token, at: Self.t0, holder: holder)
        }
        try await store.append(entry(.intent, old.token, "alice-1"))
        // Alice stalls past her lease; Bob takes the group over.
        let new = try await store.acquireLease(scope: Lease.groupScope("g1"), holder: Self.bob, ttl: .seconds(30), now: Self.t0 + .seconds(60))
        try await store.append(entry(.intent, new.token, "bob-1"))
        await #expect(throws: StateStoreError.leaseLost(scope: Lease.groupScope("g1"))) {
            try await store.append(entry(.done, old.token, "alice-1"))
        }
        // Her refusal itself is recorded.
        try await store.append(entry(.fenced, old.token, "alice-1"))
        let entries = try #require(try await store.cutovers(groups: ["g1"]).first).entries
        #expect(entries.map(\.holder) == ["alice-1", "bob-1", "alice-1"])
        #expect(entries.map(\.phase) == [.intent, .intent, .fenced])
        // Entries for another group are not fenced by this group's lease.
        try await store.append(JournalEntry(cutoverID: nil, group: "g2", step: .prepareTarget, phase: .done, attempt: 1,
                                            idempotencyKey: "prepare/g2", fencingToken: old.token, at: Self.t0, holder: "alice-1"))
    }

    public func leasesAreExclusiveAndTokensGrow() async throws {
        let store = try await makeStore()
        let first = try await store.acquireLease(scope: "reconciler", holder: Self.alice, ttl: .seconds(30), now: Self.t0)
        await #expect(throws: StateStoreError.self) {
            _ = try await store.acquireLease(scope: "reconciler", holder: Self.bob, ttl: .seconds(30), now: Self.t0 + .seconds(10))
        }
        do {
            _ = try await store.acquireLease(scope: "reconciler", holder: Self.bob, ttl: .seconds(30), now: Self.t0 + .seconds(10))
        } catch StateStoreError.locked(let holder, let scope, let expiresAt) {
            #expect(holder == Self.alice)
            #expect(scope == "reconciler")
            #expect(expiresAt == Self.t0 + .seconds(30))
        }
        // The holder itself may re-acquire: same token, later expiry.
        let again = try await store.acquireLease(scope: "reconciler", holder: Self.alice, ttl: .seconds(30), now: Self.t0 + .seconds(5))
        #expect(again.token == first.token)
        #expect(again.expiresAt == Self.t0 + .seconds(35))
        // Another scope is independent, with a greater token.
        let group = try await store.acquireLease(scope: "group:g1", holder: Self.bob, ttl: .seconds(30), now: Self.t0)
        #expect(group.token > first.token)
        // After expiry, another holder gets a greater token.
        let taken = try await store.acquireLease(scope: "reconciler", holder: Self.bob, ttl: .seconds(30), now: Self.t0 + .seconds(60))
        #expect(taken.token > group.token)
        #expect(try await store.currentLease(scope: "reconciler")?.holder == Self.bob)
    }

    /// Slots of a wave: any free one will do, each to one holder.
    public func anyOfSeveralLeasesGoesToOneHolderEach() async throws {
        let store = try await makeStore()
        let slots = ["wave:w#0", "wave:w#1"]
        let carol = LeaseHolder(id: "carol-1", host: "host-c", pid: 303, command: "sendpath controller")
        let a = try #require(try await store.acquireAnyLease(of: slots, holder: Self.alice, ttl: .seconds(30), now: Self.t0))
        let b = try #require(try await store.acquireAnyLease(of: slots, holder: Self.bob, ttl: .seconds(30), now: Self.t0))
        #expect(Set([a.scope, b.scope]) == Set(slots))
        #expect(a.token != b.token)
        #expect(try await store.acquireAnyLease(of: slots, holder: carol, ttl: .seconds(30), now: Self.t0 + .seconds(1)) == nil)
        // A holder asking again gets its own slot back, with the same token.
        let again = try #require(try await store.acquireAnyLease(of: slots, holder: Self.alice, ttl: .seconds(30), now: Self.t0 + .seconds(2)))
        #expect(again.scope == a.scope)
        #expect(again.token == a.token)
        // A released slot, and an expired one, are free again.
        try await store.releaseLease(b)
        let c = try #require(try await store.acquireAnyLease(of: slots, holder: carol, ttl: .seconds(30), now: Self.t0 + .seconds(3)))
        #expect(c.scope == b.scope)
        #expect(c.token > b.token)
        let late = try #require(try await store.acquireAnyLease(of: slots, holder: Self.bob, ttl: .seconds(30), now: Self.t0 + .seconds(40)))
        #expect(late.scope == a.scope)
        #expect(try await store.currentLease(scope: a.scope)?.holder == Self.bob)
        #expect(try await store.acquireAnyLease(of: [], holder: Self.bob, ttl: .seconds(30), now: Self.t0) == nil)
    }

    public func renewAndReleaseRespectTheCurrentGrant() async throws {
        let store = try await makeStore()
        let lease = try await store.acquireLease(scope: "reconciler", holder: Self.alice, ttl: .seconds(30), now: Self.t0)
        let renewed = try await store.renewLease(lease, ttl: .seconds(30), now: Self.t0 + .seconds(20))
        #expect(renewed.expiresAt == Self.t0 + .seconds(50))
        #expect(renewed.token == lease.token)
        let stolen = try await store.acquireLease(scope: "reconciler", holder: Self.bob, ttl: .seconds(30), now: Self.t0 + .seconds(90))
        await #expect(throws: StateStoreError.leaseLost(scope: "reconciler")) {
            _ = try await store.renewLease(lease, ttl: .seconds(30), now: Self.t0 + .seconds(91))
        }
        // A release of a version the holder has renewed since changes nothing.
        let mine = try await store.acquireLease(scope: "late-release", holder: Self.alice, ttl: .seconds(30), now: Self.t0)
        let later = try await store.renewLease(mine, ttl: .seconds(30), now: Self.t0 + .seconds(10))
        try await store.releaseLease(mine)
        #expect(try await store.currentLease(scope: "late-release") == later)
        try await store.releaseLease(later)
        #expect(try await store.currentLease(scope: "late-release") == nil)
        // Releasing a lost lease does not release the new holder's.
        try await store.releaseLease(lease)
        #expect(try await store.currentLease(scope: "reconciler")?.token == stolen.token)
        // Breaking needs the current token.
        try await store.breakLease(scope: "reconciler", token: lease.token)
        #expect(try await store.currentLease(scope: "reconciler") != nil)
        try await store.breakLease(scope: "reconciler", token: stolen.token)
        #expect(try await store.currentLease(scope: "reconciler") == nil)
        let fresh = try await store.acquireLease(scope: "reconciler", holder: Self.alice, ttl: .seconds(30), now: Self.t0 + .seconds(92))
        #expect(fresh.token > stolen.token)
        try await store.releaseLease(fresh)
        #expect(try await store.currentLease(scope: "reconciler") == nil)
    }

    public func journalKeepsCutoversInOrder() async throws {
        let store = try await makeStore()
        let window = Window(start: Self.t0, end: Self.t0 + .seconds(4 * 3600))
        let baseline = CutoverBaseline(
            members: ["a": .init(path: SendingPath(infrastructure: .adobeDC, location: "dc1"),
                                 sendingIPs: [IPAddress("198.51.100.10")!, IPAddress("2001:db8::10")!], build: "7.3")],
            prefixes: [AddressBlock(network: IPAddress("198.51.100.0")!, length: 24): SendingPath(infrastructure: .adobeDC, location: "dc1")],
            target: SendingPath(infrastructure: .aws, location: "eu-west-1"))
        let record = CutoverRecord(id: "g1#1", group: "g1", wave: "w1", members: ["a"], window: window,
                                   startedAt: Self.t0, baseline: baseline)
        try await store.beginCutover(record)
        try await store.beginCutover(CutoverRecord(id: "g2#1", group: "g2", wave: "w1", members: ["b"], window: window,
                                                   startedAt: Self.t0, baseline: baseline))
        let snapshot = QueueSnapshot(instance: "a", messageCount: 3, digest: "abc", oldestEnqueuedAt: Self.t0 - .seconds(60))
        let entries = [
            JournalEntry(cutoverID: "g1#1", group: "g1", step: .freeze, phase: .intent, attempt: 1, idempotencyKey: "g1#1/freeze",
                         fencingToken: FencingToken(7), at: Self.t0, holder: "alice-1"),
            JournalEntry(cutoverID: "g1#1", group: "g1", step: .freeze, phase: .done, attempt: 1, idempotencyKey: "g1#1/freeze",
                         fencingToken: FencingToken(7), at: Self.t0 + .milliseconds(1500), duration: .milliseconds(1500), holder: "alice-1"),
            JournalEntry(cutoverID: "g1#1", group: "g1", step: .snapshotQueue, phase: .done, attempt: 2, idempotencyKey: "g1#1/snapshot-queue",
                         fencingToken: FencingToken(7), at: Self.t0 + .seconds(2), duration: .seconds(1),
                         detail: StepDetail(message: "ok", snapshots: [snapshot]), holder: "alice-1"),
            JournalEntry(cutoverID: "g1#1", group: "g1", step: .rollbackPath, rollback: true, phase: .failed, attempt: 4,
                         idempotencyKey: "g1#1/rollback/rollback-path", fencingToken: FencingToken(7), at: Self.t0 + .seconds(3),
                         detail: StepDetail(message: "gave up", errorCode: .timeout), holder: "alice-1"),
        ]
        for entry in entries { try await store.append(entry) }
        try await store.append(JournalEntry(cutoverID: nil, group: "g1", step: .prepareTarget, phase: .done, attempt: 1,
                                            idempotencyKey: "prepare/g1", fencingToken: FencingToken(7), at: Self.t0 - .seconds(60), holder: "alice-1"))
        try await store.finishCutover(id: "g1#1", outcome: .held, reason: "rollback failed", at: Self.t0 + .seconds(4))
        let all = try await store.cutovers(groups: nil)
        #expect(all.map(\.id) == ["g1#1", "g2#1"])
        let g1 = try #require(try await store.cutovers(groups: ["g1"]).first)
        #expect(g1.entries == entries)
        #expect(g1.outcome == .held)
        #expect(g1.reason == "rollback failed")
        #expect(g1.finishedAt == Self.t0 + .seconds(4))
        #expect(g1.baseline == baseline)
        #expect(g1.window == window)
        #expect(try await store.cutovers(groups: ["nope"]).isEmpty)
        let prepared = try await store.preparations(groups: ["g1"])
        #expect(prepared.map(\.idempotencyKey) == ["prepare/g1"])
        #expect(try await store.preparations(groups: ["g2"]).isEmpty)
    }

    public func noticesAndRunsRoundTrip() async throws {
        let store = try await makeStore()
        let window = Window(start: Self.t0, end: Self.t0 + .seconds(3600))
        let first = NoticeRecord(wave: "w1", sentAt: Self.t0 - .seconds(40 * 86_400), window: window, members: ["a", "b"],
                                 expectedDuration: .seconds(600), source: .manifest, recordedAt: Self.t0 - .seconds(30 * 86_400))
        try await store.recordNotice(first)
        var second = first
        second.sentAt = Self.t0 - .seconds(35 * 86_400)
        second.source = .recorded
        try await store.recordNotice(second)
        #expect(try await store.notices() == ["w1": second])
        let run = RunRecord(id: "r1", command: "reconcile", holder: Self.alice, dryRun: false, startedAt: Self.t0)
        try await store.recordRun(run)
        var finished = run
        finished.finishedAt = Self.t0 + .seconds(5)
        finished.outcome = .rolledBack
        finished.summary = ["migrated": 3, "rolled-back": 1]
        finished.revision = RunRevision(manifestDigest: "fnv1a64:0123456789abcdef", gitCommit: String(repeating: "ab", count: 20),
                                        gitDirty: true, user: "alice")
        finished.groups = ["g1", "g2"]
        try await store.recordRun(finished)
        try await store.recordRun(RunRecord(id: "r2", command: "reconcile --dry-run", holder: Self.bob, dryRun: true, startedAt: Self.t0 + .seconds(10)))
        let runs = try await store.recentRuns(limit: 10)
        #expect(runs.map(\.id) == ["r2", "r1"])
        #expect(runs.last == finished)
    }

    public func deliveriesKeepTheFirstOfEachNoticeTenantAndChannel() async throws {
        let store = try await makeStore()
        let first = NoticeDelivery(wave: "w1", noticeKey: "k1", tenant: "acme", channel: .email, messageID: "<a@x.example>",
                                   recipients: ["ops@acme.example"], members: ["a1", "a2"], deliveredAt: Self.t0)
        try await store.recordDelivery(first)
        var repeated = first
        repeated.deliveredAt = Self.t0 + .seconds(60)
        try await store.recordDelivery(repeated)
        var webhook = first
        webhook.channel = .webhook
        webhook.recipients = ["https://hooks.acme.example/n"]
        try await store.recordDelivery(webhook)
        var superseding = first
        superseding.noticeKey = "k2"
        superseding.deliveredAt = Self.t0 + .seconds(120)
        try await store.recordDelivery(superseding)
        var otherWave = first
        otherWave.wave = "w2"
        try await store.recordDelivery(otherWave)
        #expect(try await store.deliveries(wave: "w1") == [first, webhook, superseding])
        #expect(try await store.deliveries(wave: "w2") == [otherWave])
        #expect(try await store.deliveries(wave: "w3").isEmpty)
    }
}
