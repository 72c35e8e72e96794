import Foundation
import Testing

/// A running controller never exits on a manifest edit (issue 10): a window moved to 2300
/// once trapped in the controller's reload; now it is an invalid manifest, logged and skipped.
@Suite("sendpath controller and hostile manifest edits")
struct ControllerManifestEditCLITests {
    @Test func aWindowEditedToTheYear2300IsLoggedAndTheControllerKeepsRunning() throws {
        let folder = try TemporaryFolder("controller-edit")
        defer { folder.remove() }
        try GeneratedFleet.write(into: folder, groups: 1, window: GeneratedFleet.liveWindow())
        let controller = try ControllerCLITests.Controller(folder: folder, arguments: ["--interval", "1h"])
        defer { _ = controller.terminate() }
        _ = try #require(controller.wait(for: "/metrics") { (ControllerCLITests.Controller.sample($0, "sendpath_reconciles_total") ?? 0) >= 1 })
        let wave = try String(contentsOfFile: folder.path + "/manifests/wave.yaml", encoding: .utf8)
        let edited = wave.replacingOccurrences(of: #"end: [0-9]{4}-"#, with: "end: 2300-", options: .regularExpression)
        #expect(edited != wave)
        try folder.write("manifests/wave.yaml", edited)
        // The edit is seen (the watcher wakes the loop) and reported as an invalid manifest.
        let deadline = Date().addingTimeInterval(30)
        var log = ""
        while Date() < deadline {
            log = (try? String(contentsOfFile: controller.log, encoding: .utf8)) ?? ""
            if log.contains("value-out-of-range") || !controller.process.isRunning { break }
            usleep(100_000)
        }
        #expect(controller.process.isRunning, "the controller exited: \(log)")
        #expect(log.contains("value-out-of-range"), "\(log)")
        #expect(controller.get("/healthz")?.status == 200)
        #expect(controller.terminate() == 0)
    }
}
