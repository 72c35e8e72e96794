public import SendpathCore
import PostgresNIO

/// Notices (the latest per wave) and run history.
extension PostgresStateStore {
    public func recordNotice(_ notice: NoticeRecord) async throws {
        let action = "record the notice of wave \(notice.wave)"
        let members = try decoding(action) { try PostgresRowReader.json(notice.members, column: "members") }
        try await access(action, write: true) { connection in
            try await connection.query(
                """
                INSERT INTO notice (wave, sent_at, window_start, window_end, members, expected_duration_ns, source, recorded_at)
                VALUES (\(notice.wave), \(notice.sentAt.nanosecondsSinceEpoch), \(notice.window.start.nanosecondsSinceEpoch),
                        \(notice.window.end.nanosecondsSinceEpoch), \(members), \(notice.expectedDuration.nanoseconds),
                        \(notice.source.rawValue), \(notice.recordedAt.nanosecondsSinceEpoch))
                ON CONFLICT (wave) DO UPDATE SET
                    sent_at = excluded.sent_at, window_start = excluded.window_start, window_end = excluded.window_end,
                    members = excluded.members, expected_duration_ns = excluded.expected_duration_ns,
                    source = excluded.source, recorded_at = excluded.recorded_at
                """,
                logger: self.logger
            ).collect()
        }
    }

    public func notices() async throws -> [String: NoticeRecord] {
        let rows = try await access("read notices", write: false) { connection in
            try await connection.query("SELECT coalesce(json_agg(notice), '[]')::text AS rows FROM notice", logger: self.logger).collect()
        }
        return try decoding("read notices") {
            var notices: [String: NoticeRecord] = [:]
            for reader in try Self.aggregatedRows(rows) {
                let notice = try NoticeRecord(reading: reader)
                notices[notice.wave] = notice
            }
            return notices
        }
    }

    public func recordRun(_ run: RunRecord) async throws {
        let action = "record run \(run.id)"
        let (holder, summary) = try decoding(action) {
            (try PostgresRowReader.json(run.holder, column: "holder"), try PostgresRowReader.json(run.summary, column: "summary"))
        }
        let details = try decoding(action) { try RunDetails(run).map { try PostgresRowReader.json($0, column: "details") } }
        // An upsert keeps the row's `seq`, which orders runs started at the same instant (in
        // recording order, as the other stores do).
        try await access(action, write: true) { connection in
            try await connection.query(
                """
                INSERT INTO run (id, command, holder, dry_run, started_at, finished_at, outcome, summary, details)
                VALUES (\(run.id), \(run.command), \(holder), \(run.dryRun), \(run.startedAt.nanosecondsSinceEpoch),
                        \(run.finishedAt?.nanosecondsSinceEpoch)::bigint, \(run.outcome?.rawValue)::text, \(summary),
                        \(details)::text)
                ON CONFLICT (id) DO UPDATE SET
                    command = excluded.command, holder = excluded.holder, dry_run = excluded.dry_run,
                    started_at = excluded.started_at, finished_at = excluded.finished_at,
                    outcome = excluded.outcome, summary = excluded.summary, details = excluded.details
                """,
                logger: self.logger
            ).collect()
        }
    }

    public func recentRuns(limit: Int) async throws -> [RunRecord] {
        guard limit > 0 else { return [] }
        let rows = try await access("read recent runs", write: false) { connection in
            try await connection.query(
                """
                SELECT coalesce(json_agg(q ORDER BY q.started_at DESC, q.seq), '[]')::text AS rows FROM (
                    SELECT * FROM run ORDER BY started_at DESC, seq LIMIT \(limit)
                ) q
                """, logger: self.logger
            ).collect()
        }
        return try decoding("read recent runs") { try Self.aggregatedRows(rows).map { try RunRecord(reading: $0) } }
    }
}
