import Logging
import Synchronization
import Testing
import SendpathController
import SendpathCore
import SendpathSimulator

/// Open cut-overs are never held up by work that has not started: a frozen group resumes
/// even when every slot of its wave is taken by other reconcilers.
@Suite("Liveness of open cut-overs")
struct LivenessTests {
    @Test func anOpenCutoverResumesWhileEverySlotOfItsWaveIsTaken() async throws {
        let fixture = try await EngineFixture(sharesWork: true)
        defer { fixture.remove() }
        // pfx-a's cut-over is left open (frozen, snapshot taken) by a reconciler that died.
        _ = try await PinnedCutoverTests.killedRun(fixture, diesAt: DyingStore.Write.done(.snapshotQueue, group: "pfx-a"))
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

/// A lost wave slot does not stop a cut-over whose group lease holds.
@Suite("Liveness: slot leases")
struct SlotLossTests {
    @Test func aCutoverGoesOnWhenAnotherReconcilerTakesItsSlot() async throws {
        let fixture = try await EngineFixture(sharesWork: true)
        defer { fixture.remove() }
        let logs = Lines()
        var logger = Logger(label: "test") { _ in LineHandler(lines: logs) }
        logger.logLevel = .warning
        // Short leases, renewed every 0.5 s of real time, so the slot's renewal is tried mid cut-over.
        let lease = LeaseKeeper(store: fixture.store, holder: EngineFixture.holder, ttl: .milliseconds(1500), clock: fixture.clock,
                                isAlive: { _ in true }, logger: logger)
        // At the freeze, another reconciler takes the wave's only slot; the call then waits until
        // this reconciler has seen its slot renewal refused, and goes on.
        let stole = Mutex(false)
        let store = fixture.store, clock = fixture.clock
        let thief = HookedProvider(inner: fixture.simulator, before: { step in
            guard step == .freeze, !stole.withLock({ $0 }), let slot = await store.currentLease(scope: "wave:w1#0") else { return }
            await store.breakLease(scope: slot.scope, token: slot.token)
            let other = LeaseHolder(id: "other", host: "other-host", pid: 2, command: "sendpath controller")
            _ = try? await store.acquireLease(scope: slot.scope, holder: other, ttl: .seconds(86_400), now: clock.now())
            stole.withLock { $0 = true }
            let deadline = ContinuousClock.now + .seconds(30)
            while !logs.all.contains(where: { $0.contains("lease") }) && ContinuousClock.now < deadline {
                try? await Task.sleep(for: .milliseconds(20))
            }
        })
        let reconciler = Reconciler(fleet: fixture.fleet, provider: thief, store: fixture.store, clock: fixture.clock, lease: lease,
                                    logger: logger, options: ReconcileOptions(scope: ["pfx-b"], retry: RetryPolicy(maxAttempts: 3, baseDelay: .milliseconds(1))),
                                    holder: EngineFixture.holder)
        let report = try await reconciler.run()
        #expect(stole.withLock { $0 }, "the slot was never taken away")
        #expect(logs.all.contains { $0.contains("lost the wave slot lease") })
        #expect(report.status(of: "b1") == .migrated, "\(report.instances.first { $0.name == "b1" }!)")
        #expect(try await PinnedCutoverTests.frozen(fixture, ["b1"]) == [])
    }
}

/// Log lines, kept for a test to wait on.
final class Lines: Sendable {
    private let lines = Mutex<[String]>([])
    func append(_ line: String) { lines.withLock { $0.append(line) } }
    var all: [String] { lines.withLock { $0 } }
}

struct LineHandler: LogHandler {
    let lines: Lines
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(event: LogEvent) { lines.append("\(event.level) \(event.message)") }
}
