public import SendpathCore
import GRDB

/// Leases and fencing tokens: each call is one write transaction (`BEGIN IMMEDIATE`), so
/// processes sharing the file see one grant at a time.
extension SQLiteStateStore {
    public func acquireLease(scope: String, holder: LeaseHolder, ttl: Duration, now: Timestamp) async throws -> Lease {
        let expiresAt = now + ttl
        let lease = try await write("acquire the \(scope) lease") { db -> Lease in
            if let current = try Self.fetchLease(db, scope: scope), current.expiresAt > now {
                guard current.holder.id == holder.id else {
                    throw StateStoreError.locked(holder: current.holder, scope: scope, expiresAt: current.expiresAt)
                }
                // Re-grant to the same holder: same token, later expiry.
                try db.cachedStatement(sql: "UPDATE lease SET expires_at = ? WHERE scope = ?").execute(arguments: [expiresAt.nanosecondsSinceEpoch, scope])
                var renewed = current
                renewed.expiresAt = expiresAt
                return renewed
            }
            let lease = Lease(scope: scope, holder: holder, token: try Self.nextToken(db), acquiredAt: now, expiresAt: expiresAt)
            try db.execute(
                sql: """
                    INSERT OR REPLACE INTO lease
                        (scope, holder_id, holder_host, holder_pid, holder_command, token, acquired_at, expires_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [scope, holder.id, holder.host, holder.pid, holder.command, lease.token.value,
                            now.nanosecondsSinceEpoch, expiresAt.nanosecondsSinceEpoch])
            return lease
        }
        logger.debug("lease granted", metadata: [
            "lease.scope": "\(scope)",
            "lease.token": "\(lease.token)",
            "lease.holder": "\(lease.holder.id)",
        ])
        return lease
    }

    public func renewLease(_ lease: Lease, ttl: Duration, now: Timestamp) async throws -> Lease {
        let expiresAt = now + ttl
        return try await write("renew the \(lease.scope) lease") { db -> Lease in
            try db.execute(
                sql: "UPDATE lease SET expires_at = ? WHERE scope = ? AND token = ? AND holder_id = ?",
                arguments: [expiresAt.nanosecondsSinceEpoch, lease.scope, lease.token.value, lease.holder.id])
            guard db.changesCount == 1, let current = try Self.fetchLease(db, scope: lease.scope) else {
                throw StateStoreError.leaseLost(scope: lease.scope)
            }
            return current
        }
    }

    /// Releases this version of the lease only (its token and expiry), as every store does.
    public func releaseLease(_ lease: Lease) async throws {
        try await write("release the \(lease.scope) lease") { db in
            try db.execute(sql: Self.vacate + " AND expires_at = ?",
                           arguments: [lease.scope, lease.token.value, lease.expiresAt.nanosecondsSinceEpoch])
        }
    }

    public func raiseTokenFloor(above token: FencingToken) async throws {
        try await write("raise the fencing sequence") { db in
            try db.execute(sql: "UPDATE fencing SET last_token = max(last_token, ?) WHERE id = 1", arguments: [token.value])
        }
    }

    public func breakLease(scope: String, token: FencingToken) async throws {
        try await write("break the \(scope) lease") { db in
            try db.execute(sql: Self.vacate, arguments: [scope, token.value])
        }
    }

    public func currentLease(scope: String) async throws -> Lease? {
        try await read("read the \(scope) lease") { db in try Self.fetchLease(db, scope: scope) }
    }

    /// Gives a lease up but keeps its row and token: the journal's fence compares entries with the
    /// last token granted on the scope, which must outlive the lease.
    static let vacate = "UPDATE lease SET holder_id = '', expires_at = 0 WHERE scope = ? AND token = ?"

    // MARK: - Rows

    static func fetchLease(_ db: Database, scope: String) throws -> Lease? {
        guard let row = try Row.fetchOne(
            db.cachedStatement(sql: "SELECT * FROM lease WHERE scope = ? AND holder_id <> ''"), arguments: [scope])
        else { return nil }
        return Lease(
            scope: try row.decode(String.self, forColumn: "scope"),
            holder: LeaseHolder(
                id: try row.decode(String.self, forColumn: "holder_id"),
                host: try row.decode(String.self, forColumn: "holder_host"),
                pid: try row.decode(Int32.self, forColumn: "holder_pid"),
                command: try row.decode(String.self, forColumn: "holder_command")),
            token: FencingToken(try row.decode(Int64.self, forColumn: "token")),
            acquiredAt: try StateCoding.timestamp(row, "acquired_at"),
            expiresAt: try StateCoding.timestamp(row, "expires_at"))
    }

    /// The next fencing token: one more than the sequence, and than any lease on file (should
    /// the sequence ever have been reset by hand).
    static func nextToken(_ db: Database) throws -> FencingToken {
        try db.cachedStatement(sql: """
            UPDATE fencing
            SET last_token = max(last_token, coalesce((SELECT max(token) FROM lease), 0)) + 1
            WHERE id = 1
            """).execute()
        guard db.changesCount == 1,
              let token = try Int64.fetchOne(db.cachedStatement(sql: "SELECT last_token FROM fencing WHERE id = 1"))
        else {
            throw StateCodingError("the fencing sequence is missing")
        }
        return FencingToken(token)
    }
}
