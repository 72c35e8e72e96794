import SendpathCore
import Foundation
import GRDB
import SendpathSQLiteOpening

/// The provider's own memory, in an SQLite file under `stateDirectory` (WAL, 0600): the
/// fencing tokens it has accepted, the answers of finished calls by idempotency key, each
/// instance's active site and prepared target, the queue snapshots, and every message move
/// in progress. Postfix and GoBGP hold the rest; the ledger holds only what they cannot say.
final class ProviderLedger: Sendable {
    let pool: DatabasePool

    static func path(in directory: String) -> String { directory + "/ledger.db" }

    init(directory: String) throws(ProviderError) {
        let path = Self.path(in: directory)
        do {
            let file = PrivateDatabaseFile(path: path)
            let created = try file.prepare()
            var configuration = Configuration()
            configuration.label = "sendpath.postfix-bgp-ledger"
            configuration.busyMode = .timeout(10)
            // WAL with synchronous NORMAL: a transaction survives the death of the process that
            // wrote it (what the lab tests kill). A power loss may undo the last records; the
            // moves they describe are then found again in the queues (by Message-ID).
            configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = NORMAL") }
            pool = try MigratedDatabasePool.open(path: path, configuration: configuration, migrator: Self.migrator,
                                                 busyTimeout: .seconds(10)).pool
            if created { try file.restrictCompanions() }
        } catch {
            throw ProviderError(.unreachable, "cannot open the provider's ledger \(path): \(error)")
        }
    }

