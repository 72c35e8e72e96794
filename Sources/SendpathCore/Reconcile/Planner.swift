/// Decides, for each cut-over group, what to do now. Pure: the same input gives the same plan.
///
/// Gates (each a ``ReasonCode``): the observed state matches the manifest (`drift`); the
/// wave's notice exists, came early enough for the group's strictest environment and still
/// describes the wave (`notice-*`); the waves in `after` are complete and each tenant's
/// non-production has migrated and baked (`order`); the window is open and long enough for
/// the expected duration plus `rollbackReserve` (`window-*`). Unfinished cut-overs resume
/// without gates: stopping halfway is never safer than finishing or rolling back.
public enum Planner {
    public static func plan(_ input: PlanInput) -> Plan {
        plan(context: PlanContext(input))
    }

    static func plan(context: PlanContext) -> Plan {
        let input = context.input
        var plans: [GroupPlan] = []
        var notices: [String: NoticeRecord] = [:]
        // Open and held cut-overs are pinned: planned from their records, found by what they
        // hold (members and prefixes), never redefined by the live manifest. Open ones are
        // always in scope: filters never leave a freeze behind.
        let pinned = PinnedCutovers(context.activeCutovers, fleet: input.fleet)
        var notes: [String: [String]] = [:]
        // Plans in the fleet's group order (wave, id); a pinned cut-over takes the place of the
        // first live group it overlaps, and one that overlaps none comes last.
        var slots: [Slot] = []
        var placed = Set<String>()
        for group in input.fleet.groups {
            let overlapping = pinned.overlapping(group)
            let inScope = input.scope?.contains(group.id) ?? true
            guard inScope || !overlapping.isEmpty else { continue }
            let wave = input.fleet.wave(named: group.wave)!
            if inScope, let pending = context.noticeToRecord(wave) { notices[wave.name] = pending }
            for record in overlapping where placed.insert(record.id).inserted { slots.append(.pinned(record)) }
            if overlapping.isEmpty {
                slots.append(.live(group, wave))
            } else if let blocked = changedDuringCutover(group, wave: wave, records: overlapping, context: context) {
                slots.append(.plan(blocked))
            } else if !(overlapping.count == 1 && overlapping[0].matches(group)) {
                for record in overlapping { notes[record.id, default: []].append(Self.difference(group, from: record)) }
            }
        }
        for record in pinned.records where placed.insert(record.id).inserted { slots.append(.pinned(record)) }
        // Each slot is planned from the context alone: spread over the cores, kept in slot order.
        plans = OrderedChunks.flatMap(count: slots.count, minimumPerChunk: 16) { [slots, notes] index -> [GroupPlan] in
            switch slots[index] {
            case .live(let group, let wave):
                return [planGroup(group, wave: wave, context: context)]
            case .plan(let plan):
                return [plan]
            case .pinned(let record):
                let inScope = record.outcome == nil || input.scope == nil || input.scope!.contains(record.group)
                    || pinned.liveGroups(of: record).contains { input.scope!.contains($0.id) }
                return inScope ? [planPinned(record, note: notes[record.id], pinned: pinned, context: context)] : []
            }
        }
        return Plan(at: input.now, groups: plans, noticesToRecord: notices.keys.sorted().map { notices[$0]! })
    }

    private enum Slot: Sendable {
        case live(CutoverGroup, Wave)
        case pinned(CutoverRecord)
        case plan(GroupPlan)
    }

