import Foundation
import Testing

/// Operators stay in control (issue 13): suspend and resume, approval before the freeze,
/// canary groups, the failure budget, saved plans and exit codes a pipeline can act on; each
/// through the CLI, as an operator or a pipeline uses it.
@Suite("Operators' controls")
struct ControlsCLITests {
    static func instances(_ result: SendpathBinary.Result) -> [[String: Any]] {
        ((try? result.json())?["instances"] as? [[String: Any]]) ?? []
    }

    static func instance(_ result: SendpathBinary.Result, _ name: String) -> [String: Any]? {
        instances(result).first { $0["name"] as? String == name }
    }

    static func mutatingOperations(_ harness: ProviderHarness) throws -> Int {
        try harness.check().report["mutatingOperations"] as? Int ?? -1
    }

    @Test func aSuspendStopsEveryNewChangeUntilResumed() throws {
        let folder = try TemporaryFolder("suspend")
        try GeneratedFleet.write(into: folder, groups: 2, window: GeneratedFleet.liveWindow())
        let harness = try ProviderHarness(.embedded, folder: folder)
        defer { harness.stop() }
        let suspend = try harness.sendpath(["suspend", "--reason", "incident 7: bounces at gmail", "--by", "alice"])
        #expect(suspend.status == 0, "\(suspend.stderr)")
        #expect(suspend.stdout.hasPrefix("Suspended every wave (by alice at "), "\(suspend.stdout)")

        let plan = try harness.sendpath(["reconcile", "--dry-run", "--detailed-exitcode", "--output", "json"])
        #expect(plan.status == 3, "\(plan.stdout)\(plan.stderr)")
        let apply = try harness.reconcile(["--output", "json"])
        #expect(apply.status == 3, "\(apply.stdout)\(apply.stderr)")
        for instance in Self.instances(apply) {
            #expect(instance["status"] as? String == "blocked")
            #expect(instance["reasonCode"] as? String == "suspended")
            let reason = instance["reason"] as? String ?? ""
            #expect(reason.contains("by alice") && reason.contains("incident 7: bounces at gmail"), "\(reason)")
        }
        // Not even prepare-target ran.
        #expect(try Self.mutatingOperations(harness) == 0)

        let status = try harness.sendpath(["status"] + harness.providerArguments + ["--output", "json"])
        #expect(status.status == 3)
        let suspensions = (try status.json()["suspensions"] as? [[String: Any]]) ?? []
        #expect(suspensions.count == 1 && suspensions.first?["by"] as? String == "alice", "\(status.stdout)")
        let text = try harness.sendpath(["status"] + harness.providerArguments)
        #expect(text.stdout.contains("Every wave is suspended by alice since "), "\(text.stdout)")

        // Resuming one wave does not lift the suspension of every wave.
        #expect(try harness.sendpath(["resume", "--wave", "wave-a"]).status == 0)
        #expect(try harness.reconcile().status == 3)
        #expect(try Self.mutatingOperations(harness) == 0)
        #expect(try harness.sendpath(["resume"]).status == 0)
        let resumed = try harness.reconcile(["--output", "json"])
        #expect(resumed.status == 0, "\(resumed.stdout)\(resumed.stderr)")
        #expect((try resumed.json()["summary"] as? [String: Int]) == ["migrated": 4])

        // A wave suspended by name, and the command line's own checks.
        #expect(try harness.sendpath(["suspend", "--wave", "wave-a"]).status == 0)
        #expect(try harness.sendpath(["status"] + harness.providerArguments).stdout.contains("Wave wave-a is suspended by "))
        let bad = try harness.sendpath(["suspend", "--reason", "two\nlines"])
        #expect(bad.status == 64 && bad.stderr.contains("--reason holds a control character"), "\(bad.stderr)")
    }

