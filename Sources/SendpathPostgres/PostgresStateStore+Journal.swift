public import SendpathCore
import Logging
import PostgresNIO

/// Cut-overs and their journal. `append` is on the hot path of a migration (twice per step):
/// one statement that locks the fencing lease rows, checks them and inserts, its JSON encoded
/// before it is sent.
extension PostgresStateStore {
    public func beginCutover(_ record: CutoverRecord) async throws {
        let action = "record cut-over \(record.id)"
        let uniqueViolation = "23505"
        let (members, baseline, entries) = try decoding(action) {
            (try PostgresRowReader.json(record.members, column: "members"),
             try PostgresRowReader.json(record.baseline, column: "baseline"),
             try record.entries.map(JournalColumns.init))
        }
        try await transaction(action) { connection in
            do {
                _ = try await connection.query(
                    """
                    INSERT INTO cutover (id, group_id, wave, members, window_start, window_end, started_at,
                                         finished_at, outcome, reason, baseline)
                    VALUES (\(record.id), \(record.group), \(record.wave), \(members),
                            \(record.window.start.nanosecondsSinceEpoch), \(record.window.end.nanosecondsSinceEpoch),
                            \(record.startedAt.nanosecondsSinceEpoch), \(record.finishedAt?.nanosecondsSinceEpoch)::bigint,
                            \(record.outcome?.rawValue)::text, \(record.reason)::text, \(baseline))
                    """,
                    logger: self.logger
                ).collect()
            } catch let error where PostgresErrorMapping.sqlState(error) == uniqueViolation {
                throw StateStoreError.corrupt("cut-over \(record.id) already exists")
            }
            for entry in entries {
                try await Self.insert(entry, fencedBy: [], connection, logger: self.logger)
            }
        }
        logger.debug("cut-over begun", metadata: ["cutover.id": "\(record.id)", "cutover.group": "\(record.group)"])
    }

    public func append(_ entry: JournalEntry) async throws {
        let action = "append to the journal of \(entry.cutoverID ?? entry.group)"
        let columns = try decoding(action) { try JournalColumns(entry) }
        // Fenced: a holder whose lease has been granted to someone since may not write. The check
        // and the insert are one statement; `refused_by` names the lease that refused it.
        let fence = entry.phase == .fenced ? [] : [Lease.groupScope(entry.group), Lease.reconcilerScope]
        let refusedBy = try await access(action, write: true) { connection in
            try await Self.insert(columns, fencedBy: fence, connection, logger: self.logger)
        }
        if let refusedBy { throw StateStoreError.leaseLost(scope: refusedBy) }
    }

    public func finishCutover(id: String, outcome: CutoverOutcome, reason: String?, at: Timestamp) async throws {
        let rows = try await access("finish cut-over \(id)", write: true) { connection in
            try await connection.query(
                """
                UPDATE cutover SET outcome = \(outcome.rawValue), reason = \(reason)::text, finished_at = \(at.nanosecondsSinceEpoch)
                WHERE id = \(id)
                RETURNING id
                """,
                logger: self.logger
            ).collect()
        }
        guard rows.count == 1 else { throw StateStoreError.corrupt("no cut-over \(id) to finish") }
        logger.debug("cut-over finished", metadata: ["cutover.id": "\(id)", "cutover.outcome": "\(outcome.rawValue)"])
    }

    public func cutovers(groups: Set<String>?) async throws -> [CutoverRecord] {
        if let groups, groups.isEmpty { return [] }
        let filter = groups.map { Array($0).sorted() }
        // Every selected cut-over with its entries, in one query: cut-overs by start then
        // insertion, entries by insertion; a cut-over without entries comes once, with NULLs.
        let rows = try await access("read cut-overs", write: false) { connection in
            try await connection.query(
                """
                SELECT coalesce(json_agg(q ORDER BY q.started_at, q.seq, q.j_id), '[]')::text AS rows FROM (
                    SELECT c.id, c.seq, c.group_id, c.wave, c.members, c.window_start, c.window_end, c.started_at, c.finished_at,
                           c.outcome, c.reason, c.baseline,
                           j.id AS j_id, j.cutover_id AS j_cutover_id, j.group_id AS j_group_id, j.step AS j_step,
                           j.is_rollback AS j_is_rollback, j.phase AS j_phase, j.attempt AS j_attempt,
                           j.idempotency_key AS j_idempotency_key, j.fencing_token AS j_fencing_token, j.at AS j_at,
                           j.duration_ns AS j_duration_ns, j.detail AS j_detail, j.holder AS j_holder
                    FROM cutover c LEFT JOIN journal j ON j.cutover_id = c.id
                    WHERE \(filter == nil) OR c.group_id = ANY(\(filter ?? [])::text[])
                ) q
                """,
                logger: self.logger
            ).collect()
        }
        return try decoding("read cut-overs") {
            var records: [CutoverRecord] = []
            for reader in try Self.aggregatedRows(rows) {
                let id: String = try reader("id")
                if records.last?.id != id { records.append(try CutoverRecord(reading: reader)) }
                if try !reader.isNull("j_id") {
                    records[records.count - 1].entries.append(try JournalEntry(reading: reader, prefix: "j_"))
                }
            }
            return records
        }
    }

