import Foundation
import SendpathCore
import SendpathPostgres
import Synchronization
import Testing

/// Leases on PostgreSQL under replicas that disagree: clocks that are off, grants that race,
/// and journal appends that race with grants. The interleavings are forced with psql sessions
/// that hold locks, and released when the test has seen the session it wants waiting.
@Suite("PostgreSQL leases: one clock, growing tokens, appends that cannot interleave")
struct PostgresLeaseSafetyTests {
    static let alice = LeaseHolder(id: "alice-1", host: "host-a", pid: 101, command: "sendpath controller")
    static let bob = LeaseHolder(id: "bob-1", host: "host-b", pid: 202, command: "sendpath controller")
    static let carol = LeaseHolder(id: "carol-1", host: "host-c", pid: 303, command: "sendpath controller")
    static let t0 = Timestamp(rfc3339: "2024-01-13T20:00:00Z")!
    static let baseline = CutoverBaseline(members: [:], prefixes: [:], target: SendingPath(infrastructure: .aws, location: "eu-west-1"))

    /// This host's clock, which is the test server's too (it runs on loopback).
    static func realNow() -> Timestamp {
        Timestamp(nanosecondsSinceEpoch: Int64(Date().timeIntervalSince1970 * 1_000_000_000))
    }

    // MARK: - One clock

