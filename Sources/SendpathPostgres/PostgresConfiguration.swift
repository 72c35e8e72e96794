import Foundation
import PostgresNIO

/// Where the PostgreSQL state store is and how to reach it, parsed from a state URL:
/// `postgres://USER@HOST:PORT/DB[?sslmode=disable|prefer|require|verify-full&...]` (or `postgresql://`).
///
/// The password never comes from the URL (a URL that carries one is refused): it comes from the
/// `PGPASSWORD` environment variable, else from a libpq password file (`PGPASSFILE`, else
/// `~/.pgpass`, lines of `host:port:db:user:password` with `*` wildcards), else there is none (trust,
/// peer or certificate authentication). As with libpq, a password file readable by group or others
/// is ignored.
///
/// Defaults follow libpq: user `PGUSER`, else `USER`; port 5432; database the user's name;
/// `sslmode=prefer`. Other query parameters: `connect_timeout` (seconds, default 10: how long an
/// operation waits for a connection before the store reports itself unavailable),
/// `sslrootcert` (a PEM file of trusted roots for `verify-full`), `schema` (keep the tables in
/// this schema, created when missing, instead of the server's default `public`) and
/// `pool_max` (connections per process, default 10).
///
/// `description` is the URL without secrets; no value of this type ever prints the password.
public struct PostgresConfiguration: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable {
    /// libpq's `sslmode`, as far as this store supports it.
    public enum SSLMode: String, Sendable, Hashable, CaseIterable {
        /// Plain TCP.
        case disable
        /// TLS when the server offers it, plain TCP otherwise; the certificate is not checked.
        case prefer
        /// TLS or no connection; the certificate is not checked (encryption only).
        case require
        /// TLS or no connection; the certificate must chain to a trusted root and name the host.
        case verifyFull = "verify-full"
    }

    /// Whose clock judges lease expiry: see ``PostgresConfiguration/leaseClock``.
    public enum LeaseClock: String, Sendable, Hashable {
        /// The database server's `clock_timestamp()`: leases are granted, renewed and judged
        /// expired by one clock, whatever the replicas' clocks say. Leases carry its instants.
        case database
        /// The `now:` each caller passes: each replica judges by its own clock. For tests with
        /// synthetic instants only: a replica whose clock runs ahead takes live leases.
        case caller
    }

    /// Where a password came from (never the password itself).
    public enum PasswordSource: Sendable, Hashable, CustomStringConvertible {
        case none
        case environment
        case passwordFile(path: String)

        public var description: String {
            switch self {
            case .none: "no password"
            case .environment: "PGPASSWORD"
            case .passwordFile(let path): "password file \(path)"
            }
        }
    }

    /// The role to log in as.
    public private(set) var user: String
    /// The server's host name or IP address (IPv6 without brackets).
    public private(set) var host: String
    /// The server's TCP port.
    public private(set) var port: Int
    /// The database holding the store.
    public private(set) var database: String
    /// Whether and how to use TLS.
    public private(set) var sslMode: SSLMode
    /// A PEM file of trusted root certificates for `verify-full` (the system's roots otherwise).
    public private(set) var sslRootCertificate: String?
    /// The schema holding the store's tables; `nil` uses the server's search path (`public`).
    public private(set) var schema: String?
    /// How long an operation waits for a connection before failing with `.unavailable`.
    public var connectTimeout: Duration
    /// How long an operation that has a connection waits for its answer before failing with
    /// `.unavailable` (`operation_timeout` in the URL, seconds; default 15).
    public var operationTimeout: Duration
    /// The most connections this process opens to the server.
    public var maximumConnections: Int
    /// Whose clock decides when a lease expires: the database's (the default, and the only
    /// sensible choice for replicas on several hosts) or the caller's `now:` argument (for tests
    /// that drive leases with synthetic instants). Not a URL parameter.
    public var leaseClock: LeaseClock = .database
    /// Where the password came from.
    public private(set) var passwordSource: PasswordSource
    /// Things an operator should know about the configuration (say, an ignored password file).
    public private(set) var warnings: [String] = []
    /// The password; kept out of every description.
    var password: String?

    /// Parses a state URL, finding the password in this process's environment. Throws
    /// ``PostgresConfigurationError``, whose messages never repeat the URL's user-info part.
    public init(url: String) throws {
        try self.init(url: url, environment: ProcessInfo.processInfo.environment)
    }

