import Foundation

/// The bearer token, kept out of descriptions, dumps and mirrors.
struct BearerToken: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    private let value: String

    init(_ value: String) throws(HTTPProviderSetupError) {
        guard !value.isEmpty else {
            throw HTTPProviderSetupError(.invalidToken, "the provider token is empty; set SENDPATH_PROVIDER_TOKEN")
        }
        guard value.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw HTTPProviderSetupError(.invalidToken,
                                         "the provider token holds spaces, control or non-ASCII characters an HTTP header cannot carry; check SENDPATH_PROVIDER_TOKEN")
        }
        self.value = value
    }

    var headerValue: String { "Bearer " + value }

    /// `text` with every occurrence of the token replaced, for messages that came from elsewhere.
    func redact(_ text: String) -> String {
        text.replacingOccurrences(of: value, with: "<redacted>")
    }

    var description: String { "<redacted>" }
    var debugDescription: String { "<redacted>" }
    var customMirror: Mirror { Mirror(self, children: []) }
}
