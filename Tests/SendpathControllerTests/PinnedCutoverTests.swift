import Foundation
import Logging
import Testing
import SendpathController
import SendpathCore
import SendpathSimulator
import SendpathYAML

/// A cut-over is pinned at its start: a reconciler killed mid cut-over and restarted on
/// edited manifests goes on with what the cut-over recorded, never with the live manifest;
/// each decision is journalled and replayed as it was taken.
@Suite("Pinned cut-overs")
struct PinnedCutoverTests {
    // MARK: Helpers

    /// A reconciler over `fleet` and `store` (the fixture's simulator unless `provider`).
    static func reconciler(_ fixture: EngineFixture, fleet: Fleet, store: any StateStore, dryRun: Bool = false,
                           resumeHeld: Set<String> = [], provider: (any Provider)? = nil) -> Reconciler {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let lease = dryRun ? nil : LeaseKeeper(store: store, holder: EngineFixture.holder, ttl: .seconds(3600), clock: fixture.clock,
                                               isAlive: { _ in true }, logger: logger)
        let options = ReconcileOptions(dryRun: dryRun, detailedExitCode: dryRun, resumeHeld: resumeHeld,
                                       retry: RetryPolicy(maxAttempts: 3, baseDelay: .milliseconds(1)))
        return Reconciler(fleet: fleet, provider: provider ?? fixture.simulator, store: store, clock: fixture.clock, lease: lease,
                          logger: logger, options: options, holder: EngineFixture.holder)
    }

    /// Rewrites one manifest file of the fixture and loads the fleet again.
    static func edit(_ fixture: EngineFixture, _ file: String, _ change: (String) -> String) throws -> Fleet {
        let path = fixture.folder + "/manifests/" + file
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        try change(text).write(toFile: path, atomically: true, encoding: .utf8)
        let loaded = ManifestLoader().load(paths: [fixture.folder + "/manifests"])
        guard let fleet = loaded.fleet else { throw EngineFixture.FixtureError(message: "\(loaded.diagnostics)") }
        return fleet
    }

    /// Runs an apply over a store that dies at the write `diesAt` picks; returns the store.
    static func killedRun(_ fixture: EngineFixture, fleet: Fleet? = nil, afterWrite: Bool = true,
                          diesAt: @escaping @Sendable (DyingStore.Write) -> Bool) async throws -> DyingStore {
        let dying = DyingStore(fixture.store, afterWrite: afterWrite, diesAt: diesAt)
        _ = try? await reconciler(fixture, fleet: fleet ?? fixture.fleet, store: dying).run()
        #expect(await dying.dead, "the run never reached the write it was to die at")
        return dying
    }

    static func frozen(_ fixture: EngineFixture, _ names: [String]) async throws -> [String] {
        try await fixture.simulator.observeInstances(names, step: nil).values.filter(\.frozen).map(\.name).sorted()
    }

    // MARK: Finding 1: a renamed prefix

    @Test func aPrefixRenamedUnderAnOpenCutoverDoesNotOrphanIt() async throws {
        let fixture = try await EngineFixture()
        defer { fixture.remove() }
        _ = try await Self.killedRun(fixture, diesAt: DyingStore.Write.done(.snapshotQueue, group: "pfx-a"))
        #expect(try await Self.frozen(fixture, ["a1", "a2"]) == ["a1", "a2"])

        let renamed = try Self.edit(fixture, "prefixes.yaml") { $0.replacingOccurrences(of: "{name: pfx-a}", with: "{name: pfx-a-renamed}") }
        #expect(renamed.group(of: "a1")?.id == "pfx-a-renamed")
        let plan = try await Self.reconciler(fixture, fleet: renamed, store: fixture.store, dryRun: true).run()
        #expect(plan.status(of: "a1") == .inProgress, "\(plan.instances.first { $0.name == "a1" }!)")
        #expect(plan.instances.first { $0.name == "a1" }?.steps.map(\.name) == [.switchPath, .verifyIPs, .verifyBuild, .resendQueue, .unfreeze])

        let report = try await Self.reconciler(fixture, fleet: renamed, store: fixture.store).run()
        #expect(report.status(of: "a1") == .migrated)
        #expect(report.status(of: "a2") == .migrated)
        #expect(try await Self.frozen(fixture, ["a1", "a2"]) == [])
        let check = try await fixture.simulator.check()
        #expect(check.ok, "\(check)")
        #expect(check.messages.delivered + check.messages.expired == check.messages.enqueued)
        // Its journal stays under the id it started with.
        #expect(await fixture.store.cutovers(groups: ["pfx-a"]).last?.outcome == .completed)
    }

