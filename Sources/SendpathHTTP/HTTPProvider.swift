public import SendpathCore
public import Logging
import AsyncHTTPClient

/// A ``Provider`` reached over the provider HTTP API (`--provider http(s)://...`), on its own
/// AsyncHTTPClient `HTTPClient`.
///
/// Each call is one JSON `POST` with `Authorization: Bearer <token>`; mutating calls add the
/// idempotency key, fencing token and step of their ``MutationContext``. Connection failures,
/// timeouts and 5xx answers are retried with the same request and key (exponential backoff from
/// `retry.baseDelay`, doubled per attempt, capped at 10 s, with jitter), 4xx answers never.
/// Failures come back as the exact ``ProviderError`` the server named in its error body; after
/// the last attempt a connection that was never made is `.unreachable`, an answer that never
/// came is `.timeout`, and a 401 is `.unauthorized` telling the operator to check
/// `SENDPATH_PROVIDER_TOKEN`. The token never appears in an error, a log line or a description.
///
/// ``observeInstances(_:step:)`` sends at most ``observeBatchSize`` names per request. An
/// idempotency key the API cannot carry (over 256 characters, for a group of many long prefix
/// names) is sent as its stable stand-in ``ProviderAPI/wireKey(_:)``, and so is the matching
/// `snapshotKey` of a resend.
/// Call ``shutdown()`` before dropping the provider: AsyncHTTPClient requires it.
public final class HTTPProvider: Provider, CustomStringConvertible {
    /// The most names one `instances/observe` request carries.
    public static let observeBatchSize = 1000
    /// Connections kept to the provider at most: enough for many groups in flight at once.
    public static let connectionsPerHost = 64

    let client: ProviderAPIClient

    /// - Parameters:
    ///   - baseURL: the server's root, `http://HOST[:PORT]` or `https://HOST[:PORT]` (a path
    ///     prefix is allowed; a trailing `/v1` is not doubled).
    ///   - token: the bearer token (from `SENDPATH_PROVIDER_TOKEN`, never a command-line argument).
    ///   - connectTimeout: how long to wait for a TCP (and TLS) connection.
    ///   - requestTimeout: how long one attempt may take, from sending to the end of the answer.
    ///   - retry: attempts in all (at least 1), and the wait after the first failure.
    /// - Throws: ``HTTPProviderSetupError`` for a URL or token it cannot use, before any I/O.
    public init(baseURL: String, token: String, connectTimeout: Duration = .seconds(5), requestTimeout: Duration = .seconds(30),
                retry: (attempts: Int, baseDelay: Duration) = (attempts: 5, baseDelay: .milliseconds(200)),
                logger: Logger) throws(HTTPProviderSetupError) {
        let endpoint = try ProviderEndpoint(baseURL)
        let bearer = try BearerToken(token)
        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .disallow,
            timeout: .init(connect: ProviderAPIClient.timeAmount(connectTimeout), read: ProviderAPIClient.timeAmount(requestTimeout))
        )
        // Connection attempts are retried (and counted) by this class, not inside the pool.
        configuration.connectionPool.retryConnectionEstablishment = false
        // One connection per call in flight: a reconciler runs many groups at once, each waiting
        // on its own call (AsyncHTTPClient's default of 8 per host would queue the rest).
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = Self.connectionsPerHost
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration,
                              backgroundActivityLogger: Logger(label: logger.label, factory: { _ in SwiftLogNoOpLogHandler() }))
        client = ProviderAPIClient(http: http, endpoint: endpoint, token: bearer, requestTimeout: requestTimeout,
                                   retry: RetrySchedule(attempts: retry.attempts, baseDelay: retry.baseDelay), logger: logger)
    }

    /// Closes the connections. Call it once, after the last call has returned.
    public func shutdown() async throws {
        try await client.http.shutdown()
    }

    /// `HTTPProvider(<API root>)`: no token.
    public var description: String { "HTTPProvider(\(client.endpoint))" }

    // MARK: - Observations

    public func observeInstances(_ names: [String], step: StepName?) async throws(ProviderError) -> [String: ObservedInstance] {
        var unique: [String] = []
        var seen = Set<String>()
        for name in names where seen.insert(name).inserted { unique.append(name) }
        var result: [String: ObservedInstance] = [:]
        for start in stride(from: 0, to: unique.count, by: Self.observeBatchSize) {
            let batch = Array(unique[start..<min(start + Self.observeBatchSize, unique.count)])
            let answer = try await client.call(.observeInstances, body: ObserveInstancesRequest(names: batch, step: step),
                                               context: nil, as: ObserveInstancesResponse.self)
            for instance in answer.instances { result[instance.name] = instance }
        }
        return result
    }

    public func observePrefixes(_ cidrs: [AddressBlock]) async throws(ProviderError) -> [AddressBlock: ObservedPrefix] {
        let unique = Array(Set(cidrs)).sorted()
        var result: [AddressBlock: ObservedPrefix] = [:]
        for start in stride(from: 0, to: unique.count, by: Self.observeBatchSize) {
            let batch = unique[start..<min(start + Self.observeBatchSize, unique.count)].map(\.description)
            let answer = try await client.call(.observePrefixes, body: ObservePrefixesRequest(cidrs: batch),
                                               context: nil, as: ObservePrefixesResponse.self)
            for prefix in answer.prefixes { result[prefix.cidr] = prefix }
        }
        return result
    }

    public func highestFencingToken() async throws(ProviderError) -> FencingToken {
        try await client.call(.observeFencing, body: ObserveFencingRequest(), context: nil, as: ObserveFencingResponse.self)
            .highestFencingToken
    }

    // MARK: - Mutations

    public func prepareTarget(_ change: PathChange, context: MutationContext) async throws(ProviderError) {
        _ = try await client.call(.prepareTarget, body: change, context: context, as: EmptyResponse.self)
    }

    public func freeze(_ instances: [String], context: MutationContext) async throws(ProviderError) {
        _ = try await client.call(.freeze, body: InstancesRequest(instances: instances), context: context, as: EmptyResponse.self)
    }

    public func snapshotQueue(_ instances: [String], context: MutationContext) async throws(ProviderError) -> [QueueSnapshot] {
        try await client.call(.snapshotQueue, body: InstancesRequest(instances: instances), context: context,
                              as: SnapshotQueueResponse.self).snapshots
    }

    public func switchPath(_ change: PathChange, context: MutationContext) async throws(ProviderError) {
        _ = try await client.call(.switchPath, body: change, context: context, as: EmptyResponse.self)
    }

    public func resend(_ instances: [String], snapshotKey: String, maxAge: Duration,
                       context: MutationContext) async throws(ProviderError) -> [ResendResult] {
        try await client.call(.resend, body: ResendRequest(instances: instances, snapshotKey: ProviderAPI.wireKey(snapshotKey), maxAge: maxAge),
                              context: context, as: ResendResponse.self).results
    }

    public func unfreeze(_ instances: [String], context: MutationContext) async throws(ProviderError) {
        _ = try await client.call(.unfreeze, body: InstancesRequest(instances: instances), context: context, as: EmptyResponse.self)
    }

    public func rollbackPath(_ change: PathChange, context: MutationContext) async throws(ProviderError) {
        _ = try await client.call(.rollbackPath, body: change, context: context, as: EmptyResponse.self)
    }
}
