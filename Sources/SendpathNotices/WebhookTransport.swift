public import SendpathCore
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOSSL

/// The notice as JSON, POSTed to the tenant's `spec.webhook` (https only). A 2xx answer is a
/// delivery; anything else, or no answer within the timeout, is an error. The Message-ID goes
/// in the body and in an `Idempotency-Key` header, so a receiver can drop a repeat.
public struct WebhookTransport: NoticeTransport {
    public let channel = NoticeDelivery.Channel.webhook
    let client: HTTPClient
    let timeout: TimeAmount

    /// `caFile`: PEM certificates to trust instead of the system's (a private CA, tests).
    /// Call ``shutdown()`` when done.
    public init(caFile: String?, timeoutSeconds: Int64 = 30) throws {
        self.init(client: try Self.makeClient(caFile: caFile), timeout: .seconds(timeoutSeconds))
    }

    static func makeClient(caFile: String?) throws -> HTTPClient {
        var tls = TLSConfiguration.makeClientConfiguration()
        if let caFile { tls.trustRoots = .file(caFile) }
        var configuration = HTTPClient.Configuration(tlsConfiguration: tls, redirectConfiguration: .disallow)
        configuration.timeout = .init(connect: .seconds(10), read: .seconds(30))
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// Shuts the client down (once the notices went out).
    public func shutdown() async {
        try? await client.shutdown()
    }

    init(client: HTTPClient, timeout: TimeAmount) {
        self.client = client
        self.timeout = timeout
    }

    public func deliver(_ message: NoticeMessage, tenant: Tenant) async throws -> [String] {
        guard let url = tenant.webhook?.value.value else { return [] }
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "User-Agent", value: "sendpath/\(SendpathVersion.current)")
        request.headers.add(name: "Idempotency-Key", value: message.messageID)
        request.body = .bytes(ByteBuffer(string: message.json))
        let response: HTTPClientResponse
        do {
            response = try await client.execute(request, timeout: timeout)
        } catch {
            throw NoticeDeliveryError(.webhook, "the webhook of tenant \(tenant.name) could not be reached: \(Escaped.value(String(describing: error)))")
        }
        _ = try? await response.body.collect(upTo: 64 * 1024)
        guard (200..<300).contains(response.status.code) else {
            throw NoticeDeliveryError(.webhook, "the webhook of tenant \(tenant.name) answered \(response.status.code)")
        }
        return [url]
    }
}
