/// An instance's status in a plan or after a run.
public enum InstanceStatus: String, Sendable, Hashable, Codable, CaseIterable {
    /// Already on its target path; Sendpath never moved it.
    case inSync = "in-sync"
    /// A change can run now.
    case pending
    /// A change is needed but a gate stops it now (see the reason).
    case blocked
    /// A cut-over started and has not ended.
    case inProgress = "in-progress"
    /// Moved by a completed cut-over.
    case migrated
    /// Its last cut-over was rolled back; nothing lost.
    case rolledBack = "rolled-back"
    /// Needs a human (see the reason); `reconcile --resume-held` continues it.
    case held
    /// A step failed without changing anything that sends (for example prepare-target).
    case failed

    /// What this status contributes to a run's outcome.
    public func outcome(dryRun: Bool) -> Outcome {
        switch self {
        case .inSync, .migrated: .converged
        case .pending: .changesPending
        case .inProgress: dryRun ? .changesPending : .waiting
        case .blocked: .waiting
        case .rolledBack: .rolledBack
        case .held: .held
        case .failed: .error
        }
    }
}

/// Why a change is blocked now.
public enum ReasonCode: String, Sendable, Hashable, Codable, CaseIterable {
    case windowNotOpen = "window-not-open"
    case windowClosed = "window-closed"
    case windowTooShort = "window-too-short"
    case noticeMissing = "notice-missing"
    case noticeTooLate = "notice-too-late"
    case noticeStale = "notice-stale"
    case order
    case drift
    case held
    /// `sendpath suspend`: nothing new starts until `sendpath resume`.
    case suspended
    /// The wave requires `sendpath approve` before the cut-over freezes.
    case awaitingApproval = "awaiting-approval"
    /// The wave's canary groups have not all completed and baked (or one failed).
    case canary
    /// Too many groups of the wave rolled back or were held in this window.
    case failureBudget = "failure-budget"
    /// The manifests changed under an open cut-over, which goes on as pinned at its start.
    case changedDuringCutover = "changed-during-cutover"
}

/// One gate that failed, with the sentence an operator reads.
public struct BlockReason: Sendable, Hashable, Codable, CustomStringConvertible {
    public var code: ReasonCode
    public var message: String

    public init(_ code: ReasonCode, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}

/// A step's state in a report.
public enum StepState: String, Sendable, Hashable, Codable {
    /// Will run (dry-run), or has not run yet.
    case pending
    case done
    case failed
    /// Not run: the cut-over turned back or stopped before it.
    case skipped
}

public struct StepReport: Sendable, Hashable, Codable {
    public var name: StepName
    public var state: StepState
    /// Present and true for the steps of a rollback.
    public var rollback: Bool?
    public var durationSeconds: Double?

    public init(name: StepName, state: StepState, rollback: Bool = false, duration: Duration? = nil) {
        self.name = name
        self.state = state
        self.rollback = rollback ? true : nil
        self.durationSeconds = duration?.seconds
    }
}

/// What happened to an instance's queued messages in a resend.
public struct MessageReport: Sendable, Hashable, Codable {
    public var resent: Int
    public var expired: Int
    /// Messages older than `resendMaxAge`, reported rather than sent late.
    public var expiredMessageIDs: [String]

    public init(resent: Int, expired: Int, expiredMessageIDs: [String]) {
        self.resent = resent
        self.expired = expired
        self.expiredMessageIDs = expiredMessageIDs
    }
}

/// One instance in a plan or a run's result.
public struct InstanceReport: Sendable, Hashable, Codable {
    public var name: String
    public var wave: String
    public var group: String
    public var status: InstanceStatus
    public var reason: String?
    public var reasonCode: ReasonCode?
    /// Where it sends from now (as observed); `nil` when the provider does not know it.
    public var current: SendingPath?
    public var target: SendingPath
    public var steps: [StepReport]
    public var messages: MessageReport?
    /// `status` only: what the provider reports now.
    public var observed: ObservedSummary?
    /// `status` only: the group's latest cut-over in the journal.
    public var journal: JournalSummary?

    public init(name: String, wave: String, group: String, status: InstanceStatus, reason: String? = nil,
                reasonCode: ReasonCode? = nil, current: SendingPath?, target: SendingPath, steps: [StepReport],
                messages: MessageReport? = nil) {
        self.name = name
        self.wave = wave
        self.group = group
        self.status = status
        self.reason = reason
        self.reasonCode = reasonCode
        self.current = current
        self.target = target
        self.steps = steps
        self.messages = messages
    }

    enum CodingKeys: String, CodingKey {
        case name, wave, group, status, reason, reasonCode, current, target, steps, messages, observed, journal
    }

