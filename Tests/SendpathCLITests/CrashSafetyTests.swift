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

    /// 40 groups of 2, two at a time, at 100 ms a provider call: an uninterrupted run takes about
    /// 19 s of simulated latency, which no machine can shorten. The 30 killed runs live at most
    /// 500 ms each, 15 s together, so the migration cannot finish before the 30th kill however
    /// fast the machine is (checked), and every kill lands in the middle of it.
    @Test(arguments: ProviderKind.allCases)
    func killedAtThirtyRandomInstantsItStillMigratesEverythingExactlyOnce(kind: ProviderKind) throws {
        let folder = try TemporaryFolder("crash")
        try GeneratedFleet.write(into: folder, groups: 40, perGroup: 2, maxParallel: 2, window: GeneratedFleet.liveWindow())
        let harness = try ProviderHarness(kind, folder: folder, latency: "100ms")
        defer { harness.stop() }
        let seed = UInt64(ProcessInfo.processInfo.environment["SENDPATH_CRASH_SEED"] ?? "") ?? UInt64(Date().timeIntervalSince1970)
        var random = SplitMix64(state: seed)
        let arguments = ["reconcile"] + harness.providerArguments + ["--retry-delay", "50ms"]
        var kills = 0, finishedEarly = 0
        while kills < 30 && finishedEarly <= 30 {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: SendpathBinary.path)
            process.arguments = arguments
            process.currentDirectoryURL = URL(fileURLWithPath: folder.path)
            var environment = ProcessInfo.processInfo.environment
            environment.merge(harness.environment) { $1 }
            process.environment = environment
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            usleep(UInt32.random(in: 100_000...500_000, using: &random))
            if process.isRunning {
                kill(process.processIdentifier, SIGKILL)
                kills += 1
            } else {
                finishedEarly += 1
            }
            process.waitUntilExit()
        }
        #expect(kills >= 30, "seed \(seed): only \(kills) kills landed mid-run")
        // Work was left after the last kill, so no kill hit an idle, converged run.
        let before = try harness.sendpath(["status", "--output", "json"] + harness.providerArguments)
        let migratedBefore = (try before.json()["summary"] as? [String: Int])?["migrated"] ?? 0
        #expect(migratedBefore < 80, "seed \(seed): everything had migrated before the 30th kill")
        let last = try harness.reconcile(["--output", "json"])
        #expect(last.status == 0, "seed \(seed): \(last.stderr)")
        #expect((try last.json()["summary"] as? [String: Int]) == ["migrated": 80], "seed \(seed)")
        try expectInvariantsHeld(harness, seed: seed)
    }

    @Test func theProviderServerKilledAndRestartedMidRunIsRetriedThrough() throws {
        let folder = try TemporaryFolder("restart")
        try GeneratedFleet.write(into: folder, groups: 12, perGroup: 2, maxParallel: 2, window: GeneratedFleet.liveWindow())
        let harness = try ProviderHarness(.http, folder: folder, latency: "30ms")
        defer { harness.stop() }
        let run = Process()
        run.executableURL = URL(fileURLWithPath: SendpathBinary.path)
        run.arguments = ["reconcile"] + harness.providerArguments + ["--output", "json"]
        run.currentDirectoryURL = URL(fileURLWithPath: folder.path)
        var environment = ProcessInfo.processInfo.environment
        environment.merge(harness.environment) { $1 }
        run.environment = environment
        let output = Pipe()
        run.standardOutput = output
        run.standardError = FileHandle.nullDevice
        try run.run()
        usleep(800_000)
        harness.server?.kill()
        usleep(1_000_000)
        try harness.restartServer()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        run.waitUntilExit()
        // The run either rode out the outage (retries) or stopped with an error; either way the
        // next run converges and nothing was lost or sent twice.
        #expect([0, 1, 4].contains(run.terminationStatus), "\(String(decoding: data, as: UTF8.self))")
        let last = try harness.reconcile(["--output", "json"])
        #expect(last.status == 0, "\(last.stdout)\(last.stderr)")
        #expect((try last.json()["summary"] as? [String: Int])?["migrated"] == 24)
        try expectInvariantsHeld(harness, seed: 0)
    }

    func expectInvariantsHeld(_ harness: ProviderHarness, seed: UInt64) throws {
        let (status, report) = try harness.check()
        #expect(status == 0, "seed \(seed): \(report)")
        let messages = try #require(report["messages"] as? [String: Int])
        #expect(messages["lost"] == 0)
        #expect(messages["duplicated"] == 0)
        #expect(messages["stranded"] == 0)
        #expect(messages["delivered"]! + messages["expired"]! == messages["enqueued"]!)
        #expect(report["doubleAdvertisements"] as? Int == 0)
        #expect((report["frozen"] as? [String])?.isEmpty == true)
    }
}
