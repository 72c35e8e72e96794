public import Logging
public import SendpathCore
import Foundation
import GRDB
import SendpathSQLiteOpening

/// The durable ``StateStore``: journal, leases, notices and run history in one SQLite file.
///
/// The database runs in WAL mode with `synchronous = NORMAL`, foreign keys on, and a 5 s
/// busy timeout, so two processes on one file wait for each other instead of failing. Lease
/// grants and renewals are single `BEGIN IMMEDIATE` transactions: of two processes racing
/// for a lease, one wins. The file and its `-wal`/`-shm` companions are created 0600.
///
/// Writes complete even when the calling task is cancelled: a journal entry for a call that
/// already reached a provider must not be lost to a shutdown. Reads honour cancellation.
///
/// Errors are ``StateStoreError``s: `.unavailable` when SQLite cannot be used (locked for too
/// long, permissions, disk full), `.corrupt` when the file holds something this version
/// cannot read. Messages name the file and never carry statement arguments.
public final class SQLiteStateStore: StateStore {
    /// How long a connection waits for another one's write lock before giving up.
    public static let busyTimeout: Duration = .seconds(5)

    /// The database file.
    public let path: String
    let pool: DatabasePool
    /// A read-only opener's migrated copy of an older file (removed on close and deinit).
    let temporaryFolder: String?
    let logger: Logger

    /// Opens (creating if needed) the state database at `path` and brings its schema up to date.
    ///
    /// Creates missing parent folders (mode 0700) and a missing database file (mode 0600).
    /// Throws ``StateStoreError/unavailable(_:)`` when the file cannot be created or opened,
    /// ``StateStoreError/corrupt(_:)`` when it is not a state database this version can use.
    ///
    /// With `create: false` (the commands that only read: a dry run, `status`, `history`), a
    /// missing file or folder is refused instead (``StateStoreError/unavailable(_:)``), and
    /// nothing is created.
    public init(path: String, logger: Logger, create: Bool = true) throws {
        self.path = path
        self.logger = logger
        let file = PrivateDatabaseFile(path: path)
        let created: Bool
        do {
            if create {
                created = try file.prepare()
            } else {
                try file.requireExisting(name: "state database")
                created = false
            }
        } catch {
            throw StateStoreError.unavailable("state database \(path): \(error.reason)")
        }

        var configuration = Configuration()
        configuration.label = "sendpath.state"
        configuration.foreignKeysEnabled = true
        configuration.busyMode = .timeout(Double(Self.busyTimeout.nanoseconds) / 1e9)
        configuration.prepareDatabase { db in
            // GRDB sets this too when it turns WAL on; say it where it is decided.
            if !db.configuration.readonly {
                try db.execute(sql: "PRAGMA synchronous = NORMAL")
            }
        }
        do {
            let opened = try Self.open(path: path, configuration: configuration, readOnly: !create)
            pool = opened.pool
            temporaryFolder = opened.temporaryFolder
        } catch {
            throw Self.stateStoreError(error, path: path, action: "open it")
        }
        if created {
            do {
                try file.restrictCompanions()
            } catch {
                throw StateStoreError.unavailable("state database \(path): \(error.reason)")
            }
        }
        logger.debug("opened the state database", metadata: [
            "state.path": "\(path)",
            "state.created": "\(created)",
        ])
    }

    deinit {
        if let temporaryFolder { try? FileManager.default.removeItem(atPath: temporaryFolder) }
    }

    /// Closes the database connections. Later calls throw ``StateStoreError/unavailable(_:)``.
    /// Dropping the last reference closes them too.
    public func close() throws {
        do {
            try OpenedDatabase(pool: pool, temporaryFolder: temporaryFolder).close()
        } catch {
            throw Self.stateStoreError(error, path: path, action: "close it")
        }
    }

    // MARK: - Opening