    /// Parses a state URL, finding the password in `environment` (`PGPASSWORD`, `PGPASSFILE`,
    /// `HOME`, `PGUSER`, `USER`). Throws ``PostgresConfigurationError``, whose messages never
    /// repeat the URL's user-info part.
    public init(url: String, environment: [String: String]) throws {
        guard let schemeEnd = url.range(of: "://"),
              ["postgres", "postgresql"].contains(url[..<schemeEnd.lowerBound].lowercased())
        else {
            throw PostgresConfigurationError(.invalidURL, "a PostgreSQL state URL starts with postgres:// or postgresql:// "
                                                + "(postgres://USER@HOST:PORT/DB)")
        }
        // Before anything else: a password in the URL is refused, and never echoed.
        let authority = url[schemeEnd.upperBound...].prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        if let at = authority.lastIndex(of: "@"), authority[..<at].contains(":") {
            throw PostgresConfigurationError(.passwordInURL, Self.passwordAdvice("the state URL carries a password"))
        }
        guard let components = URLComponents(string: url), let host = components.host, !host.isEmpty else {
            throw PostgresConfigurationError(.invalidURL, "the state URL is not postgres://USER@HOST:PORT/DB "
                                                + "(a host is required; percent-encode special characters)")
        }
        if components.password != nil {
            throw PostgresConfigurationError(.passwordInURL, Self.passwordAdvice("the state URL carries a password"))
        }
        guard components.fragment == nil else {
            throw PostgresConfigurationError(.invalidURL, "the state URL has a #fragment; remove it")
        }
        self.host = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        port = components.port ?? 5432
        guard (1...65_535).contains(port) else {
            throw PostgresConfigurationError(.invalidURL, "the state URL's port \(port) is not between 1 and 65535")
        }
        let fallbackUser = environment["PGUSER"] ?? environment["USER"] ?? "postgres"
        user = components.user.flatMap { $0.isEmpty ? nil : $0 } ?? fallbackUser
        let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        guard !path.contains("/") else {
            throw PostgresConfigurationError(.invalidURL, "the state URL's path must be one database name, like /sendpath")
        }
        database = path.isEmpty ? user : path
        sslMode = .prefer
        connectTimeout = .seconds(10)
        operationTimeout = .seconds(15)
        maximumConnections = 10
        passwordSource = .none
        try applyQuery(components.queryItems ?? [])
        if let password = environment["PGPASSWORD"], !password.isEmpty {
            self.password = password
            passwordSource = .environment
        } else {
            let file = PostgresPasswordFile.location(environment: environment)
            if let file, let password = try PostgresPasswordFile(path: file)?
                .password(host: self.host, port: port, database: database, user: user) {
                self.password = password
                passwordSource = .passwordFile(path: file)
            } else if let file, PostgresPasswordFile.isTooOpen(file) {
                warnings.append("password file \(file) ignored: group or others may read it; chmod 0600 it")
            }
        }
    }

    private mutating func applyQuery(_ items: [URLQueryItem]) throws {
        for item in items {
            let value = item.value ?? ""
            switch item.name {
            case "sslmode":
                guard let mode = SSLMode(rawValue: value) else {
                    throw PostgresConfigurationError(.unsupportedParameter, "sslmode '\(value)' is not supported; use one of "
                                                        + SSLMode.allCases.map(\.rawValue).joined(separator: ", "))
                }
                sslMode = mode
            case "connect_timeout":
                connectTimeout = try Self.seconds(item.name, value)
            case "operation_timeout":
                operationTimeout = try Self.seconds(item.name, value)
            case "sslrootcert":
                guard !value.isEmpty else {
                    throw PostgresConfigurationError(.unsupportedParameter, "sslrootcert needs the path of a PEM file")
                }
                sslRootCertificate = value
            case "schema":
                guard Self.isPlainIdentifier(value) else {
                    throw PostgresConfigurationError(.unsupportedParameter, "schema '\(value)' must be a plain name: "
                                                        + "lowercase letters, digits and _, starting with a letter or _, at most 63 characters")
                }
                schema = value
            case "pool_max":
                guard let count = Int(value), (1...100).contains(count) else {
                    throw PostgresConfigurationError(.unsupportedParameter, "pool_max '\(value)' is not a number from 1 to 100")
                }
                maximumConnections = count
            case "password":
                throw PostgresConfigurationError(.passwordInURL, Self.passwordAdvice("the state URL carries a password parameter"))
            default:
                throw PostgresConfigurationError(.unsupportedParameter, "unknown state URL parameter '\(item.name)'; "
                                                    + "supported: sslmode, connect_timeout, operation_timeout, sslrootcert, schema, pool_max")
            }
        }
        if sslRootCertificate != nil && sslMode != .verifyFull {
            throw PostgresConfigurationError(.unsupportedParameter, "sslrootcert is only used with sslmode=verify-full")
        }
    }

