import Foundation
import Testing

@Suite("sendpath reconcile, end to end")
struct ReconcileCLITests {
    @Test func dryRunJSONHasTheContractKeysAndChangesNothing() throws {
        let folder = try TemporaryFolder("plan")
        defer { folder.remove() }
        try GeneratedFleet.write(into: folder, groups: 3)
        let plan = try SendpathBinary.run(["reconcile", "--dry-run", "--at", GeneratedFleet.inWindow, "--output", "json"], directory: folder.path)
        #expect(plan.status == 0, "\(plan.stderr)")
        let object = try plan.json()
        // Six changes can run: the outcome says so; without --detailed-exitcode the exit is 0.
        #expect(object["outcome"] as? String == "changes-pending")
        #expect(object["exitCode"] as? Int == 0)
        #expect(object["dryRun"] as? Bool == true)
        #expect(object["at"] as? String == GeneratedFleet.inWindow)
        #expect((object["summary"] as? [String: Int]) == ["pending": 6])
        let instances = try #require(object["instances"] as? [[String: Any]])
        #expect(instances.count == 6)
        let first = try #require(instances.first)
        for key in ["name", "wave", "status", "reason", "reasonCode", "current", "target", "steps"] {
            #expect(first.keys.contains(key), "missing \(key)")
        }
        #expect(first["reasonCode"] is NSNull, "a pending instance has a null reasonCode")
        #expect((first["current"] as? [String: String]) == ["infrastructure": "adobe-dc", "location": "dc1"])
        #expect((first["target"] as? [String: String]) == ["infrastructure": "aws", "location": "eu-west-1"])
        let steps = try #require(first["steps"] as? [[String: Any]])
        #expect(steps.compactMap { $0["name"] as? String } == ["prepare-target", "freeze", "snapshot-queue", "switch-path",
                                                               "verify-ips", "verify-build", "resend-queue", "unfreeze"])
        #expect(steps.allSatisfy { $0["state"] as? String == "pending" })

        let detailed = try SendpathBinary.run(["reconcile", "--dry-run", "--detailed-exitcode", "--at", GeneratedFleet.inWindow], directory: folder.path)
        #expect(detailed.status == 2)
        let waiting = try SendpathBinary.run(["reconcile", "--dry-run", "--at", GeneratedFleet.beforeWindow, "--output", "json"], directory: folder.path)
        #expect(waiting.status == 3)
        let blocked = try #require(try waiting.json()["instances"] as? [[String: Any]]).first
        #expect(blocked?["status"] as? String == "blocked")
        #expect(blocked?["reasonCode"] as? String == "window-not-open")
        // Nothing was changed, nor created: dry runs plan against a throwaway simulated fleet.
        #expect(!FileManager.default.fileExists(atPath: folder.path + "/.sendpath"), "a dry run created .sendpath")
    }

    @Test(arguments: ProviderKind.allCases)
    func applyThenApplyAgainCallsNoMutatingOperation(kind: ProviderKind) throws {
        let folder = try TemporaryFolder("idem")
        try GeneratedFleet.write(into: folder, groups: 4, window: GeneratedFleet.liveWindow())
        let harness = try ProviderHarness(kind, folder: folder)
        defer { harness.stop() }
        let first = try harness.reconcile(["--output", "json"])
        #expect(first.status == 0, "\(first.stderr)")
        #expect((try first.json()["summary"] as? [String: Int]) == ["migrated": 8])
        let before = try harness.check()
        #expect(before.status == 0, "\(before.report)")
        let operations = try #require(before.report["mutatingOperations"] as? Int)
        #expect(operations == 4 * 6)  // prepare, freeze, snapshot, switch, resend, unfreeze per group
        let second = try harness.reconcile()
        #expect(second.status == 0)
        #expect(try harness.check().report["mutatingOperations"] as? Int == operations)
        let status = try harness.sendpath(["status", "--output", "json"] + harness.providerArguments)
        #expect(status.status == 0)
        let instance = try #require(try status.json()["instances"] as? [[String: Any]]).first
        #expect((instance?["journal"] as? [String: Any])?["outcome"] as? String == "completed")
        #expect((instance?["observed"] as? [String: Any])?["frozen"] as? Bool == false)
    }

    @Test func dryRunAndApplyAgreeOnTheSteps() throws {
        let folder = try TemporaryFolder("agree")
        defer { folder.remove() }
        try GeneratedFleet.write(into: folder, groups: 2)
        let plan = try SendpathBinary.run(["reconcile", "--dry-run", "--at", GeneratedFleet.inWindow, "--output", "json"], directory: folder.path)
        let apply = try SendpathBinary.run(["reconcile", "--at", GeneratedFleet.inWindow, "--output", "json"], directory: folder.path)
        func steps(_ result: SendpathBinary.Result) throws -> [String: [String]] {
            var byName: [String: [String]] = [:]
            for instance in try #require(try result.json()["instances"] as? [[String: Any]]) {
                let steps = try #require(instance["steps"] as? [[String: Any]])
                byName[instance["name"] as! String] = steps.compactMap { $0["name"] as? String }
            }
            return byName
        }
        #expect(try steps(plan) == steps(apply))
        let states = try #require(try apply.json()["instances"] as? [[String: Any]]).flatMap { ($0["steps"] as? [[String: Any]]) ?? [] }
        #expect(states.allSatisfy { $0["state"] as? String == "done" })
    }

    @Test(arguments: ProviderKind.allCases)
    func faultsGiveRolledBackAndHeldExitCodes(kind: ProviderKind) throws {
        let folder = try TemporaryFolder("faults")
        try GeneratedFleet.write(into: folder, groups: 2, window: GeneratedFleet.liveWindow())
        try folder.write("faults.yaml", "- {instance: inst-0-0, operation: switch-path, effect: change-ips, count: 1}\n"
                         + "- {instance: inst-1-0, operation: snapshot-queue, effect: timeout, count: 1}\n")
        let harness = try ProviderHarness(kind, folder: folder, faults: "faults.yaml")
        defer { harness.stop() }
        let rolledBack = try harness.reconcile(["--output", "json"])
        #expect(rolledBack.status == 4, "\(rolledBack.stdout)\(rolledBack.stderr)")
        let statuses = try #require(try rolledBack.json()["instances"] as? [[String: Any]])
        #expect(statuses.first { $0["name"] as? String == "inst-0-0" }?["status"] as? String == "rolled-back")
        // The timeout lost the snapshot's answer once; the retry got the stored one.
        #expect(statuses.first { $0["name"] as? String == "inst-1-0" }?["status"] as? String == "migrated")
        let check = try harness.check()
        #expect(check.status == 0, "\(check.report)")
        // The target stays misconfigured: later runs retry, roll back again, and stop after three.
        for _ in 0..<2 {
            let retried = try harness.reconcile()
            #expect(retried.status == 4)
            #expect(retried.stdout.contains("retrying after a rollback"))
        }
        let operations = try harness.check().report["mutatingOperations"] as? Int
        let stopped = try harness.reconcile(["--output", "json"])
        #expect(stopped.status == 4)
        let group = try #require(try stopped.json()["instances"] as? [[String: Any]]).first { $0["name"] as? String == "inst-0-0" }
        #expect((group?["reason"] as? String)?.contains("rolled back 3 times in this window") == true)
        #expect(try harness.check().report["mutatingOperations"] as? Int == operations)
        let messages = try #require(try harness.check().report["messages"] as? [String: Int])
        #expect(messages["lost"] == 0 && messages["duplicated"] == 0)
    }

    @Test(arguments: ProviderKind.allCases)
    func heldGroupsExit5AndStayFrozenUntilResumed(kind: ProviderKind) throws {
        let folder = try TemporaryFolder("held")
        try GeneratedFleet.write(into: folder, groups: 1, policy: "onVerificationFailure: hold", window: GeneratedFleet.liveWindow())
        try folder.write("faults.yaml", "- {instance: inst-0-1, operation: switch-path, effect: change-build}\n")
        let harness = try ProviderHarness(kind, folder: folder, faults: "faults.yaml")
        defer { harness.stop() }
        let hold = try harness.reconcile(["--output", "json"])
        #expect(hold.status == 5)
        let instance = try #require(try hold.json()["instances"] as? [[String: Any]]).first
        #expect(instance?["status"] as? String == "held")
        #expect(instance?["reasonCode"] as? String == "held")
        let again = try harness.reconcile()
        #expect(again.status == 5)
        #expect(again.stdout.contains("--resume-held pfx-0"))
        let frozen = try harness.check()
        #expect(frozen.status != 0)
        #expect((frozen.report["frozen"] as? [String])?.sorted() == ["inst-0-0", "inst-0-1"])
        // Resumed while the build is still wrong: verified again, held again, nothing else changed.
        let resumed = try harness.reconcile(["--resume-held", "inst-0-0"])
        #expect(resumed.status == 5)
    }

    @Test func aSecondReconcilerDuringARunExits75AndNamesTheHolder() throws {
        let folder = try TemporaryFolder("lock")
        defer { folder.remove() }
        // 4 groups one at a time at 250 ms a call: about 9 s of simulated latency, so the first
        // run still holds the lease long after its first cut-over shows, even on a slow machine.
        try GeneratedFleet.write(into: folder, groups: 4, maxParallel: 1)
        let first = Process()
        first.executableURL = URL(fileURLWithPath: SendpathBinary.path)
        first.arguments = ["reconcile", "--at", GeneratedFleet.inWindow, "--provider", "sim:.sendpath/fleet.db?latency=250ms"]
        first.currentDirectoryURL = URL(fileURLWithPath: folder.path)
        first.standardOutput = FileHandle.nullDevice
        first.standardError = FileHandle.nullDevice
        try first.run()
        defer { if first.isRunning { first.terminate() } }
        // Wait until the first run holds the lease: its first cut-over is in the journal.
        let deadline = Date().addingTimeInterval(30)
        var journalled = false
        while !journalled && Date() < deadline {
            usleep(100_000)
            let status = try SendpathBinary.run(["status", "--output", "json"], directory: folder.path)
            journalled = (try? status.json()["instances"] as? [[String: Any]])?.contains { $0["journal"] != nil } ?? false
        }
        try #require(journalled, "the first run journalled nothing within 30 s")
        try #require(first.isRunning, "the first run finished before the second could start")
        let second = try SendpathBinary.run(["reconcile", "--at", GeneratedFleet.inWindow, "--provider", "sim:.sendpath/fleet.db?latency=250ms",
                                             "--output", "json"], directory: folder.path)
        #expect(second.status == 75, "\(second.stderr)")
        #expect(second.stderr.contains("sendpath: locked:"))
        #expect(second.stderr.contains("'sendpath reconcile' (pid \(first.processIdentifier) on "))
        // A pipeline asked for JSON: it gets the outcome as JSON too.
        let stopped = try second.json()
        #expect(stopped["outcome"] as? String == "locked")
        #expect(stopped["dryRun"] as? Bool == false)
        #expect((stopped["instances"] as? [Any])?.isEmpty == true)
        #expect((stopped["error"] as? String)?.contains("pid \(first.processIdentifier)") == true)
        first.waitUntilExit()
        #expect(first.terminationStatus == 0)
    }

    @Test func invalidManifestsWithJSONOutputPrintTheOutcomeAndTheDiagnostics() throws {
        let folder = try TemporaryFolder("invalid-json")
        defer { folder.remove() }
        try GeneratedFleet.write(into: folder, groups: 1)
        try folder.write("manifests/broken.yaml", "apiVersion: sendpath/v1\nkind: Wave\nmetadata: {name: w-broken}\nspec: {window: {start: soon}}\n")
        let result = try SendpathBinary.run(["reconcile", "--dry-run", "--output", "json"], directory: folder.path)
        #expect(result.status == 65)
        let object = try result.json()
        #expect(object["outcome"] as? String == "invalid")
        #expect(object["dryRun"] as? Bool == true)
        let diagnostics = try #require(object["diagnostics"] as? [[String: Any]])
        #expect(diagnostics.contains { $0["rule"] as? String == "bad-time" && ($0["file"] as? String)?.hasSuffix("broken.yaml") == true })
        #expect(!FileManager.default.fileExists(atPath: folder.path + "/.sendpath"), "nothing was created")
    }

    @Test func atIsRefusedForAnApplyAgainstARealProvider() throws {
        let folder = try TemporaryFolder("at-real")
        defer { folder.remove() }
        try GeneratedFleet.write(into: folder, groups: 1)
        let apply = try SendpathBinary.run(["reconcile", "--at", GeneratedFleet.inWindow, "--provider", "http://127.0.0.1:9"], directory: folder.path)
        #expect(apply.status == 64)
        #expect(apply.stderr.contains("--at is allowed with --dry-run, or with a sim: provider"), "\(apply.stderr)")
        // A dry run may look at any time, against any provider (here, one that is not there: exit 1).
        let plan = try SendpathBinary.run(["reconcile", "--dry-run", "--at", GeneratedFleet.inWindow, "--provider", "http://127.0.0.1:9"],
                                          directory: folder.path, environment: ["SENDPATH_PROVIDER_TOKEN": "t"])
        #expect(plan.status == 1, "\(plan.stderr)")
        #expect(!plan.stderr.contains("--at is allowed"))
    }

    @Test func thePlanTableShowsWavesGroupsInstancesAndSteps() throws {
        let folder = try TemporaryFolder("table")
        defer { folder.remove() }
        try GeneratedFleet.write(into: folder, groups: 2, maxParallel: 3)
        let plan = try SendpathBinary.run(["reconcile", "--dry-run", "--at", GeneratedFleet.inWindow], directory: folder.path)
        #expect(plan.status == 0, "\(plan.stderr)")
        let lines = plan.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines.contains { $0.hasPrefix("Wave wave-a: window ") && $0.hasSuffix("maxParallel 3") }, "\(plan.stdout)")
        #expect(lines.contains { $0.hasPrefix("  Group pfx-0: pending, about ") }, "\(plan.stdout)")
        let header = try #require(lines.first { $0.contains("INSTANCE") })
        #expect(header.split(separator: " ", omittingEmptySubsequences: true) == ["INSTANCE", "CURRENT", "TARGET", "STATUS"])
        let row = try #require(lines.first { $0.trimmingCharacters(in: .whitespaces).hasPrefix("inst-0-0 ") })
        #expect(row.split(separator: " ", omittingEmptySubsequences: true) == ["inst-0-0", "adobe-dc/dc1", "aws/eu-west-1", "pending"])
        #expect(lines.contains { $0.trimmingCharacters(in: .whitespaces)
            == "steps: prepare-target → freeze → snapshot-queue → switch-path → verify-ips → verify-build → resend-queue → unfreeze" },
            "\(plan.stdout)")
        // Applied and piped: the same table, no live step lines.
        let quiet = try SendpathBinary.run(["reconcile", "--at", GeneratedFleet.inWindow], directory: folder.path)
        #expect(quiet.status == 0)
        #expect(!quiet.stdout.contains("started") && !quiet.stderr.contains("freeze"), "\(quiet.stdout)\(quiet.stderr)")
    }

    @Test func verboseShowsEachStepStartingAndEndingEvenWhenPiped() throws {
        let folder = try TemporaryFolder("verbose")
        defer { folder.remove() }
        try GeneratedFleet.write(into: folder, groups: 1)
        let run = try SendpathBinary.run(["reconcile", "--at", GeneratedFleet.inWindow, "--verbose"], directory: folder.path)
        #expect(run.status == 0, "\(run.stderr)")
        let live = run.stderr.split(separator: "\n").filter { $0.contains("pfx-0") }
        for step in ["freeze", "snapshot-queue", "switch-path", "verify-ips", "verify-build", "resend-queue", "unfreeze"] {
            #expect(live.filter { $0.contains(" \(step)") }.count >= 2, "no start and end line for \(step): \(run.stderr)")
        }
    }
}
