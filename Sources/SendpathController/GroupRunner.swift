import Logging
import SendpathCore

/// What happened to one group in an apply.
struct GroupResult: Sendable {
    var plan: GroupPlan
    var status: InstanceStatus
    var reasons: [BlockReason]
    /// Moves run in this run, with their final state.
    var moves: [(move: CutoverMachine.Move, state: StepState, duration: Duration?)]
    /// Moves that were still to run when the cut-over ended.
    var skipped: [CutoverMachine.Move]
    var messages: [String: MessageReport]
    var cutoverID: String?
    /// A runtime failure that stopped the group (store unreachable, fenced out).
    var error: String?
    /// The move being journalled last, its attempt and key (for a refusal's record).
    var current: (move: CutoverMachine.Move, attempt: Int, key: String)?
}

/// Runs one group's decision: prepare-target, then a cut-over driven by ``CutoverMachine``,
/// journalling each move before and after its side effect.
struct GroupRunner: Sendable {
    let plan: GroupPlan
    let fleet: Fleet
    let provider: any Provider
    let store: any StateStore
    let clock: any WallClock
    let logger: Logger
    let progress: (any ReconcileProgress)?
    let options: ReconcileOptions
    let holderID: String
    let token: @Sendable () async -> FencingToken
    let observed: [String: ObservedInstance]
    let observedPrefixes: [AddressBlock: ObservedPrefix]

    private var group: CutoverGroup { plan.group }

    func run() async -> GroupResult {
        var result = GroupResult(plan: plan, status: plan.status, reasons: plan.reasons, moves: [], skipped: [], messages: [:])
        do {
            // A suspension recorded since the plan (by another process) stops anything new,
            // prepare-target included; cut-overs in flight go on.
            if plan.decision == .prepare || plan.decision == .start, let reason = try await lateControlReason() {
                result.status = .blocked
                result.reasons = [reason]
                return result
            }
            if plan.decision == .prepare || (plan.decision == .start && plan.needsPrepare) {
                guard try await prepare(into: &result) else { return result }
                if plan.decision == .prepare { return result }
            }
            switch plan.decision {
            case .start:
                // A stop was requested (SIGTERM) after the group was scheduled, perhaps while
                // prepare-target ran: no new cut-over starts.
                if options.stop?.isRequested == true {
                    result.status = .blocked
                    result.reasons = [BlockReason(.order, "not started: a stop was requested; the next run starts it")]
                    return result
                }
                let expected = plan.expectedDuration
                let late = Planner.windowReasons(plan.wave, expected: expected, rollbackReserve: fleet.policy.rollbackReserve, now: clock.now())
                guard late.isEmpty else {
                    result.status = .blocked
                    result.reasons = late
                    return result
                }
                // Again after prepare-target, which can take a while: the last look before the freeze.
                if plan.needsPrepare, let reason = try await lateControlReason() {
                    result.status = .blocked
                    result.reasons = [reason]
                    return result
                }
                try await cutover(record: try await begin(), resumed: false, into: &result)
            case .resume:
                guard let record = plan.resuming else { return result }
                try await cutover(record: record, resumed: record.outcome == .held, into: &result)
            default:
                break
            }
        } catch StateStoreError.leaseLost(let scope) {
            // The store refused a journal entry: a newer holder has the group. Record that refusal.
            progress?.fencedOut(group: group.id, by: .stateStore, detail: "the state store refused a journal entry: \(scope) has a newer holder")
            let current = result.current
            try? await store.append(JournalEntry(cutoverID: plan.resuming?.id ?? result.cutoverID, group: group.id,
                                                 step: current?.move.step ?? .freeze, rollback: current?.move.rollback ?? false,
                                                 phase: .fenced, attempt: current?.attempt ?? 0, idempotencyKey: current?.key ?? "",
                                                 fencingToken: await token(),
                                                 at: clock.now(), detail: StepDetail(message: "journal entry refused: \(scope) has a newer holder"),
                                                 holder: holderID))
            result.status = .inProgress
            result.error = "fenced out: the \(scope) lease has a newer holder"
        } catch {
            result.status = .inProgress
            result.error = "\(error)"
            logger.error("group stopped on a runtime failure; the next run resumes from the journal",
                         metadata: ["cutover.group": "\(group.id)", "error": "\(error)"])
        }
        return result
    }

