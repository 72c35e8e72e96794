import SendpathCore

/// A state store whose process "dies" at a chosen write: from the first write that
/// `diesAt` picks on, every write fails (the write itself included, unless `afterWrite`),
/// as if the reconciler had been killed there. Reads go on working, so the run winds down;
/// what is in the journal is exactly what a killed process would have left.
actor DyingStore: ForwardingStateStore {
    enum Write: Sendable {
        case append(JournalEntry)
        case finish(id: String, outcome: CutoverOutcome)
    }

    struct Killed: Error, CustomStringConvertible {
        var description: String { "killed (test)" }
    }

    let inner: any StateStore
    private let diesAt: @Sendable (Write) -> Bool
    /// Whether the picked write still lands before the process dies.
    private let afterWrite: Bool
    /// What the picked write throws; with `once`, only that write fails and the store lives on.
    private let failure: any Error
    private let once: Bool
    private(set) var dead = false

    init(_ inner: any StateStore, afterWrite: Bool = true, failure: any Error = Killed(), once: Bool = false,
         diesAt: @escaping @Sendable (Write) -> Bool) {
        self.inner = inner
        self.afterWrite = afterWrite
        self.failure = failure
        self.once = once
        self.diesAt = diesAt
    }

    nonisolated var sharesWork: Bool { inner.sharesWork }
    nonisolated var forwardee: any StateStore { inner }

    private func write(_ write: Write, _ body: () async throws -> Void) async throws {
        if dead && !once { throw Killed() }
        if !dead && diesAt(write) {
            dead = true
            if afterWrite { try await body() }
            throw failure
        }
        try await body()
    }

    func append(_ entry: JournalEntry) async throws {
        try await write(.append(entry)) { try await inner.append(entry) }
    }

    func finishCutover(id: String, outcome: CutoverOutcome, reason: String?, at: Timestamp) async throws {
        try await write(.finish(id: id, outcome: outcome)) {
            try await inner.finishCutover(id: id, outcome: outcome, reason: reason, at: at)
        }
    }

    func beginCutover(_ record: CutoverRecord) async throws {
        if dead && !once { throw Killed() }
        try await inner.beginCutover(record)
    }

    func recordRun(_ run: RunRecord) async throws {
        if dead && !once { throw Killed() }
        try await inner.recordRun(run)
    }
}

extension DyingStore.Write {
    /// The `done` entry of a forward (or, with `rollback`, a backward) step, of `group` if
    /// named (groups of different waves run side by side: the first to get there is not
    /// always the same one).
    static func done(_ step: StepName, rollback: Bool = false, group: String? = nil) -> @Sendable (DyingStore.Write) -> Bool {
        { write in
            guard case .append(let entry) = write else { return false }
            return entry.step == step && entry.rollback == rollback && entry.phase == .done && (group == nil || entry.group == group)
        }
    }

    /// The entry of `phase` for `step`.
    static func entry(_ step: StepName, _ phase: JournalEntry.Phase) -> @Sendable (DyingStore.Write) -> Bool {
        { write in
            guard case .append(let entry) = write else { return false }
            return entry.step == step && !entry.rollback && entry.phase == phase
        }
    }

    /// Recording the end of a cut-over.
    static let finish: @Sendable (DyingStore.Write) -> Bool = { write in
        if case .finish = write { return true }
        return false
    }
}
