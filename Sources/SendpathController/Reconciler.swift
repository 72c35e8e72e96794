public import Logging
public import SendpathCore

/// One reconcile run: observe, compare with the manifests, and (unless a dry run) do what is
/// missing, group by group, under the reconciler's lease.
///
/// Level-triggered like a Kubernetes controller: each run starts from what the provider
/// reports and what the journal says, so running it twice in a row changes nothing the
/// second time.
public struct Reconciler: Sendable {
    public let fleet: Fleet
    public let provider: any Provider
    public let store: any StateStore
    /// The planning clock (an offset clock with `--at`).
    public let clock: any WallClock
    /// Holds the lease for applies; `nil` only for dry runs.
    public let lease: LeaseKeeper?
    public let logger: Logger
    public let progress: (any ReconcileProgress)?
    public let options: ReconcileOptions
    public let holder: LeaseHolder
    public let command: String

    public init(fleet: Fleet, provider: any Provider, store: any StateStore, clock: any WallClock, lease: LeaseKeeper?,
                logger: Logger, progress: (any ReconcileProgress)? = nil, options: ReconcileOptions, holder: LeaseHolder,
                command: String = "reconcile") {
        self.fleet = fleet
        self.provider = provider
        self.store = store
        self.clock = clock
        self.lease = lease
        self.logger = logger
        self.progress = progress
        self.options = options
        self.holder = holder
        self.command = command
    }

    /// Observes the whole fleet and reads the journal, then plans.
    public func plan() async throws -> (plan: Plan, observed: [String: ObservedInstance]) {
        let (plan, input) = try await observeAndPlan()
        return (plan, input.observedInstances)
    }

    /// The plan, and what it was made from.
    func observeAndPlan() async throws -> (Plan, PlanInput) {
        let session = try await observeAndPrepare()
        return (session.plan, session.input)
    }

    /// The plan, kept with what it was made from (to plan a claimed group again cheaply).
    func observeAndPrepare() async throws -> PlanSession {
        let names = fleet.instances.map(\.name)
        // The five reads are independent: run them at once.
        async let observedInstances = provider.observeInstances(names, step: nil)
        async let observedPrefixes = provider.observePrefixes(fleet.prefixes.map(\.cidr.value))
        async let journal = journalNow()
        async let announced = store.notices()
        async let recordedControls = store.controls()
        let (observed, prefixes, cutovers, notices, controls) = try await (observedInstances, observedPrefixes, journal, announced,
                                                                           recordedControls)
        let input = PlanInput(fleet: fleet, observedInstances: observed, observedPrefixes: prefixes, cutovers: cutovers,
                              notices: notices, now: clock.now(), scope: options.scope, resumeHeld: options.resumeHeld,
                              maxAttempts: options.retry.maxAttempts, maxRollbacksPerWindow: options.maxRollbacksPerWindow,
                              controls: OperatorControls(controls))
        return PlanSession(input)
    }

    /// Desired, observed and journal state side by side (read-only, like a dry run).
    public func status() async throws -> ReconcileReport {
        let (plan, input) = try await observeAndPlan()
        let observed = input.observedInstances
        // One summary per group's latest cut-over, shared by its members.
        var latest: [String: JournalSummary] = [:]
        for group in plan.groups { if let record = group.latest { latest[group.group.id] = JournalSummary(record) } }
        let fleet = self.fleet
        // Each row's observed state beside its manifest, added as the rows are laid out (on the cores).
        var report = ReportBuilder.plan(plan, observed: observed, dryRun: true, detailedExitCode: false) { [latest] row in
            let name = row.name
            if let state = observed[name], let position = fleet.instanceIndex(named: name) {
                let addresses = Self.distinctSorted(state.sendingIPs)
                row.observed = ObservedSummary(
                    frozen: state.frozen, sendingIPs: addresses, build: state.build,
                    queueDepth: state.queueDepth,
                    ipsMatchManifest: addresses == Self.distinctSorted(fleet.instances[position].sendingIPs.map(\.value)),
                    buildMatchesManifest: state.build == fleet.instances[position].build)
            }
            if let summary = latest[row.group] { row.journal = summary }
        }
        let suspensions = [input.controls.everything].compactMap { $0 } + input.controls.waves.keys.sorted().compactMap { input.controls.waves[$0] }
        report.suspensions = suspensions.isEmpty ? nil : suspensions
        return report
    }

