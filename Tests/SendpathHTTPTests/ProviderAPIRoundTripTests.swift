import Foundation
import Testing
import SendpathCore
@testable import SendpathHTTP
import SendpathSimulator

@Suite("Provider API over loopback: HTTPProvider → ProviderAPIServer → FleetSimulator")
struct ProviderAPIRoundTripTests {
    typealias F = HTTPFixture

    @Test func aFullCutOverThroughHTTPKeepsEveryInvariant() async throws {
        let fixture = try await F()
        defer { fixture.remove() }
        try await fixture.withServer { provider, _ in
            let before = try await provider.observeInstances(F.group + ["beta-dc", "nobody"], step: nil)
            #expect(Set(before.keys) == Set(F.group + ["beta-dc"]))
            #expect(before["acme-prod1"]?.path == F.dc1)
            #expect(before["acme-prod1"]?.sendingIPs == [IPAddress("198.51.100.10")!])
            let queued = before["acme-prod1"]!.queueDepth + before["acme-prod2"]!.queueDepth
            #expect(queued > 0)

            try await provider.prepareTarget(F.change(to: F.aws), context: F.context("c1/prepare", .prepareTarget))
            let prepared = try await provider.observeInstances(F.group, step: nil)
            #expect(prepared["acme-prod2"]?.preparedTarget == F.aws)
            try await provider.freeze(F.group, context: F.context("c1/freeze", .freeze))
            let snapshots = try await provider.snapshotQueue(F.group, context: F.context("c1/snapshot", .snapshotQueue))
            #expect(snapshots.reduce(0) { $0 + $1.messageCount } == queued)
            #expect(snapshots.allSatisfy { $0.oldestEnqueuedAt != nil })
            try await provider.switchPath(F.change(to: F.aws), context: F.context("c1/switch", .switchPath))

            let verified = try await provider.observeInstances(F.group, step: .verifyIPs)
            #expect(verified.values.allSatisfy { $0.path == F.aws && $0.frozen })
            let prefixes = try await provider.observePrefixes([F.prefixA, F.prefixB])
            #expect(prefixes[F.prefixA]?.advertisedFrom == [F.aws])
            #expect(prefixes[F.prefixB]?.advertisedFrom.count == 1)

            let results = try await provider.resend(F.group, snapshotKey: "c1/snapshot", maxAge: F.maxAge,
                                                    context: F.context("c1/resend", .resendQueue))
            for snapshot in snapshots {
                let result = try #require(results.first { $0.instance == snapshot.instance })
                #expect(result.resent + result.expired == snapshot.messageCount)
                #expect(result.digest == snapshot.digest)
                #expect(result.expiredMessageIDs.count == result.expired)
            }
            try await provider.unfreeze(F.group, context: F.context("c1/unfreeze", .unfreeze))

            let report = try await fixture.simulator.check()
            #expect(report.ok, "\(report)")
            #expect(report.frozen.isEmpty)
            #expect(report.messages.lost == 0 && report.messages.duplicated == 0)
            #expect(report.messages.delivered == results.reduce(0) { $0 + $1.resent })
            #expect(report.mutatingOperations == 6)
            let after = try await provider.observeInstances(F.group, step: nil)
            #expect(after.values.allSatisfy { $0.path == F.aws && !$0.frozen })
        }
    }

