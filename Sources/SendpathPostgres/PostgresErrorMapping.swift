import PostgresNIO
import SendpathCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// postgres-nio errors as ``StateStoreError``s: `.unavailable` when the server cannot be used
/// (unreachable, gone, refusing, out of resources), `.corrupt` when it holds something this
/// version cannot read.
///
/// Messages are built from the error code and the server's primary message and SQLSTATE only:
/// never from the query, its binds, or the server's `detail` (which can quote row values), and
/// the configuration's password is never part of anything here.
enum PostgresErrorMapping {
    /// A ``StateStoreError`` for `error`, naming the store and what was being done.
    static func stateStoreError(_ error: any Error, location: String, action: String) -> any Error {
        let error = unwrap(error)
        switch error {
        case is StateStoreError, is CancellationError:
            return error
        case let error as PostgresColumnError:
            return StateStoreError.corrupt("\(location): \(error.reason)")
        case is PostgresDecodingError:
            return StateStoreError.corrupt("\(location): a row does not have the columns or types this version expects")
        case let error as PSQLError:
            if error.code == .server, let state = error.serverInfo?[.sqlState], isSchemaMismatch(state) {
                return StateStoreError.corrupt(
                    "\(location): could not \(action): \(reason(error)); the schema is not the one this version expects")
            }
            if error.code == .poolClosed {
                return StateStoreError.unavailable("\(location): could not \(action): the store is closed (its pool is not running)")
            }
            if error.code == .queryCancelled {
                return CancellationError()
            }
            return StateStoreError.unavailable("\(location): could not \(action): \(reason(error))")
        default:
            return StateStoreError.unavailable("\(location): could not \(action): \(reason(error))")
        }
    }

    /// The SQLSTATE of a server error, looking through transaction wrappers.
    static func sqlState(_ error: any Error) -> String? {
        guard let error = unwrap(error) as? PSQLError, error.code == .server else { return nil }
        return error.serverInfo?[.sqlState]
    }

    /// The error that matters inside a `PostgresTransactionError`: the closure's, else the
    /// commit's, else `BEGIN`'s.
    static func unwrap(_ error: any Error) -> any Error {
        guard let transaction = error as? PostgresTransactionError else { return error }
        return transaction.closureError ?? transaction.commitError ?? transaction.beginError ?? error
    }

    /// Why an operation failed, in words an operator can act on, without secrets.
    static func reason(_ error: any Error) -> String {
        let error = unwrap(error)
        guard let error = error as? PSQLError else {
            if error is PostgresDecodingError { return "a value could not be decoded" }
            return "\(error)"
        }
        switch error.code {
        case .server:
            let message = error.serverInfo?[.message] ?? "server error"
            let state = error.serverInfo?[.sqlState].map { " (SQLSTATE \($0))" } ?? ""
            return message + state
        case .connectionError:
            return error.underlying.map(connectionFailure) ?? "the connection failed"
        case .sslUnsupported:
            return "the server does not support TLS, and sslmode requires it"
        case .failedToAddSSLHandler:
            return "TLS could not be set up" + (error.underlying.map { ": \($0)" } ?? "")
        case .authMechanismRequiresPassword:
            return "the server asks for a password, and none was found in PGPASSWORD or the password file"
        case .unsupportedAuthMechanism:
            return "the server asks for an authentication method postgres-nio does not support"
        case .saslError:
            return "SCRAM authentication failed" + (error.underlying.map { ": \($0)" } ?? "")
        case .serverClosedConnection, .uncleanShutdown:
            return "the server closed the connection"
        case .clientClosedConnection:
            return "the connection was closed"
        case .poolClosed:
            return "the store is closed (its pool is not running)"
        case .queryCancelled:
            return "cancelled"
        default:
            return "PostgreSQL client error \(error.code)"
        }
    }

    /// A socket-level failure in a few words: "connection refused", "host not found", ….
    static func connectionFailure(_ error: any Error) -> String {
        guard let error = error as? NIOConnectionError else {
            if let error = error as? IOError { return describe(errno: error.errnoCode) }
            return "\(error)"
        }
        var reasons: [String] = []
        for failure in error.connectionErrors {
            let reason = (failure.error as? IOError).map { describe(errno: $0.errnoCode) } ?? "\(failure.error)"
            if !reasons.contains(reason) { reasons.append(reason) }
        }
        if reasons.isEmpty, error.dnsAError != nil || error.dnsAAAAError != nil {
            reasons.append("cannot resolve host \(error.host)")
        }
        return reasons.isEmpty ? "the connection failed" : reasons.joined(separator: "; ")
    }

    private static func describe(errno code: CInt) -> String {
        String(cString: strerror(code)).lowercased() + " (errno \(code))"
    }

    /// A hint for common connection failures.
    static func advice(_ reason: String, configuration: PostgresConfiguration) -> String {
        let lowered = reason.lowercased()
        if lowered.contains("refused") {
            return "; is the server running and listening on \(configuration.endpoint)?"
        }
        if lowered.contains("password") || lowered.contains("28p01") || lowered.contains("28000") {
            return "; check the user and the password (\(configuration.passwordSource))"
        }
        if lowered.contains("3d000") {
            return "; create the database or fix its name in the URL"
        }
        return ""
    }

    /// SQLSTATEs that mean the tables are not what this version expects (missing table, column,
    /// function, or a column of another type).
    private static func isSchemaMismatch(_ state: String) -> Bool {
        ["42P01", "42703", "42883", "42804", "3F000"].contains(state)
    }
}
