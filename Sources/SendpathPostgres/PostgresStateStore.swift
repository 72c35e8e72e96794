import Foundation
public import Logging
public import SendpathCore
public import ServiceLifecycle
import PostgresNIO
import Synchronization

/// The shared ``StateStore``: journal, leases, notices and run history in PostgreSQL, for
/// several controller replicas at once (``sharesWork`` is `true`).
///
/// The store wraps a postgres-nio `PostgresClient`, a connection pool that works only while
/// its `run()` is running. Either run the store as a ServiceLifecycle `Service` (in the
/// controller's `ServiceGroup`, listed *before* the services that use it, so that graceful
/// shutdown stops them first and the pool last), or use ``withStore(_:logger:_:)`` in a one-shot
/// command, which runs the pool for the duration of its body.
///
/// The schema is brought up to date on first use (or by ``migrate()``): named migrations, each
/// applied once in its own transaction, serialized across processes by a transaction-scoped
/// advisory lock, recorded in `sendpath_migrations`. Instants and durations are BIGINT
/// nanoseconds, enums their raw TEXT value, Codable values JSON TEXT (as in SQLite).
///
/// Leases take their tokens from a SEQUENCE, so a token is greater than every token granted
/// before, across scopes, deleted leases and restarts; a grant draws it while holding the lease
/// row's lock, so it is greater than the token it replaces. Of replicas racing for a scope,
/// exactly one wins; that is how replicas divide the groups (a lease per group). Expiry is judged
/// by the database's clock (``PostgresConfiguration/leaseClock``). Journal appends are fenced in
/// the same statement that inserts them, holding a share lock on the lease rows they check, so an
/// append and a grant of the same lease never interleave.
///
/// Writes complete even when the calling task is cancelled (a journal entry for a call that
/// already reached a provider must not be lost to a shutdown); reads honour cancellation. Every
/// operation is bounded: see ``PostgresConfiguration/operationTimeout``. An
/// operation that gets no connection within the configured connect timeout fails with
/// ``StateStoreError/unavailable(_:)`` naming the server (`host:port`) and database and the reason
/// (never the password); a row this version cannot read is ``StateStoreError/corrupt(_:)``.
public final class PostgresStateStore: StateStore, Service {
    /// Where the store is.
    public let configuration: PostgresConfiguration
    let client: PostgresClient
    let logger: Logger
    /// "state database postgres://user@host:port/db?…", the prefix of every error message.
    let location: String
    /// Whether this process has checked (and brought up to date) the schema.
    let schemaChecked = Atomic<Bool>(false)
    /// Whether this store has warned that the caller's clock is off from the database's.
    let skewWarned = Atomic<Bool>(false)

    public var sharesWork: Bool { true }

    /// Creates the store. Nothing is contacted until the store (or its pool) runs: see ``run()``
    /// and ``withStore(_:logger:_:)``.
    ///
    /// Throws ``PostgresConfigurationError`` when TLS cannot be set up.
    public init(configuration: PostgresConfiguration, logger: Logger) throws {
        self.configuration = configuration
        self.logger = logger
        location = "state database \(configuration)"
        // The pool logs every failed connection attempt at info level (several a second while the
        // server is down); keep that out of `--verbose` output unless debugging.
        var background = Logger(label: logger.label) { _ in PoolLogFilter(inner: logger.handler) }
        background.logLevel = logger.logLevel == .info ? .notice : logger.logLevel
        client = PostgresClient(configuration: try configuration.clientConfiguration(), backgroundLogger: background)
        for warning in configuration.warnings {
            logger.warning("\(warning)", metadata: ["state.url": "\(configuration)"])
        }
    }

    /// Runs the connection pool until the task is cancelled or the service group shuts down
    /// gracefully. Operations fail with ``StateStoreError/unavailable(_:)`` once it has ended.
    /// Call it once.
    public func run() async throws {
        logger.debug("state store pool running", metadata: ["state.url": "\(configuration)"])
        await client.run()
        logger.debug("state store pool stopped", metadata: ["state.url": "\(configuration)"])
    }

    /// Opens a store, runs its pool and brings its schema up to date, calls `body` with it,
    /// and shuts the pool down when `body` returns or throws. For one-shot commands.
    ///
    /// Fails with ``StateStoreError/unavailable(_:)`` within the connect timeout when the server
    /// cannot be reached.
    public static func withStore<T>(
        _ configuration: PostgresConfiguration,
        logger: Logger,
        _ body: (PostgresStateStore) async throws -> T
    ) async throws -> T {
        let store = try PostgresStateStore(configuration: configuration, logger: logger)
        return try await withThrowingTaskGroup(of: Void.self, returning: T.self) { group in
            group.addTask { try await store.run() }
            defer { group.cancelAll() }
            try await store.migrate()
            return try await body(store)
        }
    }

