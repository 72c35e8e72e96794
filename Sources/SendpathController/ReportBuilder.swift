import SendpathCore

/// Turns plans and group results into the report printed and returned as JSON.
enum ReportBuilder {
    /// `decorate`, if given, adds to each row as it is laid out (what `status` shows beside the plan).
    static func plan(_ plan: Plan, observed: [String: ObservedInstance], dryRun: Bool, detailedExitCode: Bool,
                     decorate: (@Sendable (inout InstanceReport) -> Void)? = nil) -> ReconcileReport {
        // Each group's rows from its plan alone, laid out in place: spread over the cores, in plan order.
        let instances = OrderedChunks.concatenated(count: plan.groups.count, minimumPerChunk: 16,
                                                   size: { plan.groups[$0].group.instances.count }) { index, rows in
            let group = plan.groups[index]
            let steps = group.steps.map { StepReport(name: $0.step, state: .pending, rollback: $0.rollback) }
            fillReports(rows, group, status: group.status, reasons: group.reasons, steps: steps, observed: observed, messages: [:])
            if let decorate { for offset in rows.indices { decorate(&rows[offset]) } }
        }
        let groups = plan.groups.map { group in
            ReconcileReport.GroupSummary(id: group.group.id, wave: group.wave.name, instances: group.group.instances, status: group.status,
                                         expectedDuration: group.expectedDuration, cutover: group.resuming?.id ?? group.latest?.id)
        }
        return ReconcileReport(dryRun: dryRun, at: plan.at, instances: instances, groups: groups, detailedExitCode: detailedExitCode)
    }

    /// `after`, a plan made once the groups ran, gives the status and reasons of the groups that
    /// did not run, as they stand after the run (an order gate an earlier wave satisfied is gone).
    static func apply(_ plan: Plan, results: [String: GroupResult], observed: [String: ObservedInstance],
                      detailedExitCode: Bool, after: Plan? = nil) -> ReconcileReport {
        // By instance: a pinned cut-over and the rest of a group changed under it share a group id.
        var later: [String: GroupPlan] = [:]
        for plan in after?.groups ?? [] { for name in plan.group.instances { later[name] = plan } }
        var instances: [InstanceReport] = []
        var groups: [ReconcileReport.GroupSummary] = []
        var errors: [String] = []
        for group in plan.groups {
            let status: InstanceStatus
            let reasons: [BlockReason]
            var steps: [StepReport] = []
            var messages: [String: MessageReport] = [:]
            var cutover = group.latest?.id
            let ran = [.start, .resume, .prepare].contains(group.decision)
            if ran, let result = results[group.group.id] {
                if let error = result.error { errors.append("\(group.group.id): \(error)") }
                status = result.error != nil ? .inProgress : result.status
                reasons = result.error.map { [BlockReason(.drift, "stopped: \($0); the next run continues from the journal")] } ?? result.reasons
                steps = result.moves.map { StepReport(name: $0.move.step, state: $0.state, rollback: $0.move.rollback, duration: $0.duration) }
                    + result.skipped.map { StepReport(name: $0.step, state: .skipped, rollback: $0.rollback) }
                messages = result.messages
                cutover = result.cutoverID ?? cutover
            } else if [.start, .resume, .prepare].contains(group.decision) {
                // Planned but not run: the run stopped (shutdown, lease lost) before its turn.
                status = group.decision == .resume ? .inProgress : .blocked
                reasons = [BlockReason(group.decision == .prepare ? group.reasons.first?.code ?? .windowNotOpen : .order,
                                       "not run: this run stopped before the group's turn; the next run takes it")]
            } else if let now = group.group.instances.first.flatMap({ later[$0] }), now.decision != .start, now.decision != .resume {
                status = now.status
                reasons = now.reasons
            } else if group.group.instances.first.flatMap({ later[$0] }) != nil {
                // It could start now: the run that made it possible did not get to it (exit 3: re-run).
                status = .blocked
                reasons = [BlockReason(.order, "ready to start now that this run moved what it waited for; the next run starts it")]
            } else {
                status = group.status
                reasons = group.reasons
            }
            instances += reports(group, status: status, reasons: reasons, steps: steps, observed: observed, messages: messages)
            groups.append(.init(id: group.group.id, wave: group.wave.name, instances: group.group.instances, status: status,
                                expectedDuration: group.expectedDuration, cutover: cutover))
        }
        return ReconcileReport(dryRun: false, at: plan.at, instances: instances, groups: groups, detailedExitCode: detailedExitCode,
                               errors: errors)
    }

    /// One report per member; the path is the one observed before the run, moved to the
    /// target when the group migrated in it.
    static func reports(_ group: GroupPlan, status: InstanceStatus, reasons: [BlockReason], steps: [StepReport],
                        observed: [String: ObservedInstance], messages: [String: MessageReport]) -> [InstanceReport] {
        [InstanceReport](unsafeUninitializedCapacity: group.group.instances.count) { rows, count in
            fillReports(rows, group, status: status, reasons: reasons, steps: steps, observed: observed, messages: messages)
            count = rows.count
        }
    }

    /// Initializes `rows` (one per member, uninitialized) with the members' reports.
    static func fillReports(_ rows: UnsafeMutableBufferPointer<InstanceReport>, _ group: GroupPlan, status: InstanceStatus,
                            reasons: [BlockReason], steps: [StepReport], observed: [String: ObservedInstance],
                            messages: [String: MessageReport]) {
        let first = reasons.first
        let showCode = status == .blocked || status == .held
        var reason = reasons.isEmpty ? nil : reasons.map(\.message).joined(separator: "; ")
        if let note = group.note { reason = reason.map { "\(note); \($0)" } ?? note }
        for (offset, name) in group.group.instances.enumerated() {
            var current = observed[name]?.path
            if status == .migrated { current = group.group.target }
            (rows.baseAddress! + offset).initialize(to: InstanceReport(
                name: name, wave: group.wave.name, group: group.group.id, status: status, reason: reason,
                reasonCode: showCode ? first?.code : nil, current: current, target: group.group.target,
                steps: steps, messages: messages[name]))
        }
    }
}
