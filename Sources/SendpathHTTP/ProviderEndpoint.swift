import Foundation

/// Where the provider API is: the validated base URL, and the URL of each operation.
///
/// The base URL is the server's root (`https://provider.example.net:8443`, optionally with a
/// path prefix); a trailing `/v1` is accepted and not doubled. Credentials, queries and
/// fragments are refused: the token travels in `Authorization`, from `SENDPATH_PROVIDER_TOKEN`.
struct ProviderEndpoint: Sendable, Hashable, CustomStringConvertible {
    /// The API root, ending in `/v1`.
    let apiRoot: String
    /// `host:port`, for messages.
    let authority: String

    init(_ text: String) throws(HTTPProviderSetupError) {
        func refuse(_ why: String) -> HTTPProviderSetupError {
            HTTPProviderSetupError(.invalidBaseURL, "provider URL \(Self.printable(text)) \(why)")
        }
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased() else {
            throw refuse("is not a URL; use http://HOST[:PORT] or https://HOST[:PORT]")
        }
        guard scheme == "http" || scheme == "https" else {
            throw refuse("has scheme '\(scheme)'; the HTTP provider speaks http:// or https:// only")
        }
        guard let host = components.host, !host.isEmpty else {
            throw refuse("has no host; use \(scheme)://HOST[:PORT]")
        }
        guard components.user == nil && components.password == nil else {
            throw HTTPProviderSetupError(.invalidBaseURL, "the provider URL must not carry credentials; put the token in SENDPATH_PROVIDER_TOKEN")
        }
        guard components.query == nil, components.fragment == nil else {
            throw refuse("has a query or fragment; give the server's root, like \(scheme)://\(host)")
        }
        if let port = components.port, !(1...65535).contains(port) {
            throw refuse("has port \(port), outside 1-65535")
        }
        var root = text
        while root.hasSuffix("/") { root.removeLast() }
        if root.hasSuffix(ProviderAPI.basePath) { root.removeLast(ProviderAPI.basePath.count) }
        apiRoot = root + ProviderAPI.basePath
        let port = components.port ?? (scheme == "https" ? 443 : 80)
        authority = "\(host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host):\(port)"
    }

    func url(for operation: ProviderAPI.Operation) -> String {
        apiRoot + "/" + operation.rawValue
    }

    var description: String { apiRoot }

    /// The text, quoted and cut short, without control characters.
    private static func printable(_ text: String) -> String {
        let clean = String(text.unicodeScalars.filter { $0.value >= 0x20 && $0.value != 0x7F }.prefix(200))
        return "'\(clean)'"
    }
}
