import Foundation
import Logging
import PropertyBased
import Synchronization
import Testing
import SendpathController
import SendpathCore
import SendpathSimulator
import SendpathYAML

/// Properties of the engine over random fleets, fault schedules and crash points: whatever
/// happens, nothing is lost, nothing is sent twice, no prefix is advertised from two places,
/// nothing stays frozen but a group held on purpose, and the dry run before each apply lists
/// what that apply starts with.
///
/// Each case is one seed; a failure names it (and PropertyBased prints `.fixedSeed(...)`),
/// and `CutoverScenario(seed:)` describes the case, so a failing case is reproduced by
/// running `SENDPATH_PROPERTY_SEED=SEED swift test --filter CutoverProperties`.
@Suite("Cut-over properties")
struct CutoverProperties {
    /// Cases per batch: 4 × 125 in `make test`; `make soak` sets SENDPATH_PROPERTY_CASES for more.
    static let casesPerBatch = ProcessInfo.processInfo.environment["SENDPATH_PROPERTY_CASES"].flatMap { Int($0) }.map { max(1, $0 / 4) } ?? 125

    /// 4 batches, run side by side.
    @Test(arguments: 0..<4)
    func nothingLostNothingTwiceNothingLeftFrozen(batch: Int) async {
        await propertyCheck(count: Self.casesPerBatch, input: Gen.uint64(in: 1...UInt64.max)) { seed in
            do {
                try await Self.run(CutoverScenario(seed: seed))
            } catch {
                Issue.record("seed \(seed) threw \(error)")
            }
        }
    }

    /// Reproduces one case: `SENDPATH_PROPERTY_SEED=N swift test --filter CutoverProperties`.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["SENDPATH_PROPERTY_SEED"] != nil))
    func oneSeed() async throws {
        let seed = try #require(ProcessInfo.processInfo.environment["SENDPATH_PROPERTY_SEED"].flatMap { UInt64($0) })
        try await Self.run(CutoverScenario(seed: seed))
    }

    static func run(_ scenario: CutoverScenario) async throws {
        let fleet = try await ScenarioFleet(scenario)
        defer { fleet.remove() }
        let context = "seed \(scenario.seed): \(scenario)"

        // 1. An apply killed at a random journal write (or not at all, if it ends first).
        let writes = Mutex(0)
        let crashAt = scenario.crashAt
        let dying = DyingStore(fleet.store, afterWrite: scenario.crashAfterWrite) { write in
            guard case .append = write else { return false }
            return writes.withLock { count in
                count += 1
                return count == crashAt
            }
        }
        _ = try? await fleet.reconciler(store: dying).run()

        // 2. The manifests may change under the open cut-overs (they are pinned), then the dry run
        // lists what the next apply starts with.
        try fleet.edit(scenario)
        let plan = try await fleet.reconciler(store: fleet.store, dryRun: true).run()
        let before = await JournalLength(fleet.store)
        _ = try await fleet.reconciler(store: fleet.store).run()
        let firstMoves = await before.firstNewMoves(fleet.store)
        for group in Set(plan.instances.map(\.group)) {
            let planned = plan.instances.first { $0.group == group }?.steps.first
            let plannedMove = planned.map { ($0.rollback == true ? "rollback:" : "") + $0.name.rawValue }
            #expect(firstMoves[group] == plannedMove, "dry run and apply disagree on group \(group); \(context)")
        }

        // 3. More applies until one changes nothing (rolled-back groups are tried again).
        var mutations = try await fleet.simulator.check().mutatingOperations
        for _ in 0..<6 {
            _ = try await fleet.reconciler(store: fleet.store).run()
            let now = try await fleet.simulator.check().mutatingOperations
            if now == mutations { break }
            mutations = now
        }

        // 4. The invariants, from the simulator's evidence and the journal.
        let check = try await fleet.simulator.check()
        #expect(check.messages.lost == 0, "lost messages; \(context)")
        #expect(check.messages.duplicated == 0, "duplicated messages; \(context)")
        #expect(check.doubleAdvertisements == 0, "double advertisement; \(context)")
        // Every other invariant of the simulator's evidence holds too, but for what a hold keeps
        // on purpose: its members frozen.
        let broken = Set(check.broken).subtracting(["frozen"])
        #expect(broken.isEmpty, "broken: \(broken.sorted()); \(check.violations.prefix(3)); \(context)")
        let records = await fleet.store.cutovers(groups: nil)
        var latest: [String: CutoverRecord] = [:]
        for record in records where (latest[record.group]?.number ?? 0) < record.number { latest[record.group] = record }
        #expect(latest.values.allSatisfy { $0.outcome != nil }, "a cut-over was left open; \(context)")
        let held = Set(latest.values.filter { $0.outcome == .held }.flatMap(\.members))
        #expect(Set(check.frozen).isSubset(of: held), "frozen outside a held cut-over: \(check.frozen); \(context)")
        let after = try await fleet.reconciler(store: fleet.store, dryRun: true).run()
        #expect(after.instances.allSatisfy { $0.steps.isEmpty || $0.status == .pending },
                "a cut-over still has steps to run: \(after.instances.filter { !$0.steps.isEmpty && $0.status != .pending }.map(\.name)); \(context)")
    }

}

