/// One line of the journal: a step's intent before its side effect, and its result after.
public struct JournalEntry: Sendable, Hashable, Codable {
    public enum Phase: String, Sendable, Hashable, Codable {
        /// Written before the provider call.
        case intent
        /// The call succeeded.
        case done
        /// The call failed in a way worth retrying; another attempt follows.
        case retry
        /// The step failed for good (retries exhausted, verification mismatch, or refused).
        case failed
        /// The cut-over turned back before this step: its window is ending.
        case aborted
        /// An operator resumed a held cut-over (`reconcile --resume-held`).
        case resumed
        /// The provider refused this holder's call: a newer lease holder has the group. Kept for
        /// the record; replay ignores it.
        case fenced
    }

    /// The cut-over this belongs to; `nil` for a prepare-target outside a cut-over.
    public var cutoverID: String?
    public var group: String
    public var step: StepName
    /// Whether the step runs on the way back (after a failure).
    public var rollback: Bool
    public var phase: Phase
    public var attempt: Int
    public var idempotencyKey: String
    public var fencingToken: FencingToken
    public var at: Timestamp
    /// How long the call took (results only).
    public var duration: Duration?
    public var detail: StepDetail?
    /// The lease holder id that wrote the entry.
    public var holder: String

    public init(cutoverID: String?, group: String, step: StepName, rollback: Bool = false, phase: Phase, attempt: Int,
                idempotencyKey: String, fencingToken: FencingToken, at: Timestamp, duration: Duration? = nil,
                detail: StepDetail? = nil, holder: String) {
        self.cutoverID = cutoverID
        self.group = group
        self.step = step
        self.rollback = rollback
        self.phase = phase
        self.attempt = attempt
        self.idempotencyKey = idempotencyKey
        self.fencingToken = fencingToken
        self.at = at
        self.duration = duration
        self.detail = detail
        self.holder = holder
    }
}

/// What a step recorded: its results, or why it failed.
public struct StepDetail: Sendable, Hashable, Codable {
    public var message: String?
    public var snapshots: [QueueSnapshot]?
    public var resends: [ResendResult]?
    /// A provider error code, when the step failed on one.
    public var errorCode: ProviderError.Code?
    /// For a verification step that failed: the observed state differed from the expected one.
    public var mismatch: Bool?
    /// For a `failed` entry: what the machine decided when it was written (turn back or
    /// hold). Replay follows it whatever the policy says later.
    public var decision: FailureDecision?

    public init(message: String? = nil, snapshots: [QueueSnapshot]? = nil, resends: [ResendResult]? = nil,
                errorCode: ProviderError.Code? = nil, mismatch: Bool? = nil, decision: FailureDecision? = nil) {
        self.message = message
        self.snapshots = snapshots
        self.resends = resends
        self.errorCode = errorCode
        self.mismatch = mismatch
        self.decision = decision
    }
}

/// What a cut-over does after a step failed for good, as journalled with the failure.
public enum FailureDecision: String, Sendable, Hashable, Codable {
    /// Undo what may have happened and return to the source path.
    case turnBack = "turn-back"
    /// Stay as it is (frozen) until an operator resumes it.
    case hold
}

/// How a cut-over ended.
public enum CutoverOutcome: String, Sendable, Hashable, Codable {
    case completed
    case rolledBack = "rolled-back"
    case held
}

/// One cut-over of one group, with its journal.
public struct CutoverRecord: Sendable, Hashable, Codable {
    /// `<group>#<n>`, n counting the group's cut-overs from 1.
    public var id: String
    public var group: String
    public var wave: String
    /// Member instance names, sorted.
    public var members: [String]
    /// The window the cut-over ran in (retries are counted per window).
    public var window: Window
    public var startedAt: Timestamp
    public var finishedAt: Timestamp?
    public var outcome: CutoverOutcome?
    /// Why it rolled back or is held.
    public var reason: String?
    public var baseline: CutoverBaseline
    public var entries: [JournalEntry]

    /// The `n` of `<group>#<n>`.
    public var number: Int { Int(id.split(separator: "#").last ?? "") ?? 0 }

    public init(id: String, group: String, wave: String, members: [String], window: Window, startedAt: Timestamp,
                finishedAt: Timestamp? = nil, outcome: CutoverOutcome? = nil, reason: String? = nil,
                baseline: CutoverBaseline, entries: [JournalEntry] = []) {
        self.id = id
        self.group = group
        self.wave = wave
        self.members = members
        self.window = window
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.outcome = outcome
        self.reason = reason
        self.baseline = baseline
        self.entries = entries
    }
}

