/// A pass's plan with what it was made from, kept so that one group can be planned again
/// cheaply: in O(size of the group), not O(fleet).
///
/// A reconciler that shares work (PostgreSQL) plans once per pass, then, when it claims a group,
/// plans that group again from fresh observations of its members and prefixes, its own journal,
/// the controls and the time now. Everything else (other groups, for the order, bake, canary and
/// failure-budget gates; notices) is as the pass found it, as ``Planner/plan(_:)`` with `scope`
/// `[group]` over the pass's input with those changes would see it.
public struct PlanSession: Sendable {
    private let context: PlanContext
    public let plan: Plan

    public init(_ input: PlanInput) {
        context = PlanContext(input)
        plan = Planner.plan(context: context)
    }

    public var input: PlanInput { context.input }

    /// Group `id` planned again. `observed` and `prefixes` are the fresh observations of its
    /// members and prefixes; `cutovers` every cut-over of the group, as the journal holds them now.
    public func replanned(group id: String, observed: [String: ObservedInstance], prefixes: [AddressBlock: ObservedPrefix],
                          cutovers: [CutoverRecord], controls: OperatorControls, now: Timestamp) -> GroupPlan? {
        guard let group = context.groupIndex[id] else { return nil }
        var narrowed = context
        narrowed.narrow(to: group, observed: observed, prefixes: prefixes, cutovers: cutovers, controls: controls, now: now)
        return Planner.plan(context: narrowed).groups.first { $0.group.id == id }
    }
}

extension PlanContext {
    /// This context for planning `group` alone, with fresh state of the group: the observations
    /// the planner reads are only those of the group's members and prefixes (and of cut-overs
    /// open on them), so none of the fleet's tables is copied.
    mutating func narrow(to group: CutoverGroup, observed: [String: ObservedInstance], prefixes: [AddressBlock: ObservedPrefix],
                         cutovers: [CutoverRecord], controls: OperatorControls, now: Timestamp) {
        let records = cutovers.filter { $0.group == group.id }.sorted { $0.number < $1.number }
        // Members whose observations the plan of this group can read: its own, and those of the
        // cut-overs open on it (pinned, possibly under another membership).
        var names = Set(group.instances)
        for record in activeCutovers where record.members.contains(where: names.contains) || record.group == group.id {
            names.formUnion(record.members)
        }
        for record in records where record.outcome == nil || record.outcome == .held { names.formUnion(record.members) }
        var instances: [String: ObservedInstance] = [:]
        for name in names { if let state = observed[name] ?? input.observedInstances[name] { instances[name] = state } }
        var blocks: [AddressBlock: ObservedPrefix] = [:]
        for block in group.blocks { if let state = prefixes[block] ?? input.observedPrefixes[block] { blocks[block] = state } }
        for record in records { for block in record.baseline.prefixes.keys where blocks[block] == nil {
            if let state = prefixes[block] ?? input.observedPrefixes[block] { blocks[block] = state }
        } }
        // The group's open cut-over as the journal says now.
        if let old = cutoversByGroup[group.id]?.last, old.outcome == nil { openMembers.subtract(old.members) }
        if let latest = records.last, latest.outcome == nil { openMembers.formUnion(latest.members) }
        cutoversByGroup[group.id] = records.isEmpty ? nil : records
        input = PlanInput(fleet: input.fleet, observedInstances: instances, observedPrefixes: blocks, cutovers: input.cutovers,
                          notices: input.notices, now: now, scope: [group.id], resumeHeld: input.resumeHeld,
                          maxAttempts: input.maxAttempts, maxRollbacksPerWindow: input.maxRollbacksPerWindow, controls: controls)
        setComplete(group.id, isAtTarget(group))
    }
}
