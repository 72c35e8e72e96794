import Hummingbird
import HTTPTypes
import SendpathCore

/// Refuses every request without `Authorization: Bearer <token>` carrying the expected token
/// (401, code `unauthorized`), comparing in time independent of where the tokens differ.
///
/// An empty expected token refuses everything: a server must not run open by mistake. Neither
/// the expected nor the presented token appears in any answer or log.
struct BearerAuthMiddleware<Context: RequestContext>: RouterMiddleware {
    private let expected: [UInt8]

    init(token: String) {
        expected = Array(token.utf8)
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard !expected.isEmpty else {
            throw APIError(ProviderError(.unauthorized, "this server has no token configured and refuses every call; set SENDPATH_PROVIDER_TOKEN where it runs"))
        }
        guard let header = request.headers[.authorization], let presented = Self.bearerToken(header) else {
            throw APIError(ProviderError(.unauthorized, "missing or malformed Authorization header; send 'Authorization: Bearer <token>'"))
        }
        guard Self.constantTimeEquals(presented, expected) else {
            throw APIError(ProviderError(.unauthorized, "the bearer token is not the one this provider expects"))
        }
        return try await next(request, context)
    }

    /// The token of a `Bearer` credential (scheme case-insensitive), if the header is one.
    static func bearerToken(_ header: String) -> [UInt8]? {
        let bytes = Array(header.utf8)
        let scheme = Array("bearer ".utf8)
        guard bytes.count > scheme.count,
              zip(bytes, scheme).allSatisfy({ ($0 | 0x20) == ($1 | 0x20) }) else { return nil }
        let token = bytes[scheme.count...].drop { $0 == 0x20 }
        return token.isEmpty ? nil : Array(token)
    }

    /// Compares every byte of the longer input whatever the contents, so the time taken does not
    /// tell how much of a guess was right.
    static func constantTimeEquals(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
        let length = max(lhs.count, rhs.count)
        var difference = UInt64(truncatingIfNeeded: lhs.count ^ rhs.count)
        for index in 0..<length {
            let a = index < lhs.count ? lhs[index] : 0
            let b = index < rhs.count ? rhs[index] : 0
            difference |= UInt64(a ^ b)
        }
        return difference == 0
    }
}
