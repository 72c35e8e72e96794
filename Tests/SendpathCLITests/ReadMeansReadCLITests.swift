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
        #expect(!FileManager.default.fileExists(atPath: folder.path + "/.sendpath/state.db"))
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
