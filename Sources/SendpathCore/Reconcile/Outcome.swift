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
        case .usage: 64
        case .invalid: 65
        case .locked: 75
        }
    }

    /// Rank among the outcomes that combine (higher wins); `nil` for those that stop a run.
    var rank: Int? {
        switch self {
        case .converged: 0
        case .changesPending: 2
        case .waiting: 3
        case .rolledBack: 4
        case .held: 5
        case .error, .usage, .invalid, .locked: nil
        }
    }

    /// The combined outcome of two parts of one run.
    public func combined(with other: Outcome) -> Outcome {
        guard let a = rank else { return self }
        guard let b = other.rank else { return other }
        return a >= b ? self : other
    }
}
