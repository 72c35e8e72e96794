/// Estimates how long a cut-over takes, for the window gate and for notices.
///
/// Each step's estimate is the median of its recorded durations in the journal once there
/// are at least `minimumSamples` of them, and a documented default otherwise (see
/// docs/reconcile.md): freeze 30s, snapshot-queue 30s + 10ms per message, switch-path 5m
/// + 1m per extra prefix, verify-ips 1m, verify-build 1m, resend-queue 1m + 20ms per
/// message, unfreeze 30s.
public struct DurationEstimator: Sendable, Hashable {
    public var recorded: [StepName: Duration]
    public static let minimumSamples = 3

    public init(recorded: [StepName: Duration] = [:]) {
        self.recorded = recorded
    }

    /// Medians of the successful step durations in these cut-overs.
    public init(journal: [CutoverRecord]) {
        var samples: [StepName: [Duration]] = [:]
        for record in journal {
            for entry in record.entries where entry.phase == .done && !entry.rollback {
                if let duration = entry.duration { samples[entry.step, default: []].append(duration) }
            }
        }
        var medians: [StepName: Duration] = [:]
        for (step, durations) in samples where durations.count >= Self.minimumSamples {
            medians[step] = durations.sorted()[durations.count / 2]
        }
        self.init(recorded: medians)
    }

    public func step(_ step: StepName, prefixes: Int, messages: Int) -> Duration {
        if let recorded = recorded[step] { return recorded }
        switch step {
        case .prepareTarget: return .seconds(120)
        case .freeze, .unfreeze: return .seconds(30)
        case .snapshotQueue: return .seconds(30) + .milliseconds(10 * messages)
        case .switchPath, .rollbackPath: return .seconds(300) + .seconds(60 * max(0, prefixes - 1))
        case .verifyIPs, .verifyBuild: return .seconds(60)
        case .resendQueue: return .seconds(60) + .milliseconds(20 * messages)
        }
    }

    /// A whole cut-over of a group, freeze to unfreeze (prepare-target runs before the window).
    public func cutover(_ group: CutoverGroup, queuedMessages: Int) -> Duration {
        CutoverMachine.forwardSteps.reduce(.zero) { total, step in
            total + self.step(step, prefixes: group.prefixes.count, messages: queuedMessages)
        }
    }

    /// The steps still to run of a cut-over in progress.
    public func remaining(_ moves: [CutoverMachine.Move], group: CutoverGroup, queuedMessages: Int) -> Duration {
        moves.reduce(.zero) { $0 + step($1.step, prefixes: group.prefixes.count, messages: queuedMessages) }
    }

    /// A wave: its groups in batches of `maxParallel`, each batch as long as its longest group.
    public func wave(_ durations: [Duration], maxParallel: Int) -> Duration {
        let sorted = durations.sorted(by: >)
        var total = Duration.zero
        var index = 0
        while index < sorted.count {
            total += sorted[index]
            index += max(1, maxParallel)
        }
        return total
    }
}