    /// Brings the schema up to date now (otherwise the first operation does). Safe to call from
    /// several processes at once: they take turns on an advisory lock, and each migration is
    /// applied once.
    ///
    /// Throws ``StateStoreError/corrupt(_:)`` when the database has migrations this version does
    /// not know (it was written by a newer sendpath).
    public func migrate() async throws {
        let applied = try await access("bring the schema up to date", write: true, migrating: true) { connection in
            try await PostgresSchema.migrate(connection, schema: self.configuration.schema, logger: self.logger)
        }
        schemaChecked.store(true, ordering: .releasing)
        if !applied.isEmpty {
            logger.info("state schema migrated", metadata: [
                "state.url": "\(configuration)",
                "state.migrations": "\(applied.joined(separator: ","))",
            ])
        }
    }

    /// The names of the migrations applied to the database, in the order this version applies
    /// them (unknown ones, from a newer version, last).
    public func appliedMigrations() async throws -> [String] {
        let names = try await access("read the applied migrations", write: false) { connection in
            var names: [String] = []
            for try await name in try await connection.query("SELECT name FROM sendpath_migrations", logger: self.logger)
                .decode(String.self) {
                names.append(name)
            }
            return names
        }
        let order = Dictionary(uniqueKeysWithValues: PostgresSchema.migrations.enumerated().map { ($1.name, $0) })
        return names.sorted { (order[$0] ?? .max, $0) < (order[$1] ?? .max, $1) }
    }

    // MARK: - Access

    /// Runs `body` on a pooled connection, first bringing the schema up to date if this process
    /// has not yet. `write` operations run to completion (within their deadlines) even if the
    /// calling task is cancelled. Errors become ``StateStoreError``s naming the server and `action`.
    @discardableResult
    func access<T: Sendable>(
        _ action: String,
        write: Bool,
        migrating: Bool = false,
        _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        if !migrating && !schemaChecked.load(ordering: .acquiring) {
            try await migrate()
        }
        return try await leasing(action, write: write, body)
    }

    /// `access` in one transaction (`BEGIN` … `COMMIT`, rolled back if `body` throws).
    @discardableResult
    func transaction<T: Sendable>(
        _ action: String,
        _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        try await access(action, write: true) { connection in
            try await connection.withTransaction(logger: self.logger) { connection in
                try await body(connection)
            }
        }
    }

    /// Leases a connection for `body` and runs it, within two deadlines: no connection within the
    /// connect timeout is `.unavailable` with the reason (the pool itself would keep retrying a
    /// dead server for a minute), and no answer within the operation timeout once connected is
    /// `.unavailable` too.
    ///
    /// The work runs in a task of its own that the caller never waits on past those deadlines:
    /// a request on a connection the server closed can stay unanswered forever in postgres-nio
    /// 1.33, and a controller stuck on it would neither reconcile nor shut down. A write whose
    /// deadline passed may still land later; callers treat `.unavailable` as "unknown", and the
    /// journal is replayed from what is there. A read is abandoned when the caller is cancelled;
    /// a write is not (a journal entry for a call that reached a provider must not be lost to a
    /// shutdown).
    private func leasing<T: Sendable>(
        _ action: String,
        write: Bool,
        _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        let race = LeaseRace()
        let answer = FirstResult<T>()
        let (connectTimeout, operationTimeout) = (configuration.connectTimeout, configuration.operationTimeout)
        let work = Task {
            do {
                let value = try await self.client.withConnection { connection in
                    guard race.lease() else { throw LeaseRace.TimedOut() }
                    // From here, the operation's own deadline. When it passes, the connection is
                    // closed: that fails the pending request and gives the pool its slot back
                    // (a request on a half-open connection would otherwise wait for TCP to give up).
                    let deadline = Task {
                        try await Task.sleep(for: operationTimeout)
                        answer.offer(.failure(LeaseRace.NoAnswer()))
                        try? await connection.close()
                    }
                    defer { deadline.cancel() }
                    return try await body(connection)
                }
                answer.offer(.success(value))
            } catch {
                answer.offer(.failure(error))
            }
        }
        let connectDeadline = Task {
            try await Task.sleep(for: connectTimeout)
            if race.timeOut() { answer.offer(.failure(LeaseRace.TimedOut())) }
        }
        defer { connectDeadline.cancel() }
        do {
            return try await withTaskCancellationHandler {
                try await answer.value()
            } onCancel: {
                if !write { answer.offer(.failure(CancellationError())) }
            }
        } catch is LeaseRace.TimedOut {
            work.cancel()
            throw await diagnoseUnreachable(action)
        } catch is LeaseRace.NoAnswer {
            work.cancel()
            logger.warning("state store did not answer", metadata: ["state.url": "\(configuration)", "state.action": "\(action)"])
            throw StateStoreError.unavailable("\(location): no answer from \(configuration.endpoint) within \(operationTimeout) "
                                              + "(operation_timeout) to \(action); the connection may have been lost")
        } catch {
            work.cancel()
            throw PostgresErrorMapping.stateStoreError(error, location: location, action: action)
        }
    }