/// A wave's notice as announced: what must stay unchanged for it to remain valid.
public struct NoticeRecord: Sendable, Hashable, Codable {
    public enum Source: String, Sendable, Hashable, Codable {
        /// Recorded by `sendpath notify`.
        case recorded
        /// Declared in the Wave's `notice.sentAt` and first seen by Sendpath at `recordedAt`.
        case manifest
    }

    public var wave: String
    public var sentAt: Timestamp
    public var window: Window
    /// Instance names announced, sorted.
    public var members: [String]
    public var expectedDuration: Duration
    public var source: Source
    public var recordedAt: Timestamp

    public init(wave: String, sentAt: Timestamp, window: Window, members: [String], expectedDuration: Duration,
                source: Source, recordedAt: Timestamp) {
        self.wave = wave
        self.sentAt = sentAt
        self.window = window
        self.members = members
        self.expectedDuration = expectedDuration
        self.source = source
        self.recordedAt = recordedAt
    }

    // In JSON the expected duration is a number of seconds (`expectedDurationSeconds`), as
    // elsewhere in Sendpath's output, not Swift's `[seconds, attoseconds]`.
    enum CodingKeys: String, CodingKey {
        case wave, sentAt, window, members, expectedDurationSeconds, source, recordedAt
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let seconds = try container.decode(Double.self, forKey: .expectedDurationSeconds)
        guard let expectedDuration = Duration(jsonSeconds: seconds) else {
            throw DecodingError.dataCorruptedError(forKey: .expectedDurationSeconds, in: container,
                                                   debugDescription: "\(seconds) is not a number of seconds from 0 to 9e9")
        }
        self.init(wave: try container.decode(String.self, forKey: .wave),
                  sentAt: try container.decode(Timestamp.self, forKey: .sentAt),
                  window: try container.decode(Window.self, forKey: .window),
                  members: try container.decode([String].self, forKey: .members),
                  expectedDuration: expectedDuration,
                  source: try container.decode(Source.self, forKey: .source),
                  recordedAt: try container.decode(Timestamp.self, forKey: .recordedAt))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(wave, forKey: .wave)
        try container.encode(sentAt, forKey: .sentAt)
        try container.encode(window, forKey: .window)
        try container.encode(members, forKey: .members)
        try container.encode(expectedDuration.seconds, forKey: .expectedDurationSeconds)
        try container.encode(source, forKey: .source)
        try container.encode(recordedAt, forKey: .recordedAt)
    }
}

/// What a run applied and who ran it: the manifests (their digest, and the Git commit when
/// they are in a Git work tree) and the operating-system user (the host is the holder's).
public struct RunRevision: Sendable, Hashable, Codable {
    /// ``ManifestOptions``' digest of the manifest files read (`fnv1a64:` and 16 hex digits).
    public var manifestDigest: String
    /// `git rev-parse HEAD` of the work tree holding the manifests; `nil` outside Git (or without git).
    public var gitCommit: String?
    /// Whether the manifests had uncommitted changes (`git status --porcelain` over their paths).
    public var gitDirty: Bool?
    public var user: String?

    public init(manifestDigest: String, gitCommit: String? = nil, gitDirty: Bool? = nil, user: String? = nil) {
        self.manifestDigest = manifestDigest
        self.gitCommit = gitCommit
        self.gitDirty = gitDirty
        self.user = user
    }

    /// `abc1234` or `abc1234 (dirty)`, or the digest outside Git.
    public var shortDescription: String {
        guard let gitCommit else { return "manifests \(manifestDigest)" }
        return String(gitCommit.prefix(12)) + (gitDirty == true ? " (dirty)" : "")
    }
}

/// One run of a command, for history and `status`.
public struct RunRecord: Sendable, Hashable, Codable {
    public var id: String
    public var command: String
    public var holder: LeaseHolder
    public var dryRun: Bool
    public var startedAt: Timestamp
    public var finishedAt: Timestamp?
    public var outcome: Outcome?
    public var summary: [String: Int]
    /// What was applied and by whom (runs recorded before this was kept have none).
    public var revision: RunRevision?
    /// Cut-over groups the run worked on (started, resumed, rolled back or prepared), sorted.
    public var groups: [String]?

    public init(id: String, command: String, holder: LeaseHolder, dryRun: Bool, startedAt: Timestamp,
                finishedAt: Timestamp? = nil, outcome: Outcome? = nil, summary: [String: Int] = [:],
                revision: RunRevision? = nil, groups: [String]? = nil) {
        self.revision = revision
        self.groups = groups
        self.id = id
        self.command = command
        self.holder = holder
        self.dryRun = dryRun
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.outcome = outcome
        self.summary = summary
    }
}
