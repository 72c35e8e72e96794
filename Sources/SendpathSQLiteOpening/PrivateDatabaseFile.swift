import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A database's place on disk: its folder, and the file created owner-only (the state
/// database and the fleet simulator's file).
///
/// SQLite creates the `-wal` and `-shm` files with the mode of the database file, so creating
/// the database file 0600 before SQLite opens it keeps all three private, whatever the umask
/// (a umask is per process, so changing it around creation would race with other threads).
public struct PrivateDatabaseFile: Sendable {
    /// Owner read and write only: these files say what runs where, for whom.
    static let fileMode: mode_t = 0o600
    /// Folders created for the database: owner only.
    static let folderMode: Int = 0o700

    public let path: String

    public init(path: String) {
        self.path = path
    }

    /// Files SQLite keeps next to the database in WAL mode.
    public var companionPaths: [String] { [path + "-wal", path + "-shm"] }

    /// Creates the parent folders and, when missing, the database file with mode 0600.
    /// Returns whether the file was created. `O_EXCL` makes exactly one of several racing
    /// openers create it, and nobody replaces a file another opener already holds.
    public func prepare() throws(DatabaseFileError) -> Bool {
        // A folder (`sqlite:.`) is refused before anything: SQLite must not be handed one, and
        // Foundation's path functions trap on some of them.
        var info = stat()
        if stat(path, &info) == 0 { try requireRegularFile() }
        let folder = Self.folder(of: path)
        if !folder.isEmpty {
            do {
                try FileManager.default.createDirectory(
                    atPath: folder, withIntermediateDirectories: true,
                    attributes: [.posixPermissions: Self.folderMode])
            } catch {
                throw DatabaseFileError(reason: "could not create the folder \(folder): \(error.localizedDescription)")
            }
        }
        let fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, Self.fileMode)
        if fd < 0 {
            let code = errno
            if code == EEXIST {
                try requireRegularFile()
                return false
            }
            throw DatabaseFileError(action: "create the file", errno: code)
        }
        defer { close(fd) }
        // The umask may have taken bits away; never more than 0600 either way.
        if fchmod(fd, Self.fileMode) != 0 {
            throw DatabaseFileError(action: "set the file's mode to 0600", errno: errno)
        }
        return true
    }

    /// The folder part of `path` ("" for a bare name), without Foundation's path functions.
    static func folder(of path: String) -> String {
        var trimmed = Substring(path)
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        guard let slash = trimmed.lastIndex(of: "/") else { return "" }
        return slash == trimmed.startIndex ? "/" : String(trimmed[..<slash])
    }

    /// Refuses a missing file (for commands that only read: they never create it or its
    /// folders) or one that is not a regular file.
    public func requireExisting(name: String) throws(DatabaseFileError) {
        var info = stat()
        guard stat(path, &info) == 0 else {
            let code = errno
            if code == ENOENT || code == ENOTDIR {
                throw DatabaseFileError(reason: "it does not exist; nothing was created (commands that only read never create a \(name)). Check the path")
            }
            throw DatabaseFileError(action: "open \(path)", errno: code)
        }
        try requireRegularFile()
    }

    /// Refuses a path that exists but is not a regular file (a folder such as `.`, a device):
    /// SQLite must never be handed one.
    public func requireRegularFile() throws(DatabaseFileError) {
        var info = stat()
        guard stat(path, &info) == 0 else { throw DatabaseFileError(action: "inspect \(path)", errno: errno) }
        guard info.st_mode & S_IFMT == S_IFREG else {
            let what = info.st_mode & S_IFMT == S_IFDIR ? "a folder" : "not a regular file"
            throw DatabaseFileError(reason: "\(path) is \(what), not a database file; give the path of a file, like .sendpath/state.db")
        }
    }

    /// Sets 0600 on the database file, for one this opener did not create (a file copied in
    /// keeps no wider mode).
    public func restrict() throws(DatabaseFileError) {
        if chmod(path, Self.fileMode) != 0 {
            throw DatabaseFileError(action: "set the file's mode to 0600", errno: errno)
        }
    }

    /// Sets 0600 on the WAL companions if they exist (SQLite already does; this is the
    /// belt to its braces for a file this opener created).
    public func restrictCompanions() throws(DatabaseFileError) {
        for companion in companionPaths where chmod(companion, Self.fileMode) != 0 {
            let code = errno
            if code != ENOENT { throw DatabaseFileError(action: "set the mode of \(companion) to 0600", errno: code) }
        }
    }
}

/// A file-system failure while preparing the database file.
public struct DatabaseFileError: Error, CustomStringConvertible {
    public var reason: String

    public var description: String { reason }

    init(reason: String) {
        self.reason = reason
    }

    init(action: String, errno code: Int32) {
        reason = "could not \(action): \(String(cString: strerror(code)))"
    }
}
