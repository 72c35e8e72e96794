/// What the planner decided for one cut-over group now.
public struct GroupPlan: Sendable {
    public enum Decision: Sendable, Hashable {
        /// On target; never moved by Sendpath.
        case inSync
        /// On target after a completed cut-over.
        case migrated
        /// Start a cut-over now (prepare-target first when `needsPrepare`).
        case start
        /// Continue an unfinished cut-over (or a held one an operator resumed).
        case resume
        /// Blocked, but prepare-target can run now (it is allowed before the window).
        case prepare
        case blocked
        case held
        /// Rolled back as often as allowed in this window.
        case rolledBack
    }

    public var group: CutoverGroup
    public var wave: Wave
    public var decision: Decision
    /// Every gate that failed, most important first.
    public var reasons: [BlockReason]
    public var needsPrepare: Bool
    /// The moves an apply would run now, in order.
    public var steps: [CutoverMachine.Move]
    /// The unfinished (or resumed) cut-over.
    public var resuming: CutoverRecord?
    /// The group's latest cut-over, finished or not.
    public var latest: CutoverRecord?
    public var expectedDuration: Duration
    /// A remark for the operator (for example a retry after a rollback).
    public var note: String?
    /// For a resumed cut-over whose journal already shows its end (only the record is missing).
    public var finishing: CutoverOutcome?
    /// For a resumed cut-over: instances outside it that now send from one of its prefixes
    /// (it turns back, or holds past the point of no return, before its next move).
    public var intruders: [String] = []

    /// The status its instances report.
    public var status: InstanceStatus {
        switch decision {
        case .inSync: .inSync
        case .migrated: .migrated
        case .start: .pending
        case .resume:
            switch finishing {
            case .completed: .migrated
            case .rolledBack: .rolledBack
            case .held: .held
            case nil: .inProgress
            }
        case .prepare, .blocked: .blocked
        case .held: .held
        case .rolledBack: .rolledBack
        }
    }
}

/// A whole plan: one decision per group in scope, and notices to record when applied.
public struct Plan: Sendable {
    public var at: Timestamp
    public var groups: [GroupPlan]
    /// Manifest-declared notices seen for the first time: recorded by an apply, so that a
    /// later change of window or members makes them stale.
    public var noticesToRecord: [NoticeRecord]
}

/// Everything the planner looks at. Observations cover the whole fleet (gates look at
/// other waves and at each tenant's non-production).
public struct PlanInput: Sendable {
    public var fleet: Fleet
    public var observedInstances: [String: ObservedInstance]
    public var observedPrefixes: [AddressBlock: ObservedPrefix]
    public var cutovers: [CutoverRecord]
    public var notices: [String: NoticeRecord]
    public var now: Timestamp
    /// Group ids to plan; `nil` for all.
    public var scope: Set<String>?
    /// Held groups an operator asked to resume.
    public var resumeHeld: Set<String>
    public var maxAttempts: Int
    public var maxRollbacksPerWindow: Int
    /// Suspensions, resumes and approvals recorded by operators.
    public var controls: OperatorControls

    public init(fleet: Fleet, observedInstances: [String: ObservedInstance], observedPrefixes: [AddressBlock: ObservedPrefix],
                cutovers: [CutoverRecord], notices: [String: NoticeRecord], now: Timestamp, scope: Set<String>? = nil,
                resumeHeld: Set<String> = [], maxAttempts: Int = 4, maxRollbacksPerWindow: Int = 3,
                controls: OperatorControls = .none) {
        self.controls = controls
        self.fleet = fleet
        self.observedInstances = observedInstances
        self.observedPrefixes = observedPrefixes
        self.cutovers = cutovers
        self.notices = notices
        self.now = now
        self.scope = scope
        self.resumeHeld = resumeHeld
        self.maxAttempts = maxAttempts
        self.maxRollbacksPerWindow = maxRollbacksPerWindow
    }
}
