import SendpathCore

/// Several reconcilers on one store that shares work (PostgreSQL): no store-wide lease;
/// each group is claimed with a lease of its own (`group:<id>`), and each wave's
/// `maxParallel` is enforced across reconcilers with slot leases (`wave:<name>#<k>`).
extension Reconciler {
    func applySharingWork() async throws -> ReconcileReport {
        let runID = "\(holder.id)-\(clock.now().nanosecondsSinceEpoch)"
        var record = RunRecord(id: runID, command: command, holder: holder, dryRun: false, startedAt: clock.now(),
                               revision: options.revision)
        let session = try await observeAndPrepare()
        let (plan, input) = (session.plan, session.input)
        try checkSavedPlan(plan, input: input)
        try await store.recordRun(record)
        if let lease { try await markDiedRuns(except: record.id, lease: lease, exclusive: false) }
        let observed = input.observedInstances
        for notice in plan.noticesToRecord { try await store.recordNotice(notice) }
        let order: [GroupPlan.Decision: Int] = [.resume: 0, .start: 1, .prepare: 2]
        let queue = plan.groups.filter { order[$0.decision] != nil }
            .sorted { (order[$0.decision]!, $0.wave.name, $0.group.id) < (order[$1.decision]!, $1.wave.name, $1.group.id) }
        let work = queue.map { planned in
            GroupWork(plan: planned, run: { await self.claimAndRun(planned, session: session) })
        }
        let results = await Self.runAll(work, limit: options.maxParallel ?? Int.max, stop: options.stop)
        let after = results.isEmpty ? nil : try? await observeAndPlan().0
        let report = ReportBuilder.apply(plan, results: results, observed: observed, detailedExitCode: options.detailedExitCode, after: after)
        record.finishedAt = clock.now()
        record.outcome = report.outcome
        record.summary = report.summary
        record.groups = Self.groupsTouched(results)
        try await store.recordRun(record)
        return report
    }

    /// Takes a slot of the group's wave (waiting a little for one, holding nothing meanwhile),
    /// then claims the group, plans it again from fresh observations and its journal as they are
    /// now, runs it while renewing both leases, then lets them go.
    func claimAndRun(_ planned: GroupPlan, session: PlanSession) async -> GroupResult {
        guard let keeper = lease else { preconditionFailure("an apply needs a lease keeper") }
        let group = planned.group
        let groupLease = keeper.sibling(scope: Lease.groupScope(group.id))
        // A group another reconciler is working on is theirs: no slot is taken for it.
        if let current = try? await store.currentLease(scope: Lease.groupScope(group.id)), keeper.isLiveElsewhere(current) {
            return claimedElsewhere(planned, by: current.holder, until: current.expiresAt)
        }
        // A cut-over already open (frozen) resumes without a slot: it counted against the wave's
        // maxParallel when it started, and must never wait behind groups that have not.
        let slot: LeaseKeeper?
        if planned.decision == .resume {
            slot = nil
        } else {
            do {
                guard let claimed = try await waitForSlot(planned.wave, for: group.id, like: keeper) else {
                    return waitingForSlot(planned)
                }
                slot = claimed
            } catch {
                return stopped(planned, error)
            }
        }
        do {
            // Stopped while waiting: take nothing more.
            try Task.checkCancellation()
            try await groupLease.acquire()
        } catch StateStoreError.locked(let other, _, let until) {
            await slot?.release()
            return claimedElsewhere(planned, by: other, until: until)
        } catch {
            await slot?.release()
            return stopped(planned, error)
        }
        let result = await runClaimed(planned, session: session, groupLease: groupLease, slot: slot)
        await slot?.release()
        await groupLease.release()
        return result
    }

    /// A slot of `wave` for `group`, waiting (with growing pauses, up to the lease TTL or 10 s)
    /// while every slot is held, usually by other reconcilers' groups that are about to end.
    /// `nil` when none came, or a stop was requested.
    func waitForSlot(_ wave: Wave, for group: String, like keeper: LeaseKeeper) async throws -> LeaseKeeper? {
        let deadline = ContinuousClock.now + min(keeper.ttl, .seconds(10))
        var pause = Duration.milliseconds(50)
        while true {
            if let slot = try await claimSlot(wave, for: group, like: keeper) { return slot }
            if options.stop?.isRequested == true || Task.isCancelled || ContinuousClock.now + pause > deadline { return nil }
            try await Task.sleep(for: pause * Double.random(in: 0.5...1.5))
            pause = min(pause * 2, .seconds(1))
        }
    }

