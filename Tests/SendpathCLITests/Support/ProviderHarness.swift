import Foundation

/// Runs the reconciler against the embedded simulator or against `simulator serve` over HTTP,
/// with the same fleet, so one test body covers both providers.
final class ProviderHarness: @unchecked Sendable {
    let folder: TemporaryFolder
    let kind: ProviderKind
    private(set) var server: SimulatorServer?
    let latency: String
    let faults: String?

    init(_ kind: ProviderKind, folder: TemporaryFolder, latency: String = "0s", faults: String? = nil) throws {
        self.kind = kind
        self.folder = folder
        self.latency = latency
        self.faults = faults
        if kind == .http { server = try SimulatorServer(folder: folder, latency: latency, faults: faults) }
    }

    var fleetFile: String { kind == .http ? "served-fleet.db" : ".sendpath/fleet.db" }

    var providerArguments: [String] {
        switch kind {
        case .embedded:
            var query = ["latency=\(latency)"]
            if let faults { query.append("faults=\(faults)") }
            return ["--provider", "sim:.sendpath/fleet.db?" + query.joined(separator: "&")]
        case .http:
            return ["--provider", server!.url]
        }
    }

    var environment: [String: String] { server?.environment ?? [:] }

    func sendpath(_ arguments: [String]) throws -> SendpathBinary.Result {
        try SendpathBinary.run(arguments, directory: folder.path, environment: environment)
    }

    func reconcile(_ extra: [String] = []) throws -> SendpathBinary.Result {
        try sendpath(["reconcile"] + providerArguments + ["--retry-delay", "50ms"] + extra)
    }

    func check() throws -> (status: Int32, report: [String: Any]) {
        let result = try SendpathBinary.run(["simulator", "check", "--fleet", fleetFile, "--output", "json"], directory: folder.path)
        return (result.status, try result.json())
    }

    /// Restarts a killed server on the same port and fleet file.
    func restartServer() throws {
        guard let old = server else { return }
        server = try SimulatorServer(folder: folder, port: old.port, latency: latency, faults: faults)
    }

    func stop() {
        server?.stop()
        folder.remove()
    }
}
