import Testing
@testable import SendpathCore

/// Every transition of the cut-over machine, driven by journal entries as the engine writes them.
@Suite("Cut-over state machine")
struct CutoverMachineTests {
    typealias Move = CutoverMachine.Move

    static func entry(_ move: Move, _ phase: JournalEntry.Phase, attempt: Int = 1, mismatch: Bool = false, message: String? = nil) -> JournalEntry {
        JournalEntry(cutoverID: "g#1", group: "g", step: move.step, rollback: move.rollback, phase: phase, attempt: attempt,
                     idempotencyKey: "g#1/\(move)", fencingToken: FencingToken(1), at: Timestamp(secondsSinceEpoch: 0),
                     detail: (mismatch || message != nil) ? StepDetail(message: message, mismatch: mismatch ? true : nil) : nil, holder: "h")
    }

    /// Runs the forward path up to (not including) `step`, each move succeeding first time.
    static func forward(until step: StepName?, policy: VerificationFailurePolicy = .rollback) -> CutoverMachine {
        var machine = CutoverMachine(maxAttempts: 3, onVerificationFailure: policy)
        for forwardStep in CutoverMachine.forwardSteps {
            if forwardStep == step { break }
            machine.record(entry(Move(forwardStep), .intent))
            machine.record(entry(Move(forwardStep), .done))
        }
        return machine
    }

    @Test func theHappyPathRunsEveryForwardStepInOrder() {
        var machine = CutoverMachine()
        var seen: [StepName] = []
        while case .run(let move, let attempt) = machine.action {
            #expect(!move.rollback)
            #expect(attempt == 1)
            seen.append(move.step)
            machine.record(Self.entry(move, .intent))
            machine.record(Self.entry(move, .done))
        }
        #expect(seen == CutoverMachine.forwardSteps)
        #expect(machine.status == .completed)
        #expect(machine.action == .finish(.completed, reason: nil))
    }

    struct FailureCase: Sendable, CustomStringConvertible {
        var step: StepName
        var mismatch: Bool
        var policy: VerificationFailurePolicy
        var expectedStatus: CutoverMachine.Status
        var expectedRollback: [StepName]
        var description: String { "\(step.rawValue) \(mismatch ? "mismatch" : "failure") with \(policy.rawValue)" }
    }

    static let failures: [FailureCase] = [
        FailureCase(step: .freeze, mismatch: false, policy: .rollback, expectedStatus: .running, expectedRollback: [.unfreeze]),
        FailureCase(step: .snapshotQueue, mismatch: false, policy: .rollback, expectedStatus: .running, expectedRollback: [.resendQueue, .unfreeze]),
        FailureCase(step: .switchPath, mismatch: false, policy: .rollback, expectedStatus: .running, expectedRollback: [.rollbackPath, .resendQueue, .unfreeze]),
        FailureCase(step: .verifyIPs, mismatch: false, policy: .rollback, expectedStatus: .running, expectedRollback: [.rollbackPath, .resendQueue, .unfreeze]),
        FailureCase(step: .verifyIPs, mismatch: true, policy: .rollback, expectedStatus: .running, expectedRollback: [.rollbackPath, .resendQueue, .unfreeze]),
        FailureCase(step: .verifyBuild, mismatch: true, policy: .rollback, expectedStatus: .running, expectedRollback: [.rollbackPath, .resendQueue, .unfreeze]),
        FailureCase(step: .verifyBuild, mismatch: false, policy: .rollback, expectedStatus: .running, expectedRollback: [.rollbackPath, .resendQueue, .unfreeze]),
        FailureCase(step: .verifyBuild, mismatch: false, policy: .hold, expectedStatus: .running, expectedRollback: [.rollbackPath, .resendQueue, .unfreeze]),
        FailureCase(step: .verifyIPs, mismatch: true, policy: .hold, expectedStatus: .held, expectedRollback: []),
        FailureCase(step: .verifyBuild, mismatch: true, policy: .hold, expectedStatus: .held, expectedRollback: []),
        FailureCase(step: .switchPath, mismatch: false, policy: .hold, expectedStatus: .running, expectedRollback: [.rollbackPath, .resendQueue, .unfreeze]),
        FailureCase(step: .resendQueue, mismatch: false, policy: .rollback, expectedStatus: .held, expectedRollback: []),
        FailureCase(step: .unfreeze, mismatch: false, policy: .rollback, expectedStatus: .held, expectedRollback: []),
    ]

