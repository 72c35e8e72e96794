import Foundation
import AsyncHTTPClient
import NIOCore
import SendpathTestSupport
import Testing
@testable import SendpathHTTP

@Suite("Controller HTTP server: /healthz, /readyz, /metrics, /status")
struct ControllerHTTPServerTests {
    struct Answer {
        var status: Int
        var contentType: String?
        var body: String
    }

    struct StatusUnavailable: Error, CustomStringConvertible {
        var description: String { "state store unreachable" }
    }

    /// Serves `endpoints` on a free port and GETs `paths`.
    func get(_ paths: [String], from endpoints: ControllerEndpoints) async throws -> [String: Answer] {
        try await HTTPFixture.serve({ onRunning in
            ControllerHTTPServer.makeApplication(endpoints: endpoints, port: 0, logger: fixtureLogger(), onRunning: onRunning)
        }) { port in
            var answers: [String: Answer] = [:]
            for path in paths {
                let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)"), timeout: .seconds(5))
                let body = try await response.body.collect(upTo: 1 << 20)
                answers[path] = Answer(status: Int(response.status.code), contentType: response.headers.first(name: "content-type"),
                                       body: String(buffer: body))
            }
            return answers
        }
    }

    @Test func aReadyControllerAnswersAllFourEndpoints() async throws {
        let metrics = ControllerMetrics()
        metrics.stepFinished(step: "freeze", result: "done")
        metrics.stepFinished(step: "freeze", result: "done")
        metrics.stepFinished(step: "switch-path", result: "failed")
        metrics.setGroupsInProgress(2)
        metrics.setInstancesFrozen(5)
        metrics.setMessagesAwaitingResend(123)
        metrics.observeReconcileDuration(seconds: 2.5)
        metrics.setLastSuccessfulReconcile(unixSeconds: 1_705_437_000)
        metrics.reconcileFinished(outcome: "converged")
        metrics.fencingRejected(by: .provider)
        let status = Array(#"{"outcome":"converged","instances":[]}"#.utf8)
        let endpoints = ControllerEndpoints(ready: { (true, "lease held; last pass converged") }, status: { status }, metrics: metrics)

        let answers = try await get(["/healthz", "/readyz", "/metrics", "/status", "/nope"], from: endpoints)
        #expect(answers["/healthz"]?.status == 200)
        #expect(answers["/healthz"]?.body == "ok")
        #expect(answers["/readyz"]?.status == 200)
        #expect(answers["/readyz"]?.body.contains("lease held") == true)
        #expect(answers["/status"]?.status == 200)
        #expect(answers["/status"]?.contentType == "application/json")
        #expect(answers["/status"]?.body == String(decoding: status, as: UTF8.self))
        #expect(answers["/nope"]?.status == 404)

        let exposition = try #require(answers["/metrics"])
        #expect(exposition.status == 200)
        #expect(exposition.contentType == "text/plain; version=0.0.4")
        for name in ["sendpath_steps_total", "sendpath_groups_in_progress", "sendpath_instances_frozen",
                     "sendpath_messages_awaiting_resend", "sendpath_reconcile_duration_seconds_bucket",
                     "sendpath_reconcile_duration_seconds_sum", "sendpath_reconcile_duration_seconds_count",
                     "sendpath_last_successful_reconcile_timestamp_seconds", "sendpath_reconciles_total",
                     "sendpath_fencing_rejections_total"] {
            #expect(exposition.body.contains(name), "missing \(name)")
        }
        #expect(exposition.body.contains(#"sendpath_steps_total{step="freeze",result="done"} 2"#))
        #expect(exposition.body.contains(#"sendpath_reconciles_total{outcome="converged"} 1"#))
        #expect(exposition.body.contains("sendpath_messages_awaiting_resend 123"))
        #expect(exposition.body.contains(#"sendpath_fencing_rejections_total{by="provider"} 1"#))
        #expect(exposition.body.contains(#"sendpath_fencing_rejections_total{by="state-store"} 0"#))
        #expect(exposition.body.contains("# TYPE sendpath_reconcile_duration_seconds histogram"))
        Self.expectValidExposition(exposition.body)
    }

    @Test func anUnreadyControllerIs503AndAFailingStatusIs503() async throws {
        let endpoints = ControllerEndpoints(ready: { (false, "state store unreachable: connection refused") },
                                            status: { throw StatusUnavailable() }, metrics: ControllerMetrics())
        let answers = try await get(["/healthz", "/readyz", "/status", "/metrics"], from: endpoints)
        #expect(answers["/healthz"]?.status == 200)
        #expect(answers["/readyz"]?.status == 503)
        #expect(answers["/readyz"]?.body.contains("state store unreachable") == true)
        #expect(answers["/status"]?.status == 503)
        #expect(answers["/status"]?.body.contains("state store unreachable") == true)
        // The unlabelled metrics exist before anything is recorded.
        let body = try #require(answers["/metrics"]?.body)
        #expect(body.contains("sendpath_instances_frozen 0"))
        for fence in ["provider", "state-store", "lease"] {
            #expect(body.contains(#"sendpath_fencing_rejections_total{by="\#(fence)"} 0"#), "\(fence)")
        }
        // So do the labelled counters, for every known label value: increase() sees the first event.
        for outcome in ["converged", "error", "changes-pending", "waiting", "rolled-back", "held", "invalid", "locked"] {
            #expect(body.contains(#"sendpath_reconciles_total{outcome="\#(outcome)"} 0"#), "\(outcome)")
        }
        for (step, result) in [("freeze", "done"), ("switch-path", "failed"), ("rollback/unfreeze", "retry"), ("rollback/rollback-path", "done")] {
            #expect(body.contains(#"sendpath_steps_total{step="\#(step)",result="\#(result)"} 0"#) ||
                    body.contains(#"sendpath_steps_total{result="\#(result)",step="\#(step)"} 0"#), "\(step) \(result)")
        }
        Self.expectValidExposition(body)
    }

    /// Every line is a `# HELP`/`# TYPE` comment or `name{labels} value`, and every sample's
    /// family has a TYPE line before it (Prometheus text format 0.0.4).
    static func expectValidExposition(_ text: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) {
        let comment = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) .+$/
        let sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? (-?[0-9.eE+-]+|NaN|\+Inf|-Inf)( -?[0-9]+)?$/
        var typed = Set<String>()
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            if let match = line.wholeMatch(of: comment) {
                if match.1 == "TYPE" { typed.insert(String(match.2)) }
                continue
            }
            guard let match = line.wholeMatch(of: sample) else {
                Issue.record("not a Prometheus exposition line: \(line)", sourceLocation: sourceLocation)
                continue
            }
            let name = String(match.1)
            let family = ["_bucket", "_sum", "_count"].reduce(name) { name, suffix in
                name.hasSuffix(suffix) && typed.contains(String(name.dropLast(suffix.count))) ? String(name.dropLast(suffix.count)) : name
            }
            #expect(typed.contains(family), "sample \(name) before its TYPE line", sourceLocation: sourceLocation)
        }
        // And Prometheus's own parser and linter (`make validators` installs promtool) take it
        // with no problem: no lint warning is accepted.
        do {
            let result = try ChildProcess.run(["promtool", "check", "metrics"], input: Array(text.utf8))
            let printed = result.stdout + result.stderr
            #expect(result.status == 0 && printed.isEmpty, "promtool check metrics: \(printed)", sourceLocation: sourceLocation)
        } catch {
            Issue.record("promtool did not run: \(error)", sourceLocation: sourceLocation)
        }
    }
}
