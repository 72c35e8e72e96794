import Foundation
import Testing

/// docs/provider-api.yaml is the contract a provider implements: it must be valid OpenAPI 3.1,
/// and `simulator serve` must answer as it says.
@Suite("The provider API document")
struct ProviderAPIContractCLITests {
    @Test func theDocumentIsValidAndTheSimulatorServerAnswersAsItSays() throws {
        let folder = try TemporaryFolder("openapi")
        defer { folder.remove() }
        try GeneratedFleet.write(into: folder, groups: 1, perGroup: 2, window: GeneratedFleet.liveWindow())
        let server = try SimulatorServer(folder: folder)
        defer { server.stop() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", SendpathBinary.packageRoot + "/Tests/SendpathCLITests/Support/check_openapi.py",
                             SendpathBinary.packageRoot + "/docs/provider-api.yaml", server.url, "inst-0-0", "inst-0-1", "10.0.0.0/24"]
        var environment = ProcessInfo.processInfo.environment
        environment.merge(server.environment) { $1 }
        process.environment = environment
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let report = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any], "\(String(decoding: data, as: UTF8.self))")
        #expect(report["problems"] as? [String] == [], "\(report["problems"] ?? "")")
        #expect((report["calls"] as? Int ?? 0) >= 18)
        #expect(process.terminationStatus == 0)
        // The token never reached the server's log.
        #expect(!server.log.contains(SimulatorServer.token))
    }
}