    @Test func aHeldCutoverResumesByItsIdAfterItsGroupWasRenamed() async throws {
        let fixture = try await EngineFixture(faults: [FaultRule(instance: "a1", operation: .switchPath, effect: .changeIPs, count: 1)],
                                              policy: "onVerificationFailure: hold")
        defer { fixture.remove() }
        let first = try await fixture.apply()
        #expect(first.status(of: "a1") == .held)
        let renamed = try Self.edit(fixture, "prefixes.yaml") { $0.replacingOccurrences(of: "{name: pfx-a}", with: "{name: pfx-a-renamed}") }
        let held = try await Self.reconciler(fixture, fleet: renamed, store: fixture.store, dryRun: true).run()
        #expect(held.status(of: "a1") == .held)
        #expect(held.instances.first { $0.name == "a1" }?.reason?.contains("--resume-held pfx-a#1") == true)
        // Resumed by its id while the IPs are still wrong: verified again and held again.
        let resumed = try await Self.reconciler(fixture, fleet: renamed, store: fixture.store, resumeHeld: ["pfx-a#1"]).run()
        #expect(resumed.status(of: "a1") == .held, "\(resumed.instances)")
        let journal = try #require(await fixture.store.cutovers(groups: ["pfx-a"]).last)
        #expect(journal.entries.contains { $0.phase == .resumed })
        #expect(journal.entries.filter { $0.step == .verifyIPs && $0.phase == .intent }.count == 2)
        #expect(try await Self.frozen(fixture, ["a1", "a2"]) == ["a1", "a2"])
    }

    // MARK: Finding 2: moves read the record

