import Foundation
import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import Testing
import SendpathCore
@testable import SendpathHTTP

/// Every server closes a client that does not finish its request in time, answers a wrong
/// method with 405 and `Allow`, and (the provider API) a body that is not JSON with 415.
@Suite("HTTP servers: slow clients, methods and content types")
struct HTTPServerLimitsTests {
    typealias F = HTTPFixture

    static func send(_ method: HTTPMethod, port: Int, path: String, contentType: String?, body: String = "{}") async throws -> HTTPClientResponse {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
        request.method = method
        request.headers.add(name: "Authorization", value: "Bearer \(F.token)")
        if let contentType { request.headers.add(name: "Content-Type", value: contentType) }
        if method == .POST { request.body = .bytes(ByteBuffer(string: body)) }
        return try await HTTPClient.shared.execute(request, timeout: .seconds(10))
    }

    @Test func aWrongMethodIs405WithAllowAndABodyThatIsNotJSONIs415() async throws {
        let fixture = try await F()
        defer { fixture.remove() }
        try await fixture.withServer { _, port in
            for method in [HTTPMethod.TRACE, .GET, .PUT, .DELETE] {
                let response = try await Self.send(method, port: port, path: "/v1/freeze", contentType: nil)
                #expect(response.status.code == 405, "\(method)")
                #expect(response.headers["Allow"] == ["POST"], "\(method)")
            }
            let text = try await Self.send(.POST, port: port, path: "/v1/instances/observe", contentType: "text/plain",
                                           body: #"{"names": ["beta-dc"]}"#)
            #expect(text.status.code == 415)
            let body = String(buffer: try await text.body.collect(upTo: 1 << 16))
            #expect(body.contains("unsupported-media-type"))
            let json = try await Self.send(.POST, port: port, path: "/v1/instances/observe", contentType: "application/json; charset=utf-8",
                                           body: #"{"names": ["beta-dc"]}"#)
            #expect(json.status.code == 200)
        }
        #expect(try await fixture.simulator.check().mutatingOperations == 0)
    }

    @Test func aClientThatNeverFinishesItsHeadersIsClosed() async throws {
        let fixture = try await F()
        defer { fixture.remove() }
        try await fixture.withServer(limits: HTTPServerLimits(idleTimeout: .milliseconds(500))) { _, port in
            let socket = try SlowClient(port: port)
            defer { socket.close() }
            // Half a request head, and then nothing more: the server must hang up by itself.
            try socket.send("POST /v1/freeze HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer")
            #expect(socket.waitForClose(within: 30), "the server kept a connection whose request never came")
        }
    }
}

/// A blocking TCP client that can send part of a request and see the server hang up.
struct SlowClient {
    let fd: Int32

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw POSIXError(.ECONNREFUSED) }
    }

    func send(_ text: String) throws {
        let bytes = Array(text.utf8)
        guard write(fd, bytes, bytes.count) == bytes.count else { throw POSIXError(.EIO) }
    }

    /// Whether the server closed the connection (a read sees its end) within `seconds`.
    func waitForClose(within seconds: Int) -> Bool {
        var timeout = timeval(tv_sec: seconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = read(fd, &buffer, buffer.count)
            if count == 0 { return true }
            if count < 0 { return errno == ECONNRESET }
        }
    }

    func close() { _ = Glibc.close(fd) }
}
