/// How a command ended: the process exit code, and `outcome` in JSON.
///
/// When several apply to one run, the most serious wins: held > rolled-back > waiting >
/// changes-pending > converged. `error`, `usage`, `invalid` and `locked` stop a run.
public enum Outcome: String, Sendable, Hashable, Codable, CaseIterable {
    case converged
    case error
    case changesPending = "changes-pending"
    case waiting
    case rolledBack = "rolled-back"
    case held
    case stalePlan = "stale-plan"
    case usage
    case invalid
    case locked

    public var exitCode: Int32 {
        switch self {
        case .converged: 0
        case .error: 1
        case .changesPending: 2
        case .waiting: 3
        case .rolledBack: 4
        case .held: 5
        case .stalePlan: 6
        case .usage: 64
        case .invalid: 65
        case .locked: 75
        }
    }

    /// Rank among the outcomes that combine (higher wins); `nil` for those that stop a run.
    /// An apply ranks 5 > 4 > 3 > 0; a dry run 5 > 4 > 2 > 3 > 0: a change that can run now
    /// outranks changes that wait, so a pipeline can tell that something will happen.
    func rank(dryRun: Bool) -> Int? {
        switch self {
        case .converged: 0
        case .changesPending: dryRun ? 3 : 2
        case .waiting: dryRun ? 2 : 3
        case .rolledBack: 4
        case .held: 5
        case .error, .stalePlan, .usage, .invalid, .locked: nil
        }
    }

    /// The combined outcome of two parts of one run.
    public func combined(with other: Outcome, dryRun: Bool = false) -> Outcome {
        guard let a = rank(dryRun: dryRun) else { return self }
        guard let b = other.rank(dryRun: dryRun) else { return other }
        return a >= b ? self : other
    }
}