    /// A suspension, or a spent failure budget, that came about after the plan (recorded by
    /// another process, or groups of this run that failed meanwhile).
    private func lateControlReason() async throws -> BlockReason? {
        let controls = OperatorControls(try await store.controls())
        if let suspension = controls.suspension(of: plan.wave.name) {
            return BlockReason(.suspended, "suspended by \(suspension.by) at \(suspension.at) after this run planned; nothing new starts until 'sendpath resume'")
        }
        guard plan.decision == .start, let budget = plan.wave.maxFailures else { return nil }
        let groups = fleet.groups.filter { $0.wave == plan.wave.name }.map(\.id)
        let records = Dictionary(grouping: try await store.cutovers(groups: Set(groups)), by: \.group)
        return FailureBudgetGate.reason(wave: plan.wave, budget: budget, groups: groups, cutovers: { records[$0] ?? [] },
                                        forgivenBefore: controls.lastResume(of: plan.wave.name))
    }

    /// Runs prepare-target with retries; `false` when it failed (nothing that sends was changed).
    private func prepare(into result: inout GroupResult) async throws -> Bool {
        // The key names the target, so a later change of target is a new request, not a conflict.
        // A prepare left unfinished (an intent with no result) repeats its key; a new one gets a
        // random nonce, so that a fresh state store never replays another store's answer.
        let prefix = "prepare/\(group.id)/\(group.target)/"
        let earlier = try await store.preparations(groups: [group.id]).filter { $0.idempotencyKey.hasPrefix(prefix) }
        let key = earlier.last.flatMap { $0.phase == .done ? nil : $0.idempotencyKey } ?? prefix + Self.nonce()
        let executor = StepExecutor(provider: provider, preparing: group)
        let move = CutoverMachine.Move(.prepareTarget)
        var attempt = 1
        while true {
            let started = clock.now()
            let context = MutationContext(idempotencyKey: key, fencingToken: await token(), step: .prepareTarget)
            result.current = (move, attempt, key)
            try await store.append(entry(nil, move, .intent, attempt, key, context.fencingToken, started))
            progress?.stepStarted(group: group.id, move: move, attempt: attempt, at: started)
            let outcome = await executor.run(move, context: context, snapshots: nil, resendMaxAge: .zero)
            let duration = clock.now() - started
            // Cancelled mid-call (the lease was lost): leave the intent open for the next holder.
            if Task.isCancelled { throw CancellationError() }
            switch outcome {
            case .done:
                try await store.append(entry(nil, move, .done, attempt, key, context.fencingToken, clock.now(), duration: duration))
                progress?.stepFinished(group: group.id, move: move, phase: .done, duration: duration, detail: nil)
                result.moves.append((move, .done, duration))
                return true
            case .fencedOut(let message):
                progress?.fencedOut(group: group.id, by: .provider, detail: message)
                try? await store.append(entry(nil, move, .fenced, attempt, key, context.fencingToken, clock.now(),
                                              detail: StepDetail(message: message, errorCode: .staleFencingToken)))
                throw FencedOut(message: message)
            case .failed(let failure, let code):
                let retry: Bool = if case .retryable = failure { attempt < options.retry.maxAttempts } else { false }
                let message = Self.message(failure)
                try await store.append(entry(nil, move, retry ? .retry : .failed, attempt, key, context.fencingToken, clock.now(),
                                             duration: duration, detail: StepDetail(message: message, errorCode: code)))
                progress?.stepFinished(group: group.id, move: move, phase: retry ? .retry : .failed, duration: duration, detail: message)
                if retry {
                    try await clock.sleep(for: options.retry.delay(afterAttempt: attempt))
                    attempt += 1
                    continue
                }
                result.moves.append((move, .failed, duration))
                result.status = .failed
                result.reasons = [BlockReason(.drift, "prepare-target failed: \(message); nothing that sends was changed")]
                return false
            }
        }
    }

