import Foundation
import Testing

/// schemathesis (PyPI, installed by `make validators`) runs every one of its checks against
/// docs/provider-api.yaml and a real `sendpath simulator serve`: the document says exactly what
/// the server accepts and answers. Bounded (a fixed seed, few examples per operation, a request
/// timeout) so that it takes well under two minutes on two cores. The two answers that depend on
/// what no schema can say are listed in Support/schemathesis.toml.
@Suite("schemathesis against the provider API")
struct ProviderAPISchemathesisCLITests {
    /// The fleet of the document's examples, so that examples reach existing instances and prefixes.
    static let manifests = """
    apiVersion: sendpath/v1
    kind: AddressPrefix
    metadata: {name: pfx-a}
    spec: {cidr: 198.51.100.0/24}
    ---
    apiVersion: sendpath/v1
    kind: Instance
    metadata: {name: acme-mkt-prod1}
    spec:
      tenant: acme
      product: campaign-classic-v7
      hosting: managed-services
      environment: prod
      build: "7.3.5 build 9368"
      sendingIPs: [198.51.100.10]
      sendingPath: {infrastructure: adobe-dc, location: lon5}
      wave: wave-a
    ---
    apiVersion: sendpath/v1
    kind: Instance
    metadata: {name: acme-mkt-prod2}
    spec:
      tenant: acme
      product: campaign-classic-v7
      hosting: managed-services
      environment: prod
      build: "7.3.5 build 9368"
      sendingIPs: [198.51.100.11]
      sendingPath: {infrastructure: adobe-dc, location: lon5}
      wave: wave-a
    ---
    apiVersion: sendpath/v1
    kind: Wave
    metadata: {name: wave-a}
    spec:
      window: {start: 2030-01-01T00:00:00Z, end: 2030-01-02T00:00:00Z}
      maxParallel: 4

    """

    @Test(.timeLimit(.minutes(5)))
    func allChecksComeBackClean() throws {
        let folder = try TemporaryFolder("schemathesis")
        defer { folder.remove() }
        try folder.write("manifests/fleet.yaml", Self.manifests)
        let server = try SimulatorServer(folder: folder)
        defer { server.stop() }

        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "python3", "-m", "schemathesis.cli",
            "--config-file", SendpathBinary.packageRoot + "/Tests/SendpathCLITests/Support/schemathesis.toml",
            "--no-color",
            "run", SendpathBinary.packageRoot + "/docs/provider-api.yaml",
            "--url", server.url,
            "--header", "Authorization: Bearer \(SimulatorServer.token)",
            "--checks", "all",
            "--max-examples", "100",
            "--seed", "20261205",
            "--request-timeout", "10",
            "--workers", "2",
            "--generation-database", "none",
        ]
        process.currentDirectoryURL = URL(fileURLWithPath: folder.path)
        var environment = ProcessInfo.processInfo.environment
        environment["PYTHONDONTWRITEBYTECODE"] = "1"
        process.environment = environment
        let outputFile = folder.path + "/schemathesis.out"
        _ = FileManager.default.createFile(atPath: outputFile, contents: nil)
        let output = try #require(FileHandle(forWritingAtPath: outputFile))
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(240)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.2) }
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
            Issue.record("schemathesis did not finish in 240 s")
        }
        try? output.close()
        let report = (try? String(contentsOfFile: outputFile, encoding: .utf8)) ?? ""
        #expect(process.terminationStatus == 0, "schemathesis found problems:\n\(report)\nserver log:\n\(server.log.suffix(4000))")
        // It ran every operation, and the server never saw (or logged) the token in a line.
        #expect(report.contains("Tested: 10"), "\(report)")
        #expect(!server.log.contains(SimulatorServer.token))
    }
}
