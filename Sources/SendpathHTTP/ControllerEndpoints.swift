/// What the controller's HTTP server shows, supplied by the controller.
///
/// `ready` answers `/readyz` (a detail for humans either way, e.g. "lease held, last pass
/// converged 12s ago"); `status` gives the JSON of `/status` (the same document as
/// `sendpath status --output json`); `metrics` backs `/metrics`; `page`, when given, is the
/// HTML of `/` (the schedule page, as `sendpath status --output html` prints it).
public struct ControllerEndpoints: Sendable {
    public var ready: @Sendable () async -> (ok: Bool, detail: String)
    public var status: @Sendable () async throws -> [UInt8]
    public var metrics: ControllerMetrics
    public var page: (@Sendable () async throws -> String)?

    public init(ready: @escaping @Sendable () async -> (ok: Bool, detail: String),
                status: @escaping @Sendable () async throws -> [UInt8],
                metrics: ControllerMetrics,
                page: (@Sendable () async throws -> String)? = nil) {
        self.ready = ready
        self.status = status
        self.metrics = metrics
        self.page = page
    }
}
