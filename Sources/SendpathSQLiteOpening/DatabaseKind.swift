import Foundation
public import GRDB

/// Which of sendpath's SQLite files a path must hold, checked before anything is written to
/// it: a fleet simulator file given as `--state` (or a state database given as `sim:`) is
/// refused, not given the other's tables.
///
/// Each kind stamps `PRAGMA application_id` when it creates its file. A file from before the
/// stamp (application id 0) is recognised by the migrations it records in `grdb_migrations`;
/// an empty file is new. Anything else is not this kind's file.
public struct DatabaseKind: Sendable, Equatable {
    /// `PRAGMA application_id`: four ASCII letters.
    public let applicationID: Int32
    /// How messages name it: "state database", "fleet simulator file".
    public let name: String
    /// The identifier of its first migration, the mark of an unstamped file of this kind.
    public let firstMigration: String

    public init(applicationID: Int32, name: String, firstMigration: String) {
        self.applicationID = applicationID
        self.name = name
        self.firstMigration = firstMigration
    }

    /// The reconciler's journal, leases and notices ('SPST').
    public static let state = DatabaseKind(applicationID: 0x5350_5354, name: "state database", firstMigration: "v1-leases")
    /// The fleet simulator's model of the fleet ('SPFL').
    public static let fleet = DatabaseKind(applicationID: 0x5350_464C, name: "fleet simulator file", firstMigration: "v1-fleet")

    static let known: [DatabaseKind] = [.state, .fleet]

    /// What an existing file at a path holds.
    enum Contents: Equatable {
        case empty
        case kind(DatabaseKind)
        case foreign
    }

    /// Reads what the file at `path` is without changing it (a read transaction only; not a
    /// read-only connection, which SQLite may refuse on a WAL file without its `-shm`).
    static func contents(of path: String, busyTimeout: Duration) throws -> Contents {
        var configuration = Configuration()
        // Another opener may be creating or migrating the file right now: wait for it.
        configuration.busyMode = .timeout(Double(busyTimeout.components.seconds))
        let queue = try DatabaseQueue(path: path, configuration: configuration)
        defer { try? queue.close() }
        return try queue.read { db in
            let id = try Int32.fetchOne(db, sql: "PRAGMA application_id") ?? 0
            if id != 0 { return known.first { $0.applicationID == id }.map(Contents.kind) ?? .foreign }
            let tables = try String.fetchSet(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table'")
            // Only GRDB's bookkeeping (another opener has begun migrating): still new.
            if tables.allSatisfy({ $0.hasPrefix("sqlite_") || $0 == "grdb_migrations" }) { return .empty }
            guard tables.contains("grdb_migrations") else { return .foreign }
            let applied = try String.fetchSet(db, sql: "SELECT identifier FROM grdb_migrations")
            return known.first { applied.contains($0.firstMigration) }.map(Contents.kind) ?? .foreign
        }
    }

    /// Refuses an existing, non-empty file that is not of this kind (before any write), with a
    /// ``DatabaseFileError``. SQLite's own errors (a file that is no database at all) are
    /// thrown as they are, for the caller to map.
    public func check(path: String, busyTimeout: Duration) throws {
        let contents = try Self.contents(of: path, busyTimeout: busyTimeout)
        switch contents {
        case .empty:
            return
        case .kind(let kind) where kind == self:
            return
        case .kind(let other):
            throw DatabaseFileError(reason: "\(path) is a \(other.name), not a \(name); nothing was written to it. Check the path")
        case .foreign:
            throw DatabaseFileError(reason: "\(path) is not a \(name) (it holds other tables); nothing was written to it. Check the path")
        }
    }

    /// Stamps the file's application id (after its migrations, in a write transaction).
    public func stamp(_ pool: DatabasePool) throws {
        try pool.barrierWriteWithoutTransaction { db in
            if try Int32.fetchOne(db, sql: "PRAGMA application_id") != applicationID {
                try db.execute(sql: "PRAGMA application_id = \(applicationID)")
            }
        }
    }
}
