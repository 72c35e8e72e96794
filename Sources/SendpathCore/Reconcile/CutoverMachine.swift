/// The progress of one cut-over, as a pure state machine fed by journal entries.
///
/// The same transitions serve a live run (the engine journals an entry, then records it
/// here) and a resumed one (every entry of the journal is recorded again, in order), so a
/// reconciler killed at any instant continues exactly where the journal says it stopped.
///
/// Forward: freeze, snapshot-queue, switch-path, verify-ips, verify-build, resend-queue,
/// unfreeze. On a failure before resend-queue has begun, it turns back and undoes what may
/// have happened: rollback-path (if a switch was attempted), resend-queue on the source path
/// (if a snapshot was attempted), unfreeze (if a freeze was attempted). Once resend-queue has
/// begun there is no way back: a failure holds the group for a human.
public struct CutoverMachine: Sendable, Hashable {
    /// A step on the forward path or on the way back.
    public struct Move: Sendable, Hashable, CustomStringConvertible {
        public var step: StepName
        public var rollback: Bool

        public init(_ step: StepName, rollback: Bool = false) {
            self.step = step
            self.rollback = rollback
        }

        public var description: String { rollback ? "rollback/\(step.rawValue)" : step.rawValue }
    }

    public enum Status: Sendable, Hashable {
        case running
        case completed
        case rolledBack
        case held
    }

    /// How a step failed, as the engine saw it.
    public enum Failure: Sendable, Hashable {
        /// May pass on a retry with the same idempotency key (timeouts, 5xx, injected errors).
        case retryable(String)
        /// Will not pass by retrying (refused, conflict, stale token).
        case terminal(String)
        /// A verification found the IPs or the build changed.
        case mismatch(String)
    }

    /// What the engine should do next.
    public enum Action: Sendable, Hashable {
        /// Run this move; `attempt` counts from 1.
        case run(Move, attempt: Int)
        /// Stop: the cut-over has ended this way.
        case finish(CutoverOutcome, reason: String?)

        /// The outcome, when the action is to finish.
        public var outcome: CutoverOutcome? {
            if case .finish(let outcome, _) = self { return outcome }
            return nil
        }
    }

    public static let forwardSteps: [StepName] = [.freeze, .snapshotQueue, .switchPath, .verifyIPs, .verifyBuild, .resendQueue, .unfreeze]

    public let maxAttempts: Int
    public let onVerificationFailure: VerificationFailurePolicy

    public private(set) var status: Status = .running
    public private(set) var rollingBack = false
    public private(set) var reason: String?
    /// Moves completed, in order.
    public private(set) var completed: [Move] = []
    /// Forward steps whose side effect may have happened (an intent was journalled).
    public private(set) var attempted: Set<StepName> = []
    /// The steps to undo, fixed when the machine turned back.
    public private(set) var rollbackSteps: [StepName] = []
    /// The move whose intent is journalled without a result yet.
    public private(set) var inFlight: Move?
    /// The attempt number of the move in flight.
    public private(set) var attempts = 0
    /// The move in flight failed and will be tried again (a new attempt, same key).
    private var retryPending = false
    /// Whether the hold came from a verification (re-verified on resume) or a failed step.
    private var heldOnVerification = false

    public init(maxAttempts: Int = 4, onVerificationFailure: VerificationFailurePolicy = .rollback) {
        precondition(maxAttempts >= 1)
        self.maxAttempts = maxAttempts
        self.onVerificationFailure = onVerificationFailure
    }

    /// Rebuilds the machine from a cut-over's journal.
    ///
    /// Each new lease holder has a greater fencing token, so in a sound journal tokens never
    /// decrease. An entry with a token lower than one already seen was written late by a
    /// holder that had lost its lease (and was refused by the provider): it is skipped.
    /// Rebuilds the machine of a cut-over from its journal, under the policy it was pinned
    /// with (the live one only for a record from before pinning).
    public static func replay(_ record: CutoverRecord, maxAttempts: Int = 4, livePolicy: Policy) -> CutoverMachine {
        replay(record.entries, maxAttempts: maxAttempts,
               onVerificationFailure: record.baseline.policy(orLive: livePolicy).onVerificationFailure)
    }

    public static func replay(_ entries: [JournalEntry], maxAttempts: Int = 4,
                              onVerificationFailure: VerificationFailurePolicy = .rollback) -> CutoverMachine {
        var machine = CutoverMachine(maxAttempts: maxAttempts, onVerificationFailure: onVerificationFailure)
        var newest = FencingToken(Int64.min)
        for entry in entries where entry.phase != .fenced {
            if entry.fencingToken < newest { continue }
            newest = entry.fencingToken
            machine.record(entry)
        }
        return machine
    }

    /// Whether resend-queue has begun on the forward path: from here on, no rollback.
    public var pastPointOfNoReturn: Bool { attempted.contains(.resendQueue) }

    /// The next move to run, `nil` once the cut-over has ended.
    public var next: Move? {
        guard status == .running else { return nil }
        if let inFlight { return inFlight }
        if rollingBack {
            return rollbackSteps.first { step in !completed.contains(Move(step, rollback: true)) }.map { Move($0, rollback: true) }
        }
        return Self.forwardSteps.first { step in !completed.contains(Move(step)) }.map { Move($0) }
    }

