import Hummingbird
import HummingbirdCore
import HTTPTypes
import NIOCore

/// What every Sendpath HTTP server allows a client: how long a connection may sit without a
/// whole request (a slow client trickling its headers is closed at that time too) and how many
/// connections are served at once (more wait in the listen backlog).
public struct HTTPServerLimits: Sendable {
    /// From the connection's start (or the end of its last answer) to a complete request head.
    public var idleTimeout: Duration
    public var maxConnections: Int

    public init(idleTimeout: Duration = .seconds(15), maxConnections: Int = 256) {
        self.idleTimeout = idleTimeout
        self.maxConnections = maxConnections
    }

    public static let standard = HTTPServerLimits()

    /// The HTTP/1.1 server with the idle timeout.
    var server: HTTPServerBuilder {
        let nanoseconds = idleTimeout.components.seconds * 1_000_000_000 + idleTimeout.components.attoseconds / 1_000_000_000
        return .http1(configuration: .init(idleTimeout: .nanoseconds(nanoseconds)))
    }

    /// The application configuration with the connection cap.
    func configuration(host: String, port: Int, serverName: String) -> ApplicationConfiguration {
        ApplicationConfiguration(address: .hostname(host, port: port), serverName: serverName,
                                 availableConnectionsDelegate: MaximumAvailableConnections(maxConnections))
    }
}

/// Answers, before routing, a known path asked with a method it does not take (405 with
/// `Allow`), and a body that is not JSON where JSON is expected (415).
struct RequestGateMiddleware<Context: RequestContext>: RouterMiddleware {
    /// Per path, the methods it takes.
    let allowed: [String: [HTTPRequest.Method]]
    /// Whether a request with a body must say `Content-Type: application/json`.
    let jsonBodies: Bool
    /// Builds the error answer (the provider API's JSON error body, or plain text).
    let refuse: @Sendable (HTTPResponse.Status, String, String) -> Response

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let methods = allowed[request.uri.path], !methods.contains(request.method) {
            var response = refuse(.methodNotAllowed, "method-not-allowed",
                                  "\(request.uri.path) takes \(methods.map(\.rawValue).joined(separator: ", ")) only, not \(request.method.rawValue)")
            response.headers[.allow] = methods.map(\.rawValue).joined(separator: ", ")
            return response
        }
        if jsonBodies, request.method == .post, !Self.isJSON(request.headers[.contentType]) {
            return refuse(.unsupportedMediaType, "unsupported-media-type",
                          "send the body as JSON, with 'Content-Type: application/json'")
        }
        return try await next(request, context)
    }

    /// `application/json`, in any case, with or without parameters (`; charset=utf-8`).
    static func isJSON(_ contentType: String?) -> Bool {
        guard let contentType else { return false }
        let type = contentType.split(separator: ";", maxSplits: 1).first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        return type == "application/json"
    }
}

extension Substring {
    fileprivate func trimmingCharacters(in set: Set<Character>) -> String {
        String(drop { set.contains($0) }.reversed().drop { set.contains($0) }.reversed())
    }
}

extension Set<Character> {
    fileprivate static let whitespaces: Set<Character> = [" ", "\t"]
}
