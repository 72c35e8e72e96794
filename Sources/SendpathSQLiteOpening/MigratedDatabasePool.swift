import Foundation
public import GRDB

/// Opening a WAL database and applying its migrations while other processes (or other pools
/// in this one) may be doing the same to the same new file: the state database and the fleet
/// simulator's file are both opened this way.
///
/// Three races are retried:
/// - `PRAGMA journal_mode = WAL` answers `SQLITE_BUSY` at once (no busy handler) while another
///   connection switches the file to WAL: retried, with a growing pause, until `busyTimeout`.
/// - GRDB reads the applied migrations once, then runs each migration in its own
///   transaction, so two openers may run the same migration and the loser fails on the
///   winner's tables. The loser retries as long as someone else has applied a migration since
///   it last looked: each retry starts further along, so there are at most as many retries as
///   migrations. A failure with nothing applied meanwhile is this opener's own, and thrown.
/// - GRDB reads the size of the `-wal` file it has just seen exist; another opener's last
///   connection closing in between deletes it (Foundation's "no such file"): retried.
public enum MigratedDatabasePool {
    /// Opens the pool at `path` and applies `migrator`'s missing migrations.
    /// Throws GRDB's errors (a `DatabaseError` when SQLite refuses).
    ///
    /// With a `kind`, the file is checked first and refused (``DatabaseFileError``) if it holds
    /// another kind's tables, before anything is written; after migrating, it is stamped.
    ///
    /// With `.readOnly` (the commands that only read), nothing is written to the file: no
    /// migration, no stamp, read-only connections. A file an older version wrote (migrations
    /// missing) is read through a private, migrated copy in a temporary folder (SQLite's online
    /// backup, a consistent snapshot), which ``OpenedDatabase/close()`` removes. `.privateCopy`
    /// always works on such a copy, writable, and leaves the file as it is.
    public static func open(path: String, configuration: Configuration, migrator: DatabaseMigrator,
                            busyTimeout: Duration, kind: DatabaseKind? = nil,
                            access: DatabaseAccess = .readWrite) throws -> OpenedDatabase {
        if let kind { try kind.check(path: path, busyTimeout: busyTimeout) }
        if access != .readWrite {
            return try openForReading(path: path, configuration: configuration, migrator: migrator, copy: access == .privateCopy)
        }
        let pool = try open(path: path, configuration: configuration, migrator: migrator, busyTimeout: busyTimeout)
        if let kind { try kind.stamp(pool) }
        return OpenedDatabase(pool: pool, temporaryFolder: nil)
    }

    private static func openForReading(path: String, configuration: Configuration,
                                       migrator: DatabaseMigrator, copy: Bool) throws -> OpenedDatabase {
        // Read-only connections: a writable pool writes on opening (GRDB creates and drops a
        // table to keep the WAL file non-empty), which changes the file's schema cookie.
        var readOnly = configuration
        readOnly.readonly = true
        let pool = try DatabasePool(path: path, configuration: readOnly)
        if try !copy && pool.read({ try migrator.hasCompletedMigrations($0) || migrator.hasBeenSuperseded($0) }) {
            return OpenedDatabase(pool: pool, temporaryFolder: nil)
        }
        defer { try? pool.close() }
        let folder = try TemporaryFolder.make()
        do {
            let copy = try DatabasePool(path: folder + "/copy.db", configuration: configuration)
            try pool.backup(to: copy)
            try migrator.migrate(copy)
            return OpenedDatabase(pool: copy, temporaryFolder: folder)
        } catch {
            try? FileManager.default.removeItem(atPath: folder)
            throw error
        }
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
            } catch let error as CocoaError where error.code == .fileReadNoSuchFile && ContinuousClock.now < deadline {
                // GRDB checks that the -wal file exists, then reads its size: another opener's
                // last connection closing in between deletes it. Opening again sees it anew.
                Thread.sleep(forTimeInterval: delay / .seconds(1))
                delay = min(delay * 2, .milliseconds(100))
            }
        }
    }
}

/// An open database: the pool, and the temporary folder of a read-only migrated copy, if any.
public struct OpenedDatabase: Sendable {
    public let pool: DatabasePool
    /// Where a read-only opener's migrated copy lives; removed by ``close()``.
    public let temporaryFolder: String?

    public init(pool: DatabasePool, temporaryFolder: String?) {
        self.pool = pool
        self.temporaryFolder = temporaryFolder
    }

    /// Closes the pool and removes the temporary copy.
    public func close() throws {
        defer { if let temporaryFolder { try? FileManager.default.removeItem(atPath: temporaryFolder) } }
        try pool.close()
    }
}

/// A private (0700) folder under the system's temporary folder.
enum TemporaryFolder {
    static func make() throws -> String {
        let base = (ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp")
        var template = Array((base + "/sendpath-read-XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else {
            throw DatabaseFileError(action: "create a temporary folder for a read-only copy", errno: errno)
        }
        return String(cString: made)
    }
}

/// How an opener may use a database file.
public enum DatabaseAccess: Sendable, Equatable {
    /// Create, migrate, stamp and write.
    case readWrite
    /// Read only; an older file is read through a migrated temporary copy.
    case readOnly
    /// Work on a writable temporary copy; the file is left as it is.
    case privateCopy
}