/// How long each part of the journal was: what a later run appended comes after.
struct JournalLength {
    let preparations: Int
    let entries: [String: Int]

    init(_ store: InMemoryStateStore) async {
        preparations = await store.preparations(groups: nil).count
        entries = Dictionary(await store.cutovers(groups: nil).map { ($0.id, $0.entries.count) }, uniquingKeysWith: max)
    }

    /// Per group, the first move whose intent was appended since (a prepare-target comes before
    /// its cut-over; cut-overs in order; entries in the order they were appended).
    func firstNewMoves(_ store: InMemoryStateStore) async -> [String: String] {
        var moves: [String: String] = [:]
        let records = await store.cutovers(groups: nil).sorted { ($0.group, $0.number) < ($1.group, $1.number) }
        let added = await store.preparations(groups: nil).dropFirst(preparations)
            + records.flatMap { $0.entries.dropFirst(entries[$0.id] ?? 0) }
        for entry in added where entry.phase == .intent && moves[entry.group] == nil {
            moves[entry.group] = (entry.rollback ? "rollback:" : "") + entry.step.rawValue
        }
        return moves
    }
}

/// One random case: a fleet of 1 to 3 groups (1 to 3 instances, 1 or 2 prefixes each) in two
/// waves, a policy, up to 3 faults, and the journal write at which the first apply dies.
struct CutoverScenario: Sendable, CustomStringConvertible {
    struct Group: Sendable {
        var instances: Int
        var prefixes: Int
        var wave: Int
    }

    let seed: UInt64
    let groups: [Group]
    let maxParallel: Int
    let holdOnVerificationFailure: Bool
    let faults: [FaultRule]
    let crashAt: Int
    let crashAfterWrite: Bool
    /// A change to the manifests after the crash: none, a prefix renamed (the group id changes),
    /// the verification policy flipped, or a different resend age limit.
    let edit: Int

    init(seed: UInt64) {
        self.seed = seed
        var random = SplitMix64(seed: seed)
        groups = (0..<Int.random(in: 1...3, using: &random)).map { _ in
            Group(instances: Int.random(in: 1...3, using: &random), prefixes: Int.random(in: 1...2, using: &random),
                  wave: Int.random(in: 1...2, using: &random))
        }
        maxParallel = Int.random(in: 1...2, using: &random)
        holdOnVerificationFailure = Bool.random(using: &random)
        let names = groups.enumerated().flatMap { index, group in (0..<group.instances).map { "i\(index)-\($0)" } }
        let operations: [StepName] = [.prepareTarget, .freeze, .snapshotQueue, .switchPath, .verifyIPs, .verifyBuild,
                                      .resendQueue, .unfreeze, .rollbackPath]
        faults = (0..<Int.random(in: 0...3, using: &random)).map { _ in
            let operation = operations.randomElement(using: &random)!
            var effects: [FaultEffect] = [.error, .timeout, .arrivals]
            if operation != .verifyIPs && operation != .verifyBuild { effects += [.late, .duplicate] }
            if operation == .switchPath { effects += [.changeIPs, .changeBuild, .partial] }
            if operation == .rollbackPath { effects += [.partial] }
            return FaultRule(instance: names.randomElement(using: &random)!, operation: operation,
                             effect: effects.randomElement(using: &random)!, count: Int.random(in: 1...4, using: &random))
        }
        crashAt = Int.random(in: 1...40, using: &random)
        crashAfterWrite = Bool.random(using: &random)
        edit = Int.random(in: 0...3, using: &random)
    }

    var description: String {
        let shape = groups.map { "\($0.instances)i/\($0.prefixes)p/w\($0.wave)" }.joined(separator: ",")
        let faultList = faults.map { "\($0.instance) \($0.operation.rawValue) \($0.effect.rawValue)×\($0.count)" }.joined(separator: "; ")
        let edits = ["no edit", "prefix p0-0 renamed", "verification policy flipped", "resendMaxAge 200h"]
        return "groups [\(shape)], maxParallel \(maxParallel), \(holdOnVerificationFailure ? "hold" : "rollback"), faults [\(faultList)], dies at write \(crashAt)\(crashAfterWrite ? " after it lands" : " before it lands"), then \(edits[edit])"
    }