    /// Sorted without repeats (what `Array(Set(addresses)).sorted()` gives, without a set per instance).
    static func distinctSorted(_ addresses: [IPAddress]) -> [IPAddress] {
        var sorted = addresses.sorted()
        var kept = 0
        for index in sorted.indices where kept == 0 || sorted[index] != sorted[kept - 1] {
            sorted[kept] = sorted[index]
            kept += 1
        }
        sorted.removeLast(sorted.count - kept)
        return sorted
    }

    public func run() async throws -> ReconcileReport {
        if options.dryRun {
            let (plan, observed) = try await plan()
            return ReportBuilder.plan(plan, observed: observed, dryRun: true, detailedExitCode: options.detailedExitCode)
        }
        // Tokens never go below what the provider has accepted, whichever store granted them.
        try await store.raiseTokenFloor(above: try await provider.highestFencingToken())
        if store.sharesWork { return try await applySharingWork() }
        guard let lease else { preconditionFailure("an apply needs a lease keeper") }
        try await lease.acquire()
        // The lease is renewed from the moment it is granted until the run ends.
        return try await withThrowingTaskGroup(of: ReconcileReport?.self) { tasks in
            tasks.addTask {
                try await lease.keepRenewing()
                return nil
            }
            tasks.addTask { try await self.apply(lease: lease) }
            defer { tasks.cancelAll() }
            while let finished = try await tasks.next() {
                if let report = finished { return report }
            }
            throw StateStoreError.leaseLost(scope: lease.scope)
        }
    }

    /// An apply under a held lease: record the run, plan, run the groups, record the result.
    func apply(lease: LeaseKeeper) async throws -> ReconcileReport {
        let runID = "\(holder.id)-\(clock.now().nanosecondsSinceEpoch)"
        var record = RunRecord(id: runID, command: command, holder: holder, dryRun: false, startedAt: clock.now(),
                               revision: options.revision)
        do {
            let (plan, input) = try await observeAndPlan()
            // A saved plan that no longer holds: refused before anything is written.
            try checkSavedPlan(plan, input: input)
            try await store.recordRun(record)
            // Under the store's only reconciler lease, any other apply still open has died.
            try await markDiedRuns(except: record.id, lease: lease, exclusive: true)
            for notice in plan.noticesToRecord { try await store.recordNotice(notice) }
            let results = await execute(plan, observed: input.observedInstances, prefixes: input.observedPrefixes, lease: lease)
            // Reasons as they stand after the run, for the groups that waited.
            let after = results.isEmpty ? nil : try? await observeAndPlan().0
            let report = ReportBuilder.apply(plan, results: results, observed: input.observedInstances,
                                             detailedExitCode: options.detailedExitCode, after: after)
            record.finishedAt = clock.now()
            record.outcome = report.outcome
            record.summary = report.summary
            record.groups = Self.groupsTouched(results)
            try await store.recordRun(record)
            await lease.release()
            return report
        } catch let stale as StalePlanError {
            await lease.release()
            throw stale
        } catch {
            record.finishedAt = clock.now()
            record.outcome = .error
            try? await store.recordRun(record)
            await lease.release()
            throw error
        }
    }

    /// Runs the groups that have work, each wave at most `maxParallel` groups at once (and
    /// at most `--max-parallel` in all), renewing the lease meanwhile.
    func execute(_ plan: Plan, observed: [String: ObservedInstance], prefixes: [AddressBlock: ObservedPrefix],
                 lease: LeaseKeeper) async -> [String: GroupResult] {
        let order: [GroupPlan.Decision: Int] = [.resume: 0, .start: 1, .prepare: 2]
        let queue = plan.groups.filter { order[$0.decision] != nil }
            .sorted { (order[$0.decision]!, $0.wave.name, $0.group.id) < (order[$1.decision]!, $1.wave.name, $1.group.id) }
        guard !queue.isEmpty else { return [:] }
        let work = queue.map { plan in
            GroupWork(plan: plan, run: {
                await runner(plan, observed: observed, prefixes: prefixes, token: { await lease.token ?? FencingToken(0) }).run()
            })
        }
        return await Self.runAll(work, limit: options.maxParallel ?? Int.max, stop: options.stop)
    }

