/// Open and held cut-overs, and the live groups that share an instance or a prefix with each.
///
/// A cut-over is found by what it holds, not by a group id made of prefix names: renaming a
/// prefix, or adding or removing a member, never orphans it.
struct PinnedCutovers: Sendable {
    let records: [CutoverRecord]
    private var recordsByGroup: [String: [Int]] = [:]
    private var groupsByRecord: [[CutoverGroup]]

    init(_ records: [CutoverRecord], fleet: Fleet) {
        self.records = records
        groupsByRecord = Array(repeating: [], count: records.count)
        guard !records.isEmpty else { return }
        var byInstance: [String: [Int]] = [:]
        for (index, record) in records.enumerated() {
            for member in record.members { byInstance[member, default: []].append(index) }
        }
        for group in fleet.groups {
            var found = Set(group.instances.flatMap { byInstance[$0] ?? [] })
            for (index, record) in records.enumerated() where !found.contains(index) && record.overlaps(group) { found.insert(index) }
            for index in found.sorted() {
                recordsByGroup[group.id, default: []].append(index)
                groupsByRecord[index].append(group)
            }
        }
    }

    func overlapping(_ group: CutoverGroup) -> [CutoverRecord] { (recordsByGroup[group.id] ?? []).map { records[$0] } }

    func liveGroups(of record: CutoverRecord) -> [CutoverGroup] {
        records.firstIndex { $0.id == record.id }.map { groupsByRecord[$0] } ?? []
    }
}

extension Planner {
    /// Plans an open or held cut-over from its record alone.
    static func planPinned(_ record: CutoverRecord, note: [String]?, pinned: PinnedCutovers, context: PlanContext) -> GroupPlan {
        let input = context.input
        let names = Dictionary(input.fleet.prefixes.map { ($0.cidr.value, $0.name) }, uniquingKeysWith: { first, _ in first })
        let group = record.pinnedGroup(prefixNames: record.baseline.blocks.compactMap { names[$0] }.sorted())
        let wave = input.fleet.wave(named: record.wave) ?? Wave(
            metadata: Metadata(name: Located(record.wave, at: SourceLocation(file: "", line: 0, column: 0)),
                               documentLocation: SourceLocation(file: "", line: 0, column: 0)),
            window: record.window, windowLocation: SourceLocation(file: "", line: 0, column: 0))
        let queued = group.instances.reduce(0) { $0 + (input.observedInstances[$1]?.queueDepth ?? 0) }
        var plan = GroupPlan(group: group, wave: wave, decision: .resume, reasons: [], needsPrepare: false, steps: [],
                             resuming: record, latest: record, expectedDuration: .zero, note: note?.joined(separator: "; "),
                             finishing: nil)
        var machine = CutoverMachine.replay(record, maxAttempts: input.maxAttempts, livePolicy: input.fleet.policy)
        let asked = resumeAsked(record, live: pinned.liveGroups(of: record), resumeHeld: input.resumeHeld)
        if record.outcome == .held && machine.status == .held && !asked {
            plan.decision = .held
            plan.reasons = [BlockReason(.held, "\(record.reason ?? "held by an earlier run") (cut-over \(record.id)); after fixing the cause, run 'sendpath reconcile --resume-held \(record.id)'")]
            return plan
        }
        // A held cut-over resumes only once its hold is on record (an apply finishes a hold
        // journalled by a run that died first, and resumes it on a later run if asked).
        if record.outcome == .held && machine.status == .held {
            machine.record(JournalEntry(cutoverID: record.id, group: record.group, step: machine.next?.step ?? .freeze,
                                        phase: .resumed, attempt: 0, idempotencyKey: "", fencingToken: FencingToken(0),
                                        at: input.now, holder: ""))
            plan.note = ["resuming a held cut-over: \(record.reason ?? "held")", plan.note].compactMap { $0 }.joined(separator: "; ")
        }
        for entry in interruptions(record, machine: machine, intruders: context.intruders(record, live: pinned.liveGroups(of: record)),
                                   now: input.now, livePolicy: input.fleet.policy) {
            machine.record(entry)
        }
        plan.intruders = context.intruders(record, live: pinned.liveGroups(of: record))
        plan.steps = machine.remaining
        plan.finishing = machine.status == .running ? nil : machine.action.outcome
        plan.expectedDuration = context.estimator.remaining(machine.remaining, group: group, queuedMessages: queued)
        return plan
    }

    /// Whether an operator asked to resume this cut-over: by its id, its group id (as recorded
    /// or as it is called now), or the name of one of its members.
    static func resumeAsked(_ record: CutoverRecord, live: [CutoverGroup], resumeHeld: Set<String>) -> Bool {
        guard !resumeHeld.isEmpty else { return false }
        return resumeHeld.contains(record.id) || resumeHeld.contains(record.group) || record.members.contains(where: resumeHeld.contains)
            || live.contains { resumeHeld.contains($0.id) }
    }

