import Foundation
import Testing

/// Sendpath on real daemons (issue 11): Postfix MTAs and GoBGP speakers in the lab
/// (`scripts/lab.sh`), checked by observers Sendpath does not control: the lab's SMTP sink
/// (who delivered what, from which address) and its route collector (every announcement).
/// Each test brings its own lab up and down; they run one at a time (fixed loopback ports).
/// `SENDPATH_LAB=0` skips them (on a machine that cannot run the daemons: they need root).
///
/// They were kept out of `make test` for a while: lab backlogs were sometimes never delivered.
/// The cause, found in kept evidence: unfreeze's `postfix reload` swallowed its own flush
/// request (see `PostfixMTA.releaseAll(patience:)`).
@Suite("The lab: real MTAs and real routes", .serialized,
       .enabled(if: ProcessInfo.processInfo.environment["SENDPATH_LAB"] != "0"))
struct LabCLITests {
    /// Every lab instance, with `site` as where its mail must have been delivered from.
    static func sites(_ lab: Lab, _ site: String, except exceptions: [String: String] = [:]) -> [String] {
        lab.instances.map { "\($0)=\(exceptions[$0] ?? site)" }
    }

    /// Polls the lab's report until it passes (released mail reaches the sink a moment after
    /// the run that released it ends), up to a minute; returns the last report.
    static func settledReport(_ lab: Lab, state: String, sites: [String]) throws -> (status: Int32, text: String) {
        let deadline = Date().addingTimeInterval(60)
        var report = try lab.report(state: state, expectSites: sites)
        while report.status != 0 && Date() < deadline {
            usleep(250_000)
            report = try lab.report(state: state, expectSites: sites)
        }
        if report.status != 0 {
            // Keep the evidence: the lab's records, the MTAs' logs and queues, the ledger and the
            // journal, for whoever reads the failure.
            let kept = "/tmp/sendpath-lab-failure-\(Int(Date().timeIntervalSince1970))"
            lab.keepEvidence(in: kept, state: state)
            report.text += "\n(records kept in \(kept))"
        }
        return report
    }

