public import SendpathCore
import Logging
import PostgresNIO

/// Leases and fencing tokens.
///
/// **One clock.** Expiry is judged by the database's clock (`clock_timestamp()`, nanoseconds
/// since the epoch like every instant in the schema), not by the replicas': a grant, a claim and
/// a renewal compute `expires_at` as the database's now plus the TTL, and a lease is free once
/// the database's now has reached it. The `now:` the callers pass only serves to warn about a
/// replica whose clock is off (and, with ``PostgresConfiguration/LeaseClock/caller``, for tests,
/// to judge). Leases come back with the database's instants: a release names the version it
/// undoes by them.
///
/// **Tokens under the row lock.** A grant locks the scope's row first (`SELECT … FOR UPDATE`,
/// after inserting a placeholder row for a scope never leased), then draws its token with
/// `nextval` while holding the lock. Every grant that replaced the row before committed before
/// the lock was granted, and drew its token before that, so the new token is greater than the
/// one it replaces. (An upsert draws the token in its `VALUES`, before it waits for the row:
/// two racing grants could then commit a lower token over a greater one.)
///
/// **Journal appends serialise with grants.** An append locks the lease rows it is fenced by
/// (`FOR KEY SHARE`) while it checks their tokens and inserts: a grant (`FOR UPDATE`) waits for
/// appends in flight to commit, and an append waits for a grant in flight and then sees its
/// token. Renewals and releases take no conflicting lock (they leave the key alone), so they
/// never wait for appends.
extension PostgresStateStore {
    /// The columns every lease statement returns.
    static let leaseColumns = "scope, holder_id, holder_host, holder_pid, holder_command, token, acquired_at, expires_at"

    /// The database's clock in nanoseconds since the epoch.
    static let databaseNow = "(extract(epoch FROM clock_timestamp()) * 1000000000)::bigint"

    /// A replica whose clock is further than this from the database's is warned about (once).
    static let skewWarningThreshold = Duration.seconds(2)

    public func acquireLease(scope: String, holder: LeaseHolder, ttl: Duration, now: Timestamp) async throws -> Lease {
        let (useDatabase, callerNow, ttlNanos) = (configuration.leaseClock == .database, now.nanosecondsSinceEpoch, ttl.nanoseconds)
        let row = try await transaction("acquire the \(scope) lease") { connection in
            // A row to lock even for a scope never leased: a placeholder (token 0, no holder) reads as no lease.
            _ = try await connection.query(
                """
                INSERT INTO lease (scope, holder_id, holder_host, holder_pid, holder_command, token, acquired_at, expires_at)
                VALUES (\(scope), '', '', 0, '', 0, 0, 0)
                ON CONFLICT (scope) DO NOTHING
                """,
                logger: self.logger
            ).collect()
            // The row lock before the token: see the type's comment.
            _ = try await connection.query("SELECT 1 FROM lease WHERE scope = \(scope) FOR UPDATE", logger: self.logger).collect()
            return try await Self.grant(scope: scope, holder: holder, ttlNanos: ttlNanos, useDatabase: useDatabase,
                                        callerNow: callerNow, connection, logger: self.logger)
        }
        let (granted, lease, databaseNow) = try decoding("acquire the \(scope) lease") { try Self.grantResult(row) }
        noteSkew(callerNow: now, databaseNow: databaseNow)
        guard granted else {
            throw StateStoreError.locked(holder: lease.holder, scope: scope, expiresAt: lease.expiresAt)
        }
        logger.debug("lease granted", metadata: [
            "lease.scope": "\(scope)",
            "lease.token": "\(lease.token)",
            "lease.holder": "\(holder.id)",
        ])
        return lease
    }

    /// Grants the lease on `scope`, whose row the caller's transaction has locked, when it is
    /// free, expired or `holder`'s (keeping the token of a live grant to the same holder, drawing
    /// a new one otherwise); returns one row: `granted`, the lease as it now is, `db_now`.
    static func grant(scope: String, holder: LeaseHolder, ttlNanos: Int64, useDatabase: Bool, callerNow: Int64,
                      _ connection: PostgresConnection, logger: Logger) async throws -> PostgresRow {
        let rows = try await connection.query(
            """
            WITH clock AS MATERIALIZED (
                SELECT CASE WHEN \(useDatabase) THEN \(unescaped: databaseNow) ELSE \(callerNow) END AS db_now
            ), granted AS (
                UPDATE lease AS l SET
                    token = CASE WHEN l.holder_id = \(holder.id) AND l.expires_at > clock.db_now
                                 THEN l.token ELSE nextval('fencing_token') END,
                    acquired_at = CASE WHEN l.holder_id = \(holder.id) AND l.expires_at > clock.db_now
                                       THEN l.acquired_at ELSE clock.db_now END,
                    holder_id = \(holder.id), holder_host = \(holder.host), holder_pid = \(holder.pid),
                    holder_command = \(holder.command), expires_at = clock.db_now + \(ttlNanos)
                FROM clock
                WHERE l.scope = \(scope) AND (l.expires_at <= clock.db_now OR l.holder_id = \(holder.id))
                RETURNING l.scope, l.holder_id, l.holder_host, l.holder_pid, l.holder_command, l.token,
                          l.acquired_at, l.expires_at, clock.db_now
            )
            SELECT true AS granted, \(unescaped: leaseColumns), db_now FROM granted
            UNION ALL
            SELECT false AS granted, \(unescaped: leaseColumns), clock.db_now FROM lease, clock
            WHERE scope = \(scope) AND NOT EXISTS (SELECT 1 FROM granted)
            """,
            logger: logger
        ).collect()
        guard let row = rows.first else { throw PostgresColumnError("the lease row of \(scope) vanished while locked") }
        return row
    }