    static func planGroup(_ group: CutoverGroup, wave: Wave, context: PlanContext) -> GroupPlan {
        let input = context.input
        let history = context.cutoversByGroup[group.id] ?? []
        let latest = history.last
        let queued = group.instances.reduce(0) { $0 + (input.observedInstances[$1]?.queueDepth ?? 0) }
        let expected = context.estimator.cutover(group, queuedMessages: queued)
        var plan = GroupPlan(group: group, wave: wave, decision: .blocked, reasons: [], needsPrepare: false, steps: [],
                             resuming: nil, latest: latest, expectedDuration: expected, note: nil, finishing: nil)

        let observed = group.instances.map { input.observedInstances[$0] }
        let drift = context.driftReasons(group, observed: observed)
        if drift.isEmpty && context.isAtTarget(group) {
            plan.decision = latest?.outcome == .completed ? .migrated : .inSync
            return plan
        }

        var reasons = drift
        reasons += context.noticeReasons(group, wave: wave)
        reasons += context.orderReasons(group, wave: wave)
        reasons += context.windowReasons(wave, expected: expected, now: input.now)
        reasons += context.controlReasons(group, wave: wave, history: history)
        plan.needsPrepare = group.instances.contains { input.observedInstances[$0]?.preparedTarget != group.target }

        // Rolled back before in this window: try again, a limited number of times.
        let rollbacks = history.filter { $0.outcome == .rolledBack && $0.window == wave.window }
        if let last = rollbacks.last, latest?.outcome == .rolledBack {
            if rollbacks.count >= input.maxRollbacksPerWindow {
                plan.decision = .rolledBack
                plan.reasons = [BlockReason(.held, "rolled back \(rollbacks.count) times in this window (last: \(last.reason ?? "unknown")); it is tried again when the wave gets a new window, or with 'sendpath reconcile --resume-held \(group.id)'")]
                if input.resumeHeld.contains(group.id) {
                    plan.reasons = []
                } else {
                    return plan
                }
            }
            plan.note = "retrying after a rollback (attempt \(rollbacks.count + 1) of \(input.maxRollbacksPerWindow)): \(last.reason ?? "unknown")"
        }

        plan.reasons = reasons.sorted { order(of: $0.code) < order(of: $1.code) }
        if plan.reasons.isEmpty {
            plan.decision = .start
            plan.steps = (plan.needsPrepare ? [CutoverMachine.Move(.prepareTarget)] : [])
                + CutoverMachine.forwardSteps.map { CutoverMachine.Move($0) }
            return plan
        }
        // prepare-target changes nothing that sends: it may run before the window, once the wave
        // is announced, the group matches its manifest and nothing but the clock (or a pending
        // approval, which comes after prepare-target) holds it.
        let prepareAllowed = plan.reasons.allSatisfy { $0.code == .windowNotOpen || $0.code == .awaitingApproval }
        if prepareAllowed && plan.needsPrepare {
            plan.decision = .prepare
            plan.steps = [CutoverMachine.Move(.prepareTarget)]
        } else {
            plan.decision = .blocked
        }
        return plan
    }

    /// Which reason is shown first when several gates fail.
    static func order(of code: ReasonCode) -> Int {
        [ReasonCode.drift, .held, .changedDuringCutover, .suspended, .failureBudget, .canary, .noticeMissing, .noticeTooLate, .noticeStale,
         .order, .windowClosed, .windowNotOpen, .windowTooShort, .awaitingApproval]
            .firstIndex(of: code)!
    }

    /// The window gates alone, at `now`: the engine checks them again right before a group
    /// starts, since time passes while earlier groups run.
    public static func windowReasons(_ wave: Wave, expected: Duration, rollbackReserve: Duration, now: Timestamp) -> [BlockReason] {
        let window = wave.window
        if now < window.start {
            return [BlockReason(.windowNotOpen, "the window of wave '\(wave.name)' opens at \(window.start)")]
        }
        if now >= window.end {
            return [BlockReason(.windowClosed, "the window of wave '\(wave.name)' closed at \(window.end)")]
        }
        let left = window.end - now
        if left < expected + rollbackReserve {
            return [BlockReason(.windowTooShort, "\(ManifestDuration.format(left)) left in the window; the cut-over needs about \(ManifestDuration.formatEstimate(expected)) plus the \(ManifestDuration.format(rollbackReserve)) rollback reserve")]
        }
        return []
    }
}
