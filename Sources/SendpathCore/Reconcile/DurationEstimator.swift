/// Estimates how long a cut-over takes, for the window gate and for notices.
///
/// Each step has a model that grows with the group: the documented defaults (see
/// docs/reconcile.md) are freeze 30s, snapshot-queue 30s + 10ms per message, switch-path 5m +
/// 1m per extra prefix, verify-ips 1m, verify-build 1m, resend-queue 1m + 20ms per message,
/// unfreeze 30s, prepare-target 2m. Once the journal holds at least `minimumSamples` finished
/// runs of a step, the model is calibrated to this fleet: scaled by the median ratio of the
/// recorded durations to what the model predicted for those cut-overs (their prefixes and
/// queued messages), over the `sampleWindow` most recent runs. So the estimate still follows
/// the size and the queue depth of each group, at the pace the fleet has shown.
public struct DurationEstimator: Sendable, Hashable {
    /// Per step, recorded ÷ modelled; absent until there are enough samples.
    public var calibration: [StepName: Double]
    public static let minimumSamples = 3
    public static let sampleWindow = 50

    public init(calibration: [StepName: Double] = [:]) {
        self.calibration = calibration
    }

    /// Calibrated on the successful forward steps of these cut-overs (in journal order).
    public init(journal: [CutoverRecord]) {
        var ratios: [StepName: [Double]] = [:]
        for record in journal {
            let prefixes = max(1, record.baseline.prefixes.count)
            let messages = record.entries.last { $0.step == .snapshotQueue && !$0.rollback && $0.phase == .done }?
                .detail?.snapshots?.reduce(0) { $0 + $1.messageCount } ?? 0
            for entry in record.entries where entry.phase == .done && !entry.rollback {
                guard let duration = entry.duration else { continue }
                let predicted = Self.defaultModel(entry.step, prefixes: prefixes, messages: messages)
                guard predicted > .zero else { continue }
                ratios[entry.step, default: []].append(duration.seconds / predicted.seconds)
            }
        }
        var calibration: [StepName: Double] = [:]
        for (step, all) in ratios where all.count >= Self.minimumSamples {
            let recent = all.suffix(Self.sampleWindow).sorted()
            calibration[step] = recent[recent.count / 2]
        }
        self.init(calibration: calibration)
    }

    /// One step of a group with `prefixes` prefixes and `messages` queued messages.
    public func step(_ step: StepName, prefixes: Int, messages: Int) -> Duration {
        let modelled = Self.defaultModel(step, prefixes: prefixes, messages: messages)
        guard let factor = calibration[step] else { return modelled }
        let scaled = (Double(modelled.nanoseconds) * factor).rounded(.up)
        // A factor from a journal with absurd durations saturates instead of trapping.
        guard scaled.isFinite, scaled < 9.2e18 else { return StoredValue.maximumDuration }
        return .nanoseconds(Int64(max(0, scaled)))
    }

    /// The documented defaults.
    static func defaultModel(_ step: StepName, prefixes: Int, messages: Int) -> Duration {
        switch step {
        case .prepareTarget: .seconds(120)
        case .freeze, .unfreeze: .seconds(30)
        case .snapshotQueue: .seconds(30) + .milliseconds(10 * messages)
        case .switchPath, .rollbackPath: .seconds(300) + .seconds(60 * max(0, prefixes - 1))
        case .verifyIPs, .verifyBuild: .seconds(60)
        case .resendQueue: .seconds(60) + .milliseconds(20 * messages)
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
