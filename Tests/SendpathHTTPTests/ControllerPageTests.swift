import Foundation
import Testing
@testable import SendpathHTTP

/// The controller's `/`: the schedule page when the controller gives one, 503 when it cannot
/// be made now, and no route at all without one.
@Suite("Controller HTTP server: / (the schedule page)")
struct ControllerPageTests {
    struct PageUnavailable: Error, CustomStringConvertible {
        var description: String { "provider unreachable" }
    }

    static func endpoints(page: (@Sendable () async throws -> String)?) -> ControllerEndpoints {
        ControllerEndpoints(ready: { (true, "ok") }, status: { Array("{}".utf8) }, metrics: ControllerMetrics(), page: page)
    }

    @Test func servesThePageAsHTML() async throws {
        let html = "<!DOCTYPE html>\n<html><body>schedule</body></html>\n"
        let answers = try await ControllerHTTPServerTests().get(["/", "/status"], from: Self.endpoints(page: { html }))
        #expect(answers["/"]?.status == 200)
        #expect(answers["/"]?.contentType == "text/html; charset=utf-8")
        #expect(answers["/"]?.body == html)
        #expect(answers["/status"]?.status == 200)
    }

    @Test func aPageThatCannotBeMadeIs503() async throws {
        let answers = try await ControllerHTTPServerTests().get(["/"], from: Self.endpoints(page: { throw PageUnavailable() }))
        #expect(answers["/"]?.status == 503)
        #expect(answers["/"]?.body.contains("provider unreachable") == true)
    }

    @Test func withoutAPageThereIsNoRoot() async throws {
        let answers = try await ControllerHTTPServerTests().get(["/", "/healthz"], from: Self.endpoints(page: nil))
        #expect(answers["/"]?.status == 404)
        #expect(answers["/healthz"]?.status == 200)
    }
}