    public func preparations(groups: Set<String>?) async throws -> [JournalEntry] {
        if let groups, groups.isEmpty { return [] }
        let filter = groups.map { Array($0).sorted() }
        let rows = try await access("read preparations", write: false) { connection in
            try await connection.query(
                """
                SELECT coalesce(json_agg(q ORDER BY q.id), '[]')::text AS rows FROM (
                    SELECT * FROM journal
                    WHERE cutover_id IS NULL AND (\(filter == nil) OR group_id = ANY(\(filter ?? [])::text[]))
                ) q
                """,
                logger: self.logger
            ).collect()
        }
        return try decoding("read preparations") { try Self.aggregatedRows(rows).map { try JournalEntry(reading: $0) } }
    }
}

/// A journal entry's column values, encoded before the statement is built.
struct JournalColumns: Sendable {
    var entry: JournalEntry
    var detail: String?

    init(_ entry: JournalEntry) throws {
        self.entry = entry
        detail = try entry.detail.map { try PostgresRowReader.json($0, column: "detail") }
    }
}

extension PostgresStateStore {
    static let foreignKeyViolation = "23503"

    /// Inserts a journal row unless a lease on one of `scopes` has a greater token than the
    /// entry's, in one statement; returns the scope that refused it (`nil` when inserted).
    ///
    /// The statement locks the lease rows it checks (`FOR KEY SHARE`, in scope order) until it
    /// commits. A grant takes the row `FOR UPDATE`, so the two serialise: an append that started
    /// while a grant was in flight waits for it and then reads its new token (and is refused);
    /// a grant that started while an append was in flight waits until the entry is committed, so
    /// the new holder's first read of the journal sees it. Without the lock, the check could read
    /// the old token while the grant commits and the new holder reads the journal, and the entry
    /// land after that read. The rows are locked whatever their token (a lock taken only on rows
    /// that pass the check would be taken on none). Renewals and releases do not change the key,
    /// so they take no lock that conflicts with it.
    @discardableResult
    static func insert(_ columns: JournalColumns, fencedBy scopes: [String], _ connection: PostgresConnection,
                       logger: Logger) async throws -> String? {
        let entry = columns.entry
        let rows: [PostgresRow]
        do {
            rows = try await connection.query(
                """
                WITH fence AS MATERIALIZED (
                    SELECT scope, token FROM lease WHERE scope = ANY(\(scopes)::text[])
                    ORDER BY scope
                    FOR KEY SHARE
                ), newer AS (
                    SELECT scope FROM fence WHERE token > \(entry.fencingToken.value)
                    ORDER BY token DESC LIMIT 1
                ), inserted AS (
                    INSERT INTO journal (cutover_id, group_id, step, is_rollback, phase, attempt, idempotency_key,
                                         fencing_token, at, duration_ns, detail, holder)
                    SELECT \(entry.cutoverID)::text, \(entry.group), \(entry.step.rawValue), \(entry.rollback),
                           \(entry.phase.rawValue), \(Int64(entry.attempt)), \(entry.idempotencyKey),
                           \(entry.fencingToken.value), \(entry.at.nanosecondsSinceEpoch), \(entry.duration?.nanoseconds)::bigint,
                           \(columns.detail)::text, \(entry.holder)
                    WHERE NOT EXISTS (SELECT 1 FROM newer)
                    RETURNING id
                )
                SELECT (SELECT scope FROM newer) AS refused_by, (SELECT count(*) FROM inserted) AS inserted
                """,
                logger: logger
            ).collect()
        } catch let error where PostgresErrorMapping.sqlState(error) == foreignKeyViolation {
            throw StateStoreError.corrupt("no cut-over \(entry.cutoverID ?? "") for a journal entry")
        }
        guard let row = rows.first else { throw PostgresColumnError("the journal insert returned no row") }
        return try PostgresRowReader(row)("refused_by", as: String?.self)
    }
}
