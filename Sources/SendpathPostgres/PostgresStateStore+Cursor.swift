public import SendpathCore
import Logging
import PostgresNIO

/// The journal from a cursor, a page at a time (``JournalCursorReading``): entries by their
/// identity `id`, cut-overs by their `seq`. Each page is one bounded JSON value (at most `limit`
/// rows), never the whole journal.
///
/// Identities are taken when a row is inserted, not when it commits: with several replicas an
/// entry can appear after one with a higher id was read. ``JournalFollower`` asks again for the
/// ids it skipped (`including`).
extension PostgresStateStore: JournalCursorReading {
    public func journalEntries(after sequence: Int64, including: [Int64], limit: Int) async throws -> [SequencedEntry] {
        let limit = max(1, limit)
        let rows = try await access("read the journal after \(sequence)", write: false) { connection in
            try await connection.query(
                """
                SELECT coalesce(json_agg(q ORDER BY q.id), '[]')::text AS rows FROM (
                    (SELECT * FROM journal WHERE id > \(sequence) ORDER BY id LIMIT \(limit))
                    UNION
                    (SELECT * FROM journal WHERE id = ANY(\(including)::bigint[]) AND id <= \(sequence))
                ) q
                """,
                logger: self.logger
            ).collect()
        }
        return try decoding("read the journal after \(sequence)") {
            try Self.aggregatedRows(rows).map { SequencedEntry(sequence: try $0("id"), entry: try JournalEntry(reading: $0)) }
        }
    }

    public func cutoverHeaders(after sequence: Int64, including: [String], limit: Int) async throws -> [SequencedCutover] {
        let limit = max(1, limit)
        let rows = try await access("read cut-overs after \(sequence)", write: false) { connection in
            try await connection.query(
                """
                SELECT coalesce(json_agg(q ORDER BY q.seq), '[]')::text AS rows FROM (
                    (SELECT * FROM cutover WHERE seq > \(sequence) ORDER BY seq LIMIT \(limit))
                    UNION
                    (SELECT * FROM cutover WHERE id = ANY(\(including)::text[]) AND seq <= \(sequence))
                ) q
                """,
                logger: self.logger
            ).collect()
        }
        return try decoding("read cut-overs after \(sequence)") {
            try Self.aggregatedRows(rows).map { SequencedCutover(sequence: try $0("seq"), record: try CutoverRecord(reading: $0)) }
        }
    }
}
