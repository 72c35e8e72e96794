import Foundation
import Testing

/// Several `sendpath controller` replicas on one PostgreSQL, against `simulator serve`.
@Suite("Controller replicas on PostgreSQL")
struct ReplicaCLITests {
    /// A private PostgreSQL cluster (these tests stop and restart it).
    final class Cluster: @unchecked Sendable {
        let dir: String
        private(set) var url = ""
        static let script = SendpathBinary.packageRoot + "/scripts/postgres-test-cluster.sh"

        init() throws {
            dir = "/tmp/sendpath-replicas-\(UUID().uuidString.prefix(8))"
            try start()
        }

        func start() throws {
            let result = try Self.run(["start", dir])
            guard result.status == 0 else { throw SimulatorServer.ServerError(message: "postgres did not start: \(result.stderr)") }
            url = result.stdout.trimmingCharacters(in: .whitespacesAndNewlines) + "?sslmode=disable"
        }

        func stop() { _ = try? Self.run(["stop", dir]) }

        func remove() {
            stop()
            try? FileManager.default.removeItem(atPath: dir)
        }

        static func run(_ arguments: [String]) throws -> SendpathBinary.Result {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/bash")
            process.arguments = [script] + arguments
            var environment = ProcessInfo.processInfo.environment
            environment["POSTGRES_TEST_CLUSTER_OWNER"] = String(ProcessInfo.processInfo.processIdentifier)
            process.environment = environment
            let out = Pipe(), err = Pipe()
            process.standardOutput = out
            process.standardError = err
            try process.run()
            let stdout = out.fileHandleForReading.readDataToEndOfFile()
            let stderr = err.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return SendpathBinary.Result(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                                         stderr: String(decoding: stderr, as: UTF8.self))
        }
    }

    /// `sendpath status` against the shared store and provider, as JSON.
    static func status(_ harness: ProviderHarness, state: String) -> [String: Any]? {
        guard let result = try? harness.sendpath(["status", "--state", state, "--output", "json"] + harness.providerArguments) else { return nil }
        return try? result.json()
    }

    static func migrated(_ status: [String: Any]?) -> Int { (status?["summary"] as? [String: Int])?["migrated"] ?? 0 }

