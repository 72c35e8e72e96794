public import SendpathCore
import Testing

/// ``JournalFollower`` against a store: after each pass it holds what a whole read of the journal
/// returns, having read only the entries appended since the last pass, whoever appended them
/// (another connection, as another replica would) and across a restart (a new follower on a
/// store opened again).
public struct JournalFollowerContract: Sendable {
    /// Opens the store under test; each call opens the same database again (a new connection).
    public let openStore: @Sendable () async throws -> any StateStore

    public init(openStore: @escaping @Sendable () async throws -> any StateStore) {
        self.openStore = openStore
    }

    public static let t0 = Timestamp(rfc3339: "2024-01-13T20:00:00Z")!
    static let window = Window(start: t0, end: t0 + .seconds(4 * 3600))
    static let baseline = CutoverBaseline(
        members: ["a": .init(path: SendingPath(infrastructure: .adobeDC, location: "dc1"),
                             sendingIPs: [IPAddress("198.51.100.10")!], build: "7.3")],
        prefixes: [AddressBlock(network: IPAddress("198.51.100.0")!, length: 24): SendingPath(infrastructure: .adobeDC, location: "dc1")],
        target: SendingPath(infrastructure: .aws, location: "eu-west-1"))

    public static func cutover(_ group: String, _ number: Int, at offset: Int) -> CutoverRecord {
        CutoverRecord(id: "\(group)#\(number)", group: group, wave: "w1", members: ["a"], window: window,
                      startedAt: t0 + .seconds(offset), baseline: baseline)
    }

    public static func entry(_ cutover: String, _ step: StepName, _ phase: JournalEntry.Phase, at offset: Int, holder: String = "alice-1") -> JournalEntry {
        let group = String(cutover.prefix { $0 != "#" })
        return JournalEntry(cutoverID: cutover, group: group, step: step, phase: phase, attempt: 1,
                            idempotencyKey: "\(cutover)/\(step.rawValue)", fencingToken: FencingToken(1), at: t0 + .seconds(offset),
                            duration: phase == .done ? .seconds(2) : nil, holder: holder)
    }

    /// Appends `count` intent/done pairs of steps to `cutover`.
    public static func steps(_ store: any StateStore, _ cutover: String, _ count: Int, from offset: Int, holder: String = "alice-1") async throws {
        for index in 0..<count {
            let step = StepName.allCases[index % StepName.allCases.count]
            try await store.append(entry(cutover, step, .intent, at: offset + 2 * index, holder: holder))
            try await store.append(entry(cutover, step, .done, at: offset + 2 * index + 1, holder: holder))
        }
    }

    public func runAll() async throws {
        let store = try await openStore()
        let other = try await openStore()
        // A small page, so that every read spans several.
        let follower = JournalFollower(store: store, pageSize: 3)

        // Nothing yet; then a first pass reads everything there is.
        #expect(try await follower.cutovers().isEmpty)
        try await store.beginCutover(Self.cutover("g1", 1, at: 0))
        try await Self.steps(store, "g1#1", 4, from: 1)
        try await store.append(JournalEntry(cutoverID: nil, group: "g9", step: .prepareTarget, phase: .done, attempt: 1,
                                            idempotencyKey: "prepare/g9", fencingToken: FencingToken(1), at: Self.t0, holder: "alice-1"))
        #expect(try await follower.cutovers() == (try await store.cutovers(groups: nil)))
        let afterFirst = await follower.entriesRead
        #expect(afterFirst == 9)

        // Entries appended between passes, a finish, and a new cut-over: only those are read.
        try await Self.steps(store, "g1#1", 2, from: 20)
        try await store.finishCutover(id: "g1#1", outcome: .completed, reason: nil, at: Self.t0 + .seconds(30))
        try await store.beginCutover(Self.cutover("g2", 1, at: 40))
        try await Self.steps(store, "g2#1", 1, from: 41)
        #expect(try await follower.cutovers() == (try await store.cutovers(groups: nil)))
        #expect(await follower.entriesRead == afterFirst + 6)

        // Nothing new: nothing read.
        #expect(try await follower.cutovers() == (try await store.cutovers(groups: nil)))
        #expect(await follower.entriesRead == afterFirst + 6)

        // Another replica (its own connection) begins, appends and holds; this one sees it all.
        try await other.beginCutover(Self.cutover("g3", 1, at: 50))
        try await Self.steps(other, "g3#1", 3, from: 51, holder: "bob-1")
        try await Self.steps(other, "g2#1", 1, from: 60, holder: "bob-1")
        try await other.finishCutover(id: "g3#1", outcome: .held, reason: "verification failed", at: Self.t0 + .seconds(70))
        #expect(try await follower.cutovers() == (try await store.cutovers(groups: nil)))
        #expect(await follower.entriesRead == afterFirst + 14)

        // A held cut-over finished again later (resumed, then completed) is seen as it ends.
        try await Self.steps(other, "g3#1", 1, from: 80, holder: "bob-1")
        try await other.finishCutover(id: "g3#1", outcome: .completed, reason: nil, at: Self.t0 + .seconds(90))
        let latest = try await follower.cutovers()
        #expect(latest == (try await store.cutovers(groups: nil)))
        #expect(latest.first { $0.id == "g3#1" }?.outcome == .completed)

        // A restart: a new follower on the store opened again reads the same, then only what is new.
        let reopened = try await openStore()
        let restarted = JournalFollower(store: reopened, pageSize: 4)
        #expect(try await restarted.cutovers() == (try await reopened.cutovers(groups: nil)))
        let sinceRestart = await restarted.entriesRead
        try await Self.steps(store, "g2#1", 2, from: 100)
        #expect(try await restarted.cutovers() == (try await reopened.cutovers(groups: nil)))
        #expect(await restarted.entriesRead == sinceRestart + 4)
        #expect(try await follower.cutovers() == (try await store.cutovers(groups: nil)))
    }
}
