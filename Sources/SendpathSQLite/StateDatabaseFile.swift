import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The state database's place on disk: its folder, and the file created owner-only.
///
/// SQLite creates the `-wal` and `-shm` files with the mode of the database file, so creating
/// the database file 0600 before SQLite opens it keeps all three private, whatever the umask
/// (a umask is per process, so changing it around creation would race with other threads).
struct StateDatabaseFile: Sendable {
    /// Owner read and write only: the journal says what runs where, by whom.
    static let fileMode: mode_t = 0o600
    /// Folders created for the database: owner only.
    static let folderMode: Int = 0o700

    let path: String

    /// Files SQLite keeps next to the database in WAL mode.
    var companionPaths: [String] { [path + "-wal", path + "-shm"] }

    /// Creates the parent folders and, when missing, the database file with mode 0600.
    /// Returns whether the file was created.
    func prepare() throws(StateStoreFileError) -> Bool {
        let folder = (path as NSString).deletingLastPathComponent
        if !folder.isEmpty {
            do {
                try FileManager.default.createDirectory(
                    atPath: folder, withIntermediateDirectories: true,
                    attributes: [.posixPermissions: Self.folderMode])
            } catch {
                throw StateStoreFileError(reason: "could not create the folder \(folder): \(error.localizedDescription)")
            }
        }
        let fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, Self.fileMode)
        if fd < 0 {
            let code = errno
            if code == EEXIST { return false }
            throw StateStoreFileError(action: "create the file", errno: code)
        }
        defer { close(fd) }
        // The umask may have taken bits away; never more than 0600 either way.
        if fchmod(fd, Self.fileMode) != 0 {
            throw StateStoreFileError(action: "set the file's mode to 0600", errno: errno)
        }
        return true
    }

    /// Sets 0600 on the WAL companions if they exist (SQLite already does; this is the
    /// belt to its braces for a file this store created).
    func restrictCompanions() throws(StateStoreFileError) {
        for companion in companionPaths where chmod(companion, Self.fileMode) != 0 {
            let code = errno
            if code != ENOENT { throw StateStoreFileError(action: "set the mode of \(companion) to 0600", errno: code) }
        }
    }
}

/// A file-system failure while preparing the database file.
struct StateStoreFileError: Error {
    var reason: String

    init(reason: String) {
        self.reason = reason
    }

    init(action: String, errno code: Int32) {
        reason = "could not \(action): \(String(cString: strerror(code)))"
    }
}