    static func grantResult(_ row: PostgresRow) throws -> (granted: Bool, lease: Lease, databaseNow: Timestamp) {
        let reader = PostgresRowReader(row)
        return (try reader("granted", as: Bool.self), try Lease(reading: reader),
                Timestamp(nanosecondsSinceEpoch: try reader("db_now", as: Int64.self)))
    }

    /// Warns once when the caller's clock and the database's differ by more than
    /// ``skewWarningThreshold`` (the database's decides; the replica's clock still times its renewals).
    func noteSkew(callerNow: Timestamp, databaseNow: Timestamp) {
        guard configuration.leaseClock == .database else { return }
        let skew = callerNow - databaseNow
        guard skew > Self.skewWarningThreshold || skew < .zero - Self.skewWarningThreshold else { return }
        guard !skewWarned.exchange(true, ordering: .relaxed) else { return }
        logger.warning("this host's clock differs from the state database's; leases follow the database's clock", metadata: [
            "state.url": "\(configuration)", "clock.skew": "\(skew)",
        ])
    }

    public func renewLease(_ lease: Lease, ttl: Duration, now: Timestamp) async throws -> Lease {
        let (useDatabase, callerNow, ttlNanos) = (configuration.leaseClock == .database, now.nanosecondsSinceEpoch, ttl.nanoseconds)
        let rows = try await access("renew the \(lease.scope) lease", write: true) { connection in
            try await connection.query(
                """
                WITH clock AS MATERIALIZED (
                    SELECT CASE WHEN \(useDatabase) THEN \(unescaped: Self.databaseNow) ELSE \(callerNow) END AS db_now
                )
                UPDATE lease SET expires_at = clock.db_now + \(ttlNanos)
                FROM clock
                WHERE scope = \(lease.scope) AND token = \(lease.token.value) AND holder_id = \(lease.holder.id)
                RETURNING \(unescaped: Self.leaseColumns)
                """,
                logger: self.logger
            ).collect()
        }
        guard let row = rows.first else { throw StateStoreError.leaseLost(scope: lease.scope) }
        return try decoding("renew the \(lease.scope) lease") { try Lease(reading: PostgresRowReader(row)) }
    }

    /// Releases this version of the lease only (its token and its expiry): a release that lands
    /// late, after the holder has renewed or re-acquired the lease, changes nothing.
    public func releaseLease(_ lease: Lease) async throws {
        try await delete(scope: lease.scope, token: lease.token, expiresAt: lease.expiresAt, action: "release the \(lease.scope) lease")
    }

    /// The largest gap ``raiseTokenFloor(above:)`` closes by drawing tokens (about a second).
    static let maxTokenGap: Int64 = 2_000_000

    /// Draws tokens until the sequence is past `token`. `setval` could lower the sequence under a
    /// grant or a raise running at the same moment; drawing only ever moves it up. The reference
    /// is a token this call drew itself (not `last_value`, which a sequence never drawn from, or
    /// one set with `is_called = false`, has not handed out yet): every later draw is greater than
    /// it, so after `gap` more draws every later draw is greater than `token`, whatever grants
    /// draw meanwhile. A grant running at the same moment may still get a token below `token`
    /// (the provider then refuses it, safely); grants that begin after this returns cannot.
    public func raiseTokenFloor(above token: FencingToken) async throws {
        let drawn = try await access("read the fencing sequence", write: true) { connection in
            try await connection.query("SELECT nextval('fencing_token') AS drawn", logger: self.logger).collect()
        }
        let reference = try decoding("read the fencing sequence") {
            try drawn.first.map { try PostgresRowReader($0)("drawn", as: Int64.self) } ?? 0
        }
        let gap = token.value - reference
        guard gap > 0 else { return }
        guard gap <= Self.maxTokenGap else {
            throw StateStoreError.unavailable(
                "\(location): the provider has seen fencing token \(token.value), \(gap) above this store's sequence; while no reconciler runs, raise it with: SELECT setval('fencing_token', \(token.value))")
        }
        try await access("raise the fencing sequence", write: true) { connection in
            try await connection.query("SELECT max(nextval('fencing_token')) FROM generate_series(1, \(gap))", logger: self.logger).collect()
        }
    }