    static let migrator: DatabaseMigrator = {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-ledger") { db in
            try db.execute(sql: """
                CREATE TABLE fence (resource TEXT PRIMARY KEY NOT NULL, token INTEGER NOT NULL);
                CREATE TABLE call (key TEXT PRIMARY KEY NOT NULL, operation TEXT NOT NULL, request TEXT NOT NULL, answer TEXT NOT NULL);
                CREATE TABLE instance (name TEXT PRIMARY KEY NOT NULL, active TEXT NOT NULL, prepared TEXT);
                CREATE TABLE snapshot (
                    key TEXT NOT NULL, instance TEXT NOT NULL, site TEXT NOT NULL, messages TEXT NOT NULL,
                    PRIMARY KEY (key, instance)
                );
                CREATE TABLE move (
                    instance TEXT NOT NULL, source TEXT NOT NULL, queue_id TEXT NOT NULL, message_id TEXT NOT NULL,
                    target TEXT NOT NULL, state TEXT NOT NULL, reason TEXT NOT NULL,
                    PRIMARY KEY (instance, source, queue_id, message_id)
                );
                """)
        }
        return migrator
    }()

    private func read<T: Sendable>(_ body: @Sendable (Database) throws -> T) async throws(ProviderError) -> T {
        do { return try await pool.read(body) } catch { throw Self.error(error) }
    }

    private func write<T: Sendable>(_ body: @Sendable (Database) throws -> T) async throws(ProviderError) -> T {
        do { return try await pool.write(body) } catch let error as ProviderError { throw error } catch { throw Self.error(error) }
    }

    private static func error(_ error: any Error) -> ProviderError {
        ProviderError(.transient, "the provider's ledger failed: \(error)")
    }

    // MARK: - Fencing and idempotency

    /// Refuses a token lower than one accepted for any of `resources`; remembers it otherwise.
    func fence(_ resources: [String], token: FencingToken) async throws(ProviderError) {
        try await write { db in
            for resource in resources {
                if let seen = try Int64.fetchOne(db, sql: "SELECT token FROM fence WHERE resource = ?", arguments: [resource]), seen > token.value {
                    throw ProviderError(.staleFencingToken, "fencing token \(token) is older than \(seen), already seen for \(resource): another reconciler has taken over")
                }
            }
            for resource in resources {
                try db.execute(sql: "INSERT INTO fence (resource, token) VALUES (?, ?) ON CONFLICT(resource) DO UPDATE SET token = max(token, excluded.token)",
                               arguments: [resource, token.value])
            }
        }
    }

    func highestToken() async throws(ProviderError) -> FencingToken {
        FencingToken(try await read { db in try Int64.fetchOne(db, sql: "SELECT max(token) FROM fence") ?? 0 })
    }

    /// The answer of a finished call with this key; a conflict when the key named another request.
    func answer(key: String, operation: String, request: String) async throws(ProviderError) -> String? {
        let stored = try await read { db in
            try Row.fetchOne(db, sql: "SELECT operation, request, answer FROM call WHERE key = ?", arguments: [key])
                .map { (operation: $0["operation"] as String, request: $0["request"] as String, answer: $0["answer"] as String) }
        }
        guard let stored else { return nil }
        guard stored.operation == operation, stored.request == request else {
            throw ProviderError(.idempotencyConflict, "idempotency key '\(key)' was used before for another request (\(stored.operation)); use a new key for a new request")
        }
        return stored.answer
    }

    func finish(key: String, operation: String, request: String, answer: String) async throws(ProviderError) {
        try await write { db in
            try db.execute(sql: "INSERT OR IGNORE INTO call (key, operation, request, answer) VALUES (?, ?, ?, ?)",
                           arguments: [key, operation, request, answer])
        }
    }

    // MARK: - Instances

    /// Each known instance's active site and prepared target.
    func instances(_ names: [String]) async throws(ProviderError) -> [String: (active: Infrastructure, prepared: Infrastructure?)] {
        try await read { db in
            var result: [String: (active: Infrastructure, prepared: Infrastructure?)] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT name, active, prepared FROM instance") where names.contains(row["name"]) {
                guard let active = Infrastructure(rawValue: row["active"]) else { continue }
                result[row["name"]] = (active, (row["prepared"] as String?).flatMap(Infrastructure.init(rawValue:)))
            }
            return result
        }
    }

    func setActive(_ name: String, _ site: Infrastructure) async throws(ProviderError) {
        try await write { db in
            try db.execute(sql: "INSERT INTO instance (name, active) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET active = excluded.active",
                           arguments: [name, site.rawValue])
        }
    }

    func setPrepared(_ name: String, _ site: Infrastructure, active: Infrastructure) async throws(ProviderError) {
        try await write { db in
            try db.execute(sql: """
                INSERT INTO instance (name, active, prepared) VALUES (?, ?, ?)
                ON CONFLICT(name) DO UPDATE SET prepared = excluded.prepared
                """, arguments: [name, active.rawValue, site.rawValue])
        }
    }

    // MARK: - Snapshots and moves

    func snapshot(key: String, instance: String) async throws(ProviderError) -> (site: Infrastructure, messages: [SnapshotMessage])? {
        let row = try await read { db in
            try Row.fetchOne(db, sql: "SELECT site, messages FROM snapshot WHERE key = ? AND instance = ?", arguments: [key, instance])
                .map { (site: $0["site"] as String, messages: $0["messages"] as String) }
        }
        guard let row, let site = Infrastructure(rawValue: row.site),
              let messages = try? JSONDecoder().decode([SnapshotMessage].self, from: Data(row.messages.utf8)) else { return nil }
        return (site, messages)
    }

    func saveSnapshot(key: String, instance: String, site: Infrastructure, messages: [SnapshotMessage]) async throws(ProviderError) {
        let text = String(decoding: (try? JSONEncoder().encode(messages)) ?? Data("[]".utf8), as: UTF8.self)
        try await write { db in
            try db.execute(sql: "INSERT OR IGNORE INTO snapshot (key, instance, site, messages) VALUES (?, ?, ?, ?)",
                           arguments: [key, instance, site.rawValue, text])
        }
    }

    /// The state of a message's move, if one was begun.
    func moveState(_ move: MessageMove) async throws(ProviderError) -> MessageMove.State? {
        try await read { db in
            try String.fetchOne(db, sql: "SELECT state FROM move WHERE instance = ? AND source = ? AND queue_id = ? AND message_id = ?",
                                arguments: [move.instance, move.source.rawValue, move.queueID, move.messageID])
                .flatMap(MessageMove.State.init(rawValue:))
        }
    }

    /// Records the state of several moves in one transaction.
    func record(_ moves: [MessageMove], _ state: MessageMove.State) async throws(ProviderError) {
        guard !moves.isEmpty else { return }
        try await write { db in
            for move in moves {
                try db.execute(sql: """
                    INSERT INTO move (instance, source, queue_id, message_id, target, state, reason) VALUES (?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT(instance, source, queue_id, message_id) DO UPDATE SET state = excluded.state, target = excluded.target
                    """, arguments: [move.instance, move.source.rawValue, move.queueID, move.messageID, move.target.rawValue,
                                     state.rawValue, move.reason])
            }
        }
    }

    /// Queue ids of messages reported expired at `site`: they stay held there, never swept.
    func expired(instance: String, site: Infrastructure) async throws(ProviderError) -> Set<String> {
        try await read { db in
            Set(try String.fetchAll(db, sql: "SELECT queue_id FROM move WHERE instance = ? AND source = ? AND state = 'expired'",
                                    arguments: [instance, site.rawValue]))
        }
    }
}

/// One message of a snapshot, as the ledger keeps it.
struct SnapshotMessage: Sendable, Hashable, Codable {
    var queueID: String
    var messageID: String
    var arrival: Int64
}

/// Moving one held message from an MTA at `source` to the instance's MTA at `target`.
struct MessageMove: Sendable, Hashable {
    var instance: String
    var source: Infrastructure
    var target: Infrastructure
    var queueID: String
    var messageID: String
    /// `resend:KEY` or `sweep`.
    var reason: String

    enum State: String, Sendable {
        /// A copy is queued (held) at the target; the original may still be at the source.
        case staged
        /// The original is gone from the source.
        case moved
        /// Older than the resend's maximum age: left held at the source, reported.
        case expired
    }
}
