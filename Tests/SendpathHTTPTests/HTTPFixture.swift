import Foundation
import Hummingbird
import Logging
import Synchronization
import Testing
import SendpathCore
@testable import SendpathHTTP
import SendpathSimulator
import SendpathYAML

/// A fleet simulator in a temporary file, seeded from real manifests, served over the provider
/// API on a loopback port, and an ``HTTPProvider`` talking to it; every log line of both ends
/// is captured.
///
/// - `acme-prod1` and `acme-prod2` share prefix `pfx-a` (198.51.100.0/24) and move to aws/eu-west-1.
/// - `beta-dc` (IPv6, prefix `pfx-b`) stays on adobe-dc/lon5.
struct HTTPFixture {
    static let token = "sp-test-Zq8vN3xK5wL2mJ7r"
    static let group = ["acme-prod1", "acme-prod2"]
    static let prefixA = try! AddressBlock.parse("198.51.100.0/24").get()
    static let prefixB = try! AddressBlock.parse("2001:db8:100::/48").get()
    static let aws = SendingPath(infrastructure: .aws, location: "eu-west-1")
    static let dc1 = SendingPath(infrastructure: .adobeDC, location: "dc1")
    static let maxAge = Duration.seconds(84 * 3600)
    static let start = Timestamp(rfc3339: "2024-01-16T20:30:00Z")!

    let folder: String
    let clock = ManualClock(HTTPFixture.start)
    let logs = LogCapture()
    let simulator: FleetSimulator

    init(faults: [FaultRule] = []) async throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("sendpath-http-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        simulator = try FleetSimulator(path: folder + "/fleet.db", clock: clock, faults: faults, logger: logs.logger("simulator"))
        _ = try await simulator.seed(from: try Self.loadFleet(in: folder + "/manifests"))
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: folder)
    }

    /// Runs `body` with the simulator served on a free loopback port and a client for it;
    /// shuts both down afterwards.
    @discardableResult
    func withServer<R: Sendable>(
        token: String = HTTPFixture.token, clientToken: String = HTTPFixture.token, maxBodySize: Int = 1 << 20,
        limits: HTTPServerLimits = .standard, attempts: Int = 5, _ body: (HTTPProvider, Int) async throws -> R
    ) async throws -> R {
        let logger = logs.logger("server")
        let simulator = self.simulator
        return try await Self.serve({ onRunning in
            ProviderAPIServer.makeApplication(provider: simulator, token: token, port: 0, maxBodySize: maxBodySize,
                                              limits: limits, logger: logger, onRunning: onRunning)
        }) { port in
            let client = try HTTPProvider(baseURL: "http://127.0.0.1:\(port)", token: clientToken,
                                          retry: (attempts: attempts, baseDelay: .milliseconds(5)), logger: logs.logger("client"))
            do {
                let result = try await body(client, port)
                try await client.shutdown()
                return result
            } catch {
                try await client.shutdown()
                throw error
            }
        }
    }

    /// Runs the application `make` builds until `body` (given the bound port) returns.
    @discardableResult
    static func serve<App: ApplicationProtocol, R: Sendable>(
        _ make: (@escaping @Sendable (Int) async -> Void) -> App, _ body: (Int) async throws -> R
    ) async throws -> R {
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let app = make { port in continuation.yield(port) }
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await app.run() }
            var iterator = ports.makeAsyncIterator()
            guard let port = await iterator.next() else { throw CancellationError() }
            do {
                let result = try await body(port)
                group.cancelAll()
                return result
            } catch {
                group.cancelAll()
                throw error
            }
        }
    }

    static func context(_ key: String, _ step: StepName, token: Int64 = 1) -> MutationContext {
        MutationContext(idempotencyKey: key, fencingToken: FencingToken(token), step: step)
    }

    static func change(to place: SendingPath) -> PathChange {
        PathChange(group: "pfx-a", instances: Dictionary(uniqueKeysWithValues: group.map { ($0, place) }),
                   prefixes: [prefixA: place])
    }

    /// Writes the manifests and loads them with the real loader.
    static func loadFleet(in folder: String) throws -> Fleet {
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
            "instances.yaml": [
                instance("acme-prod1", ip: "198.51.100.10", path: "{infrastructure: aws, location: eu-west-1}"),
                instance("acme-prod2", ip: "198.51.100.11", path: "{infrastructure: aws, location: eu-west-1}"),
                instance("beta-dc", ip: "\"2001:db8:100::10\"", path: "{infrastructure: adobe-dc, location: lon5}"),
            ].joined(separator: "\n---\n"),
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

/// Every log line written through its loggers, rendered with all metadata, at trace level.
final class LogCapture: Sendable {
    private let lines = Mutex<[String]>([])

    func logger(_ label: String) -> Logger {
        var logger = Logger(label: "sendpath.tests.\(label)") { label in CapturingLogHandler(label: label, capture: self) }
        logger.logLevel = .trace
        return logger
    }

    func append(_ line: String) { lines.withLock { $0.append(line) } }

    var all: [String] { lines.withLock { $0 } }
    var text: String { all.joined(separator: "\n") }
}

/// A log handler that renders each record (message, metadata, source) into a ``LogCapture``.
struct CapturingLogHandler: LogHandler {
    let label: String
    let capture: LogCapture
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        let rendered = merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        capture.append("\(label) \(event.level) \(event.message) \(rendered) [\(event.source) \(event.file):\(event.line)]")
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

extension HTTPProvider {
    /// One raw `POST` (no retry): status and decoded error code, for status checks.
    func raw(_ path: String, json: String, headers: [(String, String)] = [], includeToken: Bool = true) async throws
        -> (status: Int, code: String?, body: String) {
        let url = "http://" + client.endpoint.authority + path
        switch await client.once(url: url, body: Data(json.utf8), headers: headers, includeToken: includeToken) {
        case .success(let response):
            let code = (try? WireJSON.decode(ErrorEnvelope.self, from: response.body))?.error.code
            return (response.status, code, String(decoding: response.body, as: UTF8.self))
        case .failure(let failure):
            throw failure
        }
    }

    static func mutationHeaders(_ key: String, token: Int64 = 1, step: StepName = .freeze) -> [(String, String)] {
        [("Idempotency-Key", key), ("Sendpath-Fencing-Token", String(token)), ("Sendpath-Step", step.rawValue)]
    }
}