    func runner(_ plan: GroupPlan, observed: [String: ObservedInstance], prefixes: [AddressBlock: ObservedPrefix],
                token: @escaping @Sendable () async -> FencingToken) -> GroupRunner {
        GroupRunner(plan: plan, fleet: fleet, provider: provider, store: store, clock: clock, logger: logger,
                    progress: progress, options: options, holderID: holder.id, token: token,
                    observed: observed, observedPrefixes: prefixes)
    }

    /// One group's work for the scheduler.
    struct GroupWork: Sendable {
        let plan: GroupPlan
        let run: @Sendable () async -> GroupResult
    }

    /// Starts work in order as slots free up: per wave `maxParallel`, and `limit` in all.
    static func runAll(_ runners: [GroupWork], limit: Int, stop: StopRequest?) async -> [String: GroupResult] {
        var waiting = runners
        return await withTaskGroup(of: GroupResult.self) { tasks in
            var results: [String: GroupResult] = [:]
            var running: [String: Int] = [:]
            var total = 0
            func startEligible() {
                var index = 0
                while index < waiting.count && total < limit && !(stop?.isRequested ?? false) {
                    let wave = waiting[index].plan.wave
                    if running[wave.name, default: 0] < max(1, wave.maxParallel) {
                        let work = waiting.remove(at: index)
                        running[wave.name, default: 0] += 1
                        total += 1
                        tasks.addTask { await work.run() }
                    } else {
                        index += 1
                    }
                }
            }
            startEligible()
            while let result = await tasks.next() {
                results[result.plan.group.id] = result
                running[result.plan.wave.name, default: 1] -= 1
                total -= 1
                if !Task.isCancelled { startEligible() }
            }
            return results
        }
    }
}

extension Reconciler {
    /// Marks the applies that were killed before they could record their end: outcome `error`,
    /// `died` in the summary, ended when found. Holding the store's only reconciler lease
    /// (`exclusive`), every other open apply has died; on a store that shares work, only those of
    /// processes known to be gone (this host, PID namespace and boot; no such process).
    func markDiedRuns(except current: String, lease: LeaseKeeper, exclusive: Bool) async throws {
        for run in try await store.recentRuns(limit: 100)
        where run.finishedAt == nil && !run.dryRun && run.id != current && (exclusive || lease.isGoneFromThisHost(run.holder)) {
            var died = run
            died.finishedAt = clock.now()
            died.outcome = .error
            died.summary["died"] = 1
            try await store.recordRun(died)
            logger.warning("an earlier run died before it ended; recorded as such",
                           metadata: ["run.id": "\(run.id)", "run.holder": "\(run.holder)"])
        }
    }

    /// Every cut-over with its entries, as plans read them: from the controller's follower (only
    /// what is new since the last pass is read), or, for a one-shot command, from a follower of
    /// its own that reads the journal a page at a time and compacts the cut-overs that ended, so
    /// that no single read holds the whole journal and memory does not grow with its entries.
    func journalNow() async throws -> [CutoverRecord] {
        let follower = options.journal ?? JournalFollower(store: store, compactingFinished: true)
        return try await follower.cutovers()
    }

    /// A dry run that also returns the plan to save (`--out FILE`).
    public func plannedForSaving() async throws -> (report: ReconcileReport, plan: SavedPlan) {
        let (plan, input) = try await observeAndPlan()
        let report = ReportBuilder.plan(plan, observed: input.observedInstances, dryRun: true, detailedExitCode: options.detailedExitCode)
        return (report, SavedPlan(plan: plan, fingerprint: PlanFingerprint(input: input, manifests: options.manifestDigest)))
    }

    /// Throws ``StalePlanError`` when `--plan FILE` no longer matches what is planned now.
    func checkSavedPlan(_ plan: Plan, input: PlanInput) throws {
        guard let saved = options.savedPlan else { return }
        let changes = saved.differences(from: plan, fingerprint: PlanFingerprint(input: input, manifests: options.manifestDigest))
        if !changes.isEmpty { throw StalePlanError(changes: changes) }
    }

    /// What is open in the journal now (for the controller's gauges).
    public func gauges() async throws -> JournalGauges {
        var gauges = JournalGauges(cutovers: try await journalNow())
        let controls = OperatorControls(try await store.controls())
        gauges.suspended = (controls.everything == nil ? [] : ["everything"]) + controls.waves.keys.sorted()
        return gauges
    }
}