    @Test(arguments: failures)
    func aFailedStepTurnsBackOrHolds(_ testCase: FailureCase) {
        var machine = Self.forward(until: testCase.step, policy: testCase.policy)
        let move = Move(testCase.step)
        machine.record(Self.entry(move, .intent))
        machine.record(Self.entry(move, .failed, mismatch: testCase.mismatch, message: "boom"))
        #expect(machine.status == testCase.expectedStatus)
        #expect(machine.rollbackSteps == testCase.expectedRollback)
        if testCase.expectedStatus == .held {
            guard case .finish(.held, let reason) = machine.action else {
                Issue.record("expected a hold, got \(machine.action)")
                return
            }
            #expect(reason?.contains("boom") == true)
            return
        }
        // The rollback runs its steps in order, then the cut-over ends rolled back.
        var undone: [StepName] = []
        while case .run(let next, _) = machine.action {
            #expect(next.rollback)
            undone.append(next.step)
            machine.record(Self.entry(next, .intent))
            machine.record(Self.entry(next, .done))
        }
        #expect(undone == testCase.expectedRollback)
        guard case .finish(.rolledBack, let reason) = machine.action else {
            Issue.record("expected a rollback, got \(machine.action)")
            return
        }
        #expect(reason?.contains("boom") == true)
    }

    @Test func retryableFailuresRetryWithTheSameMoveUntilAttemptsRunOut() {
        var machine = Self.forward(until: .switchPath)
        let move = Move(.switchPath)
        for attempt in 1...3 {
            #expect(machine.action == .run(move, attempt: attempt))
            machine.record(Self.entry(move, .intent, attempt: attempt))
            let phase = machine.phase(for: .retryable("timeout"))
            #expect(phase == (attempt < 3 ? .retry : .failed))
            machine.record(Self.entry(move, phase, attempt: attempt, message: "timeout"))
        }
        #expect(machine.rollingBack)
        #expect(machine.next == Move(.rollbackPath, rollback: true))
    }

    @Test func terminalFailuresDoNotRetry() {
        var machine = Self.forward(until: .freeze)
        machine.record(Self.entry(Move(.freeze), .intent))
        #expect(machine.phase(for: .terminal("refused")) == .failed)
        #expect(machine.phase(for: .mismatch("ips")) == .failed)
    }

    @Test func aFailedRollbackStepHolds() {
        var machine = Self.forward(until: .verifyIPs)
        machine.record(Self.entry(Move(.verifyIPs), .intent))
        machine.record(Self.entry(Move(.verifyIPs), .failed, mismatch: true, message: "ips"))
        let back = Move(.rollbackPath, rollback: true)
        machine.record(Self.entry(back, .intent))
        machine.record(Self.entry(back, .failed, message: "unreachable"))
        #expect(machine.status == .held)
        guard case .finish(.held, let reason) = machine.action else { return }
        #expect(reason?.contains("rollback could not complete") == true)
    }

    @Test func anIntentWithoutResultResumesTheSameMoveAndAttempt() {
        var machine = Self.forward(until: .switchPath)
        machine.record(Self.entry(Move(.switchPath), .intent, attempt: 2))
        // Killed here: a new process replays the journal and repeats the call with the same key.
        let replayed = CutoverMachine.replay(machine.completed.flatMap { [Self.entry($0, .intent), Self.entry($0, .done)] }
                                             + [Self.entry(Move(.switchPath), .intent, attempt: 2)], maxAttempts: 3)
        #expect(replayed.action == .run(Move(.switchPath), attempt: 2))
        #expect(machine.action == replayed.action)
        #expect(replayed.attempted.contains(.switchPath))
    }

    @Test func theWindowEndingTurnsBackOnlyBeforeThePointOfNoReturn() {
        var early = Self.forward(until: .verifyIPs)
        early.record(Self.entry(Move(.verifyIPs), .aborted, message: "window ends"))
        #expect(early.rollingBack)
        #expect(early.rollbackSteps == [.rollbackPath, .resendQueue, .unfreeze])

        var late = Self.forward(until: .unfreeze)
        late.record(Self.entry(Move(.unfreeze), .aborted, message: "window ends"))
        #expect(!late.rollingBack)
        #expect(late.next == Move(.unfreeze))
    }

    @Test func anOperatorResumeReverifiesAfterAVerificationHold() {
        var machine = Self.forward(until: .verifyIPs, policy: .hold)
        machine.record(Self.entry(Move(.verifyIPs), .intent))
        machine.record(Self.entry(Move(.verifyIPs), .failed, mismatch: true, message: "ips"))
        #expect(machine.isHeldOnVerification)
        machine.record(Self.entry(Move(.verifyIPs), .resumed))
        #expect(machine.status == .running)
        #expect(machine.action == .run(Move(.verifyIPs), attempt: 1))
        #expect(machine.remaining.map(\.step) == [.verifyIPs, .verifyBuild, .resendQueue, .unfreeze])
    }

