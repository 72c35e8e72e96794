import Synchronization
import Testing
import SendpathController
import SendpathCore

/// A reconciler whose fencing token is older than one the provider has accepted is stopped by
/// the provider: nothing changes, the refusal is journalled and reported.
@Suite("Fencing by the provider")
struct FencingTests {
    final class FenceRecorder: ReconcileProgress, Sendable {
        let fences = Mutex<[(group: String, fence: Fence)]>([])
        func stepStarted(group: String, move: CutoverMachine.Move, attempt: Int, at: Timestamp) {}
        func stepFinished(group: String, move: CutoverMachine.Move, phase: JournalEntry.Phase, duration: Duration, detail: String?) {}
        func fencedOut(group: String, by fence: Fence, detail: String) { fences.withLock { $0.append((group, fence)) } }
    }

    @Test(arguments: EngineFixture.Transport.allCases)
    func aStaleTokenIsRefusedByTheProviderAndJournalled(over transport: EngineFixture.Transport) async throws {
        let fixture = try await EngineFixture()
        defer { fixture.remove() }
        // A newer reconciler (token 100) has already touched b1; ours will hold a far older token.
        try await fixture.simulator.freeze(["b1"], context: MutationContext(idempotencyKey: "newer/freeze", fencingToken: FencingToken(100), step: .freeze))
        try await fixture.simulator.unfreeze(["b1"], context: MutationContext(idempotencyKey: "newer/unfreeze", fencingToken: FencingToken(100), step: .unfreeze))
        let before = try await fixture.simulator.check()
        let recorder = FenceRecorder()
        // Our reconciler read the provider's highest token before the newer one acted.
        let report = try await fixture.withProvider(transport) { provider in
            try await fixture.reconciler(scope: ["pfx-b"], provider: HookedProvider(inner: provider, highestToken: { FencingToken(0) }), progress: recorder).run()
        }
        #expect(report.outcome == .error, "the group stopped: \(report.errors ?? [])")
        #expect(report.errors?.first?.contains("fenced out") == true, "\(report.errors ?? [])")
        #expect(recorder.fences.withLock { $0.map(\.fence) } == [.provider])
        let refusals = await fixture.store.preparations(groups: ["pfx-b"]).filter { $0.phase == .fenced }
        #expect(refusals.count == 1)
        #expect(refusals.first?.detail?.errorCode == .staleFencingToken)
        // Nothing changed at the provider: the one call it received was refused.
        let after = try await fixture.simulator.check()
        #expect(after.mutatingOperations == before.mutatingOperations + 1)
        #expect(after.refusedStaleTokens == before.refusedStaleTokens + 1)
        #expect(try await fixture.simulator.observeInstances(["b1"], step: nil)["b1"]?.preparedTarget == nil)
        #expect(after.frozen.isEmpty)
        #expect(after.ok)
    }
}