    @Test func anInstanceAddedToAMovingPrefixTurnsTheCutoverBack() async throws {
        let fixture = try await EngineFixture()
        defer { fixture.remove() }
        _ = try await Self.killedRun(fixture, diesAt: DyingStore.Write.done(.snapshotQueue, group: "pfx-a"))
        let grown = try Self.edit(fixture, "instances.yaml") { text in
            text + "---\n" + text.components(separatedBy: "---\n")[1]
                .replacingOccurrences(of: "a2", with: "a3").replacingOccurrences(of: "198.51.100.11", with: "198.51.100.12")
        }
        _ = try await fixture.simulator.seed(from: grown)
        let plan = try await Self.reconciler(fixture, fleet: grown, store: fixture.store, dryRun: true).run()
        #expect(plan.instances.first { $0.name == "a3" }?.reasonCode == .changedDuringCutover)
        #expect(plan.instances.first { $0.name == "a1" }?.steps.map { "\($0.rollback == true ? "rollback:" : "")\($0.name.rawValue)" }
            == ["rollback:resend-queue", "rollback:unfreeze"])
        let report = try await Self.reconciler(fixture, fleet: grown, store: fixture.store).run()
        #expect(report.status(of: "a1") == .rolledBack)
        #expect(report.instances.first { $0.name == "a1" }?.reason?.contains("a3") == true)
        // a3 never ran: it waits (as things stand after the run, for a notice naming it).
        #expect(report.status(of: "a3") == .blocked, "\(report.instances.first { $0.name == "a3" }!)")
        // Nobody is left on a path whose prefix moved away: the prefix never moved.
        let prefix = try await fixture.simulator.observePrefixes([AddressBlock.parse("198.51.100.0/24").get()])
        #expect(prefix.values.first?.advertisedFrom.map(\.infrastructure) == [.adobeDC])
        #expect(try await Self.frozen(fixture, ["a1", "a2", "a3"]) == [])
        #expect(try await fixture.simulator.check().ok)
    }

    @Test func aResendMaxAgeEditedBetweenTwoAttemptsKeepsThePinnedRequest() async throws {
        let fixture = try await EngineFixture()
        defer { fixture.remove() }
        // Killed after the provider resent, before the result was journalled.
        _ = try await Self.killedRun(fixture, afterWrite: false, diesAt: DyingStore.Write.done(.resendQueue))
        let edited = try Self.edit(fixture, "policy.yaml") { _ in
            "apiVersion: sendpath/v1\nkind: Policy\nmetadata: {name: default}\nspec: {resendMaxAge: 200h}\n"
        }
        let report = try await Self.reconciler(fixture, fleet: edited, store: fixture.store).run()
        #expect(report.status(of: "a1") == .migrated, "\(report.instances.first { $0.name == "a1" }!)")
        let check = try await fixture.simulator.check()
        #expect(check.ok, "\(check)")
    }

    // MARK: Finding 3: replay follows the journalled decision

    @Test func aRollbackInterruptedThenPolicyFlippedToHoldStillRollsBack() async throws {
        let fixture = try await EngineFixture(faults: [FaultRule(instance: "a1", operation: .switchPath, effect: .changeIPs, count: 1)])
        defer { fixture.remove() }
        _ = try await Self.killedRun(fixture, diesAt: DyingStore.Write.done(.rollbackPath, rollback: true))
        let flipped = try Self.edit(fixture, "policy.yaml") { _ in
            "apiVersion: sendpath/v1\nkind: Policy\nmetadata: {name: default}\nspec: {onVerificationFailure: hold}\n"
        }
        let plan = try await Self.reconciler(fixture, fleet: flipped, store: fixture.store, dryRun: true).run()
        #expect(plan.status(of: "a1") == .inProgress)
        let report = try await Self.reconciler(fixture, fleet: flipped, store: fixture.store).run()
        #expect(report.status(of: "a1") == .rolledBack, "\(report.instances.first { $0.name == "a1" }!)")
        #expect(try await Self.frozen(fixture, ["a1", "a2"]) == [])
    }

    @Test func aDeliberateHoldIsNotRolledBackWhenThePolicyFlips() async throws {
        let fixture = try await EngineFixture(faults: [FaultRule(instance: "a1", operation: .switchPath, effect: .changeIPs, count: 1)],
                                              policy: "onVerificationFailure: hold")
        defer { fixture.remove() }
        #expect(try await fixture.apply().status(of: "a1") == .held)
        let flipped = try Self.edit(fixture, "policy.yaml") { _ in
            "apiVersion: sendpath/v1\nkind: Policy\nmetadata: {name: default}\nspec: {onVerificationFailure: rollback}\n"
        }
        let report = try await Self.reconciler(fixture, fleet: flipped, store: fixture.store).run()
        #expect(report.status(of: "a1") == .held)
        #expect(report.outcome == .held)
        #expect(try await Self.frozen(fixture, ["a1", "a2"]) == ["a1", "a2"])
    }

    // MARK: Finding 4: dry run == apply when a hold was journalled but not recorded

    @Test func aJournalledHoldWhoseRecordWasNotWrittenPlansAsTheApplyRuns() async throws {
        let fixture = try await EngineFixture(faults: [FaultRule(instance: "a1", operation: .switchPath, effect: .changeIPs, count: 1)],
                                              policy: "onVerificationFailure: hold")
        defer { fixture.remove() }
        _ = try await Self.killedRun(fixture, afterWrite: false, diesAt: DyingStore.Write.finish)
        let plan = try await fixture.dryRun()
        let before = try await fixture.simulator.check().mutatingOperations
        #expect(plan.status(of: "a1") == .held)
        #expect(plan.instances.first { $0.name == "a1" }?.steps == [])
        let report = try await fixture.apply()
        #expect(report.status(of: "a1") == .held)
        #expect(plan.outcome == report.outcome)
        #expect(try await fixture.simulator.check().mutatingOperations - before == 0
            || report.instances.contains { $0.group != "pfx-a" && $0.status == .migrated })
    }

    // MARK: Finding 5: the route is verified

    @Test func aPrefixStillAdvertisedFromTheDataCenterFailsVerification() async throws {
        let fixture = try await EngineFixture()
        defer { fixture.remove() }
        // Once the prefix moved, the provider also reports it still advertised from the data center
        // (a withdrawal that never happened).
        let prefix = try AddressBlock.parse("198.51.100.0/24").get()
        let provider = HookedProvider(inner: fixture.simulator, rewritePrefixes: { observed in
            var observed = observed
            if var state = observed[prefix], state.advertisedFrom.contains(where: { $0.infrastructure == .aws }) {
                state.advertisedFrom.append(SendingPath(infrastructure: .adobeDC, location: "dc1"))
                observed[prefix] = state
            }
            return observed
        })
        let report = try await Self.reconciler(fixture, fleet: fixture.fleet, store: fixture.store, provider: provider).run()
        #expect(report.status(of: "a1") == .rolledBack, "\(report.instances.first { $0.name == "a1" }!)")
        #expect(report.instances.first { $0.name == "a1" }?.reason?.contains("advertised from") == true)
        #expect(report.status(of: "b1") == .migrated)
    }

    // MARK: Finding 6: keys unique across stores

    @Test func aFreshStoreDoesNotReplayAnotherStoresAnswers() async throws {
        // switch-path fails on every attempt of the first cut-over: it rolls back.
        let fixture = try await EngineFixture(faults: [FaultRule(instance: "b1", operation: .switchPath, effect: .error, count: 3)])
        defer { fixture.remove() }
        // The first store has granted 40 tokens before: the provider sees token 41 from it.
        for index in 0..<40 {
            _ = try await fixture.store.acquireLease(scope: "other-\(index)", holder: EngineFixture.holder, ttl: .seconds(1),
                                                     now: EngineFixture.inWindow)
        }
        let first = try await fixture.apply()
        #expect(first.status(of: "b1") == .rolledBack)
        #expect(try await fixture.simulator.highestFencingToken() == FencingToken(41))
        // The same fleet from a fresh state store (an ephemeral CI workspace).
        let fresh = InMemoryStateStore()
        let report = try await Self.reconciler(fixture, fleet: fixture.fleet, store: fresh).run()
        #expect(report.status(of: "b1") == .migrated, "\(report.instances.first { $0.name == "b1" }!.reason ?? "")")
        let observed = try await fixture.simulator.observeInstances(["b1"], step: nil)
        #expect(observed["b1"]?.path.infrastructure == .aws)
        #expect(try await fixture.simulator.check().ok)
    }
}
