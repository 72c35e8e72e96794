import Foundation
import Testing
import SendpathCore
@testable import SendpathHTTP

/// What schemathesis found with docs/provider-api.yaml and `simulator serve` disagreeing (issue
/// 10), each pinned here: the server refuses what the schema refuses, with the API's error body
/// and in the API's words, before any lookup.
@Suite("Provider API: the server refuses what the schema refuses")
struct ProviderAPISchemaConformanceTests {
    typealias F = HTTPFixture

    @Test func nullStepEmptyNamesAndNonObjectBodiesAre400BeforeAnyLookup() async throws {
        let fixture = try await F()
        defer { fixture.remove() }
        try await fixture.withServer { provider, _ in
            // `step: null` (the schema says string; absent is fine).
            let nullStep = try await provider.raw("/v1/instances/observe", json: #"{"names":["beta-dc"],"step":null}"#)
            #expect(nullStep.status == 400 && nullStep.code == "bad-request", "\(nullStep.body)")
            let noStep = try await provider.raw("/v1/instances/observe", json: #"{"names":["beta-dc"]}"#)
            #expect(noStep.status == 200, "\(noStep.body)")
            // An empty name is a bad request, not an unknown instance (404).
            let emptyObserved = try await provider.raw("/v1/instances/observe", json: #"{"names":[""]}"#)
            #expect(emptyObserved.status == 400 && emptyObserved.body.contains("must not be empty"), "\(emptyObserved.body)")
            let emptyFrozen = try await provider.raw("/v1/freeze", json: #"{"instances":["beta-dc",""]}"#, headers: HTTPProvider.mutationHeaders("e1"))
            #expect(emptyFrozen.status == 400 && emptyFrozen.body.contains("instances[1]"), "\(emptyFrozen.body)")
            let emptyResent = try await provider.raw("/v1/resend", json: #"{"instances":[""],"snapshotKey":"k","maxAgeSeconds":1}"#,
                                                     headers: HTTPProvider.mutationHeaders("e2", step: .resendQueue))
            #expect(emptyResent.status == 400, "\(emptyResent.body)")
            let emptyKey = try await provider.raw("/v1/switch-path",
                                                  json: #"{"group":"g","instances":{"":{"infrastructure":"aws","location":"eu-west-1"}},"prefixes":{}}"#,
                                                  headers: HTTPProvider.mutationHeaders("e3", step: .switchPath))
            #expect(emptyKey.status == 400, "\(emptyKey.body)")
            // fencing/observe takes an object (unknown fields ignored), never an array.
            let array = try await provider.raw("/v1/fencing/observe", json: "[null, null]")
            #expect(array.status == 400 && array.code == "bad-request", "\(array.body)")
            let extra = try await provider.raw("/v1/fencing/observe", json: #"{"future":1}"#)
            #expect(extra.status == 200, "\(extra.body)")
            // maxAgeSeconds has the schema's bound (exclusiveMaximum 9000000000).
            let tooOld = try await provider.raw("/v1/resend", json: #"{"instances":["beta-dc"],"snapshotKey":"k","maxAgeSeconds":9000000000}"#,
                                                headers: HTTPProvider.mutationHeaders("e4", step: .resendQueue))
            #expect(tooOld.status == 400 && tooOld.body.contains("9000000000"), "\(tooOld.body)")
        }
        // Nothing reached the fleet.
        #expect(try await fixture.simulator.check().mutatingOperations == 0)
    }

    @Test func badPrefixesAndValuesAreNamedInTheAPIsWordsNotSwiftTypeNames() async throws {
        let fixture = try await F()
        defer { fixture.remove() }
        try await fixture.withServer { provider, _ in
            let path = #"{"infrastructure":"aws","location":"eu-west-1"}"#
            for cidr in ["0/0", "198.51.100.7/24", "198.51.100.0/33"] {
                let answer = try await provider.raw("/v1/switch-path", json: #"{"group":"g","instances":{},"prefixes":{"\#(cidr)":\#(path)}}"#,
                                                    headers: HTTPProvider.mutationHeaders("p-\(cidr)", step: .switchPath))
                #expect(answer.status == 400 && answer.code == "bad-request", "\(cidr): \(answer.body)")
                #expect(answer.body.contains("prefixes: '\(cidr)'"), "\(answer.body)")
                #expect(!answer.body.contains("AddressBlock"), "\(answer.body)")
            }
            let observed = try await provider.raw("/v1/prefixes/observe", json: #"{"cidrs":["0/0"]}"#)
            #expect(observed.status == 400 && observed.body.contains("'0/0' is not a CIDR block"), "\(observed.body)")
            let badStep = try await provider.raw("/v1/instances/observe", json: #"{"names":["beta-dc"],"step":"nope"}"#)
            #expect(badStep.status == 400 && badStep.body.contains("step: not one of the values the API allows"), "\(badStep.body)")
            #expect(!badStep.body.contains("StepName"), "\(badStep.body)")
            let badInfrastructure = try await provider.raw("/v1/prepare-target",
                                                           json: #"{"group":"g","instances":{"beta-dc":{"infrastructure":"gcp","location":"x"}},"prefixes":{}}"#,
                                                           headers: HTTPProvider.mutationHeaders("p-infra", step: .prepareTarget))
            #expect(badInfrastructure.status == 400 && !badInfrastructure.body.contains("Infrastructure"), "\(badInfrastructure.body)")
        }
    }
}