    /// Records a new cut-over with the group's state before it is touched.
    private func begin() async throws -> CutoverRecord {
        let number = (plan.latest?.number ?? 0) + 1
        var members: [String: CutoverBaseline.Member] = [:]
        for name in group.instances {
            guard let state = observed[name] else { continue }
            members[name] = CutoverBaseline.Member(path: state.path, sendingIPs: Array(Set(state.sendingIPs)).sorted(), build: state.build,
                                                   declaredIPs: fleet.instance(named: name)?.declaredIPs)
        }
        let source = members.values.first?.path ?? group.target
        var prefixes: [AddressBlock: SendingPath] = [:]
        for block in group.blocks { prefixes[block] = observedPrefixes[block]?.advertisedFrom.first ?? source }
        // Pinned: everything the moves use, with the policy in force now and a nonce that keeps
        // its idempotency keys unique across state stores.
        let baseline = CutoverBaseline(members: members, prefixes: prefixes, target: group.target,
                                       policy: CutoverPolicy(fleet.policy), nonce: Self.nonce())
        let record = CutoverRecord(id: "\(group.id)#\(number)", group: group.id, wave: group.wave, members: group.instances,
                                   window: plan.wave.window, startedAt: clock.now(), baseline: baseline)
        try await store.beginCutover(record)
        logger.info("cut-over started", metadata: ["cutover.id": "\(record.id)", "cutover.instances": "\(group.instances.count)"])
        return record
    }

    private func cutover(record: CutoverRecord, resumed: Bool, into result: inout GroupResult) async throws {
        result.cutoverID = record.id
        var machine = CutoverMachine.replay(record, maxAttempts: options.retry.maxAttempts, livePolicy: fleet.policy)
        let policy = record.baseline.policy(orLive: fleet.policy)
        var snapshots = record.entries.last { $0.step == .snapshotQueue && !$0.rollback && $0.phase == .done }?.detail?.snapshots
        if resumed {
            let note = entry(record.id, machine.next ?? CutoverMachine.Move(.freeze), .resumed, 0, "", await token(), clock.now(),
                             detail: StepDetail(message: "resumed by an operator"))
            try await store.append(note)
            machine.record(note)
        }
        let executor = StepExecutor(provider: provider, record: record)
        while case .run(let move, let attempt) = machine.action {
            if Task.isCancelled { throw CancellationError() }
            // Past the turn-back time of the window it was started in (even if the manifest has
            // moved the wave since), or with an instance left behind on a prefix it moves: turn
            // back (or hold) before the next move, as the dry run showed.
            let interruptions = Planner.interruptions(record, machine: machine, intruders: plan.intruders, now: clock.now(),
                                                      livePolicy: fleet.policy)
            if !interruptions.isEmpty {
                for planned in interruptions {
                    let journalled = entry(record.id, move, planned.phase, planned.attempt, "", await token(), planned.at,
                                           detail: planned.detail)
                    result.current = (move, attempt, "")
                    try await store.append(journalled)
                    machine.record(journalled)
                }
                continue
            }
            let key = record.key(move)
            let context = MutationContext(idempotencyKey: key, fencingToken: await token(), step: move.step)
            let started = clock.now()
            let intent = entry(record.id, move, .intent, attempt, key, context.fencingToken, started)
            result.current = (move, attempt, key)
            try await store.append(intent)
            machine.record(intent)
            progress?.stepStarted(group: group.id, move: move, attempt: attempt, at: started)
            // Before the point of no return, a call (its own retries included) must end by the
            // turn-back time; after it, and on the way back, a call takes what it needs.
            let deadline: ContinuousClock.Instant? = machine.rollingBack || machine.pastPointOfNoReturn ? nil
                : ContinuousClock.now + max(.zero, record.window.end - policy.rollbackReserve - clock.now())
            let outcome = await ProviderCallDeadline.$current.withValue(deadline) {
                await executor.run(move, context: context, snapshots: snapshots, resendMaxAge: policy.resendMaxAge)
            }
            let duration = clock.now() - started
            // Cancelled mid-call (the lease was lost): leave the intent open for the next holder.
            if Task.isCancelled { throw CancellationError() }
            switch outcome {
            case .done(let detail):
                let done = entry(record.id, move, .done, attempt, key, context.fencingToken, clock.now(), duration: duration, detail: detail)
                try await store.append(done)
                machine.record(done)
                if move.step == .snapshotQueue && !move.rollback { snapshots = detail?.snapshots }
                for resend in detail?.resends ?? [] {
                    result.messages[resend.instance] = MessageReport(resent: resend.resent, expired: resend.expired,
                                                                     expiredMessageIDs: resend.expiredMessageIDs)
                }
                progress?.stepFinished(group: group.id, move: move, phase: .done, duration: duration, detail: detail?.message)
                result.moves.removeAll { $0.move == move }
                result.moves.append((move, .done, duration))
            case .fencedOut(let message):
                progress?.fencedOut(group: group.id, by: .provider, detail: message)
                try? await store.append(entry(record.id, move, .fenced, attempt, key, context.fencingToken, clock.now(),
                                              detail: StepDetail(message: message, errorCode: .staleFencingToken)))
                throw FencedOut(message: message)
            case .failed(let failure, let code):
                let phase = machine.phase(for: failure)
                let message = Self.message(failure)
                var isMismatch = false
                if case .mismatch = failure { isMismatch = true }
                // A failure for good journals what the machine decides now (turn back or hold):
                // replay follows that, whatever the policy says later.
                let decision = phase == .failed ? machine.decision(after: move, mismatch: isMismatch) : nil
                let failed = entry(record.id, move, phase, attempt, key, context.fencingToken, clock.now(), duration: duration,
                                   detail: StepDetail(message: message, errorCode: code, mismatch: isMismatch ? true : nil,
                                                      decision: decision))
                try await store.append(failed)
                machine.record(failed)
                progress?.stepFinished(group: group.id, move: move, phase: phase, duration: duration, detail: message)
                logger.warning("step failed", metadata: ["cutover.id": "\(record.id)", "step": "\(move)", "attempt": "\(attempt)",
                                                         "error": "\(message)", "retry": "\(phase == .retry)"])
                if phase == .retry {
                    try await clock.sleep(for: options.retry.delay(afterAttempt: attempt))
                } else {
                    result.moves.removeAll { $0.move == move }
                    result.moves.append((move, .failed, duration))
                }
            }
        }
        guard case .finish(let outcome, let reason) = machine.action else { return }
        try await store.finishCutover(id: record.id, outcome: outcome, reason: reason, at: clock.now())
        result.skipped = machine.rollingBack ? [] : CutoverMachine.forwardSteps.map { CutoverMachine.Move($0) }
            .filter { move in !machine.completed.contains(move) && !result.moves.contains { $0.move == move } }
        switch outcome {
        case .completed:
            result.status = .migrated
            result.reasons = []
        case .rolledBack:
            result.status = .rolledBack
            result.reasons = [BlockReason(.held, reason ?? "rolled back")]
        case .held:
            result.status = .held
            result.reasons = [BlockReason(.held, "\(reason ?? "held"); after fixing the cause, run 'sendpath reconcile --resume-held \(record.id)'")]
        }
        logger.notice("cut-over ended", metadata: ["cutover.id": "\(record.id)", "cutover.outcome": "\(outcome.rawValue)",
                                                   "cutover.reason": "\(reason ?? "")"])
    }

