import Foundation
import Synchronization
import Testing
import SendpathCore
@testable import SendpathHTTP
import SendpathSimulator

@Suite("HTTPProvider: retries, timeouts and unreachable providers")
struct HTTPProviderRetryTests {
    typealias F = HTTPFixture

    @Test func injectedErrorsAre503sThatTheClientRetriesThrough() async throws {
        let fixture = try await F(faults: [FaultRule(instance: "beta-dc", operation: .freeze, effect: .error, count: 2)])
        defer { fixture.remove() }
        try await fixture.withServer { provider, _ in
            try await provider.freeze(["beta-dc"], context: F.context("f", .freeze))
        }
        let report = try await fixture.simulator.check()
        #expect(report.frozen == ["beta-dc"])
        #expect(report.mutatingOperations == 3)
        let statuses = fixture.logs.all.filter { $0.contains("http.path=/v1/freeze") }.compactMap { line in
            line.split(separator: " ").first { $0.hasPrefix("http.status=") }.map(String.init)
        }
        #expect(statuses == ["http.status=503", "http.status=503", "http.status=200"])
        #expect(fixture.logs.all.filter { $0.contains("retrying") }.count == 2)
    }

    @Test func aLostAnswerIsA504AndTheRetryGetsTheStoredAnswer() async throws {
        let fixture = try await F(faults: [FaultRule(instance: "beta-dc", operation: .snapshotQueue, effect: .timeout, count: 1)])
        defer { fixture.remove() }
        let snapshots = try await fixture.withServer { provider, _ in
            try await provider.freeze(["beta-dc"], context: F.context("f", .freeze))
            return try await provider.snapshotQueue(["beta-dc"], context: F.context("s", .snapshotQueue))
        }
        #expect(snapshots.count == 1 && snapshots[0].messageCount > 0)
        let report = try await fixture.simulator.check()
        #expect(report.messages.inSnapshot == snapshots[0].messageCount)
        #expect(fixture.logs.all.contains { $0.contains("http.path=/v1/snapshot-queue") && $0.contains("http.status=504") })
    }

    @Test func faultsOutlastingTheAttemptsComeBackWithTheServersCode() async throws {
        let fixture = try await F(faults: [
            FaultRule(instance: "beta-dc", operation: .freeze, effect: .error, count: 5),
            FaultRule(instance: "acme-prod1", operation: .verifyIPs, effect: .timeout, count: 5),
        ])
        defer { fixture.remove() }
        try await fixture.withServer(attempts: 2) { provider, _ in
            let error = await expectProviderError(.transient) {
                try await provider.freeze(["beta-dc"], context: F.context("f", .freeze))
            }
            #expect(error?.message.contains("after 2 attempts") == true)
            #expect(error?.message.contains("injected fault") == true)
            await expectProviderError(.timeout) {
                try await provider.observeInstances(["acme-prod1"], step: .verifyIPs)
            }
        }
        #expect(try await fixture.simulator.check().frozen.isEmpty)
    }

    @Test func noRetryStartsAfterTheCutoversTurnBackTime() async throws {
        let fixture = try await F(faults: [FaultRule(instance: "beta-dc", operation: .freeze, effect: .error, count: 5)])
        defer { fixture.remove() }
        try await fixture.withServer(attempts: 5) { provider, _ in
            // The engine has no time left before it must turn the cut-over back.
            let error = await ProviderCallDeadline.$current.withValue(ContinuousClock.now) {
                await expectProviderError(.transient) {
                    try await provider.freeze(["beta-dc"], context: F.context("f", .freeze))
                }
            }
            #expect(error?.message.contains("not retried: the cut-over must turn back") == true, "\(String(describing: error))")
        }
        // One attempt reached the provider, not five.
        #expect(try await fixture.simulator.check().mutatingOperations == 1)
    }

