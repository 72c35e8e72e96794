import Foundation
import Testing

@Suite("The provider token")
struct ProviderTokenCLITests {
    @Test func aWrongTokenIsRefusedChangesNothingAndIsNeverPrinted() throws {
        let folder = try TemporaryFolder("token")
        try GeneratedFleet.write(into: folder, groups: 2, window: GeneratedFleet.liveWindow())
        let harness = try ProviderHarness(.http, folder: folder)
        defer { harness.stop() }
        let wrong = "wrong-\(UUID().uuidString)"
        let refused = try SendpathBinary.run(["reconcile"] + harness.providerArguments, directory: folder.path,
                                             environment: ["SENDPATH_PROVIDER_TOKEN": wrong])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("SENDPATH_PROVIDER_TOKEN"))
        #expect(!refused.stderr.contains(wrong) && !refused.stdout.contains(wrong))
        let missing = try SendpathBinary.run(["reconcile"] + harness.providerArguments, directory: folder.path,
                                             environment: ["SENDPATH_PROVIDER_TOKEN": ""])
        #expect(missing.status == 1)
        #expect(try harness.check().report["mutatingOperations"] as? Int == 0)
        // The right token works, and neither token shows up in the server's logs.
        let accepted = try harness.reconcile(["--verbose"])
        #expect(accepted.status == 0, "\(accepted.stderr)")
        let log = harness.server!.log
        #expect(log.contains("http request"))
        #expect(!log.contains(wrong))
        #expect(!log.contains(SimulatorServer.token))
        #expect(!accepted.stderr.contains(SimulatorServer.token) && !accepted.stdout.contains(SimulatorServer.token))
    }

    @Test func simulatorServeRefusesToStartWithoutAToken() throws {
        let folder = try TemporaryFolder("notoken")
        defer { folder.remove() }
        let result = try SendpathBinary.run(["simulator", "serve", "--listen", "127.0.0.1:0"], directory: folder.path,
                                            environment: ["SENDPATH_PROVIDER_TOKEN": ""])
        #expect(result.status == 64)
        #expect(result.stderr.contains("SENDPATH_PROVIDER_TOKEN"))
    }
}