    struct FencedOut: Error, CustomStringConvertible {
        var message: String
        var description: String { "fenced out: another reconciler holds a newer lease (\(message))" }
    }

    /// A random value for a new cut-over's idempotency keys (128 bits, hex).
    static func nonce() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<2).map { _ in String(generator.next() as UInt64, radix: 16).leftPadded(to: 16) }.joined()
    }

    static func message(_ failure: CutoverMachine.Failure) -> String {
        switch failure {
        case .retryable(let text), .terminal(let text), .mismatch(let text): text
        }
    }

    private func entry(_ cutover: String?, _ move: CutoverMachine.Move, _ phase: JournalEntry.Phase, _ attempt: Int, _ key: String,
                       _ token: FencingToken, _ at: Timestamp, duration: Duration? = nil, detail: StepDetail? = nil) -> JournalEntry {
        JournalEntry(cutoverID: cutover, group: group.id, step: move.step, rollback: move.rollback, phase: phase, attempt: attempt,
                     idempotencyKey: key, fencingToken: token, at: at,
                     // A wall clock set back mid-step would record a negative time: kept within what a store may hold.
                     duration: duration.map { min(max($0, .zero), StoredValue.maximumDuration) },
                     detail: detail, holder: holderID)
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String { count >= width ? self : String(repeating: "0", count: width - count) + self }
}