    @Test func aRefusedConnectionIsUnreachableAfterEveryAttempt() async throws {
        // Bind a port, then free it: nothing listens there any more.
        let port = try await HTTPFixture.serve({ onRunning in
            ProviderAPIServer.makeApplication(provider: NeverProvider(), token: "t", port: 0, logger: fixtureLogger(), onRunning: onRunning)
        }) { port in port }
        let logs = LogCapture()
        let provider = try HTTPProvider(baseURL: "http://127.0.0.1:\(port)", token: F.token, connectTimeout: .seconds(1),
                                        retry: (attempts: 3, baseDelay: .milliseconds(5)), logger: logs.logger("client"))
        let error = await expectProviderError(.unreachable) {
            try await provider.freeze(["beta-dc"], context: F.context("f", .freeze))
        }
        try await provider.shutdown()
        #expect(error?.message.contains("after 3 attempts") == true)
        #expect(error?.message.contains("127.0.0.1:\(port)") == true)
        #expect(error?.isRetryable == true)
        #expect(logs.all.filter { $0.contains("retrying") }.count == 2)
        #expect(!logs.text.contains(F.token))
        #expect(error.map { !$0.description.contains(F.token) } ?? false)
    }

    @Test func aSlowProviderIsATimeout() async throws {
        let slow = SlowProvider(delay: .seconds(2))
        try await HTTPFixture.serve({ onRunning in
            ProviderAPIServer.makeApplication(provider: slow, token: F.token, port: 0, logger: fixtureLogger(), onRunning: onRunning)
        }) { port in
            let provider = try HTTPProvider(baseURL: "http://127.0.0.1:\(port)", token: F.token, requestTimeout: .milliseconds(200),
                                            retry: (attempts: 2, baseDelay: .milliseconds(5)), logger: fixtureLogger())
            let error = await expectProviderError(.timeout) {
                try await provider.observeInstances(["a"], step: nil)
            }
            try await provider.shutdown()
            try await slow.settle()
            #expect(error?.message.contains("may or may not have taken effect") == true)
        }
    }

