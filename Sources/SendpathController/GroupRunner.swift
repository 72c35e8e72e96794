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
            if plan.decision == .prepare || (plan.decision == .start && plan.needsPrepare) {
                guard try await prepare(into: &result) else { return result }
                if plan.decision == .prepare { return result }
            }
            switch plan.decision {
            case .start:
                let expected = plan.expectedDuration
                let late = Planner.windowReasons(plan.wave, expected: expected, rollbackReserve: fleet.policy.rollbackReserve, now: clock.now())
                guard late.isEmpty else {
                    result.status = .blocked
                    result.reasons = late
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
            try? await store.append(JournalEntry(cutoverID: plan.resuming?.id ?? result.cutoverID, group: group.id, step: .freeze,
                                                 phase: .fenced, attempt: 0, idempotencyKey: "", fencingToken: await token(),
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

    /// Runs prepare-target with retries; `false` when it failed (nothing that sends was changed).
    private func prepare(into result: inout GroupResult) async throws -> Bool {
        // The key names the target, so a later change of target is a new request, not a conflict.
        let prefix = "prepare/\(group.id)/\(group.target)/"
        let earlier = try await store.preparations(groups: [group.id]).filter { $0.phase == .done && $0.idempotencyKey.hasPrefix(prefix) }.count
        let key = prefix + "\(earlier + 1)"
        let executor = StepExecutor(provider: provider, fleet: fleet, group: group, members: group.instances,
                                    baseline: CutoverBaseline(members: [:], prefixes: [:], target: group.target), cutoverID: "")
        let move = CutoverMachine.Move(.prepareTarget)
        var attempt = 1
        while true {
            let started = clock.now()
            let context = MutationContext(idempotencyKey: key, fencingToken: await token(), step: .prepareTarget)
            try await store.append(entry(nil, move, .intent, attempt, key, context.fencingToken, started))
            progress?.stepStarted(group: group.id, move: move, attempt: attempt, at: started)
            let outcome = await executor.run(move, context: context, snapshots: nil, resendMaxAge: fleet.policy.resendMaxAge)
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
            members[name] = CutoverBaseline.Member(path: state.path, sendingIPs: Array(Set(state.sendingIPs)).sorted(), build: state.build)
        }
        let source = members.values.first?.path ?? group.target
        var prefixes: [AddressBlock: SendingPath] = [:]
        for block in group.blocks { prefixes[block] = observedPrefixes[block]?.advertisedFrom.first ?? source }
        let record = CutoverRecord(id: "\(group.id)#\(number)", group: group.id, wave: group.wave, members: group.instances,
                                   window: plan.wave.window, startedAt: clock.now(),
                                   baseline: CutoverBaseline(members: members, prefixes: prefixes, target: group.target))
        try await store.beginCutover(record)
        logger.info("cut-over started", metadata: ["cutover.id": "\(record.id)", "cutover.instances": "\(group.instances.count)"])
        return record
    }

    private func cutover(record: CutoverRecord, resumed: Bool, into result: inout GroupResult) async throws {
        result.cutoverID = record.id
        var machine = CutoverMachine.replay(record.entries, maxAttempts: options.retry.maxAttempts,
                                            onVerificationFailure: fleet.policy.onVerificationFailure)
        var snapshots = record.entries.last { $0.step == .snapshotQueue && !$0.rollback && $0.phase == .done }?.detail?.snapshots
        if resumed {
            let note = entry(record.id, machine.next ?? CutoverMachine.Move(.freeze), .resumed, 0, "", await token(), clock.now(),
                             detail: StepDetail(message: "resumed by an operator"))
            try await store.append(note)
            machine.record(note)
        }
        let executor = StepExecutor(provider: provider, fleet: fleet, group: group, members: record.members,
                                    baseline: record.baseline, cutoverID: record.id)
        // The window the cut-over was started in, even if the manifest has moved the wave since.
        let turnBackAt = record.window.end - fleet.policy.rollbackReserve
        while case .run(let move, let attempt) = machine.action {
            if Task.isCancelled { throw CancellationError() }
            if !machine.rollingBack && !machine.pastPointOfNoReturn && clock.now() >= turnBackAt {
                let abort = entry(record.id, move, .aborted, attempt, "", await token(), clock.now(),
                                  detail: StepDetail(message: "the window ends at \(plan.wave.window.end); turning back with the rollback reserve left"))
                try await store.append(abort)
                machine.record(abort)
                continue
            }
            let key = StepExecutor.key(cutover: record.id, move)
            let context = MutationContext(idempotencyKey: key, fencingToken: await token(), step: move.step)
            let started = clock.now()
            let intent = entry(record.id, move, .intent, attempt, key, context.fencingToken, started)
            try await store.append(intent)
            machine.record(intent)
            progress?.stepStarted(group: group.id, move: move, attempt: attempt, at: started)
            let outcome = await executor.run(move, context: context, snapshots: snapshots, resendMaxAge: fleet.policy.resendMaxAge)
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
                let failed = entry(record.id, move, phase, attempt, key, context.fencingToken, clock.now(), duration: duration,
                                   detail: StepDetail(message: message, errorCode: code, mismatch: isMismatch ? true : nil))
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
            result.reasons = [BlockReason(.held, "\(reason ?? "held"); after fixing the cause, run 'sendpath reconcile --resume-held \(group.id)'")]
        }
        logger.notice("cut-over ended", metadata: ["cutover.id": "\(record.id)", "cutover.outcome": "\(outcome.rawValue)",
                                                   "cutover.reason": "\(reason ?? "")"])
    }

    struct FencedOut: Error, CustomStringConvertible {
        var message: String
        var description: String { "fenced out: another reconciler holds a newer lease (\(message))" }
    }

    static func message(_ failure: CutoverMachine.Failure) -> String {
        switch failure {
        case .retryable(let text), .terminal(let text), .mismatch(let text): text
        }
    }

    private func entry(_ cutover: String?, _ move: CutoverMachine.Move, _ phase: JournalEntry.Phase, _ attempt: Int, _ key: String,
                       _ token: FencingToken, _ at: Timestamp, duration: Duration? = nil, detail: StepDetail? = nil) -> JournalEntry {
        JournalEntry(cutoverID: cutover, group: group.id, step: move.step, rollback: move.rollback, phase: phase, attempt: attempt,
                     idempotencyKey: key, fencingToken: token, at: at, duration: duration, detail: detail, holder: holderID)
    }
}
