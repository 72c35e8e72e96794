import Foundation
import Testing
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// `sendpath controller` as operators run it: real HTTP on loopback, real signals.
@Suite("sendpath controller")
struct ControllerCLITests {
    /// A free loopback port (bound, then released).
    static func freePort() -> Int {
        let socket = Foundation.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket, $0, length) } }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socket, $0, &length) } }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    final class Controller: @unchecked Sendable {
        let process = Process()
        let port = ControllerCLITests.freePort()
        let log: String

        init(folder: TemporaryFolder, arguments: [String], name: String = "controller", environment: [String: String] = [:]) throws {
            log = folder.path + "/\(name).log"
            _ = FileManager.default.createFile(atPath: log, contents: nil)
            process.executableURL = URL(fileURLWithPath: SendpathBinary.path)
            process.arguments = ["controller", "--listen", "127.0.0.1:\(port)", "--log-level", "info"] + arguments
            process.currentDirectoryURL = URL(fileURLWithPath: folder.path)
            var merged = ProcessInfo.processInfo.environment
            merged.merge(environment) { $1 }
            process.environment = merged
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle(forWritingAtPath: log)
            try process.run()
        }

        /// GETs a path; `nil` while the server is not up.
        func get(_ path: String) -> (status: Int, type: String, body: String)? {
            let semaphore = DispatchSemaphore(value: 0)
            let box = Box()
            var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
            request.timeoutInterval = 5
            URLSession.shared.dataTask(with: request) { data, response, _ in
                if let http = response as? HTTPURLResponse {
                    box.value = (http.statusCode, http.value(forHTTPHeaderField: "Content-Type") ?? "", String(decoding: data ?? Data(), as: UTF8.self))
                }
                semaphore.signal()
            }.resume()
            semaphore.wait()
            return box.value
        }

        final class Box: @unchecked Sendable { var value: (Int, String, String)? }

        /// `promtool check metrics` over an exposition: its exit status and what it printed
        /// (lint problems such as a counter without `_total`, or a missing HELP).
        static func promtool(_ exposition: String) throws -> (status: Int32, output: String) {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["promtool", "check", "metrics"]
            let input = Pipe(), output = Pipe()
            process.standardInput = input
            process.standardOutput = output
            process.standardError = output
            try process.run()
            input.fileHandleForWriting.write(Data(exposition.utf8))
            try input.fileHandleForWriting.close()
            let data = output.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return (process.terminationStatus, String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
        }

        /// Waits until `condition` holds on a GET of `path`.
        func wait(for path: String, timeout: TimeInterval = 60, _ condition: (String) -> Bool) -> String? {
            let deadline = Date().addingTimeInterval(timeout)
            while Date() < deadline {
                if let response = get(path), response.status == 200, condition(response.body) { return response.body }
                usleep(100_000)
            }
            return nil
        }

        /// The value of a metric sample (`name{labels} value`) in the Prometheus text, with these
        /// labels among its own, summed over the matching lines.
        static func sample(_ text: String, _ name: String, _ labels: [String: String] = [:]) -> Double? {
            var total: Double?
            for line in text.split(separator: "\n") where line.hasPrefix(name + " ") || line.hasPrefix(name + "{") {
                guard labels.allSatisfy({ line.contains("\($0.key)=\"\($0.value)\"") }) else { continue }
                if let value = line.split(separator: " ").last.flatMap({ Double($0) }) { total = (total ?? 0) + value }
            }
            return total
        }

        /// SIGTERM, then the exit status; a controller still running after `grace` is killed
        /// (SIGKILL) and reported as 137, so a hung shutdown fails the test instead of hanging it.
        func terminate(grace: TimeInterval = 60) -> Int32 {
            if process.isRunning { process.terminate() }
            let deadline = Date().addingTimeInterval(grace)
            while process.isRunning && Date() < deadline { usleep(50_000) }
            if process.isRunning {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
                return 137
            }
            return process.terminationStatus
        }
    }

    @Test func servesItsFourEndpointsAndReconcilesWhenAManifestChanges() throws {
        let folder = try TemporaryFolder("controller")
        defer { folder.remove() }
        try GeneratedFleet.write(into: folder, groups: 2, window: GeneratedFleet.liveWindow())
        let controller = try Controller(folder: folder, arguments: ["--interval", "1h"])
        defer { _ = controller.terminate() }
        // The first reconcile migrates both groups.
        let metrics = try #require(controller.wait(for: "/metrics") { (Controller.sample($0, "sendpath_reconciles_total") ?? 0) >= 1 })
        let health = try #require(controller.get("/healthz"))
        #expect(health.status == 200)
        let ready = try #require(controller.get("/readyz"))
        #expect(ready.status == 200)
        #expect(ready.body.contains("reachable"))
        let scraped = try #require(controller.get("/metrics"))
        #expect(scraped.type.hasPrefix("text/plain"))
        #expect(scraped.type.contains("version=0.0.4"))
        for name in ["sendpath_steps_total", "sendpath_groups_in_progress", "sendpath_instances_frozen", "sendpath_messages_awaiting_resend",
                     "sendpath_reconcile_duration_seconds_bucket", "sendpath_last_successful_reconcile_timestamp_seconds"] {
            #expect(scraped.body.contains(name), "\(name) missing from /metrics")
        }
        #expect(metrics.contains("# TYPE sendpath_reconcile_duration_seconds histogram"))
        // Prometheus's own linter (`make validators` installs promtool) takes it with no problem.
        let lint = try Controller.promtool(scraped.body)
        #expect(lint.status == 0 && lint.output.isEmpty, "promtool check metrics: \(lint.output)")
        #expect(Controller.sample(scraped.body, "sendpath_steps_total", ["step": "freeze", "result": "done"]) == 2)
        let status = try #require(controller.get("/status"))
        #expect(status.type.hasPrefix("application/json"))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(status.body.utf8)) as? [String: Any])
        #expect((object["summary"] as? [String: Int]) == ["migrated": 4])

        // A manifest change is picked up long before the hour-long interval.
        let before = Controller.sample(scraped.body, "sendpath_reconciles_total") ?? 0
        try folder.write("manifests/wave.yaml", (try String(contentsOfFile: folder.path + "/manifests/wave.yaml", encoding: .utf8)) + "# touched\n")
        let after = controller.wait(for: "/metrics", timeout: 20) { (Controller.sample($0, "sendpath_reconciles_total") ?? 0) > before }
        #expect(after != nil, "no reconcile after the manifest change")
        #expect(controller.terminate() == 0)
    }

    @Test func sigtermDuringACutoverExitsZeroAndLeavesNothingBroken() throws {
        let folder = try TemporaryFolder("sigterm")
        defer { folder.remove() }
        try GeneratedFleet.write(into: folder, groups: 6, maxParallel: 2, window: GeneratedFleet.liveWindow())
        let provider = "sim:.sendpath/fleet.db?latency=100ms"
        let controller = try Controller(folder: folder, arguments: ["--interval", "1h", "--provider", provider])
        // Wait until a cut-over is in flight, then ask the controller to stop.
        let inFlight = controller.wait(for: "/metrics") { (Controller.sample($0, "sendpath_steps_total", ["step": "freeze", "result": "done"]) ?? 0) >= 1 }
        #expect(inFlight != nil)
        // The gauge moves as freezes happen, not only when a pass ends.
        let frozen = controller.wait(for: "/metrics") { (Controller.sample($0, "sendpath_instances_frozen") ?? 0) > 0 }
        #expect(frozen != nil, "sendpath_instances_frozen stayed 0 during cut-overs")
        #expect(controller.terminate() == 0, "\((try? String(contentsOfFile: controller.log, encoding: .utf8)) ?? "")")
        let log = (try? String(contentsOfFile: controller.log, encoding: .utf8)) ?? ""
        #expect(log.contains("shutting down"))
        // Nothing is left frozen by the shutdown; a later run completes the rest.
        let check = try SendpathBinary.run(["simulator", "check", "--output", "json"], directory: folder.path)
        #expect((try check.json()["frozen"] as? [String])?.isEmpty == true, "\(check.stdout)")
        let rest = try SendpathBinary.run(["reconcile", "--provider", provider, "--output", "json"], directory: folder.path)
        #expect(rest.status == 0, "\(rest.stderr)")
        #expect((try rest.json()["summary"] as? [String: Int]) == ["migrated": 12])
        let final = try SendpathBinary.run(["simulator", "check", "--output", "json"], directory: folder.path)
        #expect(final.status == 0, "\(final.stdout)")
    }
}
