import SendpathCore
import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOPosix

/// The HTTP side of ``HTTPProvider``: one JSON `POST` per call, retried with exponential
/// backoff and jitter on connection failures, timeouts and 5xx answers (with the same body and
/// idempotency key), never on 4xx; every failure mapped to the exact ``ProviderError``.
struct ProviderAPIClient: Sendable {
    let http: HTTPClient
    let endpoint: ProviderEndpoint
    let token: BearerToken
    let requestTimeout: Duration
    let retry: RetrySchedule
    /// The shortest wait for an answer under a turn-back deadline: a loaded machine may take a
    /// few seconds for a round trip, and a call cut shorter would fail for nothing.
    static let minimumRequestTimeout: Duration = .seconds(5)
    let logger: Logger

    /// Answers larger than this are refused (a resend of a huge queue is well below it).
    static let maxResponseSize = 64 << 20

    /// A status and body as received.
    struct RawResponse: Sendable {
        var status: Int
        var body: Data
    }

    /// Why an attempt got no HTTP answer.
    enum TransportFailure: Error, Sendable {
        /// No connection was made: the call never reached the provider.
        case unreachable(String)
        /// Connected, but no (complete) answer in time: the call may or may not have taken effect.
        case timeout(String)
        case cancelled
    }

    /// Calls `operation` with `body`; decodes a 2xx answer as `Answer`.
    func call<Answer: Decodable>(_ operation: ProviderAPI.Operation, body: some Encodable, context: MutationContext?,
                                 as answer: Answer.Type) async throws(ProviderError) -> Answer {
        let data: Data
        do {
            data = try WireJSON.encode(body)
        } catch {
            throw ProviderError(.rejected, "cannot encode the \(operation.rawValue) request: \(error)")
        }
        let response = try await send(operation, body: data, context: context)
        do {
            return try WireJSON.decode(Answer.self, from: response.body)
        } catch {
            throw ProviderError(.rejected, "the provider at \(endpoint) answered \(operation.rawValue) with HTTP \(response.status) but a body that is not the API's (\(WireJSON.describe(error))); is it a Sendpath provider API v1 server?")
        }
    }

    /// Sends until a 2xx (returned), a 4xx (thrown at once) or the last attempt (its failure thrown).
    func send(_ operation: ProviderAPI.Operation, body: Data, context: MutationContext?) async throws(ProviderError) -> RawResponse {
        var failure = ProviderError(.unreachable, "no attempt was made")
        for attempt in 1...retry.attempts {
            switch await once(url: endpoint.url(for: operation), body: body, headers: Self.headers(for: context)) {
            case .success(let response) where (200..<300).contains(response.status):
                return response
            case .success(let response) where response.status < 500:
                throw providerError(status: response.status, body: response.body)
            case .success(let response):
                failure = providerError(status: response.status, body: response.body)
            case .failure(.cancelled):
                throw ProviderError(.transient, "the call to the provider at \(endpoint) was cancelled")
            case .failure(.unreachable(let why)):
                failure = ProviderError(.unreachable, "cannot reach the provider at \(endpoint.authority): \(why)")
            case .failure(.timeout(let why)):
                failure = ProviderError(.timeout, "no answer from the provider at \(endpoint.authority): \(why); the call may or may not have taken effect, retry with the same idempotency key")
            }
            guard attempt < retry.attempts else { break }
            let delay = retry.delay(afterAttempt: attempt)
            // The engine's turn-back time comes first: no retry that could not end before it.
            if let left = ProviderCallDeadline.remaining, left <= delay {
                failure.message += " (not retried: the cut-over must turn back within \(left.components.seconds)s)"
                throw failure
            }
            logger.warning("provider call failed; retrying", metadata: [
                "provider.operation": "\(operation.rawValue)", "retry.attempt": "\(attempt)",
                "retry.delay_ms": "\(delay.components.seconds * 1000 + delay.components.attoseconds / 1_000_000_000_000_000)",
                "error.code": "\(failure.code.rawValue)", "error.message": "\(failure.message)",
                "idempotency.key": "\(context?.idempotencyKey ?? "-")",
            ])
            do {
                try await Task.sleep(for: delay)
            } catch {
                throw ProviderError(.transient, "the call to the provider at \(endpoint) was cancelled while waiting to retry")
            }
        }
        failure.message += retry.attempts > 1 ? " (after \(retry.attempts) attempts)" : ""
        throw failure
    }