    /// Opens the pool and applies missing migrations, racing other openers safely (see
    /// ``MigratedDatabasePool``), and refuses a file a newer version has migrated further.
    private static func open(path: String, configuration: Configuration, readOnly: Bool) throws -> OpenedDatabase {
        let opened: OpenedDatabase
        do {
            opened = try MigratedDatabasePool.open(
                path: path, configuration: configuration, migrator: StateSchema.migrator, busyTimeout: busyTimeout,
                kind: .state, access: readOnly ? .readOnly : .readWrite)
        } catch let error as DatabaseFileError {
            throw StateStoreError.unavailable(error.reason)
        }
        if try opened.pool.read({ try StateSchema.migrator.hasBeenSuperseded($0) }) {
            try? opened.close()
            throw StateStoreError.corrupt(
                "state database \(path) has schema changes this version does not know: "
                    + "it was written by a newer sendpath; upgrade sendpath")
        }
        return opened
    }

    // MARK: - Access

    /// Runs `updates` in one write transaction (`BEGIN IMMEDIATE`), to completion even if the
    /// calling task is cancelled, and maps errors to ``StateStoreError``.
    func write<T: Sendable>(_ action: String, _ updates: @escaping @Sendable (Database) throws -> T) async throws -> T {
        do {
            return try await withCheckedThrowingContinuation { continuation in
                pool.asyncWrite(updates) { _, result in continuation.resume(with: result) }
            }
        } catch {
            throw Self.stateStoreError(error, path: path, action: action)
        }
    }

    /// Runs `value` in one read transaction (a consistent snapshot), mapping errors.
    func read<T: Sendable>(_ action: String, _ value: @Sendable (Database) throws -> T) async throws -> T {
        do {
            return try await pool.read(value)
        } catch {
            throw Self.stateStoreError(error, path: path, action: action)
        }
    }

    /// Runs `body` (encoding values for columns), mapping errors.
    func encoding<T>(_ action: String, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch {
            throw Self.stateStoreError(error, path: path, action: action)
        }
    }

    // MARK: - Errors

    /// A ``StateStoreError`` for `error`, naming the file and what was being done. Never
    /// includes SQL arguments (GRDB's `description` can; SQLite's own message does not).
    static func stateStoreError(_ error: any Error, path: String, action: String) -> any Error {
        let location = "state database \(path)"
        switch error {
        case is StateStoreError, is CancellationError:
            return error
        case let error as StateCodingError:
            return StateStoreError.corrupt("\(location): \(error.reason)")
        case is RowDecodingError:
            return StateStoreError.corrupt("\(location): a row does not have the columns or types this version expects")
        case let error as DatabaseError:
            let sqlite = "\(error.message ?? "unknown error") (SQLite error \(error.extendedResultCode.rawValue))"
            switch error.resultCode {
            case .SQLITE_BUSY:
                return StateStoreError.unavailable(
                    "\(location) is locked by another connection (waited up to \(busyTimeout)) while trying to \(action): "
                        + "\(sqlite); retry, or look for a stuck sendpath process")
            case .SQLITE_CORRUPT, .SQLITE_NOTADB:
                return StateStoreError.corrupt("\(location) is damaged or not an SQLite database: \(sqlite)")
            case .SQLITE_READONLY, .SQLITE_PERM, .SQLITE_CANTOPEN, .SQLITE_AUTH:
                return StateStoreError.unavailable(
                    "\(location): could not \(action): \(sqlite); check that the file and its folder are writable by this user")
            case .SQLITE_MISUSE:
                return StateStoreError.unavailable("\(location): could not \(action): the store is closed (SQLite error 21)")
            case .SQLITE_FULL, .SQLITE_IOERR:
                return StateStoreError.unavailable("\(location): could not \(action): \(sqlite); check the disk")
            default:
                return StateStoreError.unavailable("\(location): could not \(action): \(sqlite)")
            }
        default:
            return StateStoreError.unavailable("\(location): could not \(action): \(type(of: error))")
        }
    }
}
