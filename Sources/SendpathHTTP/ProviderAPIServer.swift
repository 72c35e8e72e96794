public import SendpathCore
public import Hummingbird
public import Logging
import Foundation
import HTTPTypes
import NIOCore

/// Serves any ``Provider`` over the provider HTTP API (`docs/provider-api.yaml`) on Hummingbird:
/// what `sendpath simulator serve` runs in front of the fleet simulator.
///
/// Every call needs `Authorization: Bearer <token>` (compared in constant time; 401 otherwise).
/// Bodies over `maxBodySize` are refused with 413 before they are decoded. Mutating calls need
/// the `Idempotency-Key`, `Sendpath-Fencing-Token` and `Sendpath-Step` headers (400 otherwise),
/// which reach the provider unchanged as a ``MutationContext``: the provider itself replays
/// repeated keys, refuses reused ones (422) and stale fencing tokens (409). A ``ProviderError``
/// becomes its status and the one error body `{"error": {"code", "message", "retryable"}}`.
///
/// One log line per request (method, path, status, duration, idempotency key, step, fencing
/// token); never the `Authorization` header or the token.
public enum ProviderAPIServer {
    /// The application serving `provider`; run it (or add it to a `ServiceGroup`) to listen.
    ///
    /// - Parameters:
    ///   - token: the bearer token clients must present. An empty token refuses every call.
    ///   - port: the TCP port; 0 binds a free one, reported through `onRunning`.
    ///   - maxBodySize: the largest request body accepted, in bytes.
    ///   - onRunning: called once listening, with the port actually bound.
    public static func makeApplication(
        provider: any Provider, token: String, host: String = "127.0.0.1", port: Int,
        maxBodySize: Int = 1 << 20, limits: HTTPServerLimits = .standard, logger: Logger,
        onRunning: @escaping @Sendable (Int) async -> Void
    ) -> some ApplicationProtocol {
        if token.isEmpty {
            logger.error("provider API server has no bearer token: every call will be refused")
        }
        let router = Router()
        router.add(middleware: AccessLogMiddleware(level: .info))
        // Every operation is a POST of JSON.
        let paths = Dictionary(uniqueKeysWithValues: ProviderAPI.Operation.allCases.map { ($0.path, [HTTPRequest.Method.post]) })
        router.add(middleware: RequestGateMiddleware(allowed: paths, jsonBodies: true) { status, code, message in
            APIError(status: status, code: code, message: message).response()
        })
        router.add(middleware: BearerAuthMiddleware(token: token))
        let routes = ProviderRoutes(provider: provider, maxBodySize: maxBodySize)
        routes.register(on: router)
        return Application(
            router: router,
            server: limits.server,
            configuration: limits.configuration(host: host, port: port, serverName: "sendpath-provider"),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? port) },
            logger: logger
        )
    }
}

/// The handlers of the provider API: decode, call the provider, encode.
struct ProviderRoutes: Sendable {
    let provider: any Provider
    let maxBodySize: Int

    func register(on router: Router<BasicRequestContext>) {
        router.post(RouterPath(ProviderAPI.Operation.observeInstances.path)) { request, _ in
            let body = try await decode(ObserveInstancesRequest.self, from: request)
            try Self.checkNames(body.names, field: "names")
            let found = try await provider.observeInstances(body.names, step: body.step)
            return try Self.json(ObserveInstancesResponse(instances: found.values.sorted { $0.name < $1.name }))
        }
        router.post(RouterPath(ProviderAPI.Operation.observePrefixes.path)) { request, _ in
            let body = try await decode(ObservePrefixesRequest.self, from: request)
            let cidrs = try Self.parse(body.cidrs)
            let found = try await provider.observePrefixes(cidrs)
            return try Self.json(ObservePrefixesResponse(prefixes: found.values.sorted { $0.cidr < $1.cidr }))
        }
        router.post(RouterPath(ProviderAPI.Operation.observeFencing.path)) { request, _ in
            _ = try await decode(ObserveFencingRequest.self, from: request)
            return try Self.json(ObserveFencingResponse(highestFencingToken: try await provider.highestFencingToken()))
        }
        mutation(.prepareTarget, on: router, body: PathChangeRequest.self) { body, context in
            let change = try Self.pathChange(body)
            try await provider.prepareTarget(change, context: context)
            return EmptyResponse()
        }
        mutation(.freeze, on: router, body: InstancesRequest.self) { body, context in
            try Self.checkNames(body.instances, field: "instances")
            try await provider.freeze(body.instances, context: context)
            return EmptyResponse()
        }
        mutation(.snapshotQueue, on: router, body: InstancesRequest.self) { body, context in
            try Self.checkNames(body.instances, field: "instances")
            return SnapshotQueueResponse(snapshots: try await provider.snapshotQueue(body.instances, context: context))
        }
        mutation(.switchPath, on: router, body: PathChangeRequest.self) { body, context in
            let change = try Self.pathChange(body)
            try await provider.switchPath(change, context: context)
            return EmptyResponse()
        }
        mutation(.resend, on: router, body: ResendRequest.self) { body, context in
            guard let maxAge = body.maxAge else {
                throw APIError.badRequest("maxAgeSeconds must be a number of seconds from 0 to less than 9000000000")
            }
            guard !body.snapshotKey.isEmpty else { throw APIError.badRequest("snapshotKey must not be empty") }
            guard body.snapshotKey.unicodeScalars.count <= ProviderAPI.maxIdempotencyKeyLength else {
                throw APIError.badRequest("snapshotKey must be at most \(ProviderAPI.maxIdempotencyKeyLength) characters")
            }
            try Self.checkNames(body.instances, field: "instances")
            let results = try await provider.resend(body.instances, snapshotKey: body.snapshotKey, maxAge: maxAge, context: context)
            return ResendResponse(results: results)
        }
        mutation(.unfreeze, on: router, body: InstancesRequest.self) { body, context in
            try Self.checkNames(body.instances, field: "instances")
            try await provider.unfreeze(body.instances, context: context)
            return EmptyResponse()
        }
        mutation(.rollbackPath, on: router, body: PathChangeRequest.self) { body, context in
            let change = try Self.pathChange(body)
            try await provider.rollbackPath(change, context: context)
            return EmptyResponse()
        }
    }