    /// The three headers of a mutating call.
    static func headers(for context: MutationContext?) -> [(String, String)] {
        guard let context else { return [] }
        return [(ProviderAPI.idempotencyKeyHeader, ProviderAPI.wireKey(context.idempotencyKey)),
                (ProviderAPI.fencingTokenHeader, context.fencingToken.description),
                (ProviderAPI.stepHeader, context.step.rawValue)]
    }

    /// One attempt: `POST url` with the token, `headers` and `body`.
    func once(url: String, body: Data, headers: [(String, String)], includeToken: Bool = true) async -> Result<RawResponse, TransportFailure> {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        if includeToken { request.headers.add(name: "Authorization", value: token.headerValue) }
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Accept", value: "application/json")
        for (name, value) in headers {
            request.headers.add(name: name, value: value)
        }
        request.body = .bytes(ByteBuffer(bytes: body))
        do {
            let timeout = ProviderCallDeadline.remaining.map { min(requestTimeout, max($0, Self.minimumRequestTimeout)) } ?? requestTimeout
            let response = try await http.execute(request, timeout: Self.timeAmount(timeout))
            let collected = try await response.body.collect(upTo: Self.maxResponseSize)
            return .success(RawResponse(status: Int(response.status.code), body: Data(collected.readableBytesView)))
        } catch {
            return .failure(classify(error))
        }
    }

    /// A transport error as unreachable (never connected) or timeout (connected, no answer).
    func classify(_ error: any Error) -> TransportFailure {
        if error is CancellationError || Task.isCancelled { return .cancelled }
        let seconds = requestTimeout.components.seconds
        if let error = error as? HTTPClientError {
            switch error {
            case .connectTimeout, .tlsHandshakeTimeout:
                return .unreachable("no connection within the connect timeout")
            case .readTimeout, .deadlineExceeded, .writeTimeout:
                return .timeout("no answer within \(seconds)s")
            case .remoteConnectionClosed:
                return .timeout("the connection closed before the answer")
            case .cancelled:
                return .cancelled
            default:
                return .timeout("the HTTP exchange failed (\(error))")
            }
        }
        if let error = error as? NIOConnectionError {
            let refused = error.connectionErrors.contains { ($0.error as? IOError)?.errnoCode == ECONNREFUSED }
            if refused { return .unreachable("connection refused (is the provider running and listening there?)") }
            if error.dnsAError != nil && error.dnsAAAAError != nil { return .unreachable("the host name does not resolve") }
            return .unreachable("the connection failed")
        }
        if case ChannelError.connectTimeout = error { return .unreachable("no connection within the connect timeout") }
        if let error = error as? IOError {
            switch error.errnoCode {
            case ECONNREFUSED: return .unreachable("connection refused (is the provider running and listening there?)")
            case EHOSTUNREACH, ENETUNREACH: return .unreachable("no route to the host")
            default: return .timeout("the connection failed (errno \(error.errnoCode))")
            }
        }
        if error is NIOTooManyBytesError {
            return .timeout("the answer is larger than \(Self.maxResponseSize) bytes")
        }
        return .unreachable("\(String(describing: type(of: error))): \(error)")
    }

    /// A non-2xx answer as the provider error its body names (its status when the body is not
    /// the API's). The server's message is passed on, with the token redacted should it appear.
    func providerError(status: Int, body: Data) -> ProviderError {
        let envelope = try? WireJSON.decode(ErrorEnvelope.self, from: body)
        let message = token.redact(envelope.map { String($0.error.message.prefix(2000)) } ?? "HTTP \(status) without the API's error body")
        let bodyCode = envelope?.error.code
        let code = bodyCode.flatMap(ProviderError.Code.init(rawValue:)) ?? Self.code(forStatus: status)
        switch code {
        case .unauthorized:
            return ProviderError(.unauthorized, "the provider at \(endpoint) refused the credentials (HTTP \(status): \(message)); check SENDPATH_PROVIDER_TOKEN")
        case .rejected where bodyCode == "payload-too-large" || status == 413:
            return ProviderError(.rejected, "the provider refused the request as too large (HTTP \(status)): \(message)")
        case .rejected where bodyCode == "bad-request" || status == 400:
            return ProviderError(.rejected, "the provider refused the request as malformed (HTTP \(status)): \(message)")
        default:
            return ProviderError(code, message)
        }
    }

    static func code(forStatus status: Int) -> ProviderError.Code {
        switch status {
        case 401, 403: .unauthorized
        case 404: .notFound
        case 422: .idempotencyConflict
        case 504: .timeout
        case 500...: .transient
        default: .rejected
        }
    }

    static func timeAmount(_ duration: Duration) -> TimeAmount {
        let (seconds, attoseconds) = duration.components
        return .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
