import Logging
import PostgresNIO

/// The state database's schema on PostgreSQL, as named migrations in the spirit of GRDB's
/// `DatabaseMigrator` and with the same names as the SQLite store's: one migration per schema
/// change, never edited once released (add a new one instead).
///
/// Conventions, as in SQLite: instants are BIGINT nanoseconds since the epoch (`*_at`,
/// `window_*`), durations BIGINT nanoseconds (`*_ns`), enums their raw TEXT value (no CHECK, so a
/// newer phase or outcome needs no migration), Codable values JSON TEXT (kept byte for byte:
/// JSONB would refuse a `\u0000` in a provider's error message and lose nothing we query).
///
/// `sendpath_migrations(name, applied_at)` records what was applied. Each migration runs in its
/// own transaction holding `pg_advisory_xact_lock` on a key derived from the schema, so replicas
/// starting at once take turns and each migration is applied exactly once.
enum PostgresSchema {
    struct Migration: Sendable {
        var name: String
        var statements: [String]
    }

    static let migrations: [Migration] = [
        // Leases, and the fencing sequence: it only grows, so a token is greater than every token
        // granted before, across scopes, deleted leases and restarts. A row with token 0 or no
        // holder reads as no lease (earlier versions wrote such placeholders).
        Migration(name: "v1-leases", statements: [
            "CREATE SEQUENCE fencing_token AS BIGINT START WITH 1 MINVALUE 1 NO CYCLE",
            """
            CREATE TABLE lease (
                scope TEXT PRIMARY KEY,
                holder_id TEXT NOT NULL,
                holder_host TEXT NOT NULL,
                holder_pid INTEGER NOT NULL,
                holder_command TEXT NOT NULL,
                token BIGINT NOT NULL,
                acquired_at BIGINT NOT NULL,
                expires_at BIGINT NOT NULL
            )
            """,
        ]),
        // Cut-overs and the journal. `seq` and `id` keep insertion order.
        Migration(name: "v1-journal", statements: [
            """
            CREATE TABLE cutover (
                id TEXT PRIMARY KEY,
                seq BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
                group_id TEXT NOT NULL,
                wave TEXT NOT NULL,
                members TEXT NOT NULL,
                window_start BIGINT NOT NULL,
                window_end BIGINT NOT NULL,
                started_at BIGINT NOT NULL,
                finished_at BIGINT,
                outcome TEXT,
                reason TEXT,
                baseline TEXT NOT NULL
            )
            """,
            "CREATE INDEX cutover_on_group ON cutover (group_id)",
            "CREATE INDEX cutover_on_started_at ON cutover (started_at, seq)",
            """
            CREATE TABLE journal (
                id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                cutover_id TEXT REFERENCES cutover (id),
                group_id TEXT NOT NULL,
                step TEXT NOT NULL,
                is_rollback BOOLEAN NOT NULL,
                phase TEXT NOT NULL,
                attempt BIGINT NOT NULL,
                idempotency_key TEXT NOT NULL,
                fencing_token BIGINT NOT NULL,
                at BIGINT NOT NULL,
                duration_ns BIGINT,
                detail TEXT,
                holder TEXT NOT NULL
            )
            """,
            "CREATE INDEX journal_on_cutover ON journal (cutover_id, id)",
            "CREATE INDEX journal_on_group ON journal (group_id, id)",
        ]),
        // The latest notice of each wave.
        Migration(name: "v1-notices", statements: [
            """
            CREATE TABLE notice (
                wave TEXT PRIMARY KEY,
                sent_at BIGINT NOT NULL,
                window_start BIGINT NOT NULL,
                window_end BIGINT NOT NULL,
                members TEXT NOT NULL,
                expected_duration_ns BIGINT NOT NULL,
                source TEXT NOT NULL,
                recorded_at BIGINT NOT NULL
            )
            """,
        ]),
        // Run history, newest first by started_at; `seq` orders runs started at the same instant.
        Migration(name: "v1-runs", statements: [
            """
            CREATE TABLE run (
                id TEXT PRIMARY KEY,
                seq BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
                command TEXT NOT NULL,
                holder TEXT NOT NULL,
                dry_run BOOLEAN NOT NULL,
                started_at BIGINT NOT NULL,
                finished_at BIGINT,
                outcome TEXT,
                summary TEXT NOT NULL
            )
            """,
            "CREATE INDEX run_on_started_at ON run (started_at)",
        ]),
        // Operators' controls (suspend, resume, approve), in the order they were recorded.
        Migration(name: "v2-controls", statements: [
            "CREATE TABLE control (seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, record TEXT NOT NULL)",
        ]),
        // Notices delivered to tenants: the first delivery of a (wave, notice, tenant, channel) stands.
        Migration(name: "v3-deliveries", statements: [
            """
            CREATE TABLE notice_delivery (
                seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                wave TEXT NOT NULL,
                notice_key TEXT NOT NULL,
                tenant TEXT NOT NULL,
                channel TEXT NOT NULL,
                record TEXT NOT NULL,
                UNIQUE (wave, notice_key, tenant, channel)
            )
            """,
        ]),
        // What each run applied and who ran it, and the groups it worked on: a RunDetails JSON.
        Migration(name: "v4-run-revisions", statements: [
            "ALTER TABLE run ADD COLUMN details TEXT",
        ]),
    ]

