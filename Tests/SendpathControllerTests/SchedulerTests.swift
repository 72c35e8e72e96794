import Synchronization
import Testing
@testable import SendpathController
@testable import SendpathCore

/// The order and concurrency in which an apply runs groups: each wave at most `maxParallel`
/// groups at once, at most `--max-parallel` in all, and as many as those allow.
@Suite("Group scheduling")
struct SchedulerTests {
    /// Counts groups in flight, overall and per wave, and the most seen at once.
    final class Gauge: Sendable {
        struct Counts { var now: [String: Int] = [:], most: [String: Int] = [:], total = 0, mostTotal = 0, order: [String] = [] }
        let counts = Mutex(Counts())

        func enter(_ wave: String, _ group: String) {
            counts.withLock { counts in
                counts.now[wave, default: 0] += 1
                counts.most[wave] = max(counts.most[wave] ?? 0, counts.now[wave]!)
                counts.total += 1
                counts.mostTotal = max(counts.mostTotal, counts.total)
                counts.order.append(group)
            }
        }

        func leave(_ wave: String) {
            counts.withLock { counts in
                counts.now[wave, default: 0] -= 1
                counts.total -= 1
            }
        }
    }

    static func plans(_ waves: [(name: String, maxParallel: Int, groups: Int)]) -> [GroupPlan] {
        let window = Window(start: Timestamp(secondsSinceEpoch: 0), end: Timestamp(secondsSinceEpoch: 3600))
        let target = SendingPath(infrastructure: .aws, location: "eu-west-1")
        return waves.flatMap { wave in
            let declared = Wave(metadata: Metadata(name: Located(wave.name, at: SourceLocation(file: "w", line: 1, column: 1)),
                                                   documentLocation: SourceLocation(file: "w", line: 1, column: 1)),
                                window: window, windowLocation: SourceLocation(file: "w", line: 1, column: 1), maxParallel: wave.maxParallel)
            return (0..<wave.groups).map { index in
                GroupPlan(group: CutoverGroup(id: "\(wave.name)-g\(index)", wave: wave.name, instances: ["\(wave.name)-i\(index)"],
                                              prefixes: [], blocks: [], target: target),
                          wave: declared, decision: .start, reasons: [], needsPrepare: false, steps: [], resuming: nil, latest: nil,
                          expectedDuration: .zero, note: nil, finishing: nil)
            }
        }
    }

    static func run(_ plans: [GroupPlan], limit: Int, stopAfter: Int? = nil) async -> (Gauge.Counts, Int) {
        let gauge = Gauge()
        let stop = StopRequest()
        let started = Atomic<Int>(0)
        let work = plans.map { plan in
            Reconciler.GroupWork(plan: plan, run: {
                gauge.enter(plan.wave.name, plan.group.id)
                if let stopAfter, started.add(1, ordering: .relaxed).newValue == stopAfter { stop.request() }
                try? await Task.sleep(for: .milliseconds(20))
                gauge.leave(plan.wave.name)
                return GroupResult(plan: plan, status: .migrated, reasons: [], moves: [], skipped: [], messages: [:])
            })
        }
        let results = await Reconciler.runAll(work, limit: limit, stop: stop)
        return (gauge.counts.withLock { $0 }, results.count)
    }

    @Test func eachWaveKeepsToItsMaxParallelAndAllToTheLimit() async {
        let plans = Self.plans([("w1", 1, 4), ("w2", 3, 6), ("w3", 2, 4)])
        let (counts, finished) = await Self.run(plans, limit: 5)
        #expect(finished == 14)
        #expect(counts.most["w1"] == 1)
        #expect(counts.most["w2"] == 3)
        #expect(counts.most["w3"] == 2)
        // 1 + 3 + 2 would be 6: the overall limit holds it to 5, and it is reached.
        #expect(counts.mostTotal == 5)
    }

    @Test func withoutALimitEveryWaveRunsAtItsOwnMaxParallel() async {
        let (counts, _) = await Self.run(Self.plans([("w1", 2, 4), ("w2", 3, 6)]), limit: .max)
        #expect(counts.mostTotal == 5)
    }

    @Test func groupsStartInPlanOrder() async {
        let plans = Self.plans([("w1", 1, 5)])
        let (counts, _) = await Self.run(plans, limit: 1)
        #expect(counts.order == plans.map(\.group.id))
    }

    @Test func aStopRequestStartsNoNewGroupAndLetsTheRunningOnesFinish() async {
        let (counts, finished) = await Self.run(Self.plans([("w1", 2, 10)]), limit: .max, stopAfter: 2)
        #expect(counts.order.count == 2)
        #expect(finished == 2)
    }
}
