public import SendpathCore

/// Gauges read off the journal: what is open right now.
public struct JournalGauges: Sendable, Hashable {
    /// Cut-overs begun and not ended, plus held ones.
    public var groupsInProgress: Int
    /// Members of those cut-overs frozen by them and not unfrozen since.
    public var instancesFrozen: Int
    /// Messages in snapshots that no resend has covered yet.
    public var messagesAwaitingResend: Int
    /// Per group (as its cut-over names it), the members its open cut-over keeps frozen.
    public var frozenByGroup: [String: Int]
    /// Suspensions in force: `everything` for one of every wave, else the suspended waves.
    public var suspended: [String] = []
    /// Per reason code, the groups blocked by it in the pass's report (the operators'
    /// controls among them: suspended, awaiting-approval, canary, failure-budget).
    public var blockedGroups: [ReasonCode: Int] = [:]

    public init(cutovers: [CutoverRecord]) {
        var groups = 0, frozen = 0, awaiting = 0
        var byGroup: [String: Int] = [:]
        var latest: [String: CutoverRecord] = [:]
        for record in cutovers { latest[record.group] = record }
        for record in latest.values where record.outcome == nil || record.outcome == .held {
            groups += 1
            let done = record.entries.filter { $0.phase == .done }
            let froze = done.contains { $0.step == .freeze && !$0.rollback }
            let thawed = done.contains { $0.step == .unfreeze }
            if froze && !thawed {
                frozen += record.members.count
                byGroup[record.group] = record.members.count
            }
            let snapshot = done.last { $0.step == .snapshotQueue && !$0.rollback }?.detail?.snapshots ?? []
            if !done.contains(where: { $0.step == .resendQueue }) {
                awaiting += snapshot.reduce(0) { $0 + $1.messageCount }
            }
        }
        groupsInProgress = groups
        instancesFrozen = frozen
        messagesAwaitingResend = awaiting
        frozenByGroup = byGroup
    }

    /// Fills `blockedGroups` from a pass's report: each group once, under its first reason.
    public mutating func count(blockedIn report: ReconcileReport) {
        var seen = Set<String>()
        var counts: [ReasonCode: Int] = [:]
        for instance in report.instances where instance.status == .blocked {
            guard let code = instance.reasonCode, seen.insert(instance.group).inserted else { continue }
            counts[code, default: 0] += 1
        }
        blockedGroups = counts
    }
}