    /// The rows of a query that returned them as one JSON array in one row (column `rows`):
    /// `SELECT coalesce(json_agg(q ORDER BY …), '[]')::text AS rows FROM (…) q`.
    ///
    /// Queries that may return many rows do this because postgres-nio 1.33 traps (a crash,
    /// `RowStreamStateMachine`) when the server closes a connection in the middle of a row stream
    /// that the reader has not caught up with, as a PostgreSQL restart does. A single row arrives
    /// whole or not at all.
    static func aggregatedRows(_ rows: [PostgresRow]) throws -> [PostgresRowReader] {
        guard let row = rows.first, rows.count == 1 else { throw PostgresColumnError("an aggregated query returned \(rows.count) rows") }
        let text: String = try PostgresRowReader(row)("rows")
        guard let objects = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]] else {
            throw PostgresColumnError("an aggregated query returned something other than a JSON array of rows")
        }
        return objects.map { PostgresRowReader(json: $0) }
    }

    /// Why no connection came: one direct connection attempt tells (refused, unknown host,
    /// authentication, missing database, TLS), or, if it succeeds, the pool was exhausted.
    private func diagnoseUnreachable(_ action: String) async -> StateStoreError {
        let timeout = configuration.connectTimeout
        let quiet = Logger(label: "sendpath.state.probe", factory: { _ in SwiftLogNoOpLogHandler() })
        let probe: Result<Void, any Error>?
        do {
            let connectionConfiguration = try configuration.connectionConfiguration()
            // Bounded too: the whole call should fail about one connect timeout after it began.
            probe = await Deadline.run(within: min(timeout, .seconds(3))) {
                let connection = try await PostgresConnection.connect(configuration: connectionConfiguration, id: 0, logger: quiet)
                try? await connection.close()
            }
        } catch {
            probe = .failure(error)
        }
        let reason: String
        switch probe {
        case nil:
            reason = "no answer (connect timeout \(timeout))"
        case .failure(let error):
            reason = PostgresErrorMapping.reason(error)
        case .success:
            return .unavailable("\(location): no pooled connection became free within \(timeout) to \(action) "
                                + "(all \(configuration.maximumConnections) in use); raise pool_max or connect_timeout")
        }
        logger.warning("state store unreachable", metadata: ["state.url": "\(configuration)", "error": "\(reason)"])
        return .unavailable("\(location): cannot connect to \(configuration.endpoint) (database \(configuration.database)) "
                            + "to \(action): \(reason)\(PostgresErrorMapping.advice(reason, configuration: configuration))")
    }
}

/// The pool's log, without its warning that a connection was asked for before `run()` began:
/// a one-shot command starts the pool and its first query together (the query just waits for
/// the pool), so the warning would only alarm an operator.
struct PoolLogFilter: LogHandler {
    var inner: any LogHandler

    var logLevel: Logger.Level {
        get { inner.logLevel }
        set { inner.logLevel = newValue }
    }

    var metadata: Logger.Metadata {
        get { inner.metadata }
        set { inner.metadata = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { inner[metadataKey: key] }
        set { inner[metadataKey: key] = newValue }
    }

    func log(event: LogEvent) {
        if event.level == .warning && event.message.description.hasPrefix("Trying to lease connection from `PostgresClient`, but") { return }
        inner.log(event: event)
    }
}

/// Which of "a connection was leased" and "the connect timeout passed" happened first.
final class LeaseRace: Sendable {
    /// No connection within the connect timeout.
    struct TimedOut: Error {}
    /// A connection, but no answer within the operation timeout.
    struct NoAnswer: Error {}

    /// 0 waiting, 1 leased, 2 timed out.
    private let state = Atomic<UInt8>(0)

    /// Claims the race for the operation; `false` if the timeout already won.
    func lease() -> Bool {
        state.compareExchange(expected: 0, desired: 1, ordering: .acquiringAndReleasing).exchanged
    }

    /// Claims the race for the timeout; `false` if a connection was already leased.
    func timeOut() -> Bool {
        state.compareExchange(expected: 0, desired: 2, ordering: .acquiringAndReleasing).exchanged
    }
}
