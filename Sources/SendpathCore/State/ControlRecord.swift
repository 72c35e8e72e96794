/// One operator decision recorded in the state store (`sendpath suspend`, `resume`,
/// `approve`), so that every reconciler and controller replica sharing the store obeys it.
/// The store keeps them all, in order; ``OperatorControls`` reads the current state from them.
public struct ControlRecord: Sendable, Hashable, Codable {
    public enum Kind: String, Sendable, Hashable, Codable, CaseIterable {
        /// Nothing new starts (in the wave, or anywhere when `wave` is nil).
        case suspend
        /// Ends a suspension; also forgives the canary and failure-budget holds before it.
        case resume
        /// Lets one cut-over of a group (its `cutover` number) freeze after prepare-target.
        case approve
    }

    public var kind: Kind
    /// suspend and resume: the wave, or nil for every wave.
    public var wave: String?
    /// approve: the group and the number of the cut-over the approval counts for.
    public var group: String?
    public var cutover: Int?
    /// Who: `--by`, or user@host.
    public var by: String
    public var at: Timestamp
    public var reason: String?

    public init(kind: Kind, wave: String? = nil, group: String? = nil, cutover: Int? = nil, by: String, at: Timestamp,
                reason: String? = nil) {
        self.kind = kind
        self.wave = wave
        self.group = group
        self.cutover = cutover
        self.by = by
        self.at = at
        self.reason = reason
    }
}

/// The state the recorded controls leave, for the planner and for `status`.
///
/// - `suspend` with no wave suspends every wave; `suspend --wave W` suspends W. `resume` with
///   no wave ends every suspension; `resume --wave W` ends W's own suspension (a suspension of
///   every wave still holds W).
/// - A resume also forgives what held a wave before it: canaries that rolled back or were held
///   and the failure budget count only cut-overs that ended after the wave's last resume.
/// - An approval counts for one cut-over of one group: the number it names.
public struct OperatorControls: Sendable, Hashable {
    /// The suspension of every wave, if one is in force.
    public private(set) var everything: ControlRecord?
    /// Suspensions of single waves in force.
    public private(set) var waves: [String: ControlRecord] = [:]
    /// The last resume that covered each wave (by name), and the last resume of everything.
    private var lastResumeOfWave: [String: Timestamp] = [:]
    private var lastResumeOfEverything: Timestamp?
    private var approvals: [String: [Int: ControlRecord]] = [:]
    /// A digest of every record, in order (for saved plans).
    public private(set) var fingerprint = ""

    public static let none = OperatorControls([])

    public init(_ records: [ControlRecord]) {
        var hasher = FNV1a()
        for record in records {
            hasher.combine("\(record.kind.rawValue) \(record.wave ?? "*") \(record.group ?? "-") \(record.cutover ?? 0) \(record.at)\n".utf8)
            switch record.kind {
            case .suspend:
                if let wave = record.wave { waves[wave] = record } else { everything = record }
            case .resume:
                if let wave = record.wave {
                    waves[wave] = nil
                    lastResumeOfWave[wave] = max(lastResumeOfWave[wave] ?? record.at, record.at)
                } else {
                    everything = nil
                    waves = [:]
                    lastResumeOfEverything = max(lastResumeOfEverything ?? record.at, record.at)
                }
            case .approve:
                if let group = record.group, let number = record.cutover { approvals[group, default: [:]][number] = record }
            }
        }
        fingerprint = "\(records.count):\(String(hasher.value, radix: 16))"
    }

    /// The suspension that holds `wave`, if any (a suspension of everything first).
    public func suspension(of wave: String) -> ControlRecord? { everything ?? waves[wave] }

    /// When `wave` was last resumed (by name or with everything), if ever.
    public func lastResume(of wave: String) -> Timestamp? {
        [lastResumeOfWave[wave], lastResumeOfEverything].compactMap { $0 }.max()
    }

    /// The approval of cut-over `number` of `group`, if recorded.
    public func approval(group: String, cutover number: Int) -> ControlRecord? { approvals[group]?[number] }

    /// Whether anything is suspended now.
    public var anySuspended: Bool { everything != nil || !waves.isEmpty }
}