    @Test func aReplayedCallReturnsTheFirstAnswerAndChangesNothingMore() async throws {
        let fixture = try await F()
        defer { fixture.remove() }
        try await fixture.withServer { provider, _ in
            try await provider.freeze(["beta-dc"], context: F.context("f", .freeze))
            let first = try await provider.snapshotQueue(["beta-dc"], context: F.context("s", .snapshotQueue))
            let afterFirst = try await fixture.simulator.check()
            fixture.clock.advance(by: .seconds(60))
            let replay = try await provider.snapshotQueue(["beta-dc"], context: F.context("s", .snapshotQueue))
            #expect(replay == first)

            let afterReplay = try await fixture.simulator.check()
            #expect(afterReplay.messages == afterFirst.messages)
            #expect(afterReplay.messages.inSnapshot == first[0].messageCount)
            // Every call received is counted, replays included; the fleet itself did not change.
            #expect(afterReplay.mutatingOperations == afterFirst.mutatingOperations + 1)

            // The same through the raw API: identical bytes for the same key and body.
            let body = #"{"instances":["beta-dc"]}"#
            let headers = HTTPProvider.mutationHeaders("s", step: .snapshotQueue)
            let a = try await provider.raw("/v1/snapshot-queue", json: body, headers: headers)
            let b = try await provider.raw("/v1/snapshot-queue", json: body, headers: headers)
            #expect(a.status == 200 && b.status == 200)
            #expect(a.body == b.body)
            #expect(try await fixture.simulator.check().messages == afterFirst.messages)
        }
    }

    @Test func aReplayedResendSendsNothingTwice() async throws {
        let fixture = try await F()
        defer { fixture.remove() }
        try await fixture.withServer { provider, _ in
            try await provider.prepareTarget(F.change(to: F.aws), context: F.context("p", .prepareTarget))
            try await provider.freeze(F.group, context: F.context("f", .freeze))
            _ = try await provider.snapshotQueue(F.group, context: F.context("s", .snapshotQueue))
            try await provider.switchPath(F.change(to: F.aws), context: F.context("w", .switchPath))
            let context = F.context("r", .resendQueue)
            let first = try await provider.resend(F.group, snapshotKey: "s", maxAge: F.maxAge, context: context)
            let replay = try await provider.resend(F.group, snapshotKey: "s", maxAge: F.maxAge, context: context)
            #expect(replay == first)
            let messages = try await fixture.simulator.check().messages
            #expect(messages.delivered == first.reduce(0) { $0 + $1.resent })
            #expect(messages.duplicated == 0)
        }
    }

    @Test func aResendOfANeverTakenSnapshotSendsNothing() async throws {
        let fixture = try await F()
        defer { fixture.remove() }
        try await fixture.withServer { provider, _ in
            try await provider.freeze(["beta-dc"], context: F.context("f", .freeze))
            let results = try await provider.resend(["beta-dc"], snapshotKey: "never-taken", maxAge: F.maxAge,
                                                    context: F.context("r", .resendQueue))
            #expect(results.allSatisfy { $0.resent == 0 && $0.expired == 0 })
            #expect(try await fixture.simulator.check().messages.delivered == 0)
        }
    }

    @Test func reusingAKeyForAnotherBodyIsA422AndAnIdempotencyConflict() async throws {
        let fixture = try await F()
        defer { fixture.remove() }
        try await fixture.withServer { provider, _ in
            try await provider.freeze(["beta-dc"], context: F.context("k", .freeze))
            let before = try await fixture.simulator.check()
            let error = await expectProviderError(.idempotencyConflict) {
                try await provider.freeze(["acme-prod1"], context: F.context("k", .freeze))
            }
            #expect(error?.isRetryable == false)
            let raw = try await provider.raw("/v1/freeze", json: #"{"instances":["acme-prod2"]}"#,
                                             headers: HTTPProvider.mutationHeaders("k"))
            #expect(raw.status == 422)
            #expect(raw.code == "idempotency-conflict")
            let after = try await fixture.simulator.check()
            #expect(after.frozen == ["beta-dc"])
            #expect(after.mutatingOperations == before.mutatingOperations + 2)
        }
    }

