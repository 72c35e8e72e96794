public import SendpathCore

/// What the schedule page shows: every wave of a plan or a status on one time axis, with its
/// window, its notice and the notice deadline, the bake it waits for, the waves it comes
/// after, and its cut-over groups with their statuses.
///
/// A value made from a report, the manifests and the store's notices and cut-overs, with no
/// I/O of its own (``Reconciler/schedule(for:title:)`` reads the store); ``ScheduleHTML``
/// renders it. Names and reasons are kept as they came: the renderer escapes them.
public struct Schedule: Sendable, Hashable {
    /// "Plan" for a dry run, "Status" for `status`.
    public var title: String
    public var at: Timestamp
    public var dryRun: Bool
    public var outcome: Outcome
    /// The exit status of the command that printed the page (the report's).
    public var exitCode: Int32
    /// Instances per status.
    public var summary: [InstanceStatus: Int]
    /// The waves that hold a group of the report, in the manifests' (name) order.
    public var waves: [WaveLine]
    /// Cut-overs of the report whose wave is no longer in the manifests (pinned ones that run on).
    public var unplaced: [GroupLine]

    /// One wave: its window and the marks around it, and its groups.
    public struct WaveLine: Sendable, Hashable {
        public var name: String
        public var window: Window
        public var maxParallel: Int
        /// The waves that must complete first.
        public var after: [String]
        /// Instances in the wave (in the manifests, not only in the report's scope).
        public var instances: Int
        /// The notice in force, if any.
        public var notice: Notice?
        /// The latest time a notice can go out: the window's start minus ``leadTime``.
        public var noticeDeadline: Timestamp
        /// The lead time of the wave's strictest environment.
        public var leadTime: Duration
        public var leadEnvironment: Environment
        /// Per tenant with production in the wave and non-production elsewhere: when that
        /// non-production will have baked.
        public var bakes: [Bake]
        public var groups: [GroupLine]

        /// The latest bake, the one that decides.
        public var bakeUntil: Bake? { bakes.max { $0.until < $1.until } }
    }

    /// A wave's notice.
    public struct Notice: Sendable, Hashable {
        public var sentAt: Timestamp
        /// Recorded by `sendpath notify` (else declared in the manifest).
        public var recorded: Bool
        /// The window or the members changed since: it no longer counts.
        public var stale: Bool
        /// It went out after the deadline.
        public var late: Bool
    }

    /// When a tenant's non-production has baked (`bakeTime` after its last cut-over).
    public struct Bake: Sendable, Hashable {
        public var tenant: String
        public var until: Timestamp
        /// Not migrated yet: the earliest it can be, from the end of its last non-production window.
        public var projected: Bool
    }

    /// One cut-over group, as the report has it.
    public struct GroupLine: Sendable, Hashable {
        public var id: String
        public var instances: [String]
        public var status: InstanceStatus
        public var reasonCode: ReasonCode?
        public var reason: String?
        public var expectedDuration: Duration
        /// In progress: the step it is at (status, from the journal) or runs next (a plan).
        public var step: String?
        public var cutover: String?
    }