    /// The moves still to run if nothing fails, in order (what a dry-run lists).
    public var remaining: [Move] {
        guard status == .running else { return [] }
        let done = Set(completed)
        if rollingBack { return rollbackSteps.map { Move($0, rollback: true) }.filter { !done.contains($0) } }
        return Self.forwardSteps.map { Move($0) }.filter { !done.contains($0) }
    }

    /// What to do now.
    public var action: Action {
        switch status {
        case .running:
            guard let move = next else { return .finish(.completed, reason: nil) }
            // An intent without a result repeats the same attempt (the process died mid-call);
            // after a retry entry, the next attempt follows.
            return .run(move, attempt: move == inFlight && !retryPending ? attempts : attempts + 1)
        case .completed: return .finish(.completed, reason: nil)
        case .rolledBack: return .finish(.rolledBack, reason: reason)
        case .held: return .finish(.held, reason: reason)
        }
    }

    /// The journal phase for a failure of `move`: `.retry` while attempts remain for a
    /// retryable failure, `.failed` otherwise.
    public func phase(for failure: Failure) -> JournalEntry.Phase {
        if case .retryable = failure, attempts < maxAttempts { return .retry }
        return .failed
    }

    /// Applies one journal entry (live or replayed).
    public mutating func record(_ entry: JournalEntry) {
        let move = Move(entry.step, rollback: entry.rollback)
        switch entry.phase {
        case .intent:
            guard status == .running else { return }
            attempts = entry.attempt
            retryPending = false
            inFlight = move
            if !move.rollback { attempted.insert(move.step) }
        case .done:
            inFlight = nil
            attempts = 0
            retryPending = false
            if !completed.contains(move) { completed.append(move) }
            settle()
        case .retry:
            // The same move runs again with the same key; its next intent carries the attempt.
            inFlight = move
            retryPending = true
        case .failed:
            inFlight = nil
            attempts = 0
            retryPending = false
            fail(move, entry)
        case .aborted:
            guard status == .running, !rollingBack, !pastPointOfNoReturn else { return }
            // A forward move in flight (or waiting for a retry) is not started again: what it may
            // have done is undone like the rest, from `attempted`.
            inFlight = nil
            retryPending = false
            attempts = 0
            turnBack(entry.detail?.message ?? "the window is ending")
        case .fenced:
            return
        case .resumed:
            guard status == .held else { return }
            status = .running
            reason = nil
            inFlight = nil
            attempts = 0
            retryPending = false
            heldOnVerification = false
        }
    }

    /// What a failure of `move` that ends it for good makes the cut-over do now: journalled
    /// with the failure (``StepDetail/decision``), so replay never asks the policy again.
    public func decision(after move: Move, mismatch: Bool) -> FailureDecision {
        if move.rollback || rollingBack { return .hold }
        if mismatch { return onVerificationFailure == .hold ? .hold : .turnBack }
        return pastPointOfNoReturn ? .hold : .turnBack
    }

    private mutating func fail(_ move: Move, _ entry: JournalEntry) {
        guard status == .running else { return }
        let message = entry.detail?.message ?? "\(move) failed"
        let mismatch = entry.detail?.mismatch == true
        // The decision journalled with the failure wins; entries from before decisions were
        // journalled are read with the policy the machine was built with (the pinned one).
        var decision = entry.detail?.decision ?? decision(after: move, mismatch: mismatch)
        // Nothing turns back once resend-queue has begun, whatever an entry says.
        if decision == .turnBack && (move.rollback || rollingBack || pastPointOfNoReturn) { decision = .hold }
        switch decision {
        case .hold:
            if move.rollback || rollingBack {
                hold("rollback could not complete: \(message)")
            } else if mismatch {
                heldOnVerification = true
                hold("verification failed: \(message)")
            } else if pastPointOfNoReturn {
                hold("\(move) failed after the point of no return: \(message)")
            } else {
                hold("\(move) failed: \(message)")
            }
        case .turnBack:
            turnBack(mismatch ? "verification failed: \(message)" : "\(move) failed: \(message)")
        }
    }

    private mutating func hold(_ why: String) {
        status = .held
        reason = why
    }

    private mutating func turnBack(_ why: String) {
        rollingBack = true
        reason = why
        var steps: [StepName] = []
        if attempted.contains(.switchPath) { steps.append(.rollbackPath) }
        if attempted.contains(.snapshotQueue) { steps.append(.resendQueue) }
        if attempted.contains(.freeze) { steps.append(.unfreeze) }
        rollbackSteps = steps
        settle()
    }

    /// Ends the cut-over when its current path is complete.
    private mutating func settle() {
        guard status == .running else { return }
        if rollingBack {
            if rollbackSteps.allSatisfy({ completed.contains(Move($0, rollback: true)) }) { status = .rolledBack }
        } else if Self.forwardSteps.allSatisfy({ completed.contains(Move($0)) }) {
            status = .completed
        }
    }

    /// Whether the current hold is one a verification caused (so a resume re-verifies).
    public var isHeldOnVerification: Bool { status == .held && heldOnVerification }
}