    @Test func aReplicaWhoseClockIsTenMinutesAheadCannotTakeALiveLease() async throws {
        try await StoreRunner.withStores { runner in
            let configuration = try await TestPostgres.freshConfiguration()
            #expect(configuration.leaseClock == .database)
            let replicaA = try await runner.store(configuration)
            let replicaB = try await runner.store(configuration)
            let held = try await replicaA.acquireLease(scope: "group:g1", holder: Self.alice, ttl: .seconds(60), now: Self.realNow())
            let slot = try #require(try await replicaA.acquireAnyLease(of: ["wave:w#0"], holder: Self.alice, ttl: .seconds(60),
                                                                       now: Self.realNow()))
            let ahead = Self.realNow() + .seconds(600)
            await #expect(throws: StateStoreError.locked(holder: Self.alice, scope: "group:g1", expiresAt: held.expiresAt)) {
                _ = try await replicaB.acquireLease(scope: "group:g1", holder: Self.bob, ttl: .seconds(60), now: ahead)
            }
            #expect(try await replicaB.acquireAnyLease(of: ["wave:w#0"], holder: Self.bob, ttl: .seconds(60), now: ahead) == nil)
            #expect(try await replicaB.currentLease(scope: "group:g1") == held)
            #expect(try await replicaB.currentLease(scope: "wave:w#0") == slot)
            // The holder renews with a clock 10 minutes behind: the lease still lasts its TTL from
            // the database's now, not from the holder's.
            let before = Self.realNow()
            let renewed = try await replicaA.renewLease(held, ttl: .seconds(60), now: before - .seconds(600))
            #expect(renewed.token == held.token)
            #expect(renewed.expiresAt >= before + .seconds(59))
            await #expect(throws: StateStoreError.self) {
                _ = try await replicaB.acquireLease(scope: "group:g1", holder: Self.bob, ttl: .seconds(60), now: ahead + .seconds(60))
            }
        }
    }

    @Test func leasesCarryTheDatabasesInstantsWhateverTheCallersClockSays() async throws {
        try await StoreRunner.withStores { runner in
            let store = try await runner.store()
            let before = Self.realNow()
            // A caller that believes it is 2024.
            let lease = try await store.acquireLease(scope: "reconciler", holder: Self.alice, ttl: .seconds(30), now: Self.t0)
            let after = Self.realNow()
            #expect(lease.acquiredAt >= before - .seconds(1) && lease.acquiredAt <= after + .seconds(1))
            #expect(lease.expiresAt - lease.acquiredAt == .seconds(30))
            // A release names the version by those instants.
            try await store.releaseLease(lease)
            #expect(try await store.currentLease(scope: "reconciler") == nil)
        }
    }

    @Test func aReplicaWhoseClockIsBehindTakesAnExpiredLease() async throws {
        try await StoreRunner.withStores { runner in
            let configuration = try await TestPostgres.freshConfiguration()
            let replicaA = try await runner.store(configuration)
            let replicaB = try await runner.store(configuration)
            let short = try await replicaA.acquireLease(scope: "group:g1", holder: Self.alice, ttl: .milliseconds(200), now: Self.realNow())
            // B's clock is 10 minutes behind: by its clock the lease has 10 minutes to go; by the
            // database's it expires in 200 ms, and B gets it then.
            let deadline = ContinuousClock.now + .seconds(60)
            var taken: Lease?
            while taken == nil && ContinuousClock.now < deadline {
                do {
                    taken = try await replicaB.acquireLease(scope: "group:g1", holder: Self.bob, ttl: .seconds(30),
                                                            now: Self.realNow() - .seconds(600))
                } catch StateStoreError.locked {
                    try await Task.sleep(for: .milliseconds(20))
                }
            }
            let lease = try #require(taken, "the expired lease was never granted to the replica whose clock is behind")
            #expect(lease.token > short.token)
            #expect(lease.holder == Self.bob)
        }
    }

    // MARK: - Tokens only grow

    /// Replicas hammer one scope whose lease expires at once (TTL 0), over several pools and
    /// connections; a trigger records, for every grant, the token it replaced and the one it wrote.
    /// The callers' clocks agree to the nanosecond (one `now` for all), so that every grant finds
    /// the lease expired whichever clock judges, and only the order of the tokens is tested.
    @Test func aNewGrantAlwaysCarriesAGreaterTokenThanTheOneItReplaces() async throws {
        try await StoreRunner.withStores { runner in
            let configuration = try await TestPostgres.freshConfiguration()
            var stores: [PostgresStateStore] = []
            for _ in 0..<4 { stores.append(try await runner.store(configuration)) }
            try await stores[0].migrate()
            try await Self.recordTokenChanges(configuration)
            let (contenders, rounds) = (8, 40)
            let refused = Shared()
            let granted = try await withThrowingTaskGroup(of: [Lease].self) { group in
                for index in 0..<contenders {
                    let store = stores[index % stores.count]
                    let holder = LeaseHolder(id: "replica-\(index)", host: "h\(index)", pid: Int32(index), command: "sendpath controller")
                    group.addTask {
                        var leases: [Lease] = []
                        for round in 0..<rounds {
                            // Half the grants claim "any" of the one scope, as wave slots do.
                            if (round + index) % 2 == 0 {
                                do {
                                    leases.append(try await store.acquireLease(scope: "group:g1", holder: holder, ttl: .zero, now: Self.t0))
                                } catch StateStoreError.locked {
                                    // Never: the lease is expired for everyone.
                                    refused.value.add(1, ordering: .relaxed)
                                }
                            } else if let lease = try await store.acquireAnyLease(of: ["group:g1"], holder: holder, ttl: .zero, now: Self.t0) {
                                leases.append(lease)
                            }
                        }
                        return leases
                    }
                }
                return try await group.reduce(into: [Lease]()) { $0 += $1 }
            }
            #expect(granted.count >= contenders * rounds / 2)
            #expect(refused.value.load(ordering: .relaxed) == 0)
            #expect(Set(granted.map(\.token)).count == granted.count, "a token was granted twice")
            let summary = try await TestPostgres.psql(configuration, [
                "SELECT count(*) FILTER (WHERE new_token <= old_token) || ' ' || count(*) FROM token_change WHERE scope = 'group:g1'",
            ]).split(separator: " ").compactMap { Int($0) }
            try #require(summary.count == 2)
            #expect(summary[0] == 0, "\(summary[0]) of \(summary[1]) grants wrote a token lower than the one they replaced")
            #expect(summary[1] >= granted.count - 1)
            let inversions = try await TestPostgres.psql(configuration, [
                "SELECT string_agg(old_token || ' -> ' || new_token, ', ' ORDER BY id) FROM token_change WHERE new_token <= old_token",
            ])
            #expect(inversions.isEmpty, "grants that lowered the token: \(inversions)")
        }
    }

    @Test func raisingTheTokenFloorOfAFreshStoreLiftsTheNextGrantAboveIt() async throws {
        try await StoreRunner.withStores { runner in
            let store = try await runner.store()
            try await store.raiseTokenFloor(above: FencingToken(100))
            let lease = try await store.acquireLease(scope: "group:g1", holder: Self.alice, ttl: .seconds(30), now: Self.realNow())
            #expect(lease.token > FencingToken(100))
            // Raised again while grants race: every grant that begins after the raise returned is above it.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<4 {
                    let holder = LeaseHolder(id: "r\(index)", host: "h", pid: Int32(index), command: "sendpath controller")
                    group.addTask {
                        for _ in 0..<20 {
                            _ = try await store.acquireLease(scope: "group:r\(index)", holder: holder, ttl: .zero, now: Self.realNow())
                        }
                    }
                }
                group.addTask { try await store.raiseTokenFloor(above: FencingToken(5_000)) }
                try await group.waitForAll()
            }
            let after = try await store.acquireLease(scope: "group:g2", holder: Self.bob, ttl: .seconds(30), now: Self.realNow())
            #expect(after.token > FencingToken(5_000))
            // A floor below the sequence changes nothing.
            try await store.raiseTokenFloor(above: FencingToken(10))
            let next = try await store.acquireLease(scope: "group:g3", holder: Self.bob, ttl: .seconds(30), now: Self.realNow())
            #expect(next.token > after.token)
        }
    }

    // MARK: - Appends and grants serialise

    /// The old holder's append is under way (its statement has begun: on today's code its fence
    /// check has read the old token) and held up by a lock on the cut-over row, when the new
    /// holder's grant comes. The grant must not commit before the append does: otherwise the
    /// new holder reads the journal without the entry, and the entry lands after that read.
    @Test func aGrantWaitsForAnAppendInFlightSoItsHolderReadsTheEntry() async throws {
        try await StoreRunner.withStores { runner in
            let configuration = try await TestPostgres.freshConfiguration(leaseClock: .caller)
            let replicaA = try await runner.store(configuration)
            let replicaB = try await runner.store(configuration)
            try await Self.begin("g1#1", on: replicaA)
            let old = try await replicaA.acquireLease(scope: "group:g1", holder: Self.alice, ttl: .seconds(30), now: Self.t0)
            let marker = "hold_cutover_" + UUID().uuidString.prefix(8).lowercased()
            let holdCutover = try TestPostgres.startPsql(configuration, [
                "BEGIN", "SELECT 1 FROM cutover WHERE id = 'g1#1' FOR UPDATE", "SELECT pg_sleep(600) /* \(marker) */", "COMMIT",
            ])
            let blocker = TestPostgres.pidOf(marker: marker)
            try await TestPostgres.waitUntil(configuration, "the cut-over row is locked",
                                             "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = \(blocker) AND wait_event = 'PgSleep')")
            let append = Task { try await replicaA.append(Self.entry(.done, old, attempt: 1)) }
            try await TestPostgres.waitUntil(configuration, "the old holder's append waits on the cut-over row",
                                             "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE \(blocker) = ANY(pg_blocking_pids(pid)))")
            let grantDone = Shared()
            let grant = Task {
                defer { grantDone.value.store(1, ordering: .releasing) }
                let lease = try await replicaB.acquireLease(scope: "group:g1", holder: Self.bob, ttl: .seconds(30), now: Self.t0 + .seconds(60))
                return (lease, try await replicaB.cutovers(groups: ["g1"]).first?.entries ?? [])
            }
            // Either the grant goes through (and the new holder reads the journal), or it waits
            // for the append; then let the append go.
            let appender = "(SELECT pid FROM pg_stat_activity WHERE \(blocker) = ANY(pg_blocking_pids(pid)) LIMIT 1)"
            let deadline = ContinuousClock.now + .seconds(60)
            while grantDone.value.load(ordering: .acquiring) == 0 && ContinuousClock.now < deadline {
                let waiting = try await TestPostgres.psql(configuration, [
                    "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE \(appender) = ANY(pg_blocking_pids(pid)))",
                ])
                if waiting == "t" { break }
                try await Task.sleep(for: .milliseconds(20))
            }
            try await TestPostgres.psql(configuration, ["SELECT pg_cancel_backend(\(blocker))"])
            _ = try await TestPostgres.finish(holdCutover)
            let appended = await append.result
            let (new, firstRead) = try await grant.value
            #expect(new.token > old.token)
            let journal = try #require(try await replicaB.cutovers(groups: ["g1"]).first).entries
            let late = journal.filter { $0.fencingToken < new.token && $0.phase != .fenced && !firstRead.contains($0) }
            #expect(late.isEmpty, "entries of the old holder landed after the new holder read the journal: \(late.map(\.holder))")
            if case .success = appended {
                #expect(firstRead.contains(Self.entry(.done, old, attempt: 1)))
            }
        }
    }

    /// A grant is under way (by hand, in psql: the new token drawn, the row updated, not yet
    /// committed) when the old holder appends. The append must wait for the grant and be refused.
    @Test func anAppendDuringAGrantWaitsForItAndIsRefused() async throws {
        try await StoreRunner.withStores { runner in
            let configuration = try await TestPostgres.freshConfiguration(leaseClock: .caller)
            let store = try await runner.store(configuration)
            try await Self.begin("g1#1", on: store)
            let old = try await store.acquireLease(scope: "group:g1", holder: Self.alice, ttl: .seconds(30), now: Self.t0)
            let gateKey = Int64.random(in: 1...Int64.max / 2)
            let gateMarker = "gate_" + UUID().uuidString.prefix(8).lowercased()
            let grantMarker = "grant_" + UUID().uuidString.prefix(8).lowercased()
            let gate = try TestPostgres.startPsql(configuration, [
                "SELECT pg_advisory_lock(\(gateKey))", "SELECT pg_sleep(600) /* \(gateMarker) */",
            ])
            let gatePid = TestPostgres.pidOf(marker: gateMarker)
            try await TestPostgres.waitUntil(configuration, "the gate is held",
                                             "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = \(gatePid) AND wait_event = 'PgSleep')")
            let expiresAt = (Self.t0 + .seconds(90)).nanosecondsSinceEpoch
            let grant = try TestPostgres.startPsql(configuration, [
                "BEGIN",
                "SELECT 1 FROM lease WHERE scope = 'group:g1' FOR UPDATE",
                """
                UPDATE lease SET token = nextval('fencing_token'), holder_id = 'bob-1', holder_host = 'host-b', holder_pid = 202,
                    acquired_at = \(expiresAt - 30_000_000_000), expires_at = \(expiresAt) WHERE scope = 'group:g1'
                """,
                "SELECT pg_advisory_lock(\(gateKey)) /* \(grantMarker) */",
                "COMMIT",
            ])
            let grantPid = TestPostgres.pidOf(marker: grantMarker)
            try await TestPostgres.waitUntil(configuration, "the grant is updated and waits at the gate",
                                             "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = \(grantPid) AND wait_event_type = 'Lock')")
            let appendDone = Shared()
            let append = Task {
                defer { appendDone.value.store(1, ordering: .releasing) }
                try await store.append(Self.entry(.done, old, attempt: 1))
            }
            let deadline = ContinuousClock.now + .seconds(60)
            while appendDone.value.load(ordering: .acquiring) == 0 && ContinuousClock.now < deadline {
                let waiting = try await TestPostgres.psql(configuration, [
                    "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE \(grantPid) = ANY(pg_blocking_pids(pid)))",
                ])
                if waiting == "t" { break }
                try await Task.sleep(for: .milliseconds(20))
            }
            try await TestPostgres.psql(configuration, ["SELECT pg_cancel_backend(\(gatePid))"])
            _ = try await TestPostgres.finish(gate)
            _ = try await TestPostgres.finish(grant)
            let current = try #require(try await store.currentLease(scope: "group:g1"))
            #expect(current.holder.id == "bob-1" && current.token > old.token, "the grant by hand did not commit")
            await #expect(throws: StateStoreError.leaseLost(scope: "group:g1")) { try await append.value }
            let entries = try #require(try await store.cutovers(groups: ["g1"]).first).entries
            #expect(entries.isEmpty, "the old holder's entry landed after the grant: \(entries.map(\.holder))")
        }
    }

    /// Real concurrency: the old holder appends in a loop while the new holder takes the lease
    /// and reads the journal at once; no entry of the old holder may appear after that read.
    @Test func noEntryOfTheOldHolderLandsAfterTheNewHolderReadTheJournal() async throws {
        try await StoreRunner.withStores { runner in
            let configuration = try await TestPostgres.freshConfiguration(leaseClock: .caller)
            let replicaA = try await runner.store(configuration)
            let replicaB = try await runner.store(configuration)
            for round in 0..<20 {
                let group = "g\(round)"
                try await Self.begin("\(group)#1", group: group, on: replicaA)
                let old = try await replicaA.acquireLease(scope: Lease.groupScope(group), holder: Self.alice, ttl: .seconds(30), now: Self.t0)
                // How many appends landed; -1 once the loop ended.
                let landed = Shared()
                let appender = Task {
                    defer { landed.value.store(-1, ordering: .releasing) }
                    var attempt = 0
                    while true {
                        attempt += 1
                        do {
                            try await replicaA.append(Self.entry(.intent, old, attempt: attempt, group: group))
                            landed.value.store(attempt, ordering: .releasing)
                        } catch StateStoreError.leaseLost {
                            return attempt
                        }
                    }
                }
                // Let a few appends land first, so that the grant meets the loop in full swing.
                while (0..<3).contains(landed.value.load(ordering: .acquiring)) { try await Task.sleep(for: .milliseconds(2)) }
                let new = try await replicaB.acquireLease(scope: Lease.groupScope(group), holder: Self.bob, ttl: .seconds(30),
                                                          now: Self.t0 + .seconds(60))
                let firstRead = try #require(try await replicaB.cutovers(groups: [group]).first).entries
                _ = try await appender.value
                let journal = try #require(try await replicaB.cutovers(groups: [group]).first).entries
                let late = journal.filter { $0.fencingToken < new.token && !firstRead.contains($0) }
                #expect(late.isEmpty, "round \(round): \(late.count) entries of the old holder landed after the new holder's read")
            }
        }
    }

    // MARK: - Helpers

    static func begin(_ id: String, group: String = "g1", on store: PostgresStateStore) async throws {
        try await store.beginCutover(CutoverRecord(id: id, group: group, wave: "w1", members: ["a"],
                                                   window: Window(start: t0, end: t0 + .seconds(3600)), startedAt: t0, baseline: baseline))
    }

    static func entry(_ phase: JournalEntry.Phase, _ lease: Lease, attempt: Int, group: String = "g1") -> JournalEntry {
        JournalEntry(cutoverID: "\(group)#1", group: group, step: .freeze, phase: phase, attempt: attempt,
                     idempotencyKey: "\(group)#1/freeze", fencingToken: lease.token, at: t0, holder: lease.holder.id)
    }

    /// A table and a trigger in the store's schema recording every change of a lease's token:
    /// the token the row had (the grant it replaced) and the one written.
    static func recordTokenChanges(_ configuration: PostgresConfiguration) async throws {
        try await TestPostgres.psql(configuration, [
            "CREATE TABLE token_change (id BIGINT GENERATED ALWAYS AS IDENTITY, scope TEXT, old_token BIGINT, new_token BIGINT)",
            """
            CREATE FUNCTION record_token_change() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF NEW.token IS DISTINCT FROM OLD.token THEN
                    INSERT INTO \(configuration.schema ?? "public").token_change (scope, old_token, new_token)
                    VALUES (NEW.scope, OLD.token, NEW.token);
                END IF;
                RETURN NEW;
            END $$
            """,
            "CREATE TRIGGER lease_token_change AFTER UPDATE ON lease FOR EACH ROW EXECUTE FUNCTION record_token_change()",
        ])
    }
}

/// A number that tasks share.
final class Shared: Sendable {
    let value = Atomic<Int>(0)
}