    /// A timeout parameter: whole seconds from 1 to 3600.
    private static func seconds(_ name: String, _ value: String) throws -> Duration {
        guard let seconds = Int(value), seconds > 0, seconds <= 3600 else {
            throw PostgresConfigurationError(.unsupportedParameter, "\(name) '\(value)' is not a number of seconds from 1 to 3600")
        }
        return .seconds(seconds)
    }

    private static func passwordAdvice(_ problem: String) -> String {
        "\(problem); the password is never taken from the URL (it would show in process lists, shell history and logs): "
            + "remove it and set PGPASSWORD, or put it in a password file (PGPASSFILE or ~/.pgpass, mode 0600)"
    }

    /// `[a-z_][a-z0-9_]*`, at most 63 bytes: safe to splice into SQL as an identifier.
    static func isPlainIdentifier(_ name: String) -> Bool {
        guard let first = name.utf8.first, name.utf8.count <= 63, first == UInt8(ascii: "_") || (97...122).contains(first)
        else { return false }
        return name.utf8.allSatisfy { $0 == UInt8(ascii: "_") || (97...122).contains($0) || (48...57).contains($0) }
    }

    // MARK: - Descriptions

    /// The endpoint as `host:port` (IPv6 hosts in brackets).
    public var endpoint: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// The URL without secrets (there is no password in it to begin with).
    public var description: String {
        var query = ["sslmode=\(sslMode.rawValue)"]
        if let schema { query.append("schema=\(schema)") }
        return "postgres://\(user)@\(endpoint)/\(database)?\(query.joined(separator: "&"))"
    }

    public var debugDescription: String {
        "PostgresConfiguration(\(description), password: \(passwordSource))"
    }

    public var customMirror: Mirror {
        Mirror(self, children: ["url": description, "passwordSource": passwordSource.description], displayStyle: .struct)
    }

    // MARK: - The client

    /// The postgres-nio client configuration (TLS context and all).
    func clientConfiguration() throws -> PostgresClient.Configuration {
        var configuration = PostgresClient.Configuration(host: host, port: port, username: user, password: password,
                                                         database: database, tls: try tls())
        configuration.options.connectTimeout = connectTimeout
        configuration.options.maximumConnections = maximumConnections
        if let schema {
            // A startup parameter: every pooled connection resolves the store's tables in `schema`.
            configuration.options.additionalStartupParameters = [("search_path", schema)]
        }
        configuration.options.additionalStartupParameters.append(("application_name", "sendpath"))
        // The server gives up too, a little after the client: a statement the client abandoned
        // (operation_timeout) does not hold its locks, and no session idles in a transaction.
        let serverLimit = "\(operationTimeout.components.seconds * 1000 + 1000)"
        configuration.options.additionalStartupParameters.append(("statement_timeout", serverLimit))
        configuration.options.additionalStartupParameters.append(("idle_in_transaction_session_timeout", serverLimit))
        return configuration
    }

    /// The same settings for a single connection (used to diagnose why the pool cannot connect).
    func connectionConfiguration() throws -> PostgresConnection.Configuration {
        let tls: PostgresConnection.Configuration.TLS
        do {
            switch sslMode {
            case .disable: tls = .disable
            case .prefer: tls = .prefer(try NIOSSLContext(configuration: try tlsConfiguration()))
            case .require, .verifyFull: tls = .require(try NIOSSLContext(configuration: try tlsConfiguration()))
            }
        } catch let error as PostgresConfigurationError {
            throw error
        } catch {
            throw PostgresConfigurationError(.tls, "cannot set up TLS (sslmode=\(sslMode.rawValue)): \(error)")
        }
        var configuration = PostgresConnection.Configuration(host: host, port: port, username: user, password: password,
                                                             database: database, tls: tls)
        configuration.options.connectTimeout = .nanoseconds(connectTimeout.nanoseconds)
        return configuration
    }

    private func tls() throws -> PostgresClient.Configuration.TLS {
        switch sslMode {
        case .disable: .disable
        case .prefer: .prefer(try tlsConfiguration())
        case .require, .verifyFull: .require(try tlsConfiguration())
        }
    }

    private func tlsConfiguration() throws -> TLSConfiguration {
        var tls = TLSConfiguration.makeClientConfiguration()
        switch sslMode {
        case .disable, .prefer, .require:
            // libpq's meaning: encryption without checking who answers.
            tls.certificateVerification = .none
        case .verifyFull:
            tls.certificateVerification = .fullVerification
            if let sslRootCertificate {
                guard FileManager.default.isReadableFile(atPath: sslRootCertificate) else {
                    throw PostgresConfigurationError(.tls, "sslrootcert \(sslRootCertificate) is not a readable file")
                }
                tls.trustRoots = .file(sslRootCertificate)
            }
        }
        return tls
    }
}
