public import SendpathCore

/// How one reconcile run behaves.
public struct ReconcileOptions: Sendable {
    public var dryRun: Bool
    public var detailedExitCode: Bool
    /// Group ids to act on; `nil` for all.
    public var scope: Set<String>?
    /// Held (or too-often rolled back) groups an operator asked to resume.
    public var resumeHeld: Set<String>
    /// Cut-over groups in flight at once across all waves (each wave's maxParallel also applies).
    public var maxParallel: Int?
    public var retry: RetryPolicy
    public var maxRollbacksPerWindow: Int
    /// Set on SIGTERM: groups in flight finish their cut-over (or its rollback); no new group starts.
    public var stop: StopRequest?
    /// `--plan FILE`: apply exactly this plan, or refuse with ``StalePlanError``.
    public var savedPlan: SavedPlan?
    /// The digest of the manifest files (for saved plans).
    public var manifestDigest: String
    /// What this run applies and who runs it, for the run history (`sendpath history`).
    public var revision: RunRevision?
    /// A long-running controller's reader of the journal, kept from pass to pass: each pass
    /// reads only what was appended since (``JournalFollower``). `nil`: a one-shot follower reads it
    /// (a page at a time, ended cut-overs compacted).
    public var journal: JournalFollower?

    public init(dryRun: Bool = false, detailedExitCode: Bool = false, scope: Set<String>? = nil, resumeHeld: Set<String> = [],
                maxParallel: Int? = nil, retry: RetryPolicy = RetryPolicy(), maxRollbacksPerWindow: Int = 3,
                stop: StopRequest? = nil, savedPlan: SavedPlan? = nil, manifestDigest: String = "") {
        self.savedPlan = savedPlan
        self.manifestDigest = manifestDigest
        self.dryRun = dryRun
        self.detailedExitCode = detailedExitCode
        self.scope = scope
        self.resumeHeld = resumeHeld
        self.maxParallel = maxParallel
        self.retry = retry
        self.maxRollbacksPerWindow = maxRollbacksPerWindow
        self.stop = stop
    }
}

/// Receives live progress, one call when a step starts and one when it ends.
public protocol ReconcileProgress: Sendable {
    func stepStarted(group: String, move: CutoverMachine.Move, attempt: Int, at: Timestamp)
    func stepFinished(group: String, move: CutoverMachine.Move, phase: JournalEntry.Phase, duration: Duration, detail: String?)
    /// This reconciler was stopped for a stale fencing token: another one holds the group now.
    func fencedOut(group: String, by fence: Fence, detail: String)
}

extension ReconcileProgress {
    public func fencedOut(group: String, by fence: Fence, detail: String) {}
}

/// A stop request (SIGTERM): groups in flight finish their cut-over; nothing new starts.
public final class StopRequest: Sendable {
    private let flag = Mutex(false)
    public init() {}
    public func request() { flag.withLock { $0 = true } }
    public var isRequested: Bool { flag.withLock { $0 } }
}

import Synchronization
