import Foundation
import Testing

/// The reconciler is killed with SIGKILL at random instants and restarted each time; in the
/// end everything has migrated and the simulator's invariants all held.
@Suite("Crash safety")
struct CrashSafetyTests {
    /// A small deterministic generator, so a failing run can be repeated from its seed.
    struct SplitMix64: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    @Test func killedAtThirtyRandomInstantsItStillMigratesEverythingExactlyOnce() throws {
        let folder = try TemporaryFolder("crash")
        defer { folder.remove() }
        try GeneratedFleet.write(into: folder, groups: 24, perGroup: 2, maxParallel: 4)
        let seed = UInt64(ProcessInfo.processInfo.environment["SENDPATH_CRASH_SEED"] ?? "") ?? UInt64(Date().timeIntervalSince1970)
        var random = SplitMix64(state: seed)
        let arguments = ["reconcile", "--at", GeneratedFleet.inWindow, "--provider", "sim:.sendpath/fleet.db?latency=20ms"]
        var kills = 0, finishedEarly = 0
        while kills < 30 {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: SendpathBinary.path)
            process.arguments = arguments
            process.currentDirectoryURL = URL(fileURLWithPath: folder.path)
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            usleep(UInt32.random(in: 50_000...400_000, using: &random))
            if process.isRunning {
                kill(process.processIdentifier, SIGKILL)
                kills += 1
            } else {
                finishedEarly += 1
                // Everything done before the kill: start again from a fresh fleet to keep killing mid-run.
                if finishedEarly > 30 { break }
            }
            process.waitUntilExit()
        }
        #expect(kills >= 30, "seed \(seed): only \(kills) kills landed mid-run")
        let last = try SendpathBinary.run(arguments + ["--output", "json"], directory: folder.path)
        #expect(last.status == 0, "seed \(seed): \(last.stderr)")
        #expect((try last.json()["summary"] as? [String: Int]) == ["migrated": 48], "seed \(seed)")
        let check = try SendpathBinary.run(["simulator", "check", "--output", "json"], directory: folder.path)
        #expect(check.status == 0, "seed \(seed): \(check.stdout)")
        let report = try check.json()
        let messages = try #require(report["messages"] as? [String: Int])
        #expect(messages["lost"] == 0)
        #expect(messages["duplicated"] == 0)
        #expect(messages["stranded"] == 0)
        #expect(messages["delivered"]! + messages["expired"]! == messages["enqueued"]!)
        #expect(report["doubleAdvertisements"] as? Int == 0)
        #expect((report["frozen"] as? [String])?.isEmpty == true)
    }
}