    public init(title: String, report: ReconcileReport, fleet: Fleet, notices: [String: NoticeRecord], cutovers: [CutoverRecord]) {
        self.title = title
        at = report.at
        dryRun = report.dryRun
        outcome = report.outcome
        exitCode = report.exitCode
        var summary: [InstanceStatus: Int] = [:]
        for (key, count) in report.summary { if let status = InstanceStatus(rawValue: key) { summary[status] = count } }
        self.summary = summary

        // The first member of each group speaks for it (members share status, reason and steps).
        var firstMember: [String: InstanceReport] = [:]
        for instance in report.instances where firstMember[instance.group] == nil { firstMember[instance.group] = instance }
        var groupsByWave: [String: [GroupLine]] = [:]
        for group in report.groups {
            groupsByWave[group.wave, default: []].append(Self.line(group, member: firstMember[group.id]))
        }

        // One pass over the instances: per wave its count, members and strictest environment;
        // per tenant its non-production (name and wave) and the waves of its production.
        var counts: [String: Int] = [:]
        var members: [String: [String]] = [:]
        var strictest: [String: Environment] = [:]
        var nonProduction: [String: [(name: String, wave: String)]] = [:]
        var productionTenants: [String: Set<String>] = [:]
        let policy = fleet.policy
        for instance in fleet.instances {
            let wave = instance.wave.value
            counts[wave, default: 0] += 1
            members[wave, default: []].append(instance.name)
            if strictest[wave].map({ policy.leadTime(for: $0) < policy.leadTime(for: instance.environment) }) ?? true {
                strictest[wave] = instance.environment
            }
            if instance.environment == .prod {
                productionTenants[wave, default: []].insert(instance.tenant)
            } else {
                nonProduction[instance.tenant, default: []].append((instance.name, wave))
            }
        }
        var lastCompleted: [String: Timestamp] = [:]
        for record in cutovers where record.outcome == .completed {
            guard let finished = record.finishedAt else { continue }
            for member in record.members where lastCompleted[member].map({ $0 < finished }) ?? true { lastCompleted[member] = finished }
        }

        var waves: [WaveLine] = []
        for wave in fleet.waves {
            guard let groups = groupsByWave.removeValue(forKey: wave.name) else { continue }
            let environment = strictest[wave.name] ?? .prod
            let lead = policy.leadTime(for: environment)
            let deadline = wave.window.start - lead
            let notice = Self.notice(for: wave, stored: notices[wave.name], members: members[wave.name] ?? [], deadline: deadline)
            var bakes: [Bake] = []
            for tenant in (productionTenants[wave.name] ?? []).sorted() {
                let before = (nonProduction[tenant] ?? []).filter { $0.wave != wave.name }
                guard !before.isEmpty else { continue }
                let finished = before.compactMap { lastCompleted[$0.name] }
                if finished.count == before.count, let last = finished.max() {
                    bakes.append(Bake(tenant: tenant, until: last + policy.bakeTime, projected: false))
                } else if let end = Set(before.map(\.wave)).compactMap({ fleet.wave(named: $0)?.window.end }).max() {
                    bakes.append(Bake(tenant: tenant, until: end + policy.bakeTime, projected: true))
                }
            }
            waves.append(WaveLine(name: wave.name, window: wave.window, maxParallel: wave.maxParallel, after: wave.after.map(\.value),
                                  instances: counts[wave.name] ?? 0, notice: notice, noticeDeadline: deadline, leadTime: lead,
                                  leadEnvironment: environment, bakes: bakes, groups: groups))
        }
        self.waves = waves
        unplaced = groupsByWave.keys.sorted().flatMap { groupsByWave[$0]! }
    }

    static func line(_ group: ReconcileReport.GroupSummary, member: InstanceReport?) -> GroupLine {
        var step: String?
        if group.status == .inProgress {
            if let journal = member?.journal, let last = journal.lastStep {
                step = last + (journal.lastPhase.map { " (\($0.rawValue))" } ?? "")
            } else if let next = member?.steps.first(where: { $0.state == .pending }) {
                step = "next: " + (next.rollback == true ? "rollback/" : "") + next.name.rawValue
            }
        }
        return GroupLine(id: group.id, instances: group.instances, status: group.status, reasonCode: member?.reasonCode,
                         reason: member?.reason, expectedDuration: Duration(jsonSeconds: group.expectedDurationSeconds) ?? .zero,
                         step: step, cutover: group.cutover)
    }

    /// The notice in force, as the planner takes it: the later of the stored one and the
    /// manifest's declaration (a declared one not yet stored still describes the wave).
    static func notice(for wave: Wave, stored: NoticeRecord?, members: [String], deadline: Timestamp) -> Notice? {
        let declared = wave.noticeSentAt?.value
        if let declared, stored.map({ $0.sentAt < declared }) ?? true {
            return Notice(sentAt: declared, recorded: false, stale: false, late: declared > deadline)
        }
        guard let stored else { return nil }
        let stale = stored.window != wave.window || Set(stored.members) != Set(members)
        return Notice(sentAt: stored.sentAt, recorded: stored.source == .recorded, stale: stale, late: stored.sentAt > deadline)
    }
}
