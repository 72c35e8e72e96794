import Foundation
import Logging
import SendpathCore
import SendpathPostgres
import SendpathTestSupport
import Testing

@Suite("PostgreSQL state store")
struct PostgresStateStoreTests {
    static let t0 = Timestamp(rfc3339: "2024-01-13T20:00:00Z")!
    static let alice = LeaseHolder(id: "alice-1", host: "host-a", pid: 101, command: "sendpath reconcile")
    static let bob = LeaseHolder(id: "bob-1", host: "host-b", pid: 202, command: "sendpath controller")
    static let carol = LeaseHolder(id: "carol-1", host: "host-c", pid: 303, command: "sendpath controller")
    static let baseline = CutoverBaseline(
        members: ["a": .init(path: SendingPath(infrastructure: .adobeDC, location: "dc1"),
                             sendingIPs: [IPAddress("198.51.100.10")!], build: "7.3")],
        prefixes: [AddressBlock(network: IPAddress("198.51.100.0")!, length: 24): SendingPath(infrastructure: .adobeDC, location: "dc1")],
        target: SendingPath(infrastructure: .aws, location: "eu-west-1"))

    /// The contract drives leases with synthetic instants (years in the past), so it runs with
    /// the caller's clock judging expiry; `PostgresLeaseSafetyTests` cover the database's clock.
    @Test func honoursTheStateStoreContract() async throws {
        try await StoreRunner.withStores { runner in
            try await StateStoreContract { try await runner.store(leaseClock: .caller) }.runAll()
        }
    }

    /// The journal read from a cursor, by pages of bounded JSON, from two pools and after reopening.
    @Test func aFollowerReadsOnlyWhatIsNew() async throws {
        try await StoreRunner.withStores { runner in
            let configuration = try await TestPostgres.freshConfiguration(leaseClock: .caller)
            try await JournalFollowerContract { try await runner.store(configuration) }.runAll()
        }
    }

    @Test func sharesWork() throws {
        // Nothing is contacted until the store runs.
        let configuration = try PostgresConfiguration(url: "postgres://sendpath@db.invalid/state", environment: [:])
        #expect(try PostgresStateStore(configuration: configuration, logger: .quiet).sharesWork)
    }

