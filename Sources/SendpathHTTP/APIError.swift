import SendpathCore
import Foundation
import Hummingbird
import HTTPTypes
import NIOCore

/// An error as the provider API sends it: an HTTP status and the one error body
/// `{"error": {"code", "message", "retryable"}}`.
///
/// `code` is a ``ProviderError/Code`` raw value, or `bad-request` / `payload-too-large` for
/// requests the server could not take at all. Its message never holds a credential.
struct APIError: Error, Sendable, HTTPResponseError, CustomStringConvertible {
    var status: HTTPResponse.Status
    var code: String
    var message: String
    var retryable: Bool

    init(status: HTTPResponse.Status, code: String, message: String, retryable: Bool = false) {
        self.status = status
        self.code = code
        self.message = message
        self.retryable = retryable
    }

    /// A malformed request (400): headers, JSON or values the API does not allow.
    static func badRequest(_ message: String) -> APIError {
        APIError(status: .badRequest, code: "bad-request", message: message)
    }

    /// A body over the server's limit (413).
    static func payloadTooLarge(limit: Int) -> APIError {
        APIError(status: .contentTooLarge, code: "payload-too-large",
                 message: "the request body is larger than this server's limit of \(limit) bytes; send fewer names per call")
    }

    /// A provider's refusal, with the status the API gives its code.
    init(_ error: ProviderError) {
        self.init(status: Self.status(for: error.code), code: error.code.rawValue, message: error.message,
                  retryable: error.isRetryable)
    }

    /// The status of each provider error code (docs/provider-api.yaml, "Errors").
    static func status(for code: ProviderError.Code) -> HTTPResponse.Status {
        switch code {
        case .transient, .unreachable: .serviceUnavailable
        case .timeout: .gatewayTimeout
        case .staleFencingToken, .rejected: .conflict
        case .idempotencyConflict: .unprocessableContent
        case .unauthorized: .unauthorized
        case .notFound: .notFound
        }
    }

    /// Any error escaping a handler, in the API's shape.
    static func from(_ error: any Error, request: Request) -> APIError {
        switch error {
        case let error as APIError:
            return error
        case let error as ProviderError:
            return APIError(error)
        case is NIOTooManyBytesError:
            return APIError(status: .contentTooLarge, code: "payload-too-large",
                            message: "the request body is larger than this server accepts; send fewer names per call")
        case let error as HTTPError where error.status == .notFound:
            return APIError(status: .notFound, code: ProviderError.Code.notFound.rawValue,
                            message: "no operation \(request.method.rawValue) \(request.uri.path)"
                                + (request.uri.path.hasPrefix(ProviderAPI.basePath) ? "; see docs/provider-api.yaml" : ""))
        case let error as any HTTPResponseError where (400..<500).contains(error.status.code):
            return APIError(status: error.status, code: "bad-request", message: error.status.reasonPhrase)
        default:
            return APIError(status: .internalServerError, code: ProviderError.Code.transient.rawValue,
                            message: "the server failed to handle the request; retry", retryable: true)
        }
    }

    var description: String { "\(status.code) \(code): \(message)" }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        response()
    }

    func response() -> Response {
        let envelope = ErrorEnvelope(error: .init(code: code, message: message, retryable: retryable))
        let data = (try? WireJSON.encode(envelope)) ?? Data(#"{"error":{"code":"transient","message":"unencodable error","retryable":true}}"#.utf8)
        var headers: HTTPFields = [.contentType: "application/json"]
        if status == .unauthorized {
            headers[.wwwAuthenticate] = #"Bearer realm="sendpath-provider""#
        }
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }
}