    /// Applies the migrations missing from the database; returns their names.
    ///
    /// Throws ``PostgresColumnError`` (read as `.corrupt`) when the database records a migration
    /// this version does not know (a newer sendpath wrote it).
    static func migrate(_ connection: PostgresConnection, schema: String?, logger: Logger) async throws -> [String] {
        let lockKey = "sendpath.migrations:\(schema ?? "")"
        let applied: Set<String> = try await connection.withTransaction(logger: logger) { connection in
            try await lock(connection, key: lockKey, logger: logger)
            if let schema, try await connection.query(
                "SELECT 1 FROM pg_namespace WHERE nspname = \(schema)", logger: logger).collect().isEmpty {
                // A plain identifier (checked when the URL was parsed), so it can be spliced in.
                _ = try await connection.query(PostgresQuery(unsafeSQL: "CREATE SCHEMA \(schema)"), logger: logger).collect()
            }
            _ = try await connection.query(
                "CREATE TABLE IF NOT EXISTS sendpath_migrations (name TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)",
                logger: logger)
            return try await names(connection, logger: logger)
        }
        let known = Set(migrations.map(\.name))
        let unknown = applied.subtracting(known)
        guard unknown.isEmpty else {
            throw PostgresColumnError(
                "it has schema changes this version does not know (\(unknown.sorted().joined(separator: ", "))): "
                    + "it was written by a newer sendpath; upgrade sendpath")
        }
        var done: [String] = []
        for migration in migrations where !applied.contains(migration.name) {
            let ran: Bool = try await connection.withTransaction(logger: logger) { connection in
                try await lock(connection, key: lockKey, logger: logger)
                // Another process may have applied it while we waited for the lock.
                let rows = try await connection.query(
                    "SELECT name FROM sendpath_migrations WHERE name = \(migration.name)", logger: logger).collect()
                guard rows.isEmpty else { return false }
                for statement in migration.statements {
                    _ = try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger).collect()
                }
                _ = try await connection.query(
                    """
                    INSERT INTO sendpath_migrations (name, applied_at)
                    VALUES (\(migration.name), (extract(epoch FROM clock_timestamp()) * 1000000000)::bigint)
                    """,
                    logger: logger).collect()
                return true
            }
            if ran { done.append(migration.name) }
        }
        return done
    }

    /// Waits for the migration lock of `key`; released when the transaction ends.
    private static func lock(_ connection: PostgresConnection, key: String, logger: Logger) async throws {
        _ = try await connection.query("SELECT pg_advisory_xact_lock(hashtextextended(\(key), 0))", logger: logger).collect()
    }

    private static func names(_ connection: PostgresConnection, logger: Logger) async throws -> Set<String> {
        var names: Set<String> = []
        for try await name in try await connection.query("SELECT name FROM sendpath_migrations", logger: logger)
            .decode(String.self) {
            names.insert(name)
        }
        return names
    }
}
