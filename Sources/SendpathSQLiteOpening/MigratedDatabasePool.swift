import Foundation
public import GRDB

/// Opening a WAL database and applying its migrations while other processes (or other pools
/// in this one) may be doing the same to the same new file: the state database and the fleet
/// simulator's file are both opened this way.
///
/// Two races are retried:
/// - `PRAGMA journal_mode = WAL` answers `SQLITE_BUSY` at once (no busy handler) while another
///   connection switches the file to WAL: retried, with a growing pause, until `busyTimeout`.
/// - GRDB reads the applied migrations once, then runs each migration in its own
///   transaction, so two openers may run the same migration and the loser fails on the
///   winner's tables. The loser retries as long as someone else has applied a migration since
///   it last looked: each retry starts further along, so there are at most as many retries as
///   migrations. A failure with nothing applied meanwhile is this opener's own, and thrown.
public enum MigratedDatabasePool {
    /// Opens the pool at `path` and applies `migrator`'s missing migrations.
    /// Throws GRDB's errors (a `DatabaseError` when SQLite refuses).
    ///
    /// With a `kind`, the file is checked first and refused (``DatabaseFileError``) if it holds
    /// another kind's tables, before anything is written; after migrating, it is stamped.
    public static func open(path: String, configuration: Configuration, migrator: DatabaseMigrator,
                            busyTimeout: Duration, kind: DatabaseKind? = nil) throws -> DatabasePool {
        if let kind { try kind.check(path: path, busyTimeout: busyTimeout) }
        let pool = try open(path: path, configuration: configuration, migrator: migrator, busyTimeout: busyTimeout)
        if let kind { try kind.stamp(pool) }
        return pool
    }

    private static func open(path: String, configuration: Configuration, migrator: DatabaseMigrator,
                             busyTimeout: Duration) throws -> DatabasePool {
        let deadline = ContinuousClock.now + busyTimeout
        var delay = Duration.milliseconds(5)
        while true {
            do {
                let pool = try DatabasePool(path: path, configuration: configuration)
                let appliedBefore = try pool.read { try migrator.appliedIdentifiers($0) }
                do {
                    try migrator.migrate(pool)
                } catch let error as DatabaseError where error.resultCode != .SQLITE_BUSY {
                    let appliedNow = try pool.read { try migrator.appliedIdentifiers($0) }
                    if appliedNow == appliedBefore { throw error }
                    continue
                }
                return pool
            } catch let error as DatabaseError where error.resultCode == .SQLITE_BUSY && ContinuousClock.now < deadline {
                Thread.sleep(forTimeInterval: delay / .seconds(1))
                delay = min(delay * 2, .milliseconds(100))
            }
        }
    }
}
