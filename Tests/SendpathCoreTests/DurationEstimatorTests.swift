import Testing
@testable import SendpathCore

/// How long a cut-over is expected to take: the window gate and notices depend on it.
@Suite("Duration estimates")
struct DurationEstimatorTests {
    typealias F = PlannerFixture

    static let t0 = F.t("2024-01-01T00:00:00Z")

    /// A finished cut-over whose forward steps each took `seconds[step]`, with `messages` queued.
    static func record(_ number: Int, prefixes: Int = 1, messages: Int, seconds: [StepName: Double]) -> CutoverRecord {
        var blocks: [AddressBlock: SendingPath] = [:]
        for index in 0..<prefixes {
            blocks[AddressBlock(network: IPAddress("198.51.\(index).0")!, length: 24)] = SendingPath(infrastructure: .adobeDC, location: "dc1")
        }
        let entries = CutoverMachine.forwardSteps.map { step in
            JournalEntry(cutoverID: "g\(number)#1", group: "g\(number)", step: step, phase: .done, attempt: 1, idempotencyKey: "k",
                         fencingToken: FencingToken(1), at: t0, duration: seconds[step].map { .milliseconds(Int64($0 * 1000)) },
                         detail: step == .snapshotQueue
                             ? StepDetail(snapshots: [QueueSnapshot(instance: "a", messageCount: messages, digest: "d")]) : nil,
                         holder: "h")
        }
        return CutoverRecord(id: "g\(number)#1", group: "g\(number)", wave: "w", members: ["a"], window: Window(start: t0, end: t0 + .seconds(3600)),
                             startedAt: t0, finishedAt: t0 + .seconds(60), outcome: .completed,
                             baseline: CutoverBaseline(members: [:], prefixes: blocks, target: SendingPath(infrastructure: .aws, location: "eu-west-1")),
                             entries: entries)
    }

    @Test func theDefaultsGrowWithPrefixesAndQueuedMessages() {
        let estimator = DurationEstimator()
        #expect(estimator.step(.freeze, prefixes: 1, messages: 0) == .seconds(30))
        #expect(estimator.step(.switchPath, prefixes: 3, messages: 0) == .seconds(300 + 120))
        #expect(estimator.step(.snapshotQueue, prefixes: 1, messages: 1000) == .seconds(30 + 10))
        #expect(estimator.step(.resendQueue, prefixes: 1, messages: 1000) == .seconds(60 + 20))
        // Freeze to unfreeze of a one-prefix group with an empty queue: 30+30+300+60+60+60+30.
        #expect(CutoverMachine.forwardSteps.reduce(Duration.zero) { $0 + estimator.step($1, prefixes: 1, messages: 0) } == .seconds(570))
    }

    @Test func fewerThanThreeRunsOfAStepLeaveItsDefault() {
        let journal = (1...2).map { Self.record($0, messages: 0, seconds: [.freeze: 3]) }
        #expect(DurationEstimator(journal: journal).step(.freeze, prefixes: 1, messages: 0) == .seconds(30))
    }

    @Test func recordedRunsCalibrateTheModelWhichStillFollowsTheGroup() {
        // Every step ran ten times faster than the defaults predict.
        let journal = (1...5).map { number in
            Self.record(number, messages: 500, seconds: [
                .freeze: 3, .snapshotQueue: 3.5, .switchPath: 30, .verifyIPs: 6, .verifyBuild: 6, .resendQueue: 7, .unfreeze: 3,
            ])
        }
        let estimator = DurationEstimator(journal: journal)
        #expect(estimator.step(.freeze, prefixes: 1, messages: 0) == .seconds(3))
        #expect(estimator.step(.switchPath, prefixes: 1, messages: 0) == .seconds(30))
        // A bigger group and a deeper queue still take longer, at the calibrated pace.
        #expect(estimator.step(.switchPath, prefixes: 4, messages: 0) == .seconds(48))
        #expect(estimator.step(.resendQueue, prefixes: 1, messages: 10_000) == .seconds(26))
        #expect(estimator.step(.snapshotQueue, prefixes: 1, messages: 10_000) > estimator.step(.snapshotQueue, prefixes: 1, messages: 0))
    }

    @Test func theMostRecentRunsCount() {
        let slow = (1...60).map { Self.record($0, messages: 0, seconds: [.freeze: 60]) }
        let fast = (61...110).map { Self.record($0, messages: 0, seconds: [.freeze: 3]) }
        #expect(DurationEstimator(journal: slow + fast).step(.freeze, prefixes: 1, messages: 0) == .seconds(3))
    }

    @Test func aWaveRunsItsGroupsInBatchesOfMaxParallel() {
        let estimator = DurationEstimator()
        let durations: [Duration] = [.seconds(10), .seconds(30), .seconds(20), .seconds(5)]
        #expect(estimator.wave(durations, maxParallel: 1) == .seconds(65))
        #expect(estimator.wave(durations, maxParallel: 2) == .seconds(30 + 10))
        #expect(estimator.wave(durations, maxParallel: 4) == .seconds(30))
    }
}
