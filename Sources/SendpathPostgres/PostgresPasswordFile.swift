import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A libpq password file (`~/.pgpass`): lines of `hostname:port:database:username:password`,
/// `*` matching any value, `\:` and `\\` escaping, `#` starting a comment; the first matching
/// line wins.
///
/// Like libpq, a file that group or others may read is ignored (it is not private; the
/// configuration says so in its `warnings`), and so is a file that does not exist.
struct PostgresPasswordFile: Sendable {
    struct Entry: Sendable, Equatable {
        var host: String
        var port: String
        var database: String
        var user: String
        var password: String
    }

    let path: String
    let entries: [Entry]

    /// `PGPASSFILE`, else `$HOME/.pgpass`; `nil` without either.
    static func location(environment: [String: String]) -> String? {
        if let file = environment["PGPASSFILE"], !file.isEmpty { return file }
        if let home = environment["HOME"], !home.isEmpty { return home + "/.pgpass" }
        return nil
    }

    /// Whether `path` exists but is ignored for being open to group or others.
    static func isTooOpen(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG && info.st_mode & 0o077 != 0
    }

    /// Reads the file; `nil` when it does not exist or is not private (mode wider than 0600).
    init?(path: String) throws(PostgresConfigurationError) {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        guard (info.st_mode & S_IFMT) == S_IFREG, info.st_mode & 0o077 == 0 else { return nil }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw PostgresConfigurationError(.passwordFile, "cannot read the password file \(path)")
        }
        self.init(path: path, text: String(decoding: data, as: UTF8.self))
    }

    init(path: String, text: String) {
        self.path = path
        entries = text.split(whereSeparator: \.isNewline).compactMap(Self.parse)
    }

    /// The password of the first line matching the connection, if any.
    func password(host: String, port: Int, database: String, user: String) -> String? {
        func matches(_ pattern: String, _ value: String) -> Bool { pattern == "*" || pattern == value }
        return entries.first {
            matches($0.host, host) && matches($0.port, String(port)) && matches($0.database, database) && matches($0.user, user)
        }?.password
    }

    /// One line's five fields, or `nil` for a comment, a blank or a malformed line.
    static func parse(_ line: Substring) -> Entry? {
        if line.hasPrefix("#") || line.allSatisfy(\.isWhitespace) { return nil }
        var fields: [String] = []
        var current = ""
        var escaped = false
        for character in line {
            if escaped {
                current.append(character)
                escaped = false
            } else if character == "\\" {
                escaped = true
            } else if character == ":" {
                fields.append(current)
                current = ""
            } else {
                current.append(character)
            }
        }
        fields.append(current)
        // As libpq: an unescaped colon ends the password too; anything after it is ignored.
        guard fields.count >= 5 else { return nil }
        return Entry(host: fields[0], port: fields[1], database: fields[2], user: fields[3], password: fields[4])
    }
}