    @Test func dataSurvivesReopening() async throws {
        let configuration = try await TestPostgres.freshConfiguration()
        let window = Window(start: Self.t0, end: Self.t0 + .seconds(3600))
        // Sub-millisecond instants and durations: stored as BIGINT nanoseconds, kept exactly.
        let entry = JournalEntry(cutoverID: "g1#1", group: "g1", step: .switchPath, phase: .done, attempt: 2,
                                 idempotencyKey: "g1#1/switch-path", fencingToken: FencingToken(3),
                                 at: Self.t0 + .nanoseconds(1_234_567), duration: .nanoseconds(987_654_321),
                                 detail: StepDetail(message: "moved \u{0}with a NUL", errorCode: .timeout), holder: "alice-1")
        let preparation = JournalEntry(cutoverID: nil, group: "g1", step: .prepareTarget, phase: .intent, attempt: 1,
                                       idempotencyKey: "prepare/g1", fencingToken: FencingToken(3), at: Self.t0, holder: "alice-1")
        let notice = NoticeRecord(wave: "w1", sentAt: Self.t0 - .seconds(86_400), window: window, members: ["a"],
                                  expectedDuration: .seconds(600), source: .recorded, recordedAt: Self.t0)
        let run = RunRecord(id: "r1", command: "reconcile", holder: Self.alice, dryRun: false, startedAt: Self.t0,
                            finishedAt: Self.t0 + .seconds(9), outcome: .rolledBack, summary: ["migrated": 2])
        let lease = try await PostgresStateStore.withStore(configuration, logger: .quiet) { store in
            let lease = try await store.acquireLease(scope: "reconciler", holder: Self.alice, ttl: .seconds(30), now: Self.t0)
            try await store.beginCutover(CutoverRecord(id: "g1#1", group: "g1", wave: "w1", members: ["a"], window: window,
                                                       startedAt: Self.t0, baseline: Self.baseline))
            try await store.append(entry)
            try await store.append(preparation)
            try await store.finishCutover(id: "g1#1", outcome: .completed, reason: nil, at: Self.t0 + .seconds(8))
            try await store.recordNotice(notice)
            try await store.recordRun(run)
            return lease
        }
        try await PostgresStateStore.withStore(configuration, logger: .quiet) { reopened in
            #expect(try await reopened.currentLease(scope: "reconciler") == lease)
            let cutover = try #require(try await reopened.cutovers(groups: nil).first)
            #expect(cutover == CutoverRecord(id: "g1#1", group: "g1", wave: "w1", members: ["a"], window: window, startedAt: Self.t0,
                                             finishedAt: Self.t0 + .seconds(8), outcome: .completed, baseline: Self.baseline,
                                             entries: [entry]))
            #expect(try await reopened.preparations(groups: nil) == [preparation])
            #expect(try await reopened.notices() == ["w1": notice])
            #expect(try await reopened.recentRuns(limit: 5) == [run])
            #expect(try await reopened.appliedMigrations() == ["v1-leases", "v1-journal", "v1-notices", "v1-runs", "v2-controls", "v3-deliveries", "v4-run-revisions"])
        }
    }

    @Test func tokensKeepGrowingAfterReopening() async throws {
        let configuration = try await TestPostgres.freshConfiguration()
        var highest = try await PostgresStateStore.withStore(configuration, logger: .quiet) { store in
            let first = try await store.acquireLease(scope: "reconciler", holder: Self.alice, ttl: .seconds(30), now: Self.t0)
            let group = try await store.acquireLease(scope: "group:g1", holder: Self.alice, ttl: .seconds(30), now: Self.t0)
            try await store.releaseLease(first)
            try await store.breakLease(scope: "group:g1", token: group.token)
            #expect(try await store.currentLease(scope: "reconciler") == nil)
            #expect(try await store.currentLease(scope: "group:g1") == nil)
            return group.token
        }
        for _ in 0..<2 {
            highest = try await PostgresStateStore.withStore(configuration, logger: .quiet) { store in
                let lease = try await store.acquireLease(scope: "reconciler", holder: Self.bob, ttl: .seconds(30), now: Self.t0)
                #expect(lease.token > highest)
                try await store.releaseLease(lease)
                return lease.token
            }
        }
    }

    @Test func replicasRacingForAGroupGetExactlyOneWinner() async throws {
        try await StoreRunner.withStores { runner in
            let configuration = try await TestPostgres.freshConfiguration(leaseClock: .caller)
            let first = try await runner.store(configuration)
            let second = try await runner.store(configuration)
            try await first.migrate()
            var tokens: Set<FencingToken> = []
            for round in 0..<25 {
                let scope = "group:g\(round)"
                // Three holders per replica (six contenders), all at once.
                let winners = try await withThrowingTaskGroup(of: Lease?.self) { group in
                    for (index, store) in [first, second, first, second, first, second].enumerated() {
                        let holder = LeaseHolder(id: "replica-\(index)", host: "h\(index % 2)", pid: Int32(index), command: "sendpath controller")
                        group.addTask { try await Self.attempt(store, scope: scope, holder: holder) }
                    }
                    return try await group.reduce(into: [Lease]()) { if let lease = $1 { $0.append(lease) } }
                }
                try #require(winners.count == 1, "round \(round): \(winners.count) winners")
                let winner = winners[0]
                #expect(try await first.currentLease(scope: scope) == winner)
                #expect(try await second.currentLease(scope: scope) == winner)
                #expect(tokens.insert(winner.token).inserted)
                // The same holder re-acquiring keeps its token; the loser still cannot.
                let again = try await second.acquireLease(scope: scope, holder: winner.holder, ttl: .seconds(60), now: Self.t0 + .seconds(1))
                #expect(again.token == winner.token)
                #expect(again.expiresAt == Self.t0 + .seconds(61))
            }
        }
    }

    @Test func appendIsRefusedAfterATakeoverByAnotherReplica() async throws {
        try await StoreRunner.withStores { runner in
            let configuration = try await TestPostgres.freshConfiguration(leaseClock: .caller)
            let replicaA = try await runner.store(configuration)
            let replicaB = try await runner.store(configuration)
            let window = Window(start: Self.t0, end: Self.t0 + .seconds(3600))
            try await replicaA.beginCutover(CutoverRecord(id: "g1#1", group: "g1", wave: "w1", members: ["a"], window: window,
                                                          startedAt: Self.t0, baseline: Self.baseline))
            let mine = try await replicaA.acquireLease(scope: Lease.groupScope("g1"), holder: Self.alice, ttl: .seconds(30), now: Self.t0)
            func entry(_ phase: JournalEntry.Phase, _ lease: Lease) -> JournalEntry {
                JournalEntry(cutoverID: "g1#1", group: "g1", step: .freeze, phase: phase, attempt: 1, idempotencyKey: "g1#1/freeze",
                             fencingToken: lease.token, at: Self.t0, holder: lease.holder.id)
            }
            try await replicaA.append(entry(.intent, mine))
            // Replica A stalls past its lease; B claims the group.
            let theirs = try await replicaB.acquireLease(scope: Lease.groupScope("g1"), holder: Self.bob, ttl: .seconds(30),
                                                         now: Self.t0 + .seconds(45))
            #expect(theirs.token > mine.token)
            try await replicaB.append(entry(.intent, theirs))
            await #expect(throws: StateStoreError.leaseLost(scope: "group:g1")) {
                try await replicaA.append(entry(.done, mine))
            }
            await #expect(throws: StateStoreError.leaseLost(scope: "group:g1")) {
                _ = try await replicaA.renewLease(mine, ttl: .seconds(30), now: Self.t0 + .seconds(46))
            }
            try await replicaA.append(entry(.fenced, mine))
            try await replicaB.append(entry(.done, theirs))
            // A newer reconciler lease fences every group's writers.
            let reconciler = try await replicaA.acquireLease(scope: Lease.reconcilerScope, holder: Self.carol, ttl: .seconds(30),
                                                             now: Self.t0 + .seconds(50))
            await #expect(throws: StateStoreError.leaseLost(scope: Lease.reconcilerScope)) {
                try await replicaB.append(entry(.done, theirs))
            }
            #expect(reconciler.token > theirs.token)
            let entries = try #require(try await replicaB.cutovers(groups: ["g1"]).first).entries
            #expect(entries.map(\.holder) == ["alice-1", "bob-1", "alice-1", "bob-1"])
            #expect(entries.map(\.phase) == [.intent, .intent, .fenced, .done])
        }
    }

    @Test func cutoversComeOldestFirstThenInInsertionOrder() async throws {
        try await StoreRunner.withStores { runner in
            let store = try await runner.store()
            let window = Window(start: Self.t0, end: Self.t0 + .seconds(3600))
            for (id, start) in [("g3#1", 20), ("g1#1", 10), ("g2#1", 20), ("g1#2", 30)] {
                try await store.beginCutover(CutoverRecord(id: id, group: String(id.prefix(2)), wave: "w1", members: [],
                                                           window: window, startedAt: Self.t0 + .seconds(Int64(start)),
                                                           baseline: Self.baseline))
            }
            for id in ["g1#2", "g3#1", "g1#1", "g1#2"] {
                try await store.append(JournalEntry(cutoverID: id, group: String(id.prefix(2)), step: .freeze, phase: .intent,
                                                    attempt: 1, idempotencyKey: id, fencingToken: FencingToken(1), at: Self.t0,
                                                    holder: "alice-1"))
            }
            let all = try await store.cutovers(groups: nil)
            #expect(all.map(\.id) == ["g1#1", "g3#1", "g2#1", "g1#2"])
            #expect(all.map(\.entries.count) == [1, 1, 0, 2])
            #expect(try await store.cutovers(groups: ["g1", "g2"]).map(\.id) == ["g1#1", "g2#1", "g1#2"])
            #expect(try await store.cutovers(groups: []).isEmpty)
        }
    }

    /// Numbers read back are range-checked where they enter (issue 10), as on SQLite: a time,
    /// a duration or a snapshot count planted out of range is a corrupt store naming the column.
    @Test(arguments: [
        ("UPDATE journal SET at = 9000000000000000000", "at holds 9000000000000000000 ns, a time outside the range"),
        ("UPDATE journal SET duration_ns = -5", "duration_ns holds -5 ns, a duration outside the range"),
        ("UPDATE cutover SET started_at = -1", "started_at holds -1 ns, a time outside the range"),
        (#"UPDATE journal SET detail = '{"snapshots":[{"instance":"a","messageCount":9000000000000000000,"digest":"d"}]}'"#,
         "is not a count from 0 to 1000000000"),
    ])
    func valuesOutOfRangeInTheStoreAreReportedAsCorrupt(planting: String, expected: String) async throws {
        try await StoreRunner.withStores { runner in
            let configuration = try await TestPostgres.freshConfiguration()
            let store = try await runner.store(configuration)
            try await store.beginCutover(CutoverRecord(id: "g1#1", group: "g1", wave: "w1", members: ["a"],
                                                       window: Window(start: Self.t0, end: Self.t0 + .seconds(60)), startedAt: Self.t0,
                                                       baseline: Self.baseline))
            try await store.append(JournalEntry(cutoverID: "g1#1", group: "g1", step: .snapshotQueue, phase: .done, attempt: 1,
                                                idempotencyKey: "k", fencingToken: FencingToken(1), at: Self.t0, duration: .seconds(3),
                                                holder: "x"))
            try await TestPostgres.psql(configuration, [planting])
            do {
                _ = try await store.cutovers(groups: nil)
                Issue.record("a planted value was read: \(planting)")
            } catch let StateStoreError.corrupt(message) {
                #expect(message.contains(expected), "\(message)")
            }
        }
    }

    @Test func journalMistakesAreReportedAsCorrupt() async throws {
        try await StoreRunner.withStores { runner in
            let store = try await runner.store()
            let record = CutoverRecord(id: "g1#1", group: "g1", wave: "w1", members: ["a"],
                                       window: Window(start: Self.t0, end: Self.t0 + .seconds(60)), startedAt: Self.t0,
                                       baseline: Self.baseline)
            try await store.beginCutover(record)
            await #expect(throws: StateStoreError.corrupt("cut-over g1#1 already exists")) {
                try await store.beginCutover(record)
            }
            await #expect(throws: StateStoreError.corrupt("no cut-over g9#1 for a journal entry")) {
                try await store.append(JournalEntry(cutoverID: "g9#1", group: "g9", step: .freeze, phase: .intent, attempt: 1,
                                                    idempotencyKey: "k", fencingToken: FencingToken(1), at: Self.t0, holder: "x"))
            }
            await #expect(throws: StateStoreError.corrupt("no cut-over g9#1 to finish")) {
                try await store.finishCutover(id: "g9#1", outcome: .completed, reason: nil, at: Self.t0)
            }
            #expect(try await store.cutovers(groups: nil) == [record])
        }
    }

    @Test func writesFinishEvenWhenTheTaskIsCancelled() async throws {
        try await StoreRunner.withStores { runner in
            let store = try await runner.store()
            try await store.migrate()
            let entry = JournalEntry(cutoverID: nil, group: "g1", step: .prepareTarget, phase: .done, attempt: 1,
                                     idempotencyKey: "prepare/g1", fencingToken: FencingToken(1), at: Self.t0, holder: "alice-1")
            let task = Task {
                withUnsafeCurrentTask { $0?.cancel() }
                try await store.append(entry)
            }
            try await task.value
            #expect(try await store.preparations(groups: nil) == [entry])
        }
    }

    @Test func migrationsRacingFromSeveralStoresAllSucceedOnce() async throws {
        try await StoreRunner.withStores { runner in
            for _ in 0..<5 {
                let configuration = try await TestPostgres.freshConfiguration()
                var stores: [PostgresStateStore] = []
                for _ in 0..<3 { stores.append(try await runner.store(configuration)) }
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for store in stores { group.addTask { try await store.migrate() } }
                    try await group.waitForAll()
                }
                for store in stores {
                    #expect(try await store.appliedMigrations() == ["v1-leases", "v1-journal", "v1-notices", "v1-runs", "v2-controls", "v3-deliveries", "v4-run-revisions"])
                }
                // And each can work straight away, seeing the others' writes.
                let lease = try await stores[1].acquireLease(scope: "reconciler", holder: Self.alice, ttl: .seconds(30), now: Self.t0)
                #expect(try await stores[2].currentLease(scope: "reconciler") == lease)
            }
        }
    }

    // MARK: - Helpers

    static func attempt(_ store: PostgresStateStore, scope: String, holder: LeaseHolder) async throws -> Lease? {
        do {
            return try await store.acquireLease(scope: scope, holder: holder, ttl: .seconds(30), now: t0)
        } catch StateStoreError.locked {
            return nil
        }
    }
}