    /// The entries a cut-over journals before its next move when it must not go on as it is:
    /// past its turn-back time (the window ends; before the point of no return, it turns
    /// back), or with an instance outside the cut-over now sending from one of its prefixes
    /// (it would be left on a path whose prefix moved away: before the point of no return
    /// the cut-over turns back, after it the cut-over holds for a human).
    ///
    /// The engine journals exactly these before its next move, so a dry run shows what the
    /// apply does.
    public static func interruptions(_ record: CutoverRecord, machine: CutoverMachine, intruders: [String], now: Timestamp,
                                     livePolicy: Policy) -> [JournalEntry] {
        guard machine.status == .running, !machine.rollingBack, let next = machine.next else { return [] }
        let step = next.step
        if !intruders.isEmpty {
            let blocks = record.baseline.blocks.map(\.description).joined(separator: ", ")
            let message = "instance \(PlanContext.list(intruders)) now sends from an address in \(blocks), moved by this cut-over but not a member of it"
            if machine.pastPointOfNoReturn {
                return [JournalEntry(cutoverID: record.id, group: record.group, step: step, phase: .failed, attempt: 0,
                                     idempotencyKey: "", fencingToken: FencingToken(0), at: now,
                                     detail: StepDetail(message: message, decision: .hold), holder: "")]
            }
            return [JournalEntry(cutoverID: record.id, group: record.group, step: step, phase: .aborted, attempt: 0,
                                 idempotencyKey: "", fencingToken: FencingToken(0), at: now,
                                 detail: StepDetail(message: message), holder: "")]
        }
        let turnBack = record.window.end - record.baseline.policy(orLive: livePolicy).rollbackReserve
        if !machine.pastPointOfNoReturn && now >= turnBack {
            return [JournalEntry(cutoverID: record.id, group: record.group, step: step, phase: .aborted, attempt: 0,
                                 idempotencyKey: "", fencingToken: FencingToken(0), at: now,
                                 detail: StepDetail(message: "the window ends at \(record.window.end); turning back with the rollback reserve left"),
                                 holder: "")]
        }
        return []
    }

    /// A live group that overlaps an open or held cut-over but is not what it pinned: its
    /// instances outside the cut-over wait, with `changed-during-cutover`. `nil` when every
    /// instance of it belongs to the cut-over (the cut-over's plan covers them).
    static func changedDuringCutover(_ group: CutoverGroup, wave: Wave, records: [CutoverRecord],
                                     context: PlanContext) -> GroupPlan? {
        if records.count == 1 && records[0].matches(group) { return nil }
        let covered = Set(records.flatMap(\.members))
        let outside = group.instances.filter { !covered.contains($0) }
        guard !outside.isEmpty else { return nil }
        let ids = records.map(\.id).joined(separator: ", ")
        let changes = records.map { difference(group, from: $0) }.joined(separator: "; ")
        let remainder = CutoverGroup(id: group.id, wave: group.wave, instances: outside, prefixes: group.prefixes,
                                     blocks: group.blocks, target: group.target)
        return GroupPlan(group: remainder, wave: wave, decision: .blocked,
                         reasons: [BlockReason(.changedDuringCutover, "the manifests changed under the open cut-over \(ids) (\(changes)); it goes on as pinned at its start, and this group waits until it has ended")],
                         needsPrepare: false, steps: [], resuming: nil, latest: nil, expectedDuration: .zero, note: nil, finishing: nil)
    }

    /// How a live group differs from what a cut-over pinned, for the operator.
    static func difference(_ group: CutoverGroup, from record: CutoverRecord) -> String {
        var parts: [String] = []
        let pinned = Set(record.members), live = Set(group.instances)
        let added = live.subtracting(pinned).sorted(), removed = pinned.subtracting(live).sorted()
        if !added.isEmpty { parts.append("added \(PlanContext.list(added))") }
        if !removed.isEmpty { parts.append("removed \(PlanContext.list(removed))") }
        let pinnedBlocks = Set(record.baseline.blocks), liveBlocks = Set(group.blocks)
        let newBlocks = liveBlocks.subtracting(pinnedBlocks).sorted(), goneBlocks = pinnedBlocks.subtracting(liveBlocks).sorted()
        if !newBlocks.isEmpty { parts.append("prefix \(newBlocks.map(\.description).joined(separator: ", ")) added") }
        if !goneBlocks.isEmpty { parts.append("prefix \(goneBlocks.map(\.description).joined(separator: ", ")) removed") }
        if group.target != record.baseline.target { parts.append("target now \(group.target), pinned \(record.baseline.target)") }
        if group.id != record.group && parts.isEmpty { parts.append("group '\(record.group)' is now called '\(group.id)'") }
        return parts.isEmpty ? "unchanged" : parts.joined(separator: ", ")
    }
}

extension PlanContext {
    /// Instances outside a cut-over that the provider knows and whose manifest places an IP
    /// in one of the cut-over's prefixes.
    func intruders(_ record: CutoverRecord, live: [CutoverGroup]) -> [String] {
        let members = Set(record.members)
        let blocks = record.baseline.blocks
        var found: [String] = []
        for group in live {
            for name in group.instances where !members.contains(name) {
                // Unknown to the provider, or already on the target: nothing is left behind.
                guard let observed = input.observedInstances[name], observed.path != record.baseline.target,
                      let instance = input.fleet.instance(named: name) else { continue }
                let ips = instance.declaredIPs + observed.sendingIPs
                if ips.contains(where: { ip in blocks.contains { $0.contains(ip) } }) { found.append(name) }
            }
        }
        return Array(Set(found)).sorted()
    }
}
