/// Why a PostgreSQL state URL cannot be used. A usage problem: nothing was contacted.
///
/// The message says what is wrong and how to fix it. It never repeats the URL's user-info
/// part nor any password.
public struct PostgresConfigurationError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The kind of problem.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }

        /// Not a `postgres://USER@HOST:PORT/DB` URL.
        public static let invalidURL = Code("invalid-url")
        /// The URL carries a password (refused: use `PGPASSWORD` or a password file).
        public static let passwordInURL = Code("password-in-url")
        /// An unknown query parameter, or a bad value for a known one.
        public static let unsupportedParameter = Code("unsupported-parameter")
        /// The password file exists but cannot be read.
        public static let passwordFile = Code("password-file")
        /// TLS cannot be set up (for example an unreadable `sslrootcert`).
        public static let tls = Code("tls")

        public var description: String { name }
    }

    /// What kind of problem it is.
    public var code: Code
    /// What is wrong and how to fix it, without secrets.
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
