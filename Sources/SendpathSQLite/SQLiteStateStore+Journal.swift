public import SendpathCore
import GRDB

/// Cut-overs and their journal. `append` is on the hot path of a migration (twice per step):
/// one cached INSERT in one write transaction, its JSON encoded before taking the lock.
extension SQLiteStateStore {
    public func beginCutover(_ record: CutoverRecord) async throws {
        let columns = try encoding("record cut-over \(record.id)") {
            try CutoverColumns(record)
        }
        let entries = try encoding("record cut-over \(record.id)") {
            try record.entries.map(JournalColumns.init)
        }
        try await write("record cut-over \(record.id)") { db in
            do {
                try db.execute(
                    sql: """
                        INSERT INTO cutover (id, group_id, wave, members, window_start, window_end, started_at,
                                             finished_at, outcome, reason, baseline)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: columns.arguments)
            } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT {
                throw StateStoreError.corrupt("cut-over \(record.id) already exists")
            }
            for entry in entries { try Self.insert(entry, db) }
        }
        logger.debug("cut-over begun", metadata: ["cutover.id": "\(record.id)", "cutover.group": "\(record.group)"])
    }

    public func append(_ entry: JournalEntry) async throws {
        let columns = try encoding("append to the journal of \(entry.cutoverID ?? entry.group)") {
            try JournalColumns(entry)
        }
        try await write("append to the journal of \(entry.cutoverID ?? entry.group)") { db in
            // Fenced: a holder whose lease has been granted to someone since may not write.
            if entry.phase != .fenced {
                let newer = try Row.fetchOne(
                    db, sql: "SELECT scope FROM lease WHERE scope IN (?, ?) AND token > ? ORDER BY token DESC LIMIT 1",
                    arguments: [Lease.groupScope(entry.group), Lease.reconcilerScope, entry.fencingToken.value])
                if let newer { throw StateStoreError.leaseLost(scope: newer["scope"]) }
            }
            try Self.insert(columns, db)
        }
    }

    public func finishCutover(id: String, outcome: CutoverOutcome, reason: String?, at: Timestamp) async throws {
        try await write("finish cut-over \(id)") { db in
            try db.execute(
                sql: "UPDATE cutover SET outcome = ?, reason = ?, finished_at = ? WHERE id = ?",
                arguments: [outcome.rawValue, reason, at.nanosecondsSinceEpoch, id])
            guard db.changesCount == 1 else {
                throw StateStoreError.corrupt("no cut-over \(id) to finish")
            }
        }
        logger.debug("cut-over finished", metadata: ["cutover.id": "\(id)", "cutover.outcome": "\(outcome.rawValue)"])
    }

    public func cutovers(groups: Set<String>?) async throws -> [CutoverRecord] {
        if let groups, groups.isEmpty { return [] }
        let groupList = groups.map { $0.sorted() }
        return try await read("read cut-overs") { db in
            let (filter, arguments) = Self.groupFilter("c.group_id", groupList)
            var records = try Row.fetchAll(
                db, sql: "SELECT c.* FROM cutover c \(filter) ORDER BY c.started_at, c.rowid", arguments: arguments
            ).map(CutoverRecord.init(row:))
            var index: [String: Int] = [:]
            for (position, record) in records.enumerated() { index[record.id] = position }
            // Every entry of the selected cut-overs, in one query, in insertion order.
            let entries = try Row.fetchCursor(
                db,
                sql: "SELECT j.* FROM journal j JOIN cutover c ON c.id = j.cutover_id \(filter) ORDER BY j.id",
                arguments: arguments)
            while let row = try entries.next() {
                let entry = try JournalEntry(row: row)
                if let id = entry.cutoverID, let position = index[id] { records[position].entries.append(entry) }
            }
            return records
        }
    }

    public func preparations(groups: Set<String>?) async throws -> [JournalEntry] {
        if let groups, groups.isEmpty { return [] }
        let groupList = groups.map { $0.sorted() }
        return try await read("read preparations") { db in
            let (filter, arguments) = Self.groupFilter("group_id", groupList, and: "cutover_id IS NULL")
            return try Row.fetchAll(db.cachedStatement(sql: "SELECT * FROM journal \(filter) ORDER BY id"), arguments: arguments)
                .map(JournalEntry.init(row:))
        }
    }

    // MARK: - Rows

    private static let insertJournal = """
        INSERT INTO journal (cutover_id, group_id, step, is_rollback, phase, attempt, idempotency_key, fencing_token,
                             at, duration_ns, detail, holder)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        """

    private static func insert(_ entry: JournalColumns, _ db: Database) throws {
        do {
            try db.cachedStatement(sql: insertJournal).execute(arguments: entry.arguments)
        } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_FOREIGNKEY {
            throw StateStoreError.corrupt("no cut-over \(entry.cutoverID ?? "") for a journal entry")
        }
    }

    /// `WHERE column IN (?, ...)` (plus `extra`), or just `extra`, with its arguments.
    private static func groupFilter(_ column: String, _ groups: [String]?, and extra: String? = nil)
        -> (String, StatementArguments) {
        var conditions: [String] = []
        if let extra { conditions.append(extra) }
        var arguments = StatementArguments()
        if let groups {
            conditions.append("\(column) IN (\(Array(repeating: "?", count: groups.count).joined(separator: ", ")))")
            arguments = StatementArguments(groups)
        }
        return (conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND "), arguments)
    }
}

/// A cut-over's column values, encoded outside the write transaction.
private struct CutoverColumns: Sendable {
    var id: String
    var group: String
    var wave: String
    var members: String
    var window: Window
    var startedAt: Timestamp
    var finishedAt: Timestamp?
    var outcome: CutoverOutcome?
    var reason: String?
    var baseline: String

    init(_ record: CutoverRecord) throws {
        id = record.id
        group = record.group
        wave = record.wave
        members = try StateCoding.json(record.members, column: "members")
        window = record.window
        startedAt = record.startedAt
        finishedAt = record.finishedAt
        outcome = record.outcome
        reason = record.reason
        baseline = try StateCoding.json(record.baseline, column: "baseline")
    }

    var arguments: StatementArguments {
        [id, group, wave, members, window.start.nanosecondsSinceEpoch, window.end.nanosecondsSinceEpoch,
         startedAt.nanosecondsSinceEpoch, finishedAt?.nanosecondsSinceEpoch, outcome?.rawValue, reason, baseline]
    }
}

/// A journal entry's column values, encoded outside the write transaction.
private struct JournalColumns: Sendable {
    var entry: JournalEntry
    var detail: String?

    init(_ entry: JournalEntry) throws {
        self.entry = entry
        detail = try entry.detail.map { try StateCoding.json($0, column: "detail") }
    }

    var cutoverID: String? { entry.cutoverID }

    var arguments: StatementArguments {
        [entry.cutoverID, entry.group, entry.step.rawValue, entry.rollback, entry.phase.rawValue, entry.attempt,
         entry.idempotencyKey, entry.fencingToken.value, entry.at.nanosecondsSinceEpoch, entry.duration?.nanoseconds,
         detail, entry.holder]
    }
}

extension CutoverRecord {
    init(row: Row) throws {
        self.init(
            id: try row.decode(String.self, forColumn: "id"),
            group: try row.decode(String.self, forColumn: "group_id"),
            wave: try row.decode(String.self, forColumn: "wave"),
            members: try StateCoding.json([String].self, row, "members"),
            window: Window(start: try StateCoding.timestamp(row, "window_start"),
                           end: try StateCoding.timestamp(row, "window_end")),
            startedAt: try StateCoding.timestamp(row, "started_at"),
            finishedAt: try StateCoding.timestampIfPresent(row, "finished_at"),
            outcome: try StateCoding.valueIfPresent(CutoverOutcome.self, row, "outcome"),
            reason: try row.decode(String?.self, forColumn: "reason"),
            baseline: try StateCoding.json(CutoverBaseline.self, row, "baseline"))
    }
}

extension JournalEntry {
    init(row: Row) throws {
        self.init(
            cutoverID: try row.decode(String?.self, forColumn: "cutover_id"),
            group: try row.decode(String.self, forColumn: "group_id"),
            step: try StateCoding.value(StepName.self, row, "step"),
            rollback: try row.decode(Bool.self, forColumn: "is_rollback"),
            phase: try StateCoding.value(JournalEntry.Phase.self, row, "phase"),
            attempt: try row.decode(Int.self, forColumn: "attempt"),
            idempotencyKey: try row.decode(String.self, forColumn: "idempotency_key"),
            fencingToken: FencingToken(try row.decode(Int64.self, forColumn: "fencing_token")),
            at: try StateCoding.timestamp(row, "at"),
            duration: try StateCoding.durationIfPresent(row, "duration_ns"),
            detail: try StateCoding.jsonIfPresent(StepDetail.self, row, "detail"),
            holder: try row.decode(String.self, forColumn: "holder"))
    }
}
