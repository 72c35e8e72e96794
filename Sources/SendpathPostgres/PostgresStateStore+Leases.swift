public import SendpathCore
import PostgresNIO

/// Leases and fencing tokens. A grant is one atomic statement (an upsert that takes the row only
/// when it is free, expired or already the holder's), so of replicas racing for a scope exactly
/// one wins; tokens come from the `fencing_token` sequence.
extension PostgresStateStore {
    /// The columns every lease statement returns.
    static let leaseColumns = "scope, holder_id, holder_host, holder_pid, holder_command, token, acquired_at, expires_at"

    public func acquireLease(scope: String, holder: LeaseHolder, ttl: Duration, now: Timestamp) async throws -> Lease {
        let expiresAt = now + ttl
        // A refused grant reports the current holder, read in the same statement. That read can
        // miss a row a racing replica committed a moment ago; then the grant is simply tried again.
        for _ in 0..<5 {
            let rows = try await access("acquire the \(scope) lease", write: true) { connection in
                try await connection.query(
                    """
                    WITH granted AS (
                        INSERT INTO lease AS l
                            (scope, holder_id, holder_host, holder_pid, holder_command, token, acquired_at, expires_at)
                        VALUES (\(scope), \(holder.id), \(holder.host), \(holder.pid), \(holder.command),
                                nextval('fencing_token'), \(now.nanosecondsSinceEpoch), \(expiresAt.nanosecondsSinceEpoch))
                        ON CONFLICT (scope) DO UPDATE SET
                            token = CASE WHEN l.holder_id = excluded.holder_id AND l.expires_at > excluded.acquired_at
                                         THEN l.token ELSE excluded.token END,
                            acquired_at = CASE WHEN l.holder_id = excluded.holder_id AND l.expires_at > excluded.acquired_at
                                               THEN l.acquired_at ELSE excluded.acquired_at END,
                            holder_id = excluded.holder_id, holder_host = excluded.holder_host,
                            holder_pid = excluded.holder_pid, holder_command = excluded.holder_command,
                            expires_at = excluded.expires_at
                        WHERE l.expires_at <= excluded.acquired_at OR l.holder_id = excluded.holder_id
                        RETURNING l.scope, l.holder_id, l.holder_host, l.holder_pid, l.holder_command, l.token,
                                  l.acquired_at, l.expires_at
                    )
                    SELECT true AS granted, \(unescaped: Self.leaseColumns) FROM granted
                    UNION ALL
                    SELECT false AS granted, \(unescaped: Self.leaseColumns) FROM lease
                    WHERE scope = \(scope) AND NOT EXISTS (SELECT 1 FROM granted)
                    """,
                    logger: self.logger
                ).collect()
            }
            guard let row = rows.first else { continue }
            let lease = try decoding("acquire the \(scope) lease") {
                (granted: try PostgresRowReader(row)("granted", as: Bool.self), lease: try Lease(reading: PostgresRowReader(row)))
            }
            if lease.granted {
                logger.debug("lease granted", metadata: [
                    "lease.scope": "\(scope)",
                    "lease.token": "\(lease.lease.token)",
                    "lease.holder": "\(holder.id)",
                ])
                return lease.lease
            }
            let current = lease.lease
            if current.expiresAt > now && current.holder.id != holder.id && current.token.value > 0 {
                throw StateStoreError.locked(holder: current.holder, scope: scope, expiresAt: current.expiresAt)
            }
        }
        throw StateStoreError.unavailable(
            "\(location): could not acquire the \(scope) lease: it kept changing hands while being acquired; retry")
    }

    public func renewLease(_ lease: Lease, ttl: Duration, now: Timestamp) async throws -> Lease {
        let expiresAt = now + ttl
        let rows = try await access("renew the \(lease.scope) lease", write: true) { connection in
            try await connection.query(
                """
                UPDATE lease SET expires_at = \(expiresAt.nanosecondsSinceEpoch)
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

    /// Draws tokens until the sequence is above `token`. `setval` could lower the sequence under
    /// a grant or a raise running at the same moment; drawing only ever moves it up.
    public func raiseTokenFloor(above token: FencingToken) async throws {
        let current = try await access("read the fencing sequence", write: false) { connection in
            try await connection.query("SELECT last_value FROM fencing_token", logger: self.logger).collect()
        }
        let last = try decoding("read the fencing sequence") { try current.first.map { try PostgresRowReader($0)("last_value", as: Int64.self) } ?? 0 }
        let gap = token.value - last
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

    /// One statement claims the first of `scopes` that is free, expired or already `holder`'s,
    /// locking candidate rows with `FOR UPDATE SKIP LOCKED`: replicas claiming at once each get a
    /// different scope, without waiting for each other. Scopes never leased first get a
    /// placeholder row (token 0, no holder: read as no lease), so that there is a row to lock.
    public func acquireAnyLease(of scopes: [String], holder: LeaseHolder, ttl: Duration, now: Timestamp) async throws -> Lease? {
        let scopes = Array(Set(scopes)).sorted()
        guard !scopes.isEmpty else { return nil }
        let expiresAt = now + ttl
        let rows = try await access("claim one of \(scopes.count) leases", write: true) { connection in
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
            return try await connection.query(
                """
                WITH candidate AS (
                    SELECT scope FROM lease
                    WHERE scope = ANY(\(scopes)::text[])
                      AND (expires_at <= \(now.nanosecondsSinceEpoch) OR holder_id = \(holder.id))
                    ORDER BY (holder_id = \(holder.id)) DESC, scope
                    LIMIT 1
                    FOR UPDATE SKIP LOCKED
                )
                UPDATE lease AS l SET
                    token = CASE WHEN l.holder_id = \(holder.id) AND l.expires_at > \(now.nanosecondsSinceEpoch)
                                 THEN l.token ELSE nextval('fencing_token') END,
                    acquired_at = CASE WHEN l.holder_id = \(holder.id) AND l.expires_at > \(now.nanosecondsSinceEpoch)
                                       THEN l.acquired_at ELSE \(now.nanosecondsSinceEpoch) END,
                    holder_id = \(holder.id), holder_host = \(holder.host), holder_pid = \(holder.pid),
                    holder_command = \(holder.command), expires_at = \(expiresAt.nanosecondsSinceEpoch)
                FROM candidate
                WHERE l.scope = candidate.scope
                RETURNING l.scope, l.holder_id, l.holder_host, l.holder_pid, l.holder_command, l.token,
                          l.acquired_at, l.expires_at
                """,
                logger: self.logger
            ).collect()
        }
        guard let row = rows.first else { return nil }
        let lease = try decoding("claim a lease") { try Lease(reading: PostgresRowReader(row)) }
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