    public func breakLease(scope: String, token: FencingToken) async throws {
        try await delete(scope: scope, token: token, action: "break the \(scope) lease")
    }

    public func currentLease(scope: String) async throws -> Lease? {
        let rows = try await access("read the \(scope) lease", write: false) { connection in
            try await connection.query(
                "SELECT \(unescaped: Self.leaseColumns) FROM lease WHERE scope = \(scope) AND token > 0 AND holder_id <> ''",
                logger: self.logger
            ).collect()
        }
        guard let row = rows.first else { return nil }
        return try decoding("read the \(scope) lease") { try Lease(reading: PostgresRowReader(row)) }
    }

    /// Claims the first of `scopes` that is free, expired or already `holder`'s, in one
    /// transaction: it locks one candidate row with `FOR UPDATE SKIP LOCKED` (replicas claiming
    /// at once each get a different scope, without waiting for each other), then grants it like
    /// ``acquireLease(scope:holder:ttl:now:)``, the token drawn under the lock. Scopes never leased
    /// first get a placeholder row (token 0, no holder: read as no lease), so that there is a row
    /// to lock.
    public func acquireAnyLease(of scopes: [String], holder: LeaseHolder, ttl: Duration, now: Timestamp) async throws -> Lease? {
        let scopes = Array(Set(scopes)).sorted()
        guard !scopes.isEmpty else { return nil }
        let (useDatabase, callerNow, ttlNanos) = (configuration.leaseClock == .database, now.nanosecondsSinceEpoch, ttl.nanoseconds)
        let row = try await transaction("claim one of \(scopes.count) leases") { connection -> PostgresRow? in
            // In sorted order, so two replicas inserting the same new scopes cannot deadlock.
            _ = try await connection.query(
                """
                INSERT INTO lease (scope, holder_id, holder_host, holder_pid, holder_command, token, acquired_at, expires_at)
                SELECT s, '', '', 0, '', 0, 0, 0 FROM unnest(\(scopes)::text[]) AS s
                WHERE NOT EXISTS (SELECT 1 FROM lease WHERE lease.scope = s)
                ORDER BY s
                ON CONFLICT (scope) DO NOTHING
                """,
                logger: self.logger
            ).collect()
            let candidates = try await connection.query(
                """
                SELECT scope FROM lease
                WHERE scope = ANY(\(scopes)::text[])
                  AND (expires_at <= (SELECT CASE WHEN \(useDatabase) THEN \(unescaped: Self.databaseNow) ELSE \(callerNow) END)
                       OR holder_id = \(holder.id))
                ORDER BY (holder_id = \(holder.id)) DESC, scope
                LIMIT 1
                FOR UPDATE SKIP LOCKED
                """,
                logger: self.logger
            ).collect()
            guard let candidate = candidates.first else { return nil }
            let scope = try PostgresRowReader(candidate)("scope", as: String.self)
            return try await Self.grant(scope: scope, holder: holder, ttlNanos: ttlNanos, useDatabase: useDatabase,
                                        callerNow: callerNow, connection, logger: self.logger)
        }
        guard let row else { return nil }
        let (granted, lease, databaseNow) = try decoding("claim a lease") { try Self.grantResult(row) }
        noteSkew(callerNow: now, databaseNow: databaseNow)
        // The candidate was free by the clock a moment ago, and is locked since: it still is.
        guard granted else { return nil }
        logger.debug("lease granted", metadata: ["lease.scope": "\(lease.scope)", "lease.holder": "\(holder.id)", "lease.token": "\(lease.token)"])
        return lease
    }

    // MARK: - Helpers

    private func delete(scope: String, token: FencingToken, expiresAt: Timestamp? = nil, action: String) async throws {
        try await access(action, write: true) { connection in
            try await connection.query(
                // The row and its token stay: the journal's fence compares entries with the last token
                // granted on the scope, which must outlive the lease.
                """
                UPDATE lease SET holder_id = '', expires_at = 0
                WHERE scope = \(scope) AND token = \(token.value)
                  AND (\(expiresAt == nil) OR expires_at = \(expiresAt?.nanosecondsSinceEpoch ?? 0))
                """, logger: self.logger
            ).collect()
        }
    }

    /// Runs `body` (decoding rows), mapping its errors like the store's others.
    func decoding<T>(_ action: String, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch {
            throw PostgresErrorMapping.stateStoreError(error, location: location, action: action)
        }
    }
}