    @Test func anApprovalLetsOneCutOverFreezeAfterPrepareTarget() throws {
        let folder = try TemporaryFolder("approval")
        try GeneratedFleet.write(into: folder, groups: 2, window: GeneratedFleet.liveWindow(), waveSpec: "approval: required")
        // switch-path fails every attempt of the first cut-over (the default 4): it turns back; the next one passes.
        try folder.write("faults.yaml", "- {instance: inst-0-0, operation: switch-path, effect: error, count: 4}\n")
        let harness = try ProviderHarness(.embedded, folder: folder, faults: "faults.yaml")
        defer { harness.stop() }
        let first = try harness.reconcile(["--output", "json"])
        #expect(first.status == 3, "\(first.stdout)\(first.stderr)")
        for instance in Self.instances(first) {
            #expect(instance["reasonCode"] as? String == "awaiting-approval", "\(instance)")
            let steps = (instance["steps"] as? [[String: Any]] ?? []).map { "\($0["name"] ?? "") \($0["state"] ?? "")" }
            #expect(steps == ["prepare-target done"], "prepare-target runs before the approval: \(steps)")
        }
        let prepared = try Self.mutatingOperations(harness)
        #expect(try harness.reconcile().status == 3)
        #expect(try Self.mutatingOperations(harness) == prepared, "waiting for an approval calls nothing")

        // An instance names its group; the approval counts for cut-over #1 of that group only.
        let approve = try harness.sendpath(["approve", "inst-0-1", "--by", "bob", "--manifests", "manifests"])
        #expect(approve.status == 0, "\(approve.stderr)")
        #expect(approve.stdout.hasPrefix("Approved cut-over #1 of group pfx-0 (by bob at "), "\(approve.stdout)")
        let rolledBack = try harness.reconcile(["--output", "json"])
        #expect(rolledBack.status == 4, "\(rolledBack.stdout)")
        #expect(Self.instance(rolledBack, "inst-0-0")?["status"] as? String == "rolled-back")
        #expect(Self.instance(rolledBack, "inst-1-0")?["reasonCode"] as? String == "awaiting-approval")
        // The rolled-back cut-over's approval does not carry over to the next attempt.
        let again = try harness.reconcile(["--output", "json"])
        #expect(Self.instance(again, "inst-0-0")?["reasonCode"] as? String == "awaiting-approval", "\(again.stdout)")
        #expect((Self.instance(again, "inst-0-0")?["reason"] as? String)?.contains("cut-over #2 of group 'pfx-0'") == true)
        let wave = try harness.sendpath(["approve", "--wave", "wave-a", "--manifests", "manifests"])
        #expect(wave.stdout.contains("Approved cut-over #2 of group pfx-0") && wave.stdout.contains("Approved cut-over #1 of group pfx-1"),
                "\(wave.stdout)")
        let done = try harness.reconcile(["--output", "json"])
        #expect(done.status == 0, "\(done.stdout)\(done.stderr)")
        #expect((try done.json()["summary"] as? [String: Int]) == ["migrated": 4])
        let unknown = try harness.sendpath(["approve", "nobody", "--manifests", "manifests"])
        #expect(unknown.status == 64 && unknown.stderr.contains("no group or instance named 'nobody'"), "\(unknown.stderr)")
    }

    @Test func canariesRunAloneThenBakeAndAFailedCanaryHoldsTheWaveUntilResumed() throws {
        let folder = try TemporaryFolder("canary")
        try GeneratedFleet.write(into: folder, groups: 3, waveSpec: "canary: {groups: 1, bake: 2h}")
        // switch-path fails every attempt of the first cut-over (the default 4): it turns back; the next one passes.
        try folder.write("faults.yaml", "- {instance: inst-0-0, operation: switch-path, effect: error, count: 4}\n")
        let harness = try ProviderHarness(.embedded, folder: folder, faults: "faults.yaml")
        defer { harness.stop() }
        func reconcile(at time: String) throws -> SendpathBinary.Result { try harness.reconcile(["--at", time, "--output", "json"]) }
        // The canary (the first group by id) rolls back: the rest of the wave never started.
        let failed = try reconcile(at: "2024-03-02T21:00:00Z")
        #expect(failed.status == 4, "\(failed.stdout)\(failed.stderr)")
        #expect(Self.instance(failed, "inst-0-0")?["status"] as? String == "rolled-back")
        for name in ["inst-1-0", "inst-2-0"] {
            #expect(Self.instance(failed, name)?["reasonCode"] as? String == "canary", "\(failed.stdout)")
        }
        // It passes on its retry, but the wave waits for a human all the same.
        let retried = try reconcile(at: "2024-03-02T21:10:00Z")
        #expect(Self.instance(retried, "inst-0-0")?["status"] as? String == "migrated", "\(retried.stdout)")
        #expect((Self.instance(retried, "inst-1-0")?["reason"] as? String)?.contains("rolled back or was held") == true, "\(retried.stdout)")
        #expect(try harness.sendpath(["resume", "--wave", "wave-a"]).status == 0)
        // Resumed: the canary bakes for two hours from its completion.
        let baking = try reconcile(at: "2024-03-02T22:00:00Z")
        #expect(baking.status == 3, "\(baking.stdout)")
        #expect((Self.instance(baking, "inst-2-1")?["reason"] as? String)?.contains("bake until 2024-03-02T23:10") == true, "\(baking.stdout)")
        let done = try reconcile(at: "2024-03-02T23:20:00Z")
        #expect(done.status == 0, "\(done.stdout)\(done.stderr)")
        #expect((try done.json()["summary"] as? [String: Int]) == ["migrated": 6])
    }

    @Test func aSpentFailureBudgetStopsTheRestOfTheWave() throws {
        let folder = try TemporaryFolder("failure-budget")
        try GeneratedFleet.write(into: folder, groups: 3, maxParallel: 1, window: GeneratedFleet.liveWindow(), waveSpec: "maxFailures: 1")
        // switch-path fails every attempt of the first cut-over (the default 4): it turns back; the next one passes.
        try folder.write("faults.yaml", "- {instance: inst-0-0, operation: switch-path, effect: error, count: 4}\n")
        let harness = try ProviderHarness(.embedded, folder: folder, faults: "faults.yaml")
        defer { harness.stop() }
        let first = try harness.reconcile(["--output", "json"])
        #expect(first.status == 4, "\(first.stdout)\(first.stderr)")
        #expect(Self.instance(first, "inst-0-0")?["status"] as? String == "rolled-back")
        // Planned to start in the same run, they did not: the budget was spent before their turn.
        for name in ["inst-1-0", "inst-2-1"] {
            #expect(Self.instance(first, name)?["reasonCode"] as? String == "failure-budget", "\(first.stdout)")
        }
        let calls = try Self.mutatingOperations(harness)
        let second = try harness.reconcile(["--output", "json"])
        #expect(second.status == 3, "\(second.stdout)")
        #expect(Self.instance(second, "inst-0-0")?["reasonCode"] as? String == "failure-budget", "the failed group does not retry either")
        #expect(try Self.mutatingOperations(harness) == calls)
        #expect(try harness.sendpath(["resume", "--wave", "wave-a"]).status == 0)
        let resumed = try harness.reconcile(["--output", "json"])
        #expect(resumed.status == 0, "\(resumed.stdout)\(resumed.stderr)")
        #expect((try resumed.json()["summary"] as? [String: Int]) == ["migrated": 6])
    }

    @Test func aSavedPlanIsAppliedExactlyOrRefusedWithExit6() throws {
        let folder = try TemporaryFolder("saved-plan")
        try GeneratedFleet.write(into: folder, groups: 2, window: GeneratedFleet.liveWindow())
        let harness = try ProviderHarness(.embedded, folder: folder)
        defer { harness.stop() }
        // Reviewed on the default simulator, applied with the harness's (the same fleet file).
        let plan = try harness.sendpath(["reconcile", "--dry-run", "--out", "plan.json"])
        #expect(plan.status == 0, "\(plan.stderr)")
        let saved = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: folder.path + "/plan.json"))) as? [String: Any])
        #expect(saved["format"] as? String == "sendpath-plan/v1")
        let groups = saved["groups"] as? [[String: Any]] ?? []
        #expect(groups.map { $0["id"] as? String } == ["pfx-0", "pfx-1"])
        #expect(groups.first?["steps"] as? [String] == ["prepare-target", "freeze", "snapshot-queue", "switch-path", "verify-ips",
                                                         "verify-build", "resend-queue", "unfreeze"])
        #expect(Set((saved["fingerprint"] as? [String: String] ?? [:]).keys) == ["manifests", "fleet", "journal"])

        // The manifests changed since the review (a comment is a change): refused, nothing done.
        let wave = folder.path + "/manifests/wave.yaml"
        let original = try String(contentsOfFile: wave, encoding: .utf8)
        try (original + "# reviewed later\n").write(toFile: wave, atomically: true, encoding: .utf8)
        let stale = try harness.reconcile(["--plan", "plan.json", "--output", "json"])
        #expect(stale.status == 6, "\(stale.stdout)\(stale.stderr)")
        #expect(stale.stderr.contains("the manifests changed") && stale.stderr.contains("nothing was changed"), "\(stale.stderr)")
        #expect((try stale.json()["outcome"]) as? String == "stale-plan")
        #expect(try Self.mutatingOperations(harness) == 0)

        try original.write(toFile: wave, atomically: true, encoding: .utf8)
        let applied = try harness.reconcile(["--plan", "plan.json", "--output", "json"])
        #expect(applied.status == 0, "\(applied.stdout)\(applied.stderr)")
        #expect((try applied.json()["summary"] as? [String: Int]) == ["migrated": 4])
        // Applied once, the same plan is stale: the fleet and the journal moved on.
        let again = try harness.reconcile(["--plan", "plan.json"])
        #expect(again.status == 6)
        #expect(again.stderr.contains("the observed fleet changed") && again.stderr.contains("the journal changed"), "\(again.stderr)")

        #expect(try harness.reconcile(["--out", "x.json"]).status == 64)
        #expect(try harness.reconcile(["--dry-run", "--plan", "plan.json"]).status == 64)
        try folder.write("bogus.json", "{\"format\": 1}")
        let bogus = try harness.reconcile(["--plan", "bogus.json"])
        #expect(bogus.status == 64 && bogus.stderr.contains("is not a saved plan"), "\(bogus.stderr)")
    }

    /// A change that can run now outranks one that waits, and the summary line says what the
    /// exit status is.
    @Test func aDryRunWithWorkNowAndWorkLaterExits2AndNeverContradictsItsExitCode() throws {
        let folder = try TemporaryFolder("exit-order")
        try GeneratedFleet.write(into: folder, groups: 1, window: GeneratedFleet.liveWindow())
        try folder.write("manifests/later.yaml", """
            apiVersion: sendpath/v1
            kind: Wave
            metadata: {name: wave-later}
            spec:
              window: {start: 2199-03-02T20:00:00Z, end: 2199-03-03T04:00:00Z}
              notice: {sentAt: 2199-01-01T09:00:00Z}
            ---
            apiVersion: sendpath/v1
            kind: AddressPrefix
            metadata: {name: pfx-later}
            spec: {cidr: 10.99.0.0/24}
            ---
            apiVersion: sendpath/v1
            kind: Instance
            metadata: {name: inst-later}
            spec:
              tenant: tenant-9
              product: campaign-classic-v7
              hosting: managed-services
              environment: prod
              build: "7.3.5 build 9368"
              sendingIPs: [10.99.0.10]
              sendingPath: {infrastructure: aws, location: eu-west-1}
              wave: wave-later

            """)
        let detailed = try SendpathBinary.run(["reconcile", "--dry-run", "--detailed-exitcode", "--output", "json"], directory: folder.path)
        #expect(detailed.status == 2, "\(detailed.stdout)\(detailed.stderr)")
        #expect(try detailed.json()["outcome"] as? String == "changes-pending")
        #expect(try detailed.json()["exitCode"] as? Int == 2)
        let plain = try SendpathBinary.run(["reconcile", "--dry-run"], directory: folder.path)
        #expect(plain.status == 0)
        #expect(plain.stdout.contains("Summary: 2 pending, 1 blocked. Outcome: changes-pending (exit 0; with --detailed-exitcode, 2)"),
                "\(plain.stdout)")
        let json = try SendpathBinary.run(["reconcile", "--dry-run", "--output", "json"], directory: folder.path)
        #expect(try json.json()["exitCode"] as? Int == 0)
    }

    @Test func waveControlsWithMistakesAreReportedByLineAndColumn() throws {
        let folder = try TemporaryFolder("controls-invalid")
        try GeneratedFleet.write(into: folder, groups: 1, waveSpec: "approval: yes\n  canary: {groups: 0}\n  maxFailures: 150%")
        let check = try SendpathBinary.run(["validate", "manifests"], directory: folder.path)
        #expect(check.status == 65)
        #expect(check.stderr.contains("manifests/wave.yaml:8:13: error: [bad-enum] 'approval' in Wave spec must be one of none, required"),
                "\(check.stderr)")
        #expect(check.stderr.contains("'groups' in Wave canary must be at least 1"), "\(check.stderr)")
        #expect(check.stderr.contains("[missing-field]") && check.stderr.contains("bake"), "\(check.stderr)")
        #expect(check.stderr.contains("'maxFailures' in Wave spec is out of range: a percentage must be from 1% to 100%, found '150%'"),
                "\(check.stderr)")
    }
}
