import Testing
@testable import SendpathCore

/// A claimed group planned again in O(group) (``PlanSession``) is planned as the whole planner
/// plans it with `scope` `[group]` over the pass's input with the group's fresh state.
@Suite("Plan session: one group planned again")
struct PlanSessionTests {
    typealias F = PlannerFixture

    /// What changed for `acme-prod1`'s group between the pass and its claim.
    enum Change: String, CaseIterable {
        case nothing, movedByAnotherReconciler, cutoverOpenedElsewhere, frozenOutside, heldElsewhere, suspended, later
    }

    @Test(arguments: Change.allCases)
    func replanningAGroupMatchesAFullScopedPlan(change: Change) throws {
        let fleet = PlannerFixture().fleet
        var observed = F.observed(fleet)
        var prefixes = F.prefixes(fleet)
        let dev = try #require(fleet.group(of: "acme-dev1"))
        F.move(dev, in: &observed, &prefixes)
        let history = [F.completed(dev, finishedAt: F.t("2023-10-10T21:00:00Z"), window: F.nonprodWindow)]
        let now = F.t("2024-01-16T21:00:00Z")
        let pass = PlanInput(fleet: fleet, observedInstances: observed, observedPrefixes: prefixes, cutovers: history,
                             notices: [:], now: now)
        let session = PlanSession(pass)
        #expect(session.plan.groups.map(Self.summary) == Planner.plan(pass).groups.map(Self.summary))

        let group = try #require(fleet.group(of: "acme-prod1"))
        var fresh = observed.filter { group.instances.contains($0.key) }
        var freshPrefixes = prefixes.filter { group.blocks.contains($0.key) }
        var journal: [CutoverRecord] = []
        var controls = OperatorControls.none
        var later = now
        switch change {
        case .nothing: break
        case .movedByAnotherReconciler:
            F.move(group, in: &fresh, &freshPrefixes)
            journal = [F.completed(group, finishedAt: now)]
        case .cutoverOpenedElsewhere:
            var open = F.completed(group, finishedAt: now)
            open.outcome = nil
            open.finishedAt = nil
            journal = [open]
        case .frozenOutside:
            fresh["acme-prod1"]?.frozen = true
        case .heldElsewhere:
            journal = [F.completed(group, finishedAt: now, outcome: .held)]
        case .suspended:
            controls = OperatorControls([ControlRecord(kind: .suspend, by: "ops", at: now)])
        case .later:
            later = now + .seconds(3 * 3600)
        }
        var full = pass
        for (name, state) in fresh { full.observedInstances[name] = state }
        for (block, state) in freshPrefixes { full.observedPrefixes[block] = state }
        full.cutovers = pass.cutovers.filter { $0.group != group.id } + journal
        full.controls = controls
        full.now = later
        full.scope = [group.id]
        let expected = Planner.plan(full).groups.first { $0.group.id == group.id }
        let replanned = session.replanned(group: group.id, observed: fresh, prefixes: freshPrefixes, cutovers: journal,
                                          controls: controls, now: later)
        #expect(replanned.map(Self.summary) == expected.map(Self.summary))
        #expect(replanned != nil)
    }

    static func summary(_ plan: GroupPlan) -> String {
        "\(plan.group.id) \(plan.decision) \(plan.status) \(plan.reasons) \(plan.steps.map { "\($0.step.rawValue)/\($0.rollback)" }) "
            + "\(plan.expectedDuration) \(plan.latest?.id ?? "-") \(plan.resuming?.id ?? "-") \(plan.needsPrepare) \(plan.note ?? "-")"
    }
}
