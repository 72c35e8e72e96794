public import Hummingbird
public import Logging
import HTTPTypes
import NIOCore

/// The controller's own HTTP server: `GET /` (when a page is given), `/healthz`, `/readyz`,
/// `/metrics` and `/status`.
///
/// - `/`: ``ControllerEndpoints/page``'s HTML, `text/html; charset=utf-8` (503 in plain text
///   when it cannot be produced); the page refreshes itself.
/// - `/healthz`: 200 `ok` while the process serves at all (liveness).
/// - `/readyz`: 200 or 503 with ``ControllerEndpoints/ready``'s detail (readiness).
/// - `/metrics`: the Prometheus text exposition, `text/plain; version=0.0.4`.
/// - `/status`: ``ControllerEndpoints/status``'s JSON, `application/json` (503 with the error
///   body when it cannot be produced).
///
/// No authentication: it listens where the caller says, by convention `127.0.0.1:9464`
/// (``defaultPort``). Requests are logged at debug level (probes and scrapes are frequent).
public enum ControllerHTTPServer {
    /// The conventional port (Prometheus exporters' range).
    public static let defaultPort = 9464

    /// The application serving `endpoints`; port 0 binds a free port, reported through `onRunning`.
    public static func makeApplication(
        endpoints: ControllerEndpoints, host: String = "127.0.0.1", port: Int, limits: HTTPServerLimits = .standard,
        logger: Logger, onRunning: @escaping @Sendable (Int) async -> Void
    ) -> some ApplicationProtocol {
        let router = Router()
        router.add(middleware: AccessLogMiddleware(level: .debug))
        let served = (endpoints.page == nil ? [] : ["/"]) + ["/healthz", "/readyz", "/metrics", "/status"]
        let paths = Dictionary(uniqueKeysWithValues: served.map { ($0, [HTTPRequest.Method.get]) })
        router.add(middleware: RequestGateMiddleware(allowed: paths, jsonBodies: false) { status, _, message in
            text(message + "\n", status: status)
        })
        if let page = endpoints.page {
            router.get("/") { _, _ in
                do {
                    return text(try await page(), status: .ok, contentType: "text/html; charset=utf-8")
                } catch {
                    return text("the schedule cannot be read now: \(error)\n", status: .serviceUnavailable)
                }
            }
        }
        router.get("/healthz") { _, _ in
            text("ok", status: .ok)
        }
        router.get("/readyz") { _, _ in
            let (ok, detail) = await endpoints.ready()
            return text(detail, status: ok ? .ok : .serviceUnavailable)
        }
        router.get("/metrics") { _, _ in
            text(endpoints.metrics.exposition(), status: .ok, contentType: "text/plain; version=0.0.4")
        }
        router.get("/status") { _, _ in
            let bytes: [UInt8]
            do {
                bytes = try await endpoints.status()
            } catch {
                throw APIError(status: .serviceUnavailable, code: "transient",
                               message: "the status cannot be read now: \(error)", retryable: true)
            }
            return Response(status: .ok, headers: [.contentType: "application/json"],
                            body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
        }
        return Application(
            router: router,
            server: limits.server,
            configuration: limits.configuration(host: host, port: port, serverName: "sendpath-controller"),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? port) },
            logger: logger
        )
    }

    private static func text(_ body: String, status: HTTPResponse.Status,
                             contentType: String = "text/plain; charset=utf-8") -> Response {
        Response(status: status, headers: [.contentType: contentType],
                 body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
    }
}