    @Test(arguments: [
        (401, #"{"error":{"code":"unauthorized","message":"no","retryable":false}}"#, ProviderError.Code.unauthorized),
        (409, #"{"error":{"code":"rejected","message":"switch before prepare","retryable":false}}"#, .rejected),
        (409, #"{"error":{"code":"stale-fencing-token","message":"older","retryable":false}}"#, .staleFencingToken),
        (422, #"{"error":{"code":"idempotency-conflict","message":"reused","retryable":false}}"#, .idempotencyConflict),
        (404, #"{"error":{"code":"not-found","message":"ghost","retryable":false}}"#, .notFound),
        (400, #"{"error":{"code":"bad-request","message":"bad","retryable":false}}"#, .rejected),
        (413, #"{"error":{"code":"payload-too-large","message":"big","retryable":false}}"#, .rejected),
        (503, #"{"error":{"code":"unreachable","message":"backend down","retryable":true}}"#, .unreachable),
        (503, #"{"error":{"code":"transient","message":"busy","retryable":true}}"#, .transient),
        (504, #"{"error":{"code":"timeout","message":"lost","retryable":true}}"#, .timeout),
        (502, "<html>bad gateway</html>", .transient),
        (504, "", .timeout),
        (403, "", .unauthorized),
        (418, "", .rejected),
    ])
    func answersMapBackToTheExactProviderError(status: Int, body: String, code: ProviderError.Code) throws {
        let client = ProviderAPIClient(http: .shared, endpoint: try ProviderEndpoint("http://127.0.0.1:1"), token: try BearerToken(F.token),
                                       requestTimeout: .seconds(1), retry: RetrySchedule(attempts: 1, baseDelay: .zero), logger: fixtureLogger())
        let error = client.providerError(status: status, body: Data(body.utf8))
        #expect(error.code == code)
        if code == .unauthorized { #expect(error.message.contains("SENDPATH_PROVIDER_TOKEN")) }
    }

    @Test func aServerEchoingTheTokenHasItRedacted() throws {
        let client = ProviderAPIClient(http: .shared, endpoint: try ProviderEndpoint("http://127.0.0.1:1"), token: try BearerToken(F.token),
                                       requestTimeout: .seconds(1), retry: RetrySchedule(attempts: 1, baseDelay: .zero), logger: fixtureLogger())
        let body = #"{"error":{"code":"unauthorized","message":"token \#(F.token) unknown","retryable":false}}"#
        #expect(!client.providerError(status: 401, body: Data(body.utf8)).description.contains(F.token))
    }

    static let allCodes: [ProviderError.Code] = [
        .transient, .timeout, .unreachable, .staleFencingToken, .idempotencyConflict, .unauthorized, .rejected, .notFound,
    ]

    @Test(arguments: allCodes)
    func everyProviderErrorCodeHasItsStatus(code: ProviderError.Code) {
        let expected: Int = switch code {
        case .transient, .unreachable: 503
        case .timeout: 504
        case .staleFencingToken, .rejected: 409
        case .idempotencyConflict: 422
        case .unauthorized: 401
        case .notFound: 404
        }
        #expect(Int(APIError.status(for: code).code) == expected)
        #expect(APIError(ProviderError(code, "m")).retryable == ProviderError(code, "m").isRetryable)
    }

    @Test func backoffDoublesWithJitterUpToTheCap() {
        let schedule = RetrySchedule(attempts: 10, baseDelay: .milliseconds(200), maxDelay: .seconds(2))
        for attempt in 1...8 {
            let full = min(Duration.seconds(2), .milliseconds(200) * (1 << (attempt - 1)))
            let delay = schedule.delay(afterAttempt: attempt)
            #expect(delay >= full / 2 && delay <= full)
        }
    }
}

/// A provider whose observations take `delay`.
struct SlowProvider: Provider {
    let delay: Duration
    /// Observations being answered now: a test waits for none before it stops the server
    /// (Hummingbird stopped with a handler still running traps in NIO: "Deinited
    /// NIOAsyncWriter without calling finish()", seen under `make check`).
    let inFlight = InFlightCalls()

    func observeInstances(_ names: [String], step: StepName?) async throws(ProviderError) -> [String: ObservedInstance] {
        inFlight.count.add(1, ordering: .sequentiallyConsistent)
        defer { inFlight.count.subtract(1, ordering: .sequentiallyConsistent) }
        try? await Task.sleep(for: delay)
        return [:]
    }
    func observePrefixes(_ cidrs: [AddressBlock]) async throws(ProviderError) -> [AddressBlock: ObservedPrefix] { [:] }
    func highestFencingToken() async throws(ProviderError) -> FencingToken { FencingToken(0) }
    func prepareTarget(_ change: PathChange, context: MutationContext) async throws(ProviderError) {}
    func freeze(_ instances: [String], context: MutationContext) async throws(ProviderError) {}
    func snapshotQueue(_ instances: [String], context: MutationContext) async throws(ProviderError) -> [QueueSnapshot] { [] }
    func switchPath(_ change: PathChange, context: MutationContext) async throws(ProviderError) {}
    func resend(_ instances: [String], snapshotKey: String, maxAge: Duration,
                context: MutationContext) async throws(ProviderError) -> [ResendResult] { [] }
    func unfreeze(_ instances: [String], context: MutationContext) async throws(ProviderError) {}
    func rollbackPath(_ change: PathChange, context: MutationContext) async throws(ProviderError) {}
}

/// A provider for servers that are never called.
typealias NeverProvider = SlowProvider
extension SlowProvider {
    init() { delay = .zero }

    /// Waits (polling) until no call is being answered.
    func settle() async throws {
        while inFlight.count.load(ordering: .sequentiallyConsistent) > 0 { try await Task.sleep(for: .milliseconds(20)) }
    }
}

final class InFlightCalls: Sendable {
    let count = Atomic<Int>(0)
}
