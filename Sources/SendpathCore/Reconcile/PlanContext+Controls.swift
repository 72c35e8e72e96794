/// The operators' gates: suspend, approval, canary groups and the failure budget (SPEC
/// section 2). They hold groups that have not started; cut-overs in flight go on.
extension PlanContext {
    func controlReasons(_ group: CutoverGroup, wave: Wave, history: [CutoverRecord]) -> [BlockReason] {
        var reasons: [BlockReason] = []
        let controls = input.controls
        if let suspension = controls.suspension(of: wave.name) {
            let what = suspension.wave == nil ? "every wave is suspended" : "wave '\(wave.name)' is suspended"
            let resume = suspension.wave == nil ? "'sendpath resume'" : "'sendpath resume --wave \(wave.name)'"
            reasons.append(BlockReason(.suspended, "\(what) (by \(suspension.by) at \(suspension.at)\(suspension.reason.map { ": \($0)" } ?? "")); \(resume) lets it go on"))
        }
        let forgivenBefore = controls.lastResume(of: wave.name)
        if let budget = wave.maxFailures,
           let reason = FailureBudgetGate.reason(wave: wave, budget: budget, groups: (groupsByWave[wave.name] ?? []).map(\.id),
                                                 cutovers: { cutoversByGroup[$0] ?? [] }, forgivenBefore: forgivenBefore) {
            reasons.append(reason)
        }
        if let canary = wave.canary {
            let canaries = canaryGroups(of: wave)
            if !canaries.contains(where: { $0.id == group.id }) {
                reasons += canaryReasons(canaries, canary: canary, wave: wave, after: forgivenBefore)
            }
        }
        if wave.approval == .required {
            let number = (history.last?.number ?? 0) + 1
            if controls.approval(group: group.id, cutover: number) == nil {
                reasons.append(BlockReason(.awaitingApproval, "wave '\(wave.name)' requires an approval before cut-over #\(number) of group '\(group.id)' freezes: 'sendpath approve \(group.id)'"))
            }
        }
        return reasons
    }

    /// The wave's canary groups: its first `canary.groups` groups by id.
    func canaryGroups(of wave: Wave) -> [CutoverGroup] {
        guard let canary = wave.canary else { return [] }
        return Array((groupsByWave[wave.name] ?? []).sorted { $0.id < $1.id }.prefix(canary.groups))
    }

    /// Why the rest of a canary wave waits: a canary failed since the last resume, has not
    /// completed, or is still baking.
    private func canaryReasons(_ canaries: [CutoverGroup], canary: CanaryPolicy, wave: Wave, after forgiven: Timestamp?) -> [BlockReason] {
        var failed: [String] = [], running: [String] = [], baking: [(String, Timestamp)] = []
        for group in canaries {
            if failedInWindow(group.id, wave: wave, after: forgiven) {
                failed.append(group.id)
            } else if !isComplete(group) {
                running.append(group.id)
            } else if let finished = cutoversByGroup[group.id]?.last(where: { $0.outcome == .completed })?.finishedAt,
                      finished + canary.bake > input.now {
                baking.append((group.id, finished + canary.bake))
            }
        }
        if !failed.isEmpty {
            return [BlockReason(.canary, "canary \(Self.list(failed)) of wave '\(wave.name)' rolled back or was held: the rest of the wave waits until 'sendpath resume --wave \(wave.name)'")]
        }
        if !running.isEmpty {
            return [BlockReason(.canary, "the canaries of wave '\(wave.name)' run first: \(Self.list(running)) not yet migrated")]
        }
        if let last = baking.max(by: { $0.1 < $1.1 }) {
            return [BlockReason(.canary, "the canaries of wave '\(wave.name)' bake until \(last.1) (bake \(ManifestDuration.format(canary.bake)))")]
        }
        return []
    }

    func failedInWindow(_ group: String, wave: Wave, after: Timestamp?) -> Bool {
        FailureBudgetGate.failed(cutoversByGroup[group] ?? [], window: wave.window, after: after)
    }
}

/// The failure budget (`Wave.spec.maxFailures`), checked by the planner and again by the
/// engine right before a group starts (groups of the same run may have failed meanwhile).
public enum FailureBudgetGate {
    /// Whether a cut-over of a group rolled back or was held in `window`, ending after `after`
    /// (the wave's last resume).
    public static func failed(_ cutovers: [CutoverRecord], window: Window, after: Timestamp?) -> Bool {
        cutovers.contains { record in
            guard record.window == window, record.outcome == .rolledBack || record.outcome == .held else { return false }
            let ended = record.finishedAt ?? record.startedAt
            return after.map { ended > $0 } ?? true
        }
    }

    /// The `failure-budget` reason when the wave's failed groups reach its budget.
    public static func reason(wave: Wave, budget: FailureBudget, groups: [String], cutovers: (String) -> [CutoverRecord],
                              forgivenBefore: Timestamp?) -> BlockReason? {
        let failed = groups.filter { Self.failed(cutovers($0), window: wave.window, after: forgivenBefore) }
        guard failed.count >= budget.limit(groups: groups.count) else { return nil }
        return BlockReason(.failureBudget, "\(failed.count) of the \(groups.count) groups of wave '\(wave.name)' rolled back or were held in this window (\(PlanContext.list(failed))); maxFailures is \(budget): no further group starts until 'sendpath resume --wave \(wave.name)'")
    }
}