    @Test func aStaleFencingTokenIsA409AndChangesNothing() async throws {
        let fixture = try await F()
        defer { fixture.remove() }
        try await fixture.withServer { provider, _ in
            try await provider.freeze(["beta-dc"], context: F.context("new", .freeze, token: 7))
            await expectProviderError(.staleFencingToken) {
                try await provider.unfreeze(["beta-dc"], context: F.context("old", .unfreeze, token: 6))
            }
            let raw = try await provider.raw("/v1/unfreeze", json: #"{"instances":["beta-dc"]}"#,
                                             headers: HTTPProvider.mutationHeaders("old2", token: 3, step: .unfreeze))
            #expect(raw.status == 409)
            #expect(raw.code == "stale-fencing-token")
            let report = try await fixture.simulator.check()
            #expect(report.frozen == ["beta-dc"])
            #expect(report.refusedStaleTokens == 2)
        }
    }

    @Test func aRefusedCallKeepsItsCodeAndAnUnknownInstanceIsNotFound() async throws {
        let fixture = try await F()
        defer { fixture.remove() }
        try await fixture.withServer { provider, _ in
            // A switch before prepare is refused by the simulator: 409 with code "rejected".
            try await provider.freeze(F.group, context: F.context("f", .freeze))
            let rejected = await expectProviderError(.rejected) {
                try await provider.switchPath(F.change(to: F.aws), context: F.context("w", .switchPath))
            }
            #expect(rejected?.message.contains("prepare-target") == true)
            await expectProviderError(.notFound) {
                try await provider.freeze(["ghost"], context: F.context("g", .freeze))
            }
            let raw = try await provider.raw("/v1/freeze", json: #"{"instances":["ghost"]}"#, headers: HTTPProvider.mutationHeaders("g2"))
            #expect(raw.status == 404 && raw.code == "not-found")
        }
    }

    @Test func keysTooLongForTheAPIAreSentAsAStableStandIn() async throws {
        let fixture = try await F()
        defer { fixture.remove() }
        let group = (1...12).map { "pfx-tenant-with-a-long-name-\($0)" }.joined(separator: "+") + "#1"
        let snapshotKey = group + "/snapshot-queue"
        #expect(snapshotKey.utf8.count > ProviderAPI.maxIdempotencyKeyLength)
        #expect(ProviderAPI.wireKey(snapshotKey) == ProviderAPI.wireKey(snapshotKey))
        #expect(ProviderAPI.isValidIdempotencyKey(ProviderAPI.wireKey(snapshotKey)))
        #expect(ProviderAPI.wireKey(snapshotKey) != ProviderAPI.wireKey(group + "/snapshot-queuf"))
        #expect(ProviderAPI.wireKey("pfx-a#1/freeze") == "pfx-a#1/freeze")
        try await fixture.withServer { provider, _ in
            try await provider.freeze(["beta-dc"], context: F.context(group + "/freeze", .freeze))
            let first = try await provider.snapshotQueue(["beta-dc"], context: F.context(snapshotKey, .snapshotQueue))
            let replay = try await provider.snapshotQueue(["beta-dc"], context: F.context(snapshotKey, .snapshotQueue))
            #expect(replay == first)
            let results = try await provider.resend(["beta-dc"], snapshotKey: snapshotKey, maxAge: F.maxAge,
                                                    context: F.context(group + "/resend-queue", .resendQueue))
            #expect(results.first.map { $0.resent + $0.expired } == first.first?.messageCount)
            #expect(results.first?.digest == first.first?.digest)
        }
    }

    @Test func observeInstancesSendsAtMostAThousandNamesPerRequest() async throws {
        let fixture = try await F()
        defer { fixture.remove() }
        try await fixture.withServer { provider, _ in
            let names = (0..<2_500).map { "unknown-\($0)" } + ["beta-dc", "acme-prod1", "beta-dc"]
            let found = try await provider.observeInstances(names, step: nil)
            #expect(Set(found.keys) == ["beta-dc", "acme-prod1"])
        }
        let requests = fixture.logs.all.filter { $0.contains("http.path=/v1/instances/observe") && $0.contains("http.status=200") }
        #expect(requests.count == 3)
    }
}
