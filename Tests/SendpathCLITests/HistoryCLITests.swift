import Foundation
import Testing

/// Run history: every apply records the manifests' digest, the Git commit of their work tree
/// (and whether it was dirty), host and user, outcome and groups; `history` lists them,
/// `status` names the last one, and the controller exposes it in /status and /metrics.
@Suite("sendpath history")
struct HistoryCLITests {
    static func git(_ arguments: [String], in folder: TemporaryFolder) throws -> String {
        let result = try Command.run("/usr/bin/env", ["git", "-c", "user.email=test@example.com", "-c", "user.name=test"] + arguments,
                                     directory: folder.path)
        #expect(result.status == 0, "git \(arguments): \(result.stderr)")
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test func appliesRecordTheCommitAndWhetherTheTreeWasDirty() throws {
        let folder = try TemporaryFolder("history")
        defer { folder.remove() }
        try GeneratedFleet.write(into: folder, groups: 2, perGroup: 1)
        _ = try Self.git(["init", "-q"], in: folder)
        try folder.write(".gitignore", ".sendpath/\n")
        _ = try Self.git(["add", "-A"], in: folder)
        _ = try Self.git(["commit", "-q", "-m", "fleet"], in: folder)
        let head = try Self.git(["rev-parse", "HEAD"], in: folder)

        let none = try SendpathBinary.run(["history"], directory: folder.path)
        #expect(none.status != 0 || none.stdout.contains("No runs recorded"), "\(none.stdout)\(none.stderr)")

        let first = try SendpathBinary.run(["reconcile", "--at", GeneratedFleet.inWindow, "--output", "json"], directory: folder.path)
        #expect(first.status == 0, "\(first.stderr)")
        // A manifest edited but not committed: the next apply says so.
        try folder.write("manifests/wave.yaml", (try String(contentsOfFile: folder.path + "/manifests/wave.yaml", encoding: .utf8)) + "# edited\n")
        let second = try SendpathBinary.run(["reconcile", "--at", "2024-03-02T22:00:00Z", "--output", "json"], directory: folder.path)
        #expect(second.status == 0, "\(second.stderr)")
        // A dry run is not an apply: not in the history.
        _ = try SendpathBinary.run(["reconcile", "--dry-run", "--at", GeneratedFleet.inWindow], directory: folder.path)

        let listed = try SendpathBinary.run(["history", "--output", "json"], directory: folder.path)
        #expect(listed.status == 0, "\(listed.stderr)")
        let runs = try #require(try listed.json()["runs"] as? [[String: Any]])
        #expect(runs.count == 2)
        let revisions = runs.compactMap { $0["revision"] as? [String: Any] }
        #expect(revisions.map { $0["gitCommit"] as? String } == [head, head])
        #expect(revisions.map { $0["gitDirty"] as? Bool } == [true, false], "newest first")
        #expect(revisions.allSatisfy { ($0["manifestDigest"] as? String)?.hasPrefix("fnv1a64:") == true })
        #expect(revisions[0]["manifestDigest"] as? String != revisions[1]["manifestDigest"] as? String)
        #expect(revisions.allSatisfy { ($0["user"] as? String)?.isEmpty == false })
        #expect(runs.map { $0["outcome"] as? String } == ["converged", "converged"])
        #expect(runs[1]["groups"] as? [String] == ["pfx-0", "pfx-1"], "the first apply moved both groups")
        #expect((runs[0]["groups"] as? [String]) == [], "the second had nothing to do")
        #expect((runs[0]["holder"] as? [String: Any])?["host"] as? String == ProcessInfo.processInfo.hostName)

        let text = try SendpathBinary.run(["history", "--limit", "1"], directory: folder.path)
        #expect(text.stdout.contains("commit \(head) (dirty: uncommitted changes)"), "\(text.stdout)")
        #expect(!text.stdout.contains("groups (2)"), "--limit 1 shows the newest only")

        let status = try SendpathBinary.run(["status"], directory: folder.path)
        #expect(status.stdout.contains("Last applied: commit \(head) with uncommitted changes, by "), "\(status.stdout)")
        // The same for a pipeline: status --output json has it as appliedRevision.
        let statusJSON = try SendpathBinary.run(["status", "--output", "json"], directory: folder.path)
        let applied = try statusJSON.json()["appliedRevision"] as? [String: Any]
        #expect(applied?["gitCommit"] as? String == head && applied?["gitDirty"] as? Bool == true, "\(statusJSON.stdout.prefix(300))")

        let bad = try SendpathBinary.run(["history", "--limit", "0"], directory: folder.path)
        #expect(bad.status == 64)
    }

    @Test func withoutGitTheRunStillHappensAndRecordsNoCommit() throws {
        let folder = try TemporaryFolder("history-nogit")
        defer { folder.remove() }
        try GeneratedFleet.write(into: folder, groups: 1, perGroup: 1)
        // Not a work tree, and no git on PATH at all.
        let applied = try SendpathBinary.run(["reconcile", "--at", GeneratedFleet.inWindow, "--output", "json"], directory: folder.path,
                                             environment: ["PATH": folder.path + "/no-such-bin"])
        #expect(applied.status == 0, "\(applied.stderr)")
        let runs = try #require(try SendpathBinary.run(["history", "--output", "json"], directory: folder.path).json()["runs"] as? [[String: Any]])
        let revision = try #require(runs.first?["revision"] as? [String: Any])
        #expect(revision["gitCommit"] == nil)
        #expect((revision["manifestDigest"] as? String)?.hasPrefix("fnv1a64:") == true)
        let status = try SendpathBinary.run(["status"], directory: folder.path)
        #expect(status.stdout.contains("Last applied: manifests outside Git, by "), "\(status.stdout)")
    }

    @Test(.timeLimit(.minutes(3)))
    func theControllerExposesTheAppliedRevision() throws {
        let folder = try TemporaryFolder("history-controller")
        defer { folder.remove() }
        try GeneratedFleet.write(into: folder, groups: 1, perGroup: 1, window: GeneratedFleet.liveWindow())
        _ = try Self.git(["init", "-q"], in: folder)
        try folder.write(".gitignore", ".sendpath/\n*.log\n")
        _ = try Self.git(["add", "-A"], in: folder)
        _ = try Self.git(["commit", "-q", "-m", "fleet"], in: folder)
        let head = try Self.git(["rev-parse", "HEAD"], in: folder)
        let controller = try ControllerCLITests.Controller(folder: folder, arguments: ["--interval", "1h"])
        defer { _ = controller.terminate() }
        let metrics = try #require(controller.wait(for: "/metrics") {
            ControllerCLITests.Controller.sample($0, "sendpath_applied_revision_info", ["commit": head, "dirty": "false"]) == 1
        }, "\((try? String(contentsOfFile: controller.log, encoding: .utf8)) ?? "")")
        #expect(metrics.contains("manifest_digest=\"fnv1a64:"))
        let lint = try ControllerCLITests.Controller.promtool(metrics)
        #expect(lint.status == 0 && lint.output.isEmpty, "promtool check metrics: \(lint.output)")
        let status = try #require(controller.get("/status"))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(status.body.utf8)) as? [String: Any])
        let applied = try #require(object["appliedRevision"] as? [String: Any])
        #expect(applied["gitCommit"] as? String == head)
        #expect(applied["gitDirty"] as? Bool == false)
        #expect((object["summary"] as? [String: Int]) == ["migrated": 1], "the rest of /status is unchanged")
        #expect(controller.terminate() == 0)
    }
}