    /// The manifests of the case, before the crash, or after it with the case's edit.
    func manifests(edited: Bool = false) -> String {
        let hold = edited && edit == 2 ? !holdOnVerificationFailure : holdOnVerificationFailure
        var policy: [String] = hold ? ["onVerificationFailure: hold"] : []
        if edited && edit == 3 { policy.append("resendMaxAge: 200h") }
        let renamed = edited && edit == 1
        var documents: [String] = []
        for wave in 1...2 {
            documents.append("""
                apiVersion: sendpath/v1
                kind: Wave
                metadata: {name: w\(wave)}
                spec:
                  window: {start: 2024-01-16T20:00:00Z, end: 2024-01-17T04:00:00Z}
                  maxParallel: \(maxParallel)
                  notice: {sentAt: 2023-12-01T09:00:00Z}
                """)
        }
        if !policy.isEmpty {
            documents.append("apiVersion: sendpath/v1\nkind: Policy\nmetadata: {name: default}\nspec: {\(policy.joined(separator: ", "))}")
        }
        for (index, group) in groups.enumerated() {
            for prefix in 0..<group.prefixes {
                let name = renamed && index == 0 && prefix == 0 ? "q0-0" : "p\(index)-\(prefix)"
                documents.append("apiVersion: sendpath/v1\nkind: AddressPrefix\nmetadata: {name: \(name)}\nspec: {cidr: 20.\(index).\(prefix).0/24}")
            }
            for member in 0..<group.instances {
                // The first member also sends from the second prefix, which ties it to the group.
                let ips = ["20.\(index).0.\(10 + member)"] + (member == 0 && group.prefixes == 2 ? ["20.\(index).1.10"] : [])
                documents.append("""
                    apiVersion: sendpath/v1
                    kind: Instance
                    metadata: {name: i\(index)-\(member)}
                    spec:
                      tenant: t\(index)
                      product: campaign-v8
                      hosting: managed-cloud-services
                      environment: prod
                      build: "8.9.2.9831.11d1c68"
                      sendingIPs: [\(ips.joined(separator: ", "))]
                      sendingPath: {infrastructure: aws, location: eu-west-1}
                      wave: w\(group.wave)
                    """)
            }
        }
        return documents.joined(separator: "\n---\n") + "\n"
    }
}

/// A case's fleet on disk, its simulator (with the case's faults) and an in-memory journal.
final class ScenarioFleet: Sendable {
    let folder: String
    private let current: Mutex<Fleet>
    var fleet: Fleet { current.withLock { $0 } }
    let simulator: FleetSimulator
    let store = InMemoryStateStore()
    let clock = ManualClock(EngineFixture.inWindow)

    init(_ scenario: CutoverScenario) async throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("sendpath-property-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder + "/manifests", withIntermediateDirectories: true)
        let fleet = try Self.load(scenario.manifests(), into: folder)
        current = Mutex(fleet)
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        simulator = try FleetSimulator(path: folder + "/fleet.db", clock: clock, latency: .zero, faults: scenario.faults, logger: logger)
        _ = try await simulator.seed(from: fleet)
    }

    static func load(_ manifests: String, into folder: String) throws -> Fleet {
        try manifests.write(toFile: folder + "/manifests/fleet.yaml", atomically: true, encoding: .utf8)
        let loaded = ManifestLoader().load(paths: [folder + "/manifests"])
        guard let fleet = loaded.fleet else { throw EngineFixture.FixtureError(message: "\(loaded.diagnostics)") }
        return fleet
    }

    /// Applies the case's edit to the manifests; later reconcilers read the edited fleet.
    func edit(_ scenario: CutoverScenario) throws {
        let edited = try Self.load(scenario.manifests(edited: true), into: folder)
        current.withLock { $0 = edited }
    }

    func reconciler(store: any StateStore, dryRun: Bool = false) -> Reconciler {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let lease = dryRun ? nil : LeaseKeeper(store: store, holder: EngineFixture.holder, ttl: .seconds(3600), clock: clock,
                                               isAlive: { _ in true }, logger: logger)
        // One group at a time, so that the write a run dies at is the same on every run of a seed.
        let options = ReconcileOptions(dryRun: dryRun, detailedExitCode: dryRun, maxParallel: 1,
                                       retry: RetryPolicy(maxAttempts: 3, baseDelay: .milliseconds(1)))
        return Reconciler(fleet: fleet, provider: simulator, store: store, clock: clock, lease: lease, logger: logger,
                          options: options, holder: EngineFixture.holder)
    }

    func remove() { try? FileManager.default.removeItem(atPath: folder) }
}

/// A small, fast, seedable generator (Steele, Lea and Flood's SplitMix64).
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
