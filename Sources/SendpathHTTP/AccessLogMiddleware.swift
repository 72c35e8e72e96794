import Hummingbird
import HTTPTypes
import Logging

/// The outermost middleware of both servers: turns every error into the API's error shape
/// (``APIError``) and writes one structured log line per request.
///
/// A line holds `http.method`, `http.path` (without the query), `http.status`,
/// `http.duration_ms`, and for mutating calls `idempotency.key`, `step.name` and
/// `fencing.token` when they are well-formed; `error.code` when the answer is an error. It
/// never holds a header other than those three: not `Authorization`, not the token.
///
/// Lines go to the request's logger (the application's, with Hummingbird's `hb.request.id`).
struct AccessLogMiddleware<Context: RequestContext>: RouterMiddleware {
    /// The level of lines for answers below 500 (the controller's probes log at debug).
    let level: Logger.Level

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let logger = context.logger
        let clock = ContinuousClock()
        let start = clock.now
        var response: Response
        var errorCode: String?
        do {
            response = try await next(request, context)
        } catch {
            let apiError = APIError.from(error, request: request)
            errorCode = apiError.code
            if apiError.status == .internalServerError {
                logger.error("request failed inside the server", metadata: ["error.type": "\(String(reflecting: type(of: error)))"])
            }
            response = apiError.response()
        }
        let elapsed = clock.now - start
        var metadata: Logger.Metadata = [
            "http.method": "\(request.method.rawValue)",
            "http.path": "\(request.uri.path)",
            "http.status": "\(response.status.code)",
            "http.duration_ms": "\(Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15)",
        ]
        for (key, value) in MutationHeaders.loggable(request.headers) {
            metadata[key] = "\(value)"
        }
        if let errorCode { metadata["error.code"] = "\(errorCode)" }
        logger.log(level: response.status.code >= 500 ? .warning : level, "http request", metadata: metadata)
        return response
    }
}
