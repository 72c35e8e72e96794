import Foundation
import AsyncHTTPClient
import NIOCore
import Testing
import SendpathCore
@testable import SendpathHTTP
import SendpathSimulator

@Suite("Provider API: authentication, secrets, headers and limits")
struct ProviderAPISecurityTests {
    typealias F = HTTPFixture

    @Test func aWrongTokenIsUnauthorizedChangesNothingAndLeaksNowhere() async throws {
        let fixture = try await F()
        defer { fixture.remove() }
        let wrong = "sp-wrong-Hh4Tq9ZpB1cX6yK0"
        let error = try await fixture.withServer(clientToken: wrong) { provider, _ in
            #expect(!provider.description.contains(wrong))
            #expect(!String(reflecting: provider).contains(wrong))
            var dumped = ""
            dump(provider, to: &dumped)
            #expect(!dumped.contains(wrong))
            return await expectProviderError(.unauthorized) {
                try await provider.freeze(["beta-dc"], context: F.context("f", .freeze))
            }
        }
        let message = try #require(error).description
        #expect(message.contains("SENDPATH_PROVIDER_TOKEN"))
        #expect(!message.contains(wrong) && !message.contains(F.token))
        #expect(error?.isRetryable == false)

        let report = try await fixture.simulator.check()
        #expect(report.frozen.isEmpty)
        #expect(report.mutatingOperations == 0)
        // One request, refused, no retries: a 4xx is final.
        let lines = fixture.logs.all.filter { $0.contains("http.path=/v1/freeze") }
        #expect(lines.count == 1)
        #expect(lines.first?.contains("http.status=401") == true)
        #expect(!fixture.logs.text.contains(wrong))
        #expect(!fixture.logs.text.contains(F.token))
        #expect(!fixture.logs.text.lowercased().contains("authorization"))
    }