    @Test func anOperatorResumeRetriesAStepThatFailedPastThePointOfNoReturn() {
        var machine = Self.forward(until: .unfreeze)
        machine.record(Self.entry(Move(.unfreeze), .intent))
        machine.record(Self.entry(Move(.unfreeze), .failed, message: "timeout"))
        #expect(machine.status == .held)
        machine.record(Self.entry(Move(.unfreeze), .resumed))
        #expect(machine.action == .run(Move(.unfreeze), attempt: 1))
    }

    @Test func remainingListsWhatADryRunShows() {
        let machine = Self.forward(until: .verifyBuild)
        #expect(machine.remaining.map(\.step) == [.verifyBuild, .resendQueue, .unfreeze])
        #expect(CutoverMachine().remaining.map(\.step) == CutoverMachine.forwardSteps)
    }

    @Test func theWindowEndingDropsTheForwardMoveInFlight() {
        var machine = Self.forward(until: .switchPath)
        machine.record(Self.entry(Move(.switchPath), .intent))
        machine.record(Self.entry(Move(.switchPath), .retry, message: "error"))
        machine.record(Self.entry(Move(.switchPath), .aborted, message: "window ends"))
        // The switch is not tried again; what it may have done is undone.
        #expect(machine.next == Move(.rollbackPath, rollback: true))
        #expect(machine.remaining.map(\.step) == [.rollbackPath, .resendQueue, .unfreeze])
    }

    @Test func replaySkipsEntriesFromAHolderThatLostItsLease() {
        func stamped(_ move: Move, _ phase: JournalEntry.Phase, token: Int64) -> JournalEntry {
            var entry = Self.entry(move, phase)
            entry.fencingToken = FencingToken(token)
            return entry
        }
        let entries = [
            stamped(Move(.freeze), .intent, token: 7), stamped(Move(.freeze), .done, token: 7),
            // A new holder (token 9) takes over and turns back...
            stamped(Move(.snapshotQueue), .aborted, token: 9),
            // ...and the old holder, unaware, journals an intent it is then refused for.
            stamped(Move(.snapshotQueue), .intent, token: 7),
        ]
        let machine = CutoverMachine.replay(entries)
        #expect(machine.rollingBack)
        #expect(!machine.attempted.contains(.snapshotQueue))
        #expect(machine.next == Move(.unfreeze, rollback: true))
    }

    /// A failure of any rollback step holds the group, whatever made it turn back.
    @Test(arguments: [StepName.rollbackPath, .resendQueue, .unfreeze])
    func aFailedRollbackStepHoldsWhicheverItIs(_ failing: StepName) {
        var machine = Self.forward(until: .verifyIPs)
        machine.record(Self.entry(Move(.verifyIPs), .intent))
        machine.record(Self.entry(Move(.verifyIPs), .failed, mismatch: true, message: "ips"))
        for step in machine.rollbackSteps {
            let back = Move(step, rollback: true)
            machine.record(Self.entry(back, .intent))
            if step == failing {
                machine.record(Self.entry(back, .failed, message: "unreachable"))
                break
            }
            machine.record(Self.entry(back, .done))
        }
        #expect(machine.status == .held)
        #expect(machine.action == .finish(.held, reason: "rollback could not complete: unreachable"))
    }

    /// Entries that change nothing: a `fenced` refusal (whoever wrote it), a `resumed` on a
    /// cut-over that is not held, and an `aborted` once the rollback is already running.
    @Test func entriesThatChangeNothingLeaveTheMachineAsItWas() {
        let before = Self.forward(until: .switchPath)
        var fenced = before
        fenced.record(Self.entry(Move(.switchPath), .fenced, message: "stale token"))
        #expect(fenced == before)
        var resumed = before
        resumed.record(Self.entry(Move(.switchPath), .resumed))
        #expect(resumed == before)

        var rolling = Self.forward(until: .verifyIPs)
        rolling.record(Self.entry(Move(.verifyIPs), .aborted, message: "window ends"))
        let turning = rolling
        rolling.record(Self.entry(Move(.rollbackPath, rollback: true), .aborted, message: "window ends again"))
        #expect(rolling == turning)
        #expect(rolling.next == Move(.rollbackPath, rollback: true))
    }

    /// After the rollback's last step the cut-over ends rolled back, with the reason it turned.
    @Test func aCompletedRollbackEndsRolledBack() {
        var machine = Self.forward(until: .snapshotQueue)
        machine.record(Self.entry(Move(.snapshotQueue), .intent))
        machine.record(Self.entry(Move(.snapshotQueue), .failed, message: "queue locked"))
        #expect(machine.rollbackSteps == [.resendQueue, .unfreeze])
        for step in machine.rollbackSteps {
            machine.record(Self.entry(Move(step, rollback: true), .intent))
            machine.record(Self.entry(Move(step, rollback: true), .done))
        }
        #expect(machine.status == .rolledBack)
        #expect(machine.action == .finish(.rolledBack, reason: "snapshot-queue failed: queue locked"))
    }
}
