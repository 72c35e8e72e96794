import Foundation
import Logging
import Hummingbird
import SendpathController
import SendpathHTTP
import SendpathCore
import SendpathSimulator
import SendpathYAML

/// A small fleet on disk, a simulator and an in-memory journal, driven by a manual clock.
///
/// Two waves in one window: `w1` holds group pfx-a (instances a1, a2 sharing a prefix) and
/// group pfx-b (instance b1); `w2` holds pfx-c (c1, c2) with maxParallel 2.
struct EngineFixture {
    static let windowStart = Timestamp(rfc3339: "2024-01-16T20:00:00Z")!
    static let inWindow = windowStart + .seconds(3600)

    let folder: String
    let fleet: Fleet
    let simulator: FleetSimulator
    let store: InMemoryStateStore
    let clock: ManualClock

    static func manifests(policy: String = "") -> [String: String] {
        func prefix(_ name: String, _ cidr: String) -> String {
            "apiVersion: sendpath/v1\nkind: AddressPrefix\nmetadata: {name: \(name)}\nspec: {cidr: \(cidr), awsRegion: eu-west-1}\n"
        }
        func wave(_ name: String, maxParallel: Int = 1) -> String {
            """
            apiVersion: sendpath/v1
            kind: Wave
            metadata: {name: \(name)}
            spec:
              window: {start: 2024-01-16T20:00:00Z, end: 2024-01-17T04:00:00Z}
              maxParallel: \(maxParallel)
              notice: {sentAt: 2023-12-01T09:00:00Z}

            """
        }
        func instance(_ name: String, _ ip: String, _ wave: String) -> String {
            """
            apiVersion: sendpath/v1
            kind: Instance
            metadata: {name: \(name)}
            spec:
              tenant: t-\(name.prefix(1))
              product: campaign-v8
              hosting: managed-cloud-services
              environment: prod
              build: "8.9.2.9831.11d1c68"
              sendingIPs: [\(ip)]
              sendingPath: {infrastructure: aws, location: eu-west-1}
              wave: \(wave)

            """
        }
        var files = [
            "prefixes.yaml": [prefix("pfx-a", "198.51.100.0/24"), prefix("pfx-b", "203.0.113.0/24"), prefix("pfx-c", "192.0.2.0/24")].joined(separator: "---\n"),
            "waves.yaml": wave("w1") + "---\n" + wave("w2", maxParallel: 2),
            "instances.yaml": [instance("a1", "198.51.100.10", "w1"), instance("a2", "198.51.100.11", "w1"), instance("b1", "203.0.113.10", "w1"),
                               instance("c1", "192.0.2.10", "w2"), instance("c2", "192.0.2.11", "w2")].joined(separator: "---\n"),
        ]
        if !policy.isEmpty { files["policy.yaml"] = "apiVersion: sendpath/v1\nkind: Policy\nmetadata: {name: default}\nspec: {\(policy)}\n" }
        return files
    }

    init(faults: [FaultRule] = [], latency: Duration = .zero, policy: String = "", at now: Timestamp = EngineFixture.inWindow,
         sharesWork: Bool = false) async throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("sendpath-engine-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder + "/manifests", withIntermediateDirectories: true)
        for (name, text) in Self.manifests(policy: policy) {
            try text.write(toFile: folder + "/manifests/" + name, atomically: true, encoding: .utf8)
        }
        let loaded = ManifestLoader().load(paths: [folder + "/manifests"])
        guard let fleet = loaded.fleet else { throw FixtureError(message: "\(loaded.diagnostics)") }
        self.fleet = fleet
        clock = ManualClock(now)
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        simulator = try FleetSimulator(path: folder + "/fleet.db", clock: clock, latency: latency, faults: faults, logger: logger)
        _ = try await simulator.seed(from: fleet)
        store = InMemoryStateStore(sharesWork: sharesWork)
    }

    struct FixtureError: Error { var message: String }

    static let holder = LeaseHolder(id: "test-holder", host: "test-host", pid: 1, command: "test")

    func reconciler(dryRun: Bool = false, scope: Set<String>? = nil, resumeHeld: Set<String> = [], maxParallel: Int? = nil,
                    holder: LeaseHolder = EngineFixture.holder, provider: (any Provider)? = nil,
                    progress: (any ReconcileProgress)? = nil) -> Reconciler {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let lease = dryRun ? nil : LeaseKeeper(store: store, holder: holder, ttl: .seconds(3600), clock: clock,
                                               isAlive: { _ in true }, logger: logger)
        let options = ReconcileOptions(dryRun: dryRun, detailedExitCode: dryRun, scope: scope, resumeHeld: resumeHeld,
                                       maxParallel: maxParallel, retry: RetryPolicy(maxAttempts: 3, baseDelay: .milliseconds(1)))
        return Reconciler(fleet: fleet, provider: provider ?? simulator, store: store, clock: clock, lease: lease, logger: logger,
                          progress: progress, options: options, holder: holder)
    }

    func apply(resumeHeld: Set<String> = []) async throws -> ReconcileReport {
        try await reconciler(resumeHeld: resumeHeld).run()
    }

    func dryRun() async throws -> ReconcileReport {
        try await reconciler(dryRun: true).run()
    }

    /// The moves each group's cut-overs started, in order, from the journal (first attempt of each).
    func journalledMoves() async throws -> [String: [String]] {
        var moves: [String: [String]] = [:]
        for entry in await store.preparations(groups: nil) where entry.phase == .intent && entry.attempt == 1 {
            moves[entry.group, default: []].append(entry.step.rawValue)
        }
        for record in await store.cutovers(groups: nil) {
            for entry in record.entries where entry.phase == .intent && entry.attempt == 1 {
                moves[record.group, default: []].append(entry.rollback ? "rollback:\(entry.step.rawValue)" : entry.step.rawValue)
            }
        }
        return moves
    }

    func remove() { try? FileManager.default.removeItem(atPath: folder) }

    /// How the engine reaches the simulator.
    enum Transport: String, CaseIterable, Sendable, CustomStringConvertible {
        /// In process, as `--provider sim:`.
        case embedded
        /// Over the provider HTTP API on loopback, as `--provider http://` to `simulator serve`.
        case http
        var description: String { rawValue }
    }

    /// Runs `body` with a provider for this fixture's simulator, reached over `transport`.
    /// Over HTTP the client makes one attempt per call, so that retries are the engine's alone
    /// and fault counts mean the same on both transports.
    func withProvider<R: Sendable>(_ transport: Transport, _ body: (any Provider) async throws -> R) async throws -> R {
        guard transport == .http else { return try await body(simulator) }
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let token = "engine-test-token"
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let app = ProviderAPIServer.makeApplication(provider: simulator, token: token, port: 0, logger: logger) { port in
            continuation.yield(port)
        }
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await app.run() }
            defer { group.cancelAll() }
            var iterator = ports.makeAsyncIterator()
            guard let port = await iterator.next() else { throw CancellationError() }
            let client = try HTTPProvider(baseURL: "http://127.0.0.1:\(port)", token: token,
                                          retry: (attempts: 1, baseDelay: .milliseconds(1)), logger: logger)
            do {
                let result = try await body(client)
                try await client.shutdown()
                return result
            } catch {
                try? await client.shutdown()
                throw error
            }
        }
    }
}

extension ReconcileReport {
    func status(of instance: String) -> InstanceStatus? { instances.first { $0.name == instance }?.status }
}