    /// The keys SPEC §3 lists are always there (`null` when there is no reason or no observed
    /// path); the others only when they have a value.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        try container.encode(wave, forKey: .wave)
        try container.encode(group, forKey: .group)
        try container.encode(status, forKey: .status)
        try container.encode(reason, forKey: .reason)
        try container.encode(reasonCode, forKey: .reasonCode)
        try container.encode(current, forKey: .current)
        try container.encode(target, forKey: .target)
        try container.encode(steps, forKey: .steps)
        try container.encodeIfPresent(messages, forKey: .messages)
        try container.encodeIfPresent(observed, forKey: .observed)
        try container.encodeIfPresent(journal, forKey: .journal)
    }
}

/// An instance as observed, beside what its manifest declares.
public struct ObservedSummary: Sendable, Hashable, Codable {
    public var frozen: Bool
    public var sendingIPs: [IPAddress]
    public var build: String
    public var queueDepth: Int
    public var ipsMatchManifest: Bool
    public var buildMatchesManifest: Bool

    public init(frozen: Bool, sendingIPs: [IPAddress], build: String, queueDepth: Int, ipsMatchManifest: Bool, buildMatchesManifest: Bool) {
        self.frozen = frozen
        self.sendingIPs = sendingIPs
        self.build = build
        self.queueDepth = queueDepth
        self.ipsMatchManifest = ipsMatchManifest
        self.buildMatchesManifest = buildMatchesManifest
    }
}

/// The latest cut-over of an instance's group, from the journal.
public struct JournalSummary: Sendable, Hashable, Codable {
    public var cutover: String
    /// completed, rolled-back, held, or in-progress.
    public var outcome: String
    public var startedAt: Timestamp
    public var finishedAt: Timestamp?
    public var lastStep: String?
    public var lastPhase: JournalEntry.Phase?
    public var reason: String?
    /// Who wrote the last entry (lease holder id: host/pid/...).
    public var holder: String?

    public init(_ record: CutoverRecord) {
        cutover = record.id
        outcome = record.outcome?.rawValue ?? "in-progress"
        startedAt = record.startedAt
        finishedAt = record.finishedAt
        let last = record.entries.last { $0.phase != .resumed && $0.phase != .aborted }
        lastStep = last.map { $0.rollback ? "rollback/\($0.step.rawValue)" : $0.step.rawValue }
        lastPhase = last?.phase
        holder = last?.holder
        reason = record.reason
    }
}

/// The result of `reconcile` (dry-run or apply) and of `status`, as printed with `--output json`.
public struct ReconcileReport: Sendable, Hashable, Codable {
    /// What the run found or did, by the order of SPEC section 3 (a dry run: 5 > 4 > 2 > 3 > 0).
    public var outcome: Outcome
    /// The process's exit status: the outcome's code, except `changes-pending` without
    /// `--detailed-exitcode`, which exits 0 (the outcome still says changes are pending).
    public var exitCode: Int32
    public var dryRun: Bool
    public var at: Timestamp
    /// Instances per status.
    public var summary: [String: Int]
    public var instances: [InstanceReport]
    /// Per group: expected duration, for plans and notices.
    public var groups: [GroupSummary]
    /// `status`: the suspensions in force (`sendpath suspend`), oldest first.
    public var suspensions: [ControlRecord]?
    /// Runtime failures that stopped a group mid-run (the next run resumes it); they make the
    /// outcome `error`.
    public var errors: [String]?

    public struct GroupSummary: Sendable, Hashable, Codable {
        public var id: String
        public var wave: String
        public var instances: [String]
        public var status: InstanceStatus
        public var expectedDurationSeconds: Double
        public var cutover: String?

        public init(id: String, wave: String, instances: [String], status: InstanceStatus, expectedDuration: Duration, cutover: String?) {
            self.id = id
            self.wave = wave
            self.instances = instances
            self.status = status
            self.expectedDurationSeconds = expectedDuration.seconds
            self.cutover = cutover
        }
    }

    public init(dryRun: Bool, at: Timestamp, instances: [InstanceReport], groups: [GroupSummary], detailedExitCode: Bool,
                errors: [String] = []) {
        self.errors = errors.isEmpty ? nil : errors
        self.dryRun = dryRun
        self.at = at
        self.instances = instances
        self.groups = groups
        var summary: [String: Int] = [:]
        var outcome = Outcome.converged
        for instance in instances {
            summary[instance.status.rawValue, default: 0] += 1
            outcome = outcome.combined(with: instance.status.outcome(dryRun: dryRun), dryRun: dryRun)
        }
        if !errors.isEmpty { outcome = .error }
        self.summary = summary
        self.outcome = outcome
        // Without --detailed-exitcode, "changes pending" exits 0 like "converged".
        exitCode = outcome == .changesPending && !detailedExitCode ? 0 : outcome.exitCode
    }

    /// The outcome as the summary line prints it: never a different exit status than the one
    /// the process ends with.
    public var outcomeLine: String {
        exitCode == outcome.exitCode
            ? "Outcome: \(outcome.rawValue) (exit \(exitCode))"
            : "Outcome: \(outcome.rawValue) (exit \(exitCode); with --detailed-exitcode, \(outcome.exitCode))"
    }
}