    /// Waits until `condition` holds on the status, or the deadline passes.
    static func waitForStatus(_ harness: ProviderHarness, state: String, timeout: TimeInterval,
                              _ condition: ([String: Any]) -> Bool) -> [String: Any]? {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let status = status(harness, state: state), condition(status) { return status }
            usleep(150_000)
        }
        return nil
    }

    /// The journal summaries of every instance's latest cut-over.
    static func journals(_ status: [String: Any]) -> [[String: Any]] {
        (status["instances"] as? [[String: Any]] ?? []).compactMap { $0["journal"] as? [String: Any] }
    }

    /// A cut-over still in progress whose last journal entry was written by this process.
    static func inFlightCutover(_ status: [String: Any], pid: Int32) -> String? {
        journals(status).first { journal in
            journal["outcome"] as? String == "in-progress" && (journal["holder"] as? String)?.contains("/\(pid)/") == true
        }?["cutover"] as? String
    }

    @Test func threeReplicasShareTheWorkThroughAKillAndAPause() throws {
        let cluster = try Cluster()
        defer { cluster.remove() }
        let folder = try TemporaryFolder("replicas")
        try GeneratedFleet.write(into: folder, groups: 30, perGroup: 2, maxParallel: 6, window: GeneratedFleet.liveWindow())
        let harness = try ProviderHarness(.http, folder: folder, latency: "200ms")
        defer { harness.stop() }
        let arguments = ["--state", cluster.url, "--interval", "1s", "--lease-ttl", "10s", "--retry-delay", "100ms"] + harness.providerArguments
        let replicas = try (1...3).map { try ControllerCLITests.Controller(folder: folder, arguments: arguments, name: "replica-\($0)",
                                                                          environment: harness.environment) }
        defer { for replica in replicas { _ = replica.terminate() } }

        /// The replica among `candidates` whose cut-over is in flight now, with that cut-over.
        func caughtInFlight(_ candidates: [Int], _ status: [String: Any]) -> (index: Int, cutover: String)? {
            for index in candidates {
                if let cutover = Self.inFlightCutover(status, pid: replicas[index].process.processIdentifier) { return (index, cutover) }
            }
            return nil
        }

        // SIGKILL whichever replica is first seen in the middle of one of its cut-overs.
        let first = Self.waitForStatus(harness, state: cluster.url, timeout: 60) { caughtInFlight([0, 1, 2], $0) != nil }
        let victim = try #require(first.flatMap { caughtInFlight([0, 1, 2], $0) }?.index, "no replica was ever seen mid cut-over")
        kill(replicas[victim].process.processIdentifier, SIGKILL)
        replicas[victim].process.waitUntilExit()
        let others = [0, 1, 2].filter { $0 != victim }

        // Pause one of the other two in the middle of one of its cut-overs, and keep it stopped
        // past its lease (10s, long enough for the check below even on a slow machine) until another replica has taken that cut-over on; then let it go
        // on. Whether it is mid cut-over is read again once it is stopped, when it can no longer
        // write (if it finished in between, it goes on and another instant is tried).
        var stalled: String?
        var pausedIndex = others[0]
        for _ in 0..<20 where stalled == nil {
            guard let seen = Self.waitForStatus(harness, state: cluster.url, timeout: 60, {
                caughtInFlight(others, $0) != nil || Self.migrated($0) == 60 }),
                let caught = caughtInFlight(others, seen) else { break }
            pausedIndex = caught.index
            let pid = replicas[pausedIndex].process.processIdentifier
            kill(pid, SIGSTOP)
            stalled = Self.status(harness, state: cluster.url).flatMap { Self.inFlightCutover($0, pid: pid) }
            if stalled == nil { kill(pid, SIGCONT) }
        }
        let paused = replicas[pausedIndex].process.processIdentifier
        let survivor = others.first { $0 != pausedIndex }!
        #expect(stalled != nil, "never caught a surviving replica in the middle of a cut-over")
        if let stalled {
            let takenOver = Self.waitForStatus(harness, state: cluster.url, timeout: 60) { status in
                !Self.journals(status).contains { $0["cutover"] as? String == stalled && ($0["holder"] as? String)?.contains("/\(paused)/") == true }
            }
            #expect(takenOver != nil, "no replica took over \(stalled) from the stopped one")
            kill(paused, SIGCONT)
        }

        // Everything converges.
        let done = Self.waitForStatus(harness, state: cluster.url, timeout: 120) { Self.migrated($0) == 60 }
        #expect(done != nil, "did not converge: \(Self.status(harness, state: cluster.url)?["summary"] ?? "no status")")
        if stalled != nil {
            // The woken replica counts the refusal in its metrics (once it has run again).
            let metrics = replicas[pausedIndex].wait(for: "/metrics", timeout: 30) {
                (ControllerCLITests.Controller.sample($0, "sendpath_fencing_rejections_total") ?? 0) >= 1
            }
            #expect(metrics != nil, "\(replicas[pausedIndex].get("/metrics")?.body ?? "no /metrics")")
        }
        #expect(replicas[pausedIndex].terminate() == 0)
        #expect(replicas[survivor].terminate() == 0)
        let check = try harness.check()
        #expect(check.status == 0, "\(check.report)")

        // The journal: no group worked by two holders with valid tokens at once (tokens never go
        // back within a cut-over, apart from refusals), and the paused replica was refused.
        let journal = try Self.journal(cluster.url)
        for (cutover, entries) in journal {
            var newest = Int64.min
            for entry in entries where entry.phase != "fenced" {
                #expect(entry.token >= newest, "cut-over \(cutover): an entry with token \(entry.token) after \(newest)")
                newest = max(newest, entry.token)
            }
        }
        if stalled != nil {
            let refusals = journal.values.joined().filter { $0.phase == "fenced" && $0.holder.contains("/\(paused)/") }
            #expect(!refusals.isEmpty, "the paused replica's stale calls were not refused")
        }
    }

    /// `sendpath suspend` with two controllers on one PostgreSQL: the cut-overs in flight
    /// finish, nothing else starts on either replica (not even prepare-target), both show it in
    /// /status and /metrics; `resume` lets the rest go.
    @Test func aSuspendHoldsBothReplicasAndTheCutoversInFlightFinish() throws {
        let cluster = try Cluster()
        defer { cluster.remove() }
        let folder = try TemporaryFolder("pg-suspend")
        try GeneratedFleet.write(into: folder, groups: 12, perGroup: 2, maxParallel: 2, window: GeneratedFleet.liveWindow())
        let harness = try ProviderHarness(.http, folder: folder, latency: "150ms")
        defer { harness.stop() }
        let arguments = ["--state", cluster.url, "--interval", "1s", "--lease-ttl", "10s", "--retry-delay", "100ms"] + harness.providerArguments
        let replicas = try (1...2).map { try ControllerCLITests.Controller(folder: folder, arguments: arguments, name: "suspend-\($0)",
                                                                          environment: harness.environment) }
        defer { for replica in replicas { _ = replica.terminate() } }
        let inFlight = Self.waitForStatus(harness, state: cluster.url, timeout: 60) { status in
            Self.journals(status).contains { $0["outcome"] as? String == "in-progress" }
        }
        #expect(inFlight != nil, "no cut-over was ever seen in flight")
        let suspend = try harness.sendpath(["suspend", "--state", cluster.url, "--by", "oncall", "--reason", "bounce storm"])
        #expect(suspend.status == 0, "\(suspend.stderr)")
        let suspendedAt = try #require(suspend.stdout.split(separator: " ").first { $0.hasPrefix("20") }
            .flatMap { ISO8601DateFormatter.seconds($0) }, "\(suspend.stdout)")

        // Each replica runs two passes that see the suspension; by then what was in flight is done.
        for replica in replicas {
            let before = replica.wait(for: "/metrics") { ControllerCLITests.Controller.sample($0, "sendpath_suspended", ["wave": "*"]) == 1 }
            #expect(before != nil, "\(replica.get("/metrics")?.body ?? "no /metrics")")
            let passes = ControllerCLITests.Controller.sample(before ?? "", "sendpath_reconciles_total") ?? 0
            #expect(replica.wait(for: "/metrics", timeout: 60) { (ControllerCLITests.Controller.sample($0, "sendpath_reconciles_total") ?? 0) >= passes + 2 } != nil)
        }
        let settled = try #require(Self.waitForStatus(harness, state: cluster.url, timeout: 60) { status in
            !Self.journals(status).contains { $0["outcome"] as? String == "in-progress" }
        }, "the cut-overs in flight did not finish")
        let migrated = Self.migrated(settled)
        #expect(migrated >= 2 && migrated < 24, "\(settled["summary"] ?? "")")
        // Nothing began after the suspension was recorded (beyond the one store write between a
        // runner's last look at the controls and the start of its cut-over).
        for journal in Self.journals(settled) {
            let started = (journal["startedAt"] as? String).flatMap { ISO8601DateFormatter.seconds($0) }
            #expect(started.map { $0 < suspendedAt.addingTimeInterval(3) } ?? false, "\(journal) began after the suspend at \(suspendedAt)")
        }
        let blocked = (settled["instances"] as? [[String: Any]] ?? []).filter { $0["status"] as? String == "blocked" }
        #expect(blocked.count == 24 - migrated && blocked.allSatisfy { $0["reasonCode"] as? String == "suspended" }, "\(blocked)")
        let page = try #require(replicas[0].get("/status"))
        #expect(page.body.contains("\"suspensions\"") && page.body.contains("bounce storm"), "\(page.body.prefix(400))")
        let metrics = replicas[1].get("/metrics")?.body ?? ""
        #expect(ControllerCLITests.Controller.sample(metrics, "sendpath_groups_blocked", ["reason": "suspended"]) ?? 0 >= 1, "\(metrics)")
        #expect(try harness.check().status == 0)

        #expect(try harness.sendpath(["resume", "--state", cluster.url]).status == 0)
        let done = Self.waitForStatus(harness, state: cluster.url, timeout: 120) { Self.migrated($0) == 24 }
        #expect(done != nil, "did not converge after resume: \(Self.status(harness, state: cluster.url)?["summary"] ?? "no status")")
        #expect(replicas[0].wait(for: "/metrics") { ControllerCLITests.Controller.sample($0, "sendpath_suspended", ["wave": "*"]) == 0 } != nil)
        for replica in replicas { #expect(replica.terminate() == 0) }
        let check = try harness.check()
        #expect(check.status == 0, "\(check.report)")
    }

    @Test func controllersRecoverWhenPostgresRestartsMidRun() throws {
        let cluster = try Cluster()
        defer { cluster.remove() }
        let folder = try TemporaryFolder("pg-restart")
        try GeneratedFleet.write(into: folder, groups: 16, perGroup: 2, maxParallel: 4, window: GeneratedFleet.liveWindow())
        let harness = try ProviderHarness(.http, folder: folder, latency: "60ms")
        defer { harness.stop() }
        let arguments = ["--state", cluster.url, "--interval", "1s", "--lease-ttl", "10s", "--retry-delay", "100ms"] + harness.providerArguments
        let replicas = try (1...2).map { try ControllerCLITests.Controller(folder: folder, arguments: arguments, name: "pg-\($0)",
                                                                          environment: harness.environment) }
        defer { for replica in replicas { _ = replica.terminate() } }
        #expect(Self.waitForStatus(harness, state: cluster.url, timeout: 60) { Self.migrated($0) >= 4 } != nil)
        cluster.stop()
        // Not ready while the database is away.
        let notReady = replicas[0].get("/readyz")
        #expect(notReady?.status == 503 || notReady == nil)
        sleep(3)
        try cluster.start()
        let done = Self.waitForStatus(harness, state: cluster.url, timeout: 120) { Self.migrated($0) == 32 }
        #expect(done != nil, "did not converge after the restart: \(Self.status(harness, state: cluster.url)?["summary"] ?? "no status")")
        #expect(replicas[0].wait(for: "/readyz", timeout: 30) { $0.contains("reachable") } != nil)
        for replica in replicas { #expect(replica.terminate() == 0) }
        let check = try harness.check()
        #expect(check.status == 0, "\(check.report)")
    }

    struct Entry { var phase: String; var token: Int64; var holder: String }

    /// The journal, per cut-over, in insertion order, read with psql.
    static func journal(_ url: String) throws -> [String: [Entry]] {
        let plain = url.replacingOccurrences(of: "?sslmode=disable", with: "")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["psql", plain, "-At", "-F", "|", "-c",
                             "SELECT coalesce(cutover_id, group_id), phase, fencing_token, holder FROM journal ORDER BY id"]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        var result: [String: [Entry]] = [:]
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            let fields = line.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
            guard fields.count == 4, let token = Int64(fields[2]) else { continue }
            result[fields[0], default: []].append(Entry(phase: fields[1], token: token, holder: fields[3]))
        }
        return result
    }
}

extension ISO8601DateFormatter {
    /// The whole second of a UTC time as sendpath prints it (`2026-12-05T17:31:23.0839Z`, or
    /// followed by punctuation): its first 19 characters.
    static func seconds(_ text: some StringProtocol) -> Date? {
        guard text.count >= 19 else { return nil }
        return ISO8601DateFormatter().date(from: String(text.prefix(19)) + "Z")
    }
}