    @Test func aMissingOrMalformedAuthorizationHeaderIs401() async throws {
        let fixture = try await F()
        defer { fixture.remove() }
        try await fixture.withServer { provider, _ in
            let body = #"{"instances":["beta-dc"]}"#
            let missing = try await provider.raw("/v1/freeze", json: body, headers: HTTPProvider.mutationHeaders("a"), includeToken: false)
            #expect(missing.status == 401 && missing.code == "unauthorized")
            let basic = try await provider.raw("/v1/freeze", json: body,
                                               headers: HTTPProvider.mutationHeaders("b") + [("Authorization", "Basic \(F.token)")],
                                               includeToken: false)
            #expect(basic.status == 401)
            let prefix = try await provider.raw("/v1/freeze", json: body,
                                                headers: HTTPProvider.mutationHeaders("c") + [("Authorization", "Bearer \(F.token.dropLast())")],
                                                includeToken: false)
            #expect(prefix.status == 401)
            let observe = try await provider.raw("/v1/instances/observe", json: #"{"names":["beta-dc"]}"#, includeToken: false)
            #expect(observe.status == 401)
            let unknownRoute = try await provider.raw("/v1/nothing-here", json: "{}", includeToken: false)
            #expect(unknownRoute.status == 401)
            #expect(!missing.body.contains(F.token) && !basic.body.contains(F.token) && !prefix.body.contains(F.token))
        }
        #expect(try await fixture.simulator.check().mutatingOperations == 0)
        #expect(!fixture.logs.text.contains(F.token))
    }

    @Test func aServerWithoutATokenRefusesEveryCall() async throws {
        let fixture = try await F()
        defer { fixture.remove() }
        try await fixture.withServer(token: "") { provider, _ in
            await expectProviderError(.unauthorized) { try await provider.observeInstances(["beta-dc"], step: nil) }
        }
    }

    typealias Headers = [(String, String)]

    static func headers(key: String? = "k", token: String? = "1", step: String? = "freeze") -> Headers {
        var result: Headers = []
        if let key { result.append(("Idempotency-Key", key)) }
        if let token { result.append(("Sendpath-Fencing-Token", token)) }
        if let step { result.append(("Sendpath-Step", step)) }
        return result
    }

    static let invalidHeaders: [(Headers, String)] = [
        (headers(key: nil), "Idempotency-Key"),
        (headers(token: nil), "Sendpath-Fencing-Token"),
        (headers(step: nil), "Sendpath-Step"),
        (headers(token: "-1"), "Sendpath-Fencing-Token"),
        (headers(token: "99999999999999999999"), "Sendpath-Fencing-Token"),
        (headers(step: "defrost"), "Sendpath-Step"),
        (headers(key: String(repeating: "k", count: 257)), "Idempotency-Key"),
        (headers(key: "caf\u{E9}"), "Idempotency-Key"),
    ]

    @Test(arguments: invalidHeaders)
    func aMissingOrInvalidMutationHeaderIs400(headers: [(String, String)], named header: String) async throws {
        let fixture = try await F()
        defer { fixture.remove() }
        try await fixture.withServer { provider, _ in
            let answer = try await provider.raw("/v1/freeze", json: #"{"instances":["beta-dc"]}"#, headers: headers)
            #expect(answer.status == 400)
            #expect(answer.code == "bad-request")
            #expect(answer.body.contains(header))
        }
        #expect(try await fixture.simulator.check().mutatingOperations == 0)
    }

    @Test func aMalformedBodyIs400WithWhereAndWhat() async throws {
        let fixture = try await F()
        defer { fixture.remove() }
        try await fixture.withServer { provider, _ in
            let notJSON = try await provider.raw("/v1/freeze", json: "instances: beta-dc", headers: HTTPProvider.mutationHeaders("a"))
            #expect(notJSON.status == 400 && notJSON.body.contains("not valid JSON"))
            let missing = try await provider.raw("/v1/freeze", json: #"{"names":["beta-dc"]}"#, headers: HTTPProvider.mutationHeaders("b"))
            #expect(missing.status == 400 && missing.body.contains("instances"))
            let badCIDR = try await provider.raw("/v1/prefixes/observe", json: #"{"cidrs":["198.51.100.7/24"]}"#)
            #expect(badCIDR.status == 400 && badCIDR.body.contains("198.51.100.0/24"))
            let badPath = try await provider.raw("/v1/switch-path",
                                                 json: #"{"group":"g","instances":{"beta-dc":{"infrastructure":"gcp","location":"x"}},"prefixes":{}}"#,
                                                 headers: HTTPProvider.mutationHeaders("c", step: .switchPath))
            #expect(badPath.status == 400 && badPath.body.contains("infrastructure"))
            let negativeAge = try await provider.raw("/v1/resend", json: #"{"instances":["beta-dc"],"snapshotKey":"s","maxAgeSeconds":-1}"#,
                                                     headers: HTTPProvider.mutationHeaders("d", step: .resendQueue))
            #expect(negativeAge.status == 400 && negativeAge.body.contains("maxAgeSeconds"))
        }
        #expect(try await fixture.simulator.check().mutatingOperations == 0)
    }

    @Test func aBodyOverTheLimitIs413() async throws {
        let fixture = try await F()
        defer { fixture.remove() }
        try await fixture.withServer(maxBodySize: 4096) { provider, _ in
            let names = (0..<400).map { "\"instance-with-a-rather-long-name-\($0)\"" }.joined(separator: ",")
            let raw = try await provider.raw("/v1/freeze", json: "{\"instances\":[\(names)]}", headers: HTTPProvider.mutationHeaders("big"))
            #expect(raw.status == 413)
            #expect(raw.code == "payload-too-large")
            let error = await expectProviderError(.rejected) {
                try await provider.observeInstances((0..<400).map { "instance-with-a-rather-long-name-\($0)" }, step: nil)
            }
            #expect(error?.message.contains("413") == true)
            // Still serving after refusing a large body.
            #expect(try await provider.observeInstances(["beta-dc"], step: nil).count == 1)
        }
        #expect(try await fixture.simulator.check().mutatingOperations == 0)
    }

    @Test func aChunkedBodyOverTheLimitIs413() async throws {
        let fixture = try await F()
        defer { fixture.remove() }
        try await fixture.withServer(maxBodySize: 4096) { _, port in
            var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/v1/instances/observe")
            request.method = .POST
            request.headers.add(name: "Authorization", value: "Bearer \(F.token)")
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(Array(repeating: UInt8(ascii: " "), count: 16_384), length: .unknown)
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(5))
            let body = try await response.body.collect(upTo: 1 << 16)
            #expect(response.status.code == 413)
            #expect(String(buffer: body).contains("payload-too-large"))
        }
    }

    @Test func everyRequestIsLoggedWithItsMutationHeadersAndNothingSecret() async throws {
        let fixture = try await F()
        defer { fixture.remove() }
        try await fixture.withServer { provider, _ in
            try await provider.freeze(["beta-dc"], context: F.context("cut#1/freeze", .freeze, token: 12))
        }
        let line = try #require(fixture.logs.all.first { $0.contains("http.path=/v1/freeze") })
        for part in ["http.method=POST", "http.status=200", "http.duration_ms=", "idempotency.key=cut#1/freeze",
                     "step.name=freeze", "fencing.token=12"] {
            #expect(line.contains(part), "\(line)")
        }
        #expect(!fixture.logs.text.contains(F.token))
    }

    @Test(arguments: [
        ("ftp://provider.example.net", HTTPProviderSetupError.Code.invalidBaseURL),
        ("provider.example.net:8443", .invalidBaseURL),
        ("http://", .invalidBaseURL),
        ("https://ops:hunter2@provider.example.net", .invalidBaseURL),
        ("https://provider.example.net/?token=abc", .invalidBaseURL),
        ("sim:.sendpath/fleet.db", .invalidBaseURL),
    ])
    func aBaseURLThatIsNotHTTPIsRefusedClearly(url: String, code: HTTPProviderSetupError.Code) throws {
        let error = #expect(throws: HTTPProviderSetupError.self) {
            _ = try HTTPProvider(baseURL: url, token: F.token, logger: fixtureLogger())
        }
        #expect(error?.code == code)
        #expect(error?.description.contains("hunter2") == false)
        #expect(error?.description.contains(F.token) == false)
    }

    @Test func aTokenAnHTTPHeaderCannotCarryIsRefusedWithoutRepeatingIt() throws {
        for token in ["", "has space", "line\nbreak"] {
            let error = #expect(throws: HTTPProviderSetupError.self) {
                _ = try HTTPProvider(baseURL: "http://127.0.0.1:1", token: token, logger: fixtureLogger())
            }
            #expect(error?.code == .invalidToken)
            #expect(error?.description.contains("SENDPATH_PROVIDER_TOKEN") == true)
            if !token.isEmpty { #expect(error?.description.contains(token) == false) }
        }
    }

    @Test func theAPIRootIsNormalised() throws {
        for (url, root) in [("http://127.0.0.1:8080", "http://127.0.0.1:8080/v1"),
                            ("https://p.example.net/", "https://p.example.net/v1"),
                            ("https://p.example.net/v1/", "https://p.example.net/v1"),
                            ("https://p.example.net/sendpath", "https://p.example.net/sendpath/v1")] {
            #expect(try ProviderEndpoint(url).apiRoot == root)
        }
    }
}

func fixtureLogger() -> Logger { LogCapture().logger("unused") }

import Logging