    /// How many entries the journal in the SQLite state file holds (0 before it exists).
    static func journalEntries(_ state: String) -> Int {
        guard FileManager.default.fileExists(atPath: state),
              let count = try? Command.run("/usr/bin/sqlite3", ["file:\(state)?mode=ro", "SELECT count(*) FROM journal"]) else { return 0 }
        return Int(count.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
    }

    static func reconcileProcess(_ arguments: [String], folder: TemporaryFolder, environment: [String: String] = [:]) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: SendpathBinary.path)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: folder.path)
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }

    /// A backlog of a few hundred messages, more mail submitted to both sites of several
    /// instances all along, and 15 SIGKILLs of `reconcile` at random instants; then one run to
    /// the end. The sink shows every message exactly once, from its instance's declared IP, by
    /// the target's MTA for the backlog; nothing was delivered by an instance while it was
    /// frozen; the collector never heard a prefix from two origins at once.
    @Test func killedFifteenTimesTheMigrationStillDeliversEveryMessageOnce() throws {
        let lab = try Lab.up("kills")
        defer { lab.down() }
        let folder = try TemporaryFolder("lab-kills")
        defer { folder.remove() }
        for (instance, count) in [("lab-a1", 120), ("lab-a2", 40), ("lab-b1", 100), ("lab-c2", 80)] { try lab.backlog(instance, count) }
        let seed = UInt64(ProcessInfo.processInfo.environment["SENDPATH_CRASH_SEED"] ?? "") ?? UInt64(Date().timeIntervalSince1970)
        var random = CrashSafetyTests.SplitMix64(state: seed)
        let state = folder.path + "/state.db"
        let arguments = ["reconcile", "--provider", lab.providerURL, "--state", "sqlite:" + state, "--retry-delay", "50ms", lab.manifests]
        // Each kill lands at a random point of the work, not of the clock: once the journal has
        // grown by 1 to 3 entries since the run started (so the instants do not depend on how
        // fast this machine is, and the migration cannot finish before the 15th kill).
        let journalEntries = { Self.journalEntries(state) }
        var kills = 0
        for round in 0..<60 where kills < 15 {
            let instance = lab.instances[round % lab.instances.count]
            try lab.submit(instance, 5, site: round % 3 == 0 ? "aws" : "adobe-dc")
            let target = journalEntries() + Int.random(in: 1...3, using: &random)
            let process = try Self.reconcileProcess(arguments, folder: folder)
            let deadline = Date().addingTimeInterval(120)
            while process.isRunning && journalEntries() < target && Date() < deadline { usleep(10_000) }
            if process.isRunning {
                kill(process.processIdentifier, SIGKILL)
                kills += 1
            }
            process.waitUntilExit()
        }
        #expect(kills == 15, "seed \(seed)")
        let last = try SendpathBinary.run(arguments + ["--output", "json"], directory: folder.path, timeout: 300)
        #expect(last.status == 0, "seed \(seed): \(last.stdout)\(last.stderr)")
        #expect((try? last.json()["summary"] as? [String: Int]) == ["migrated": 6], "seed \(seed): \(last.stdout)")
        for instance in ["lab-a2", "lab-b2"] { try lab.submit(instance, 5, site: "adobe-dc") }
        let report = try Self.settledReport(lab, state: state, sites: Self.sites(lab, "aws"))
        #expect(report.status == 0, "seed \(seed): \(report.text)")
        let status = try SendpathBinary.run(["status", "--provider", lab.providerURL, "--state", "sqlite:" + state, "--output", "json",
                                             lab.manifests], directory: folder.path)
        #expect(status.status == 0, "\(status.stdout)\(status.stderr)")
    }

    /// The same through `sendpath provider serve` and `--provider http://...`, with the
    /// provider server killed and started again while `reconcile` runs.
    @Test func throughTheProviderServerKilledAndRestartedEveryMessageIsDeliveredOnce() throws {
        let lab = try Lab.up("serve")
        defer { lab.down() }
        let folder = try TemporaryFolder("lab-serve")
        defer { folder.remove() }
        for instance in ["lab-a1", "lab-b2", "lab-c1"] { try lab.backlog(instance, 60) }
        let first = try SimulatorServer(folder: folder, arguments: ["provider", "serve", "--config", lab.providerConfig, "--listen", "127.0.0.1:0"])
        let port = first.port
        let state = folder.path + "/state.db"
        let arguments = ["reconcile", "--provider", first.url, "--state", "sqlite:" + state, "--retry-delay", "200ms",
                         "--attempts", "30", "--output", "json", lab.manifests]
        let run = try Self.reconcileProcess(arguments, folder: folder, environment: first.environment)
        // The server dies mid-run: once the journal holds a few entries (a point of the work,
        // whatever this machine's speed).
        let target = Int.random(in: 2...10)
        let deadline = Date().addingTimeInterval(120)
        while run.isRunning && Self.journalEntries(state) < target && Date() < deadline { usleep(10_000) }
        #expect(run.isRunning, "the migration ended before the provider server was killed")
        first.kill()
        try lab.submit("lab-a2", 10)
        let second = try SimulatorServer(folder: folder, arguments: ["provider", "serve", "--config", lab.providerConfig,
                                                                      "--listen", "127.0.0.1:\(port)"])
        defer { second.stop() }
        run.waitUntilExit()
        let last = try SendpathBinary.run(arguments, directory: folder.path, environment: second.environment, timeout: 300)
        #expect(last.status == 0, "first run \(run.terminationStatus); last: \(last.stdout)\(last.stderr)\n\(second.log)")
        let report = try Self.settledReport(lab, state: state, sites: Self.sites(lab, "aws"))
        #expect(report.status == 0, "\(report.text)")
    }

    /// A target MTA that sends from another address than the instance declares: verify-ips
    /// fails, the cut-over turns back, and the backlog is delivered from the data center, once.
    @Test func aTargetSendingFromAnotherAddressIsTurnedBackAndMailLeavesFromTheDataCenter() throws {
        let lab = try Lab.up("rollback")
        defer { lab.down() }
        let folder = try TemporaryFolder("lab-rollback")
        defer { folder.remove() }
        let target = lab.mta("lab-b1", "aws")
        let edit = try Command.run("/usr/sbin/postconf", ["-c", target, "-e", "smtp_bind_address=127.10.2.99"])
        #expect(edit.status == 0, "\(edit.stderr)")
        #expect(try Command.run("/usr/bin/touch", ["-d", "@\(Int(Date().timeIntervalSince1970) - 5)", target + "/main.cf"]).status == 0)
        #expect(try Command.run("/usr/sbin/postfix", ["-c", target, "reload"]).status == 0)
        for instance in ["lab-b1", "lab-b2", "lab-a1"] { try lab.backlog(instance, 50) }
        let state = folder.path + "/state.db"
        // A dry run reads the daemons and creates nothing: not even the provider's ledger.
        let plan = try SendpathBinary.run(["reconcile", "--dry-run", "--provider", lab.providerURL, "--detailed-exitcode", lab.manifests],
                                          directory: folder.path)
        #expect(plan.status == 2, "\(plan.stdout)\(plan.stderr)")
        #expect(plan.stdout.contains("lab-b1    adobe-dc/or1  aws/us-east-1  pending"), "\(plan.stdout)")
        #expect(!FileManager.default.fileExists(atPath: lab.directory + "/provider"), "no ledger before the first change")
        let run = try SendpathBinary.run(["reconcile", "--provider", lab.providerURL, "--state", "sqlite:" + state, "--output", "json",
                                          lab.manifests], directory: folder.path, timeout: 300)
        #expect(run.status == 4, "\(run.stdout)\(run.stderr)")
        let groups = (try? run.json()["groups"] as? [[String: Any]]) ?? []
        let b = groups.first { $0["id"] as? String == "lab-pfx-b" }
        #expect(b?["status"] as? String == "rolled-back", "\(run.stdout)")
        let report = try Self.settledReport(lab, state: state,
                                            sites: Self.sites(lab, "aws", except: ["lab-b1": "adobe-dc", "lab-b2": "adobe-dc"]))
        #expect(report.status == 0, "\(report.text)")
    }
}