    private func runClaimed(_ planned: GroupPlan, session: PlanSession, groupLease: LeaseKeeper, slot: LeaseKeeper?) async -> GroupResult {
        let group = planned.group
        do {
            // Another reconciler may have moved this group since the plan: look again at the group
            // itself (its instances, prefixes and journal). The rest of the plan's input (other
            // groups, for the order and bake gates) is as the pass found it: reading the whole
            // journal again for every group would make a pass quadratic in the number of groups,
            // and the group is planned again in O(group) (PlanSession), not over the whole fleet.
            let observedNow = try await provider.observeInstances(group.instances, step: nil)
            let prefixesNow = try await provider.observePrefixes(group.blocks)
            let journal = try await store.cutovers(groups: [group.id])
            // A suspend or an approval recorded since the pass counts now.
            let controls = OperatorControls(try await store.controls())
            let replannedGroup = session.replanned(group: group.id, observed: observedNow, prefixes: prefixesNow, cutovers: journal,
                                                   controls: controls, now: clock.now())

            // A gate that closed since the pass (a suspend, an approval still missing, the failure
            // budget spent by another reconciler's group): reported as such.
            if let blocked = replannedGroup, [.blocked, .held, .rolledBack].contains(blocked.decision) {
                return GroupResult(plan: blocked, status: blocked.status, reasons: blocked.reasons, moves: [], skipped: [], messages: [:])
            }
            guard let replanned = replannedGroup,
                  [.start, .resume, .prepare].contains(replanned.decision),
                  // Claimed without a slot to resume: it may only resume.
                  slot != nil || replanned.decision == .resume else {
                return GroupResult(plan: planned, status: .inProgress,
                                   reasons: [BlockReason(.order, "another reconciler moved this group on since the plan; the next run reports it")],
                                   moves: [], skipped: [], messages: [:])
            }
            // What the group's runner reads: its members and prefixes (as the plan pins them), as observed now.
            var observed: [String: ObservedInstance] = [:]
            for name in Set(group.instances + replanned.group.instances) {
                observed[name] = observedNow[name] ?? session.input.observedInstances[name]
            }
            var prefixes: [AddressBlock: ObservedPrefix] = [:]
            for block in Set(group.blocks + replanned.group.blocks) {
                prefixes[block] = prefixesNow[block] ?? session.input.observedPrefixes[block]
            }
            let runner = runner(replanned, observed: observed, prefixes: prefixes, token: { await groupLease.token ?? FencingToken(0) })
            return try await withThrowingTaskGroup(of: GroupResult?.self) { tasks in
                tasks.addTask {
                    try await groupLease.keepRenewing()
                    return nil
                }
                if let slot {
                    // The slot only limits how many cut-overs start: losing it (another reconciler
                    // took it after a long pause) does not stop a cut-over whose group lease holds.
                    tasks.addTask {
                        do {
                            try await slot.keepRenewing()
                        } catch {
                            logger.warning("lost the wave slot lease; the cut-over goes on under its group lease",
                                           metadata: ["lease.scope": "\(slot.scope)", "cutover.group": "\(group.id)"])
                        }
                        while !Task.isCancelled { try await Task.sleep(for: .seconds(3600)) }
                        return nil
                    }
                }
                tasks.addTask { await runner.run() }
                defer { tasks.cancelAll() }
                while let result = try await tasks.next() {
                    if let result { return result }
                }
                throw StateStoreError.leaseLost(scope: Lease.groupScope(group.id))
            }
        } catch StateStoreError.leaseLost(let scope) {
            // Woken with a stale lease (paused, or cut off too long): the group has a newer holder.
            // Stop before any further call, and record the refusal like a provider's.
            progress?.fencedOut(group: group.id, by: .lease, detail: "the \(scope) lease has a newer holder")
            let token = await groupLease.token ?? FencingToken(0)
            let open = try? await store.cutovers(groups: [group.id]).last
            try? await store.append(JournalEntry(cutoverID: open?.id, group: group.id, step: .freeze, phase: .fenced, attempt: 0,
                                                 idempotencyKey: "", fencingToken: token, at: clock.now(),
                                                 detail: StepDetail(message: "lease renewal refused: \(scope) has a newer holder; stopped",
                                                                    errorCode: .staleFencingToken),
                                                 holder: holder.id))
            return stopped(planned, StateStoreError.leaseLost(scope: scope))
        } catch {
            return stopped(planned, error)
        }
    }

    /// One of the wave's `maxParallel` slots for `group`, or `nil` when all are taken (by any
    /// reconciler, this one included: each group of this process holds a slot of its own).
    func claimSlot(_ wave: Wave, for group: String, like keeper: LeaseKeeper) async throws -> LeaseKeeper? {
        try await keeper.claimAny(of: (0..<max(1, wave.maxParallel)).map { "wave:\(wave.name)#\($0)" }, for: group)
    }

    func claimedElsewhere(_ planned: GroupPlan, by other: LeaseHolder, until: Timestamp) -> GroupResult {
        GroupResult(plan: planned, status: .inProgress,
                    reasons: [BlockReason(.order, "claimed by another reconciler, \(other), until \(until)")],
                    moves: [], skipped: [], messages: [:])
    }

    func waitingForSlot(_ planned: GroupPlan) -> GroupResult {
        GroupResult(plan: planned, status: .blocked,
                    reasons: [BlockReason(.order, "wave '\(planned.wave.name)' already runs \(planned.wave.maxParallel) groups (maxParallel) across reconcilers")],
                    moves: [], skipped: [], messages: [:])
    }

    func stopped(_ planned: GroupPlan, _ error: any Error) -> GroupResult {
        var result = GroupResult(plan: planned, status: .inProgress, reasons: [], moves: [], skipped: [], messages: [:])
        result.error = "\(error)"
        return result
    }
}

extension Reconciler {
    /// The groups a run worked on: those with a step run in it, sorted.
    static func groupsTouched(_ results: [String: GroupResult]) -> [String] {
        results.filter { !$0.value.moves.isEmpty }.keys.sorted()
    }
}
