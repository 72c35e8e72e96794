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
        let context = PlanContext(input)
        var plans: [GroupPlan] = []
        var notices: [String: NoticeRecord] = [:]
        // Open cut-overs are always in scope: filters never leave a freeze behind.
        let open = Set(input.cutovers.filter { $0.outcome == nil }.map(\.group))
        for group in input.fleet.groups where input.scope?.contains(group.id) ?? true || open.contains(group.id) {
            let wave = input.fleet.wave(named: group.wave)!
            if let pending = context.noticeToRecord(wave) { notices[wave.name] = pending }
            plans.append(planGroup(group, wave: wave, context: context))
        }
        return Plan(at: input.now, groups: plans, noticesToRecord: notices.keys.sorted().map { notices[$0]! })
    }

    static func planGroup(_ group: CutoverGroup, wave: Wave, context: PlanContext) -> GroupPlan {
        let input = context.input
        let history = context.cutoversByGroup[group.id] ?? []
        let latest = history.last
        let queued = group.instances.reduce(0) { $0 + (input.observedInstances[$1]?.queueDepth ?? 0) }
        let expected = context.estimator.cutover(group, queuedMessages: queued)
        var plan = GroupPlan(group: group, wave: wave, decision: .blocked, reasons: [], needsPrepare: false, steps: [],
                             resuming: nil, latest: latest, expectedDuration: expected, note: nil, finishing: nil)

        // An unfinished cut-over, or a held one an operator asked to resume (or resumed before
        // a crash): continue it.
        if let latest, latest.outcome == nil || latest.outcome == .held {
            var machine = CutoverMachine.replay(latest.entries, maxAttempts: input.maxAttempts,
                                                onVerificationFailure: input.fleet.policy.onVerificationFailure)
            let stillHeld = latest.outcome == .held && machine.status == .held
            if !stillHeld || input.resumeHeld.contains(group.id) {
                if machine.status == .held {
                    machine.record(JournalEntry(cutoverID: latest.id, group: group.id, step: machine.next?.step ?? .freeze,
                                                phase: .resumed, attempt: 0, idempotencyKey: "", fencingToken: FencingToken(0),
                                                at: input.now, holder: ""))
                    plan.note = "resuming a held cut-over: \(latest.reason ?? "held")"
                }
                // Past the turn-back time an apply rolls back instead of going on: show that.
                let turnBack = latest.window.end - input.fleet.policy.rollbackReserve
                if machine.status == .running && !machine.rollingBack && !machine.pastPointOfNoReturn && input.now >= turnBack {
                    machine.record(JournalEntry(cutoverID: latest.id, group: group.id, step: machine.next?.step ?? .freeze,
                                                phase: .aborted, attempt: 0, idempotencyKey: "", fencingToken: FencingToken(0),
                                                at: input.now, detail: StepDetail(message: "the window ends at \(latest.window.end)"), holder: ""))
                }
                plan.decision = .resume
                plan.resuming = latest
                plan.steps = machine.remaining
                plan.finishing = machine.status == .running ? nil : machine.action.outcome
                plan.expectedDuration = context.estimator.remaining(machine.remaining, group: group, queuedMessages: queued)
                return plan
            }
        }
        if let latest, latest.outcome == .held {
            plan.decision = .held
            plan.reasons = [BlockReason(.held, "\(latest.reason ?? "held by an earlier run") (cut-over \(latest.id)); after fixing the cause, run 'sendpath reconcile --resume-held \(group.id)'")]
            return plan
        }

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
        // is announced, the group matches its manifest and nothing but the clock holds it.
        let prepareAllowed = plan.reasons.allSatisfy { $0.code == .windowNotOpen }
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
        [ReasonCode.drift, .held, .noticeMissing, .noticeTooLate, .noticeStale, .order, .windowClosed, .windowNotOpen, .windowTooShort]
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
