import GRDB

/// The state database's schema, as GRDB migrations: one named migration per schema change,
/// never edited once released (add a new one instead).
///
/// Conventions: instants are INTEGER nanoseconds since the epoch (`*_at`, `window_*`),
/// durations INTEGER nanoseconds (`*_ns`), enums their raw TEXT value (no CHECK, so a newer
/// phase or outcome needs no migration), Codable values JSON TEXT.
enum StateSchema {
    static let migrator: DatabaseMigrator = {
        var migrator = DatabaseMigrator()

        // Leases, and the fencing sequence: one row whose counter only grows, so a token is
        // greater than every token granted before, across scopes, deleted leases and restarts.
        migrator.registerMigration("v1-leases") { db in
            try db.execute(sql: """
                CREATE TABLE lease (
                    scope TEXT PRIMARY KEY NOT NULL,
                    holder_id TEXT NOT NULL,
                    holder_host TEXT NOT NULL,
                    holder_pid INTEGER NOT NULL,
                    holder_command TEXT NOT NULL,
                    token INTEGER NOT NULL,
                    acquired_at INTEGER NOT NULL,
                    expires_at INTEGER NOT NULL
                );
                CREATE TABLE fencing (
                    id INTEGER PRIMARY KEY CHECK (id = 1),
                    last_token INTEGER NOT NULL
                );
                INSERT INTO fencing (id, last_token) VALUES (1, 0);
                """)
        }

        // Cut-overs and the journal. Journal rows keep insertion order by their id.
        migrator.registerMigration("v1-journal") { db in
            try db.execute(sql: """
                CREATE TABLE cutover (
                    id TEXT PRIMARY KEY NOT NULL,
                    group_id TEXT NOT NULL,
                    wave TEXT NOT NULL,
                    members TEXT NOT NULL,
                    window_start INTEGER NOT NULL,
                    window_end INTEGER NOT NULL,
                    started_at INTEGER NOT NULL,
                    finished_at INTEGER,
                    outcome TEXT,
                    reason TEXT,
                    baseline TEXT NOT NULL
                );
                CREATE INDEX cutover_on_group ON cutover(group_id);
                CREATE TABLE journal (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    cutover_id TEXT REFERENCES cutover(id),
                    group_id TEXT NOT NULL,
                    step TEXT NOT NULL,
                    is_rollback INTEGER NOT NULL,
                    phase TEXT NOT NULL,
                    attempt INTEGER NOT NULL,
                    idempotency_key TEXT NOT NULL,
                    fencing_token INTEGER NOT NULL,
                    at INTEGER NOT NULL,
                    duration_ns INTEGER,
                    detail TEXT,
                    holder TEXT NOT NULL
                );
                CREATE INDEX journal_on_cutover ON journal(cutover_id);
                CREATE INDEX journal_on_group ON journal(group_id);
                """)
        }

        // The latest notice of each wave.
        migrator.registerMigration("v1-notices") { db in
            try db.execute(sql: """
                CREATE TABLE notice (
                    wave TEXT PRIMARY KEY NOT NULL,
                    sent_at INTEGER NOT NULL,
                    window_start INTEGER NOT NULL,
                    window_end INTEGER NOT NULL,
                    members TEXT NOT NULL,
                    expected_duration_ns INTEGER NOT NULL,
                    source TEXT NOT NULL,
                    recorded_at INTEGER NOT NULL
                );
                """)
        }

        // Run history, newest first by started_at.
        migrator.registerMigration("v1-runs") { db in
            try db.execute(sql: """
                CREATE TABLE run (
                    id TEXT PRIMARY KEY NOT NULL,
                    command TEXT NOT NULL,
                    holder TEXT NOT NULL,
                    dry_run INTEGER NOT NULL,
                    started_at INTEGER NOT NULL,
                    finished_at INTEGER,
                    outcome TEXT,
                    summary TEXT NOT NULL
                );
                CREATE INDEX run_on_started_at ON run(started_at);
                """)
        }

        // Operators' controls (suspend, resume, approve), in the order they were recorded.
        migrator.registerMigration("v2-controls") { db in
            try db.execute(sql: """
                CREATE TABLE control (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    record TEXT NOT NULL
                );
                """)
        }

        // Notices delivered to tenants (`notify --smtp/--sendmail/--webhook`): the first delivery
        // of a (wave, notice, tenant, channel) stands; the record is the NoticeDelivery as JSON.
        migrator.registerMigration("v3-deliveries") { db in
            try db.execute(sql: """
                CREATE TABLE notice_delivery (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    wave TEXT NOT NULL,
                    notice_key TEXT NOT NULL,
                    tenant TEXT NOT NULL,
                    channel TEXT NOT NULL,
                    record TEXT NOT NULL,
                    UNIQUE (wave, notice_key, tenant, channel)
                );
                """)
        }

        // What each run applied and who ran it, and the groups it worked on: a RunDetails JSON.
        migrator.registerMigration("v4-run-revisions") { db in
            try db.execute(sql: "ALTER TABLE run ADD COLUMN details TEXT")
        }

        return migrator
    }()
}
