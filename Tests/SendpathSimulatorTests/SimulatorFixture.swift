import Foundation
import Logging
import Testing
import SendpathCore
import SendpathSimulator
import SendpathYAML

/// A small fleet loaded from real manifests, a fresh fleet file per test, and the calls a
/// reconciler would make for the two-instance group.
///
/// - `acme-prod1` and `acme-prod2` share prefix `pfx-a` (198.51.100.0/24) and move to aws/eu-west-1.
/// - `beta-dc` (IPv6, prefix `pfx-b`) stays on adobe-dc/lon5.
struct SimulatorFixture {
    static let start = Timestamp(rfc3339: "2024-01-16T20:30:00Z")!
    static let group = ["acme-prod1", "acme-prod2"]
    static let prefixA = AddressBlock.parse("198.51.100.0/24").successValue!
    static let prefixB = AddressBlock.parse("2001:db8:100::/48").successValue!
    static let aws = SendingPath(infrastructure: .aws, location: "eu-west-1")
    static let dc1 = SendingPath(infrastructure: .adobeDC, location: "dc1")
    static let lon5 = SendingPath(infrastructure: .adobeDC, location: "lon5")
    static let maxAge = Duration.seconds(84 * 3600)
    static let logger = Logger(label: "sendpath.simulator.tests") { _ in SwiftLogNoOpLogHandler() }

    let folder: String
    let path: String
    let clock: ManualClock
    let fleet: Fleet

    init() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("sendpath-sim-\(UUID().uuidString)").path
        path = folder + "/state/nested/fleet.db"
        clock = ManualClock(Self.start)
        fleet = try Self.loadFleet()
    }

    /// Opens (or reopens) the fleet file.
    func simulator(faults: [FaultRule] = [], latency: Duration = .zero) throws -> FleetSimulator {
        try FleetSimulator(path: path, clock: clock, latency: latency, faults: faults, logger: Self.logger)
    }

    /// Opens the fleet file and seeds it from the fixture fleet.
    func seeded(faults: [FaultRule] = [], latency: Duration = .zero) async throws -> FleetSimulator {
        let simulator = try simulator(faults: faults, latency: latency)
        _ = try await simulator.seed(from: fleet)
        return simulator
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: folder)
    }

    static func context(_ key: String, _ step: StepName, token: Int64 = 1) -> MutationContext {
        MutationContext(idempotencyKey: key, fencingToken: FencingToken(token), step: step)
    }

    /// The group's move to AWS, or back to the data center.
    static func change(to place: SendingPath, instances: [String] = group, prefixes: [AddressBlock] = [prefixA]) -> PathChange {
        PathChange(group: "pfx-a", instances: Dictionary(uniqueKeysWithValues: instances.map { ($0, place) }),
                   prefixes: Dictionary(uniqueKeysWithValues: prefixes.map { ($0, place) }))
    }

    /// Runs the forward cut-over up to and including the switch; returns the snapshots.
    static func switchGroup(_ simulator: FleetSimulator, token: Int64 = 1) async throws -> [QueueSnapshot] {
        try await simulator.prepareTarget(change(to: aws), context: context("c1/prepare", .prepareTarget, token: token))
        try await simulator.freeze(group, context: context("c1/freeze", .freeze, token: token))
        let snapshots = try await simulator.snapshotQueue(group, context: context("c1/snapshot", .snapshotQueue, token: token))
        try await simulator.switchPath(change(to: aws), context: context("c1/switch", .switchPath, token: token))
        return snapshots
    }

    /// Writes the manifests to a temporary folder and loads them with the real loader;
    /// `adding` instances (name, IP) that move to aws/eu-west-1 with the others.
    static func loadFleet(adding extra: [(name: String, ip: String)] = []) throws -> Fleet {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sendpath-manifests-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let files = [
            "prefixes.yaml": """
            apiVersion: sendpath/v1
            kind: AddressPrefix
            metadata: {name: pfx-a}
            spec: {cidr: 198.51.100.0/24, awsRegion: eu-west-1}
            ---
            apiVersion: sendpath/v1
            kind: AddressPrefix
            metadata: {name: pfx-b}
            spec: {cidr: "2001:db8:100::/48"}
            """,
            "wave.yaml": """
            apiVersion: sendpath/v1
            kind: Wave
            metadata: {name: w1}
            spec:
              window: {start: 2024-01-16T20:00:00Z, end: 2024-01-17T00:00:00Z}
              notice: {sentAt: 2023-12-01T09:00:00Z}
            """,
            "instances.yaml": ([
                instance("acme-prod1", ip: "198.51.100.10", path: "{infrastructure: aws, location: eu-west-1}"),
                instance("acme-prod2", ip: "198.51.100.11", path: "{infrastructure: aws, location: eu-west-1}"),
                instance("beta-dc", ip: "\"2001:db8:100::10\"", path: "{infrastructure: adobe-dc, location: lon5}"),
            ] + extra.map { instance($0.name, ip: $0.ip, path: "{infrastructure: aws, location: eu-west-1}") }).joined(separator: "\n---\n"),
        ]
        for (name, text) in files {
            try (text + "\n").write(toFile: folder + "/" + name, atomically: true, encoding: .utf8)
        }
        let result = ManifestLoader().load(paths: [folder])
        #expect(!result.diagnostics.hasErrors, "\(result.diagnostics)")
        return try #require(result.fleet)
    }

    private static func instance(_ name: String, ip: String, path: String) -> String {
        """
        apiVersion: sendpath/v1
        kind: Instance
        metadata: {name: \(name)}
        spec:
          tenant: acme
          product: campaign-classic-v7
          hosting: managed-services
          environment: prod
          build: "7.3.5 build 9368"
          sendingIPs: [\(ip)]
          sendingPath: \(path)
          wave: w1
        """
    }
}

extension Result {
    var successValue: Success? {
        if case .success(let value) = self { return value }
        return nil
    }
}

/// Expects `body` to fail with a provider error of `code`; returns the error.
@discardableResult
func expectProviderError<T>(_ code: ProviderError.Code, sourceLocation: Testing.SourceLocation = #_sourceLocation,
                            _ body: () async throws -> T) async -> ProviderError? {
    do {
        _ = try await body()
        Issue.record("expected provider error \(code.rawValue), the call succeeded", sourceLocation: sourceLocation)
        return nil
    } catch let error as ProviderError {
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
        return error
    } catch {
        Issue.record("expected provider error \(code.rawValue), got \(error)", sourceLocation: sourceLocation)
        return nil
    }
}
