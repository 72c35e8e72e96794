public import SendpathCore
import GRDB

/// Notices (the latest per wave) and run history.
extension SQLiteStateStore {
    public func recordNotice(_ notice: NoticeRecord) async throws {
        let members = try encoding("record the notice of wave \(notice.wave)") {
            try StateCoding.json(notice.members, column: "members")
        }
        try await write("record the notice of wave \(notice.wave)") { db in
            try db.execute(
                sql: """
                    INSERT OR REPLACE INTO notice (wave, sent_at, window_start, window_end, members, expected_duration_ns,
                                                   source, recorded_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [notice.wave, notice.sentAt.nanosecondsSinceEpoch, notice.window.start.nanosecondsSinceEpoch,
                            notice.window.end.nanosecondsSinceEpoch, members, notice.expectedDuration.nanoseconds,
                            notice.source.rawValue, notice.recordedAt.nanosecondsSinceEpoch])
        }
    }

    public func notices() async throws -> [String: NoticeRecord] {
        try await read("read notices") { db in
            var notices: [String: NoticeRecord] = [:]
            let rows = try Row.fetchCursor(db, sql: "SELECT * FROM notice")
            while let row = try rows.next() {
                let notice = try NoticeRecord(row: row)
                notices[notice.wave] = notice
            }
            return notices
        }
    }

    public func recordRun(_ run: RunRecord) async throws {
        let (holder, summary) = try encoding("record run \(run.id)") {
            (try StateCoding.json(run.holder, column: "holder"), try StateCoding.json(run.summary, column: "summary"))
        }
        let details = try encoding("record run \(run.id)") { try RunDetails(run).map { try StateCoding.json($0, column: "details") } }
        // An upsert, not a replace: the row keeps its rowid, which orders runs started at the same
        // instant (in recording order, as the in-memory store does).
        try await write("record run \(run.id)") { db in
            try db.execute(
                sql: """
                    INSERT INTO run (id, command, holder, dry_run, started_at, finished_at, outcome, summary, details)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (id) DO UPDATE SET
                        command = excluded.command, holder = excluded.holder, dry_run = excluded.dry_run,
                        started_at = excluded.started_at, finished_at = excluded.finished_at,
                        outcome = excluded.outcome, summary = excluded.summary, details = excluded.details
                    """,
                arguments: [run.id, run.command, holder, run.dryRun, run.startedAt.nanosecondsSinceEpoch,
                            run.finishedAt?.nanosecondsSinceEpoch, run.outcome?.rawValue, summary, details])
        }
    }

    public func recentRuns(limit: Int) async throws -> [RunRecord] {
        guard limit > 0 else { return [] }
        return try await read("read recent runs") { db in
            try Row.fetchAll(db, sql: "SELECT * FROM run ORDER BY started_at DESC, rowid LIMIT ?", arguments: [limit])
                .map(RunRecord.init(row:))
        }
    }
}

extension NoticeRecord {
    init(row: Row) throws {
        self.init(
            wave: try row.decode(String.self, forColumn: "wave"),
            sentAt: try StateCoding.timestamp(row, "sent_at"),
            window: Window(start: try StateCoding.timestamp(row, "window_start"),
                           end: try StateCoding.timestamp(row, "window_end")),
            members: try StateCoding.json([String].self, row, "members"),
            expectedDuration: try StateCoding.duration(row, "expected_duration_ns"),
            source: try StateCoding.value(NoticeRecord.Source.self, row, "source"),
            recordedAt: try StateCoding.timestamp(row, "recorded_at"))
    }
}

extension RunRecord {
    init(row: Row) throws {
        self.init(
            id: try row.decode(String.self, forColumn: "id"),
            command: try row.decode(String.self, forColumn: "command"),
            holder: try StateCoding.json(LeaseHolder.self, row, "holder"),
            dryRun: try row.decode(Bool.self, forColumn: "dry_run"),
            startedAt: try StateCoding.timestamp(row, "started_at"),
            finishedAt: try StateCoding.timestampIfPresent(row, "finished_at"),
            outcome: try StateCoding.valueIfPresent(Outcome.self, row, "outcome"),
            summary: try StateCoding.json([String: Int].self, row, "summary"))
        if let details = try StateCoding.jsonIfPresent(RunDetails.self, row, "details") {
            revision = details.revision
            groups = details.groups
        }
    }
}