/// The postfix-bgp provider's configuration, checked without daemons.
@Suite("postfix-bgp configuration")
struct ProviderConfigurationCLITests {
    /// Mistakes in a provider configuration are reported like manifest mistakes: one line each,
    /// file:line:column, every one at once, and nothing is started.
    @Test func aProviderConfigurationWithMistakesIsReportedByLineAndColumn() throws {
        let folder = try TemporaryFolder("provider-config")
        defer { folder.remove() }
        try folder.write("provider.yaml", """
            stateDirectory: relative/dir
            commandTimeout: 99h
            collector: {api: "127.0.0.1"}
            sites:
              adobe-dc: {location: or1, bgp: {api: 127.0.0.1:50071, asn: 65001}}
              aws: {location: us-east-1, bgp: {api: 127.0.0.1:50072, asn: 0}}
            instances:
              lab-a1:
                mta: {adobe-dc: /tmp/x, aws: relative}
                extra: 1

            """)
        let check = try SendpathBinary.run(["provider", "check", "--config", "provider.yaml"], directory: folder.path)
        #expect(check.status == 65)
        let lines = check.stderr.split(separator: "\n").map(String.init)
        #expect(lines.prefix(6) == [
            "provider.yaml:1:17: error: [bad-value] 'stateDirectory' must be an absolute path, found 'relative/dir'",
            "provider.yaml:2:17: error: [bad-duration] 'commandTimeout' must be a duration from 100ms to 1h, found '99h' (for example 15s)",
            "provider.yaml:3:18: error: [bad-value] 'collector api' must be HOST:PORT, found '127.0.0.1' (for example 127.0.0.1:50051 (gobgpd --api-hosts))",
            "provider.yaml:6:63: error: [value-out-of-range] 'asn' must be an AS number from 1 to 4294967294 (for example 65001 (a private AS number))",
            "provider.yaml:9:34: error: [bad-value] an MTA is named by the absolute path of its Postfix configuration directory, found 'relative'",
            "provider.yaml:10:5: error: [unknown-field] unknown field 'extra' in instance 'lab-a1' (its fields are mta)",
        ], "\(check.stderr)")
        // The same through --provider: refused before anything is read or changed.
        try GeneratedFleet.write(into: folder, groups: 1)
        let reconcile = try SendpathBinary.run(["reconcile", "--dry-run", "--provider", "postfix-bgp:provider.yaml"], directory: folder.path)
        #expect(reconcile.status == 65, "\(reconcile.stderr)")
        #expect(reconcile.stderr.contains("provider.yaml:1:17: error: [bad-value]"), "\(reconcile.stderr)")
        #expect(!FileManager.default.fileExists(atPath: folder.path + "/relative"))
    }
}
