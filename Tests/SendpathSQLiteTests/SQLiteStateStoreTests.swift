import Foundation
import Logging
import SendpathCore
import SendpathSQLite
import SendpathTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@Suite("SQLite state store")
struct SQLiteStateStoreTests {
    static let t0 = Timestamp(rfc3339: "2024-01-13T20:00:00Z")!
    static let alice = LeaseHolder(id: "alice-1", host: "host-a", pid: 101, command: "sendpath reconcile")
    static let bob = LeaseHolder(id: "bob-1", host: "host-b", pid: 202, command: "sendpath controller")
    static let baseline = CutoverBaseline(
        members: ["a": .init(path: SendingPath(infrastructure: .adobeDC, location: "dc1"),
                             sendingIPs: [IPAddress("198.51.100.10")!], build: "7.3")],
        prefixes: [AddressBlock(network: IPAddress("198.51.100.0")!, length: 24): SendingPath(infrastructure: .adobeDC, location: "dc1")],
        target: SendingPath(infrastructure: .aws, location: "eu-west-1"))

    @Test func honoursTheStateStoreContract() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        try await StateStoreContract { try SQLiteStateStore(path: folder.freshDatabasePath(), logger: .quiet) }.runAll()
    }

    /// The journal read from a cursor, by pages, from two connections and after reopening.
    @Test func aFollowerReadsOnlyWhatIsNew() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let path = folder.freshDatabasePath()
        try await JournalFollowerContract { try SQLiteStateStore(path: path, logger: .quiet) }.runAll()
    }

    @Test func dataSurvivesReopeningTheFile() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let path = folder.file("state.db")
        let window = Window(start: Self.t0, end: Self.t0 + .seconds(3600))
        // Sub-millisecond instants and durations: stored as integer nanoseconds, kept exactly.
        let entry = JournalEntry(cutoverID: "g1#1", group: "g1", step: .switchPath, phase: .done, attempt: 2,
                                 idempotencyKey: "g1#1/switch-path", fencingToken: FencingToken(3),
                                 at: Self.t0 + .nanoseconds(1_234_567), duration: .nanoseconds(987_654_321),
                                 detail: StepDetail(message: "moved", errorCode: nil), holder: "alice-1")
        let preparation = JournalEntry(cutoverID: nil, group: "g1", step: .prepareTarget, phase: .intent, attempt: 1,
                                       idempotencyKey: "prepare/g1", fencingToken: FencingToken(3), at: Self.t0, holder: "alice-1")
        let notice = NoticeRecord(wave: "w1", sentAt: Self.t0 - .seconds(86_400), window: window, members: ["a"],
                                  expectedDuration: .seconds(600), source: .recorded, recordedAt: Self.t0)
        let run = RunRecord(id: "r1", command: "reconcile", holder: Self.alice, dryRun: false, startedAt: Self.t0,
                            finishedAt: Self.t0 + .seconds(9), outcome: .rolledBack, summary: ["migrated": 2])
        let lease: Lease
        do {
            let store = try SQLiteStateStore(path: path, logger: .quiet)
            lease = try await store.acquireLease(scope: "reconciler", holder: Self.alice, ttl: .seconds(30), now: Self.t0)
            try await store.beginCutover(CutoverRecord(id: "g1#1", group: "g1", wave: "w1", members: ["a"], window: window,
                                                       startedAt: Self.t0, baseline: Self.baseline))
            try await store.append(entry)
            try await store.append(preparation)
            try await store.finishCutover(id: "g1#1", outcome: .completed, reason: nil, at: Self.t0 + .seconds(8))
            try await store.recordNotice(notice)
            try await store.recordRun(run)
            try store.close()
        }
        let reopened = try SQLiteStateStore(path: path, logger: .quiet)
        #expect(try await reopened.currentLease(scope: "reconciler") == lease)
        let cutover = try #require(try await reopened.cutovers(groups: nil).first)
        #expect(cutover == CutoverRecord(id: "g1#1", group: "g1", wave: "w1", members: ["a"], window: window, startedAt: Self.t0,
                                         finishedAt: Self.t0 + .seconds(8), outcome: .completed, baseline: Self.baseline,
                                         entries: [entry]))
        #expect(try await reopened.preparations(groups: nil) == [preparation])
        #expect(try await reopened.notices() == ["w1": notice])
        #expect(try await reopened.recentRuns(limit: 5) == [run])
    }

    @Test func theFilesAreOwnerOnly() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let path = folder.file("nested/deeper/state.db")
        let store = try SQLiteStateStore(path: path, logger: .quiet)
        _ = try await store.acquireLease(scope: "reconciler", holder: Self.alice, ttl: .seconds(30), now: Self.t0)
        #expect(Self.mode(path) == 0o600)
        #expect(Self.mode(path + "-wal") == 0o600)
        #expect(Self.mode(path + "-shm") == 0o600)
        #expect(Self.mode(folder.file("nested/deeper")) == 0o700)
    }

    @Test func twoStoresOnOneFileGrantEachLeaseOnce() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let path = folder.file("state.db")
        let first = try SQLiteStateStore(path: path, logger: .quiet)
        let second = try SQLiteStateStore(path: path, logger: .quiet)
        var tokens: Set<FencingToken> = []
        for round in 0..<25 {
            let scope = "group:g\(round)"
            async let a = Self.attempt(first, scope: scope, holder: Self.alice)
            async let b = Self.attempt(second, scope: scope, holder: Self.bob)
            let results = try await [a, b]
            let winners = results.compactMap { $0 }
            try #require(winners.count == 1, "round \(round): \(winners.count) winners")
            let winner = winners[0]
            #expect(try await first.currentLease(scope: scope) == winner)
            #expect(try await second.currentLease(scope: scope) == winner)
            #expect(tokens.insert(winner.token).inserted)
        }
    }

    @Test func twoStoresOpeningANewFileAtOnceBothSucceed() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        // Racing on a new file: all switch it to WAL and all see no migration applied, then
        // each may lose the race for any of the migrations, one after another.
        for _ in 0..<30 {
            let path = folder.freshDatabasePath()
            let stores = try SimultaneousStart.run(count: 6) { try SQLiteStateStore(path: path, logger: .quiet) }
            let lease = try await stores[0].acquireLease(scope: "reconciler", holder: Self.alice, ttl: .seconds(30), now: Self.t0)
            for store in stores.dropFirst() {
                #expect(try await store.currentLease(scope: "reconciler") == lease)
            }
        }
    }

    @Test func tokensKeepGrowingAfterReopening() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let path = folder.file("state.db")
        var highest: FencingToken
        do {
            let store = try SQLiteStateStore(path: path, logger: .quiet)
            let first = try await store.acquireLease(scope: "reconciler", holder: Self.alice, ttl: .seconds(30), now: Self.t0)
            let group = try await store.acquireLease(scope: "group:g1", holder: Self.alice, ttl: .seconds(30), now: Self.t0)
            try await store.releaseLease(first)
            try await store.breakLease(scope: "group:g1", token: group.token)
            #expect(try await store.currentLease(scope: "reconciler") == nil)
            #expect(try await store.currentLease(scope: "group:g1") == nil)
            highest = group.token
        }
        for _ in 0..<2 {
            let store = try SQLiteStateStore(path: path, logger: .quiet)
            let lease = try await store.acquireLease(scope: "reconciler", holder: Self.bob, ttl: .seconds(30), now: Self.t0)
            #expect(lease.token > highest)
            highest = lease.token
            try await store.releaseLease(lease)
            try store.close()
        }
    }

    @Test func cutoversComeOldestFirstThenInInsertionOrder() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let store = try SQLiteStateStore(path: folder.file("state.db"), logger: .quiet)
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

    @Test func journalMistakesAreReportedAsCorrupt() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let store = try SQLiteStateStore(path: folder.file("state.db"), logger: .quiet)
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
        // Nothing half-written: the rejected calls left the journal as it was.
        #expect(try await store.cutovers(groups: nil) == [record])
    }

    /// Numbers a store gives back are range-checked where they enter (issue 10): a time or a
    /// duration planted out of range, or a snapshot count beyond 10^9, is a corrupt store
    /// naming the column, not a trap in the planner later.
    @Test(arguments: [
        ("UPDATE journal SET at = 9000000000000000000", "column at holds 9000000000000000000 ns, a time outside the range"),
        ("UPDATE journal SET duration_ns = -5", "column duration_ns holds -5 ns, a duration outside the range"),
        ("UPDATE cutover SET started_at = -1", "column started_at holds -1 ns, a time outside the range"),
        ("UPDATE journal SET detail = '{\"snapshots\":[{\"instance\":\"a\",\"messageCount\":9000000000000000000,\"digest\":\"d\"}]}'",
         "is not a count from 0 to 1000000000"),
    ])
    func valuesOutOfRangeInTheStoreAreReportedAsCorrupt(planting: String, expected: String) async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let path = folder.file("state.db")
        let store = try SQLiteStateStore(path: path, logger: .quiet)
        try await store.beginCutover(CutoverRecord(id: "g1#1", group: "g1", wave: "w1", members: ["a"],
                                                   window: Window(start: Self.t0, end: Self.t0 + .seconds(60)), startedAt: Self.t0,
                                                   baseline: Self.baseline))
        try await store.append(JournalEntry(cutoverID: "g1#1", group: "g1", step: .snapshotQueue, phase: .done, attempt: 1,
                                            idempotencyKey: "k", fencingToken: FencingToken(1), at: Self.t0, duration: .seconds(3),
                                            holder: "x"))
        let sqlite = try ChildProcess.run(["/usr/bin/sqlite3", path, planting])
        #expect(sqlite.status == 0, "\(sqlite.stderr)")
        do {
            _ = try await store.cutovers(groups: nil)
            Issue.record("a planted value was read: \(planting)")
        } catch let StateStoreError.corrupt(message) {
            #expect(message.contains(expected), "\(message)")
        }
    }

    @Test func writesFinishEvenWhenTheTaskIsCancelled() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let store = try SQLiteStateStore(path: folder.file("state.db"), logger: .quiet)
        let entry = JournalEntry(cutoverID: nil, group: "g1", step: .prepareTarget, phase: .done, attempt: 1,
                                 idempotencyKey: "prepare/g1", fencingToken: FencingToken(1), at: Self.t0, holder: "alice-1")
        let task = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            try await store.append(entry)
        }
        try await task.value
        #expect(try await store.preparations(groups: nil) == [entry])
    }

    @Test func openingFailuresNameTheFile() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let blocker = folder.file("not-a-folder")
        try Data("x".utf8).write(to: URL(fileURLWithPath: blocker))
        let unreachable = blocker + "/state.db"
        do {
            _ = try SQLiteStateStore(path: unreachable, logger: .quiet)
            Issue.record("opened a database under a regular file")
        } catch StateStoreError.unavailable(let message) {
            #expect(message.contains(unreachable))
        }
        let garbage = folder.file("garbage.db")
        try Data(repeating: 0x41, count: 4096).write(to: URL(fileURLWithPath: garbage))
        do {
            _ = try SQLiteStateStore(path: garbage, logger: .quiet)
            Issue.record("opened a file that is not a database")
        } catch StateStoreError.corrupt(let message) {
            #expect(message.contains(garbage))
        }
    }

    // MARK: - Helpers

    static func attempt(_ store: SQLiteStateStore, scope: String, holder: LeaseHolder) async throws -> Lease? {
        do {
            return try await store.acquireLease(scope: scope, holder: holder, ttl: .seconds(30), now: t0)
        } catch StateStoreError.locked {
            return nil
        }
    }

    static func mode(_ path: String) -> mode_t? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return info.st_mode & 0o777
    }
}
