import Foundation
import Testing

/// Commands that read a state store or a fleet never create it, its folders or its tables,
/// and a file of the wrong kind is refused before anything is written (issue 10).
@Suite("Read means read, end to end")
struct ReadMeansReadCLITests {
    static func digest(_ path: String) -> Data? {
        FileManager.default.contents(atPath: path)
    }

    @Test func simulatorCheckOfAMissingFleetRefusesAndCreatesNothing() throws {
        let folder = try TemporaryFolder("read")
        defer { folder.remove() }
        let result = try SendpathBinary.run(["simulator", "check", "--fleet", "typo"], directory: folder.path)
        #expect(result.status == 1, "\(result.stdout)\(result.stderr)")
        #expect(result.stderr.contains("the fleet simulator file 'typo': it does not exist; nothing was created"), "\(result.stderr)")
        #expect(!result.stdout.contains("All invariants held"))
        #expect(!FileManager.default.fileExists(atPath: folder.path + "/typo"))
    }

    @Test func aDryRunOrStatusWithAMissingStateRefusesAndCreatesNoFolder() throws {
        let folder = try TemporaryFolder("read")
        defer { folder.remove() }
        try GeneratedFleet.write(into: folder, groups: 1)
        let state = "sqlite:" + folder.path + "/missing/dir/state.db"
        for arguments in [["reconcile", "--dry-run", "--at", GeneratedFleet.inWindow, "--state", state], ["status", "--state", state]] {
            let result = try SendpathBinary.run(arguments, directory: folder.path)
            #expect(result.status == 1, "\(arguments): \(result.stderr)")
            #expect(result.stderr.contains("does not exist; nothing was created"), "\(result.stderr)")
            #expect(!FileManager.default.fileExists(atPath: folder.path + "/missing"))
        }
        // At the default path, a first dry run plans against an empty journal, creating no state file.
        let first = try SendpathBinary.run(["reconcile", "--dry-run", "--at", GeneratedFleet.inWindow], directory: folder.path)
        #expect(first.status == 0, "\(first.stderr)")
        // Nor a simulated fleet: the default simulator is a throwaway one, seeded from the manifests.
        let status = try SendpathBinary.run(["status"], directory: folder.path)
        #expect([0, 3].contains(status.status), "\(status.stderr)")
        #expect(!FileManager.default.fileExists(atPath: folder.path + "/.sendpath"), "no folder, no state, no fleet")
    }

    /// A state file from an older version (unstamped, a migration missing) is read as it is:
    /// status and a dry run read it through a migrated copy, and the file is not changed at all.
    @Test func anOlderStateFileIsReadWithoutBeingUpgradedOrStamped() throws {
        let folder = try TemporaryFolder("read-older")
        defer { folder.remove() }
        try GeneratedFleet.write(into: folder, groups: 1)
        let apply = try SendpathBinary.run(["reconcile", "--at", GeneratedFleet.inWindow, "--state", "sqlite:state.db",
                                            "--provider", "sim:fleet.db"], directory: folder.path)
        #expect(apply.status == 0, "\(apply.stderr)")
        let downgrade = Process()
        downgrade.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        downgrade.arguments = [folder.path + "/state.db",
                               "PRAGMA application_id = 0; DROP TABLE run; DELETE FROM grdb_migrations WHERE identifier = 'v1-runs'; PRAGMA wal_checkpoint(TRUNCATE);"]
        try downgrade.run()
        downgrade.waitUntilExit()
        #expect(downgrade.terminationStatus == 0)
        let before = Self.digest(folder.path + "/state.db"), fleetBefore = Self.digest(folder.path + "/fleet.db")
        for arguments in [["status", "--state", "sqlite:state.db", "--provider", "sim:fleet.db"],
                          ["reconcile", "--dry-run", "--at", GeneratedFleet.inWindow, "--state", "sqlite:state.db", "--provider", "sim:fleet.db"]] {
            let result = try SendpathBinary.run(arguments, directory: folder.path)
            #expect(result.status == 0, "\(arguments): \(result.stderr)")
            #expect(result.stdout.contains("migrated"), "the journal was read: \(result.stdout)")
            #expect(Self.digest(folder.path + "/state.db") == before, "\(arguments[0]) changed nothing")
        }
        #expect(Self.digest(folder.path + "/state.db") == before, "not upgraded, not stamped")
        #expect(Self.digest(folder.path + "/fleet.db") == fleetBefore)
        // Manifests that name instances the simulated fleet does not hold yet: the dry run plans
        // them (on a private copy) and the fleet file stays as it was.
        try GeneratedFleet.write(into: folder, groups: 3)
        let wider = try SendpathBinary.run(["reconcile", "--dry-run", "--at", GeneratedFleet.inWindow, "--state", "sqlite:state.db",
                                            "--provider", "sim:fleet.db", "--output", "json"], directory: folder.path)
        #expect([2, 3].contains(wider.status), "\(wider.stderr)")
        let groups = try #require(try wider.json()["groups"] as? [[String: Any]])
        #expect(groups.count == 3)
        #expect(Self.digest(folder.path + "/fleet.db") == fleetBefore, "seeded on a copy, not in the file")
        #expect(Self.digest(folder.path + "/state.db") == before)
    }

    @Test func aFleetFileAsTheStateOrAStateFileAsTheFleetIsRefusedUnchanged() throws {
        let folder = try TemporaryFolder("read")
        defer { folder.remove() }
        try GeneratedFleet.write(into: folder, groups: 1)
        let seed = try SendpathBinary.run(["simulator", "seed", "--fleet", "fleet.db", "manifests"], directory: folder.path)
        #expect(seed.status == 0, "\(seed.stderr)")
        let apply = try SendpathBinary.run(["reconcile", "--at", GeneratedFleet.beforeWindow, "--state", "sqlite:state.db",
                                            "--provider", "sim:other.db"], directory: folder.path)
        #expect([0, 3].contains(apply.status), "\(apply.stderr)")
        let fleetBefore = Self.digest(folder.path + "/fleet.db"), stateBefore = Self.digest(folder.path + "/state.db")
        #expect(fleetBefore != nil && stateBefore != nil)
        for dryRun in [true, false] {
            let wrongState = try SendpathBinary.run(["reconcile", "--at", GeneratedFleet.inWindow, "--state", "sqlite:fleet.db",
                                                     "--provider", "sim:other.db"] + (dryRun ? ["--dry-run"] : []), directory: folder.path)
            #expect(wrongState.status == 1, "\(wrongState.stderr)")
            #expect(wrongState.stderr.contains("fleet.db is a fleet simulator file, not a state database"), "\(wrongState.stderr)")
            // A dry run plans against an empty journal (no file at the default path); an apply creates its own.
            let wrongFleet = try SendpathBinary.run(["reconcile", "--at", GeneratedFleet.inWindow, "--provider", "sim:state.db"]
                                                    + (dryRun ? ["--dry-run"] : ["--state", "sqlite:other-state.db"]), directory: folder.path)
            #expect(wrongFleet.status == 1, "\(wrongFleet.stderr)")
            #expect(wrongFleet.stderr.contains("state.db is a state database, not a fleet simulator file"), "\(wrongFleet.stderr)")
        }
        let check = try SendpathBinary.run(["simulator", "check", "--fleet", "state.db"], directory: folder.path)
        #expect(check.status == 1 && check.stderr.contains("is a state database"), "\(check.stderr)")
        #expect(Self.digest(folder.path + "/fleet.db") == fleetBefore)
        #expect(Self.digest(folder.path + "/state.db") == stateBefore)
    }
}
