import Testing
import SendpathController
import SendpathCore
import SendpathSimulator

/// Every fault effect on every step: nothing lost, nothing sent twice, and the outcome the
/// contract promises (migrated after retries, rolled back, held, or failed).
@Suite("Faults on every step")
struct FaultTests {
    struct Case: Sendable, CustomStringConvertible {
        var step: StepName
        var effect: FaultEffect
        var count: Int
        var policy: String = ""
        var extra: [FaultRule] = []
        /// b1's status after the apply.
        var status: InstanceStatus
        /// Whether `simulator check` passes afterwards (false when b1 is held frozen).
        var checkOK: Bool = true
        var description: String { "\(effect.rawValue)×\(count) on \(step.rawValue)\(policy.isEmpty ? "" : " (\(policy))")" }
    }

    static let verifyFailure = FaultRule(instance: "b1", operation: .switchPath, effect: .changeIPs, count: 1)

    static let cases: [Case] = {
        var cases: [Case] = []
        // Transient faults that pass within the attempts: retried, then migrated.
        for step in StepName.forward {
            for effect in [FaultEffect.error, .timeout] {
                cases.append(Case(step: step, effect: effect, count: 1, status: .migrated))
            }
        }
        // Faults that outlast the attempts: before the point of no return the group rolls back;
        // prepare-target changes nothing and fails; resend-queue and unfreeze hold.
        for step in StepName.forward {
            for effect in [FaultEffect.error, .timeout] {
                let status: InstanceStatus = switch step {
                case .prepareTarget: .failed
                case .resendQueue, .unfreeze: .held
                default: .rolledBack
                }
                // A timed-out unfreeze did happen (the answer was lost): held, but nothing stays frozen.
                let frozen = status == .held && !(step == .unfreeze && effect == .timeout)
                cases.append(Case(step: step, effect: effect, count: 10, status: status, checkOK: !frozen))
            }
        }
        // rollback-path failing while undoing a failed verification: held.
        for effect in [FaultEffect.error, .timeout] {
            cases.append(Case(step: .rollbackPath, effect: effect, count: 10, extra: [verifyFailure], status: .held, checkOK: false))
            cases.append(Case(step: .rollbackPath, effect: effect, count: 1, extra: [verifyFailure], status: .rolledBack))
        }
        // Changed IPs or build: what the verifications catch rolls back (or holds with `hold`).
        let changes: [(StepName, FaultEffect, InstanceStatus, Bool)] = [
            (.prepareTarget, .changeIPs, .migrated, true),     // changed on the source: left behind by the move
            (.freeze, .changeIPs, .migrated, true),
            (.snapshotQueue, .changeIPs, .migrated, true),
            (.switchPath, .changeIPs, .rolledBack, true),
            (.verifyIPs, .changeIPs, .rolledBack, true),
            (.verifyBuild, .changeIPs, .rolledBack, true),     // verify-build looks at the IPs once more before the resend
            (.resendQueue, .changeIPs, .held, false),          // unfreeze refuses to let undeclared IPs send
            (.unfreeze, .changeIPs, .migrated, true),          // after the move: drift for the next run
            (.prepareTarget, .changeBuild, .migrated, true),
            (.freeze, .changeBuild, .migrated, true),
            (.snapshotQueue, .changeBuild, .migrated, true),
            (.switchPath, .changeBuild, .rolledBack, true),
            (.verifyIPs, .changeBuild, .rolledBack, true),
            (.verifyBuild, .changeBuild, .rolledBack, true),
            (.resendQueue, .changeBuild, .migrated, true),
            (.unfreeze, .changeBuild, .migrated, true),
        ]
        for (step, effect, status, ok) in changes {
            cases.append(Case(step: step, effect: effect, count: 1, status: status, checkOK: ok))
        }
        cases.append(Case(step: .rollbackPath, effect: .changeIPs, count: 1, extra: [verifyFailure], status: .held, checkOK: false))
        cases.append(Case(step: .rollbackPath, effect: .changeBuild, count: 1, extra: [verifyFailure], status: .rolledBack))
        // With onVerificationFailure: hold, a failed verification stays frozen for a human.
        cases.append(Case(step: .switchPath, effect: .changeIPs, count: 1, policy: "onVerificationFailure: hold", status: .held, checkOK: false))
        cases.append(Case(step: .switchPath, effect: .changeBuild, count: 1, policy: "onVerificationFailure: hold", status: .held, checkOK: false))
        return cases
    }()

    /// Each case twice: with the simulator in process, and over the provider HTTP API.
    @Test(arguments: cases, EngineFixture.Transport.allCases)
    func faultOutcome(_ testCase: Case, over transport: EngineFixture.Transport) async throws {
        let rule = FaultRule(instance: "b1", operation: testCase.step, effect: testCase.effect, count: testCase.count)
        let fixture = try await EngineFixture(faults: [rule] + testCase.extra, policy: testCase.policy)
        defer { fixture.remove() }
        let report = try await fixture.withProvider(transport) { provider in
            try await fixture.reconciler(scope: ["pfx-b"], provider: provider).run()
        }
        #expect(report.status(of: "b1") == testCase.status, "\(report.instances.first?.reason ?? "")")
        let expected: Outcome = switch testCase.status {
        case .migrated: .converged
        case .rolledBack: .rolledBack
        case .held: .held
        default: .error
        }
        #expect(report.outcome == expected)
        let check = try await fixture.simulator.check()
        #expect(check.messages.lost == 0)
        #expect(check.messages.duplicated == 0)
        #expect(check.doubleAdvertisements == 0)
        #expect(check.ok == testCase.checkOK, "\(check)")
        if !testCase.checkOK {
            #expect(check.frozen == ["b1"])
            #expect(check.messages.stranded == 0 || testCase.step == .rollbackPath)
        } else {
            #expect(check.frozen.isEmpty)
        }
    }
}
