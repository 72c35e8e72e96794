import Testing
import SendpathController
import SendpathCore

/// Open cut-overs are never held up by work that has not started: a frozen group resumes
/// even when every slot of its wave is taken by other reconcilers.
@Suite("Liveness of open cut-overs")
struct LivenessTests {
    @Test func anOpenCutoverResumesWhileEverySlotOfItsWaveIsTaken() async throws {
        let fixture = try await EngineFixture(sharesWork: true)
        defer { fixture.remove() }
        // pfx-a's cut-over is left open (frozen, snapshot taken) by a reconciler that died.
        _ = try await PinnedCutoverTests.killedRun(fixture, diesAt: DyingStore.Write.done(.snapshotQueue))
        #expect(try await PinnedCutoverTests.frozen(fixture, ["a1", "a2"]) == ["a1", "a2"])
        // Another reconciler holds w1's only slot (maxParallel 1) for a long time.
        let other = LeaseHolder(id: "other", host: "other-host", pid: 2, command: "sendpath controller")
        _ = try await fixture.store.acquireLease(scope: "wave:w1#0", holder: other, ttl: .seconds(86_400), now: fixture.clock.now())
        let report = try await fixture.reconciler(scope: ["pfx-a", "pfx-b"]).run()
        #expect(report.status(of: "a1") == .migrated, "\(report.instances.first { $0.name == "a1" }!)")
        #expect(try await PinnedCutoverTests.frozen(fixture, ["a1", "a2"]) == [])
        // pfx-b has not started: it waits for the slot.
        #expect(report.status(of: "b1") == .blocked)
    }
}
