/// Why an ``HTTPProvider`` could not be set up: a base URL or token it cannot use.
///
/// Raised before any connection is made. The message says what to fix; it never repeats the
/// token.
public struct HTTPProviderSetupError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Code: String, Sendable, Hashable {
        /// The base URL is not an `http://` or `https://` URL the client can use.
        case invalidBaseURL = "invalid-base-url"
        /// The token is empty or holds characters an HTTP header cannot carry.
        case invalidToken = "invalid-token"
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