    /// A mutating operation: the headers are checked before the body is read.
    private func mutation<Body: Decodable & Sendable, Answer: Encodable & Sendable>(
        _ operation: ProviderAPI.Operation, on router: Router<BasicRequestContext>, body: Body.Type,
        _ handler: @escaping @Sendable (Body, MutationContext) async throws -> Answer
    ) {
        router.post(RouterPath(operation.path)) { request, _ in
            let context = try MutationHeaders.context(from: request.headers)
            let decoded = try await decode(Body.self, from: request)
            return try Self.json(try await handler(decoded, context))
        }
    }

    /// Reads at most `maxBodySize` bytes (413 beyond, refused on `Content-Length` before
    /// reading) and decodes them (400 with where and what otherwise).
    private func decode<T: Decodable>(_ type: T.Type, from request: Request) async throws -> T {
        if let length = request.headers[.contentLength].flatMap(Int.init), length > maxBodySize {
            throw APIError.payloadTooLarge(limit: maxBodySize)
        }
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: maxBodySize)
        } catch is NIOTooManyBytesError {
            throw APIError.payloadTooLarge(limit: maxBodySize)
        }
        do {
            return try WireJSON.decode(type, from: Data(buffer.readableBytesView))
        } catch {
            throw APIError.badRequest("invalid request body: \(WireJSON.describe(error))")
        }
    }

    /// Refuses an empty instance name before any lookup (the schema's `minLength: 1`).
    static func checkNames(_ names: [String], field: String) throws(APIError) {
        if let index = names.firstIndex(where: \.isEmpty) {
            throw APIError.badRequest("\(field)[\(index)]: an instance name must not be empty")
        }
    }

    /// A path change off the wire: instance names checked, prefixes parsed with clear errors.
    static func pathChange(_ body: PathChangeRequest) throws(APIError) -> PathChange {
        if body.instances.keys.contains("") {
            throw APIError.badRequest("instances: an instance name must not be empty")
        }
        let texts = body.prefixes.keys.sorted()
        let blocks = try parse(texts, field: "prefixes")
        var prefixes: [AddressBlock: SendingPath] = [:]
        for (text, block) in zip(texts, blocks) {
            guard prefixes[block] == nil else { throw APIError.badRequest("prefixes: '\(text)' is given twice") }
            prefixes[block] = body.prefixes[text]
        }
        return PathChange(group: body.group, instances: body.instances, prefixes: prefixes)
    }

    /// Parses CIDR texts, naming every bad one.
    private static func parse(_ texts: [String], field: String = "cidrs") throws(APIError) -> [AddressBlock] {
        var blocks: [AddressBlock] = []
        var bad: [String] = []
        for text in texts {
            switch AddressBlock.parse(text) {
            case .success(let block): blocks.append(block)
            case .failure(.hostBitsSet(let suggestion)): bad.append("'\(text)' has host bits set (did you mean \(suggestion)?)")
            case .failure(.malformed): bad.append("'\(text)' is not a CIDR block like 198.51.100.0/24")
            }
        }
        guard bad.isEmpty else { throw APIError.badRequest(field + ": " + bad.joined(separator: "; ")) }
        return blocks
    }

    static func json(_ value: some Encodable) throws -> Response {
        let data = try WireJSON.encode(value)
        return Response(status: .ok, headers: [.contentType: "application/json"],
                        body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }
}
