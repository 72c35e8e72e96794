/// Indexes built once per plan, and the gate checks that use them.
struct PlanContext: Sendable {
    /// Variable only for ``PlanSession`` (a group planned again): nothing else changes a context.
    var input: PlanInput
    var cutoversByGroup: [String: [CutoverRecord]]
    let estimator: DurationEstimator
    let groupIndex: [String: CutoverGroup]
    /// Per tenant, its non-production instances: name and group id.
    let nonProductionByTenant: [String: [(name: String, group: String)]]
    let waveMembers: [String: [String]]
    /// Per group id: on target with no cut-over open (computed once; order gates ask often).
    private(set) var complete: [String: Bool] = [:]
    let groupsByWave: [String: [CutoverGroup]]
    /// Per wave: the notice in force, and whether the wave still is what it announced.
    private(set) var noticeByWave: [String: NoticeRecord] = [:]
    private(set) var staleByWave: [String: [BlockReason]] = [:]
    private(set) var toRecordByWave: [String: NoticeRecord] = [:]
    /// Instances of cut-overs that are open now, whatever their group is called today.
    var openMembers: Set<String>
    /// Per instance, when the last completed cut-over that moved it finished.
    let lastCompletedByInstance: [String: Timestamp]

    init(_ input: PlanInput) {
        self.input = input
        var byGroup: [String: [CutoverRecord]] = [:]
        // By cut-over number, not wall-clock start: clocks can step back (`--at` restarts, skew).
        for record in input.cutovers.sorted(by: { ($0.group, $0.number) < ($1.group, $1.number) }) {
            byGroup[record.group, default: []].append(record)
        }
        cutoversByGroup = byGroup
        var open = Set<String>()
        var completed: [String: Timestamp] = [:]
        for records in byGroup.values {
            if let latest = records.last, latest.outcome == nil { open.formUnion(latest.members) }
            if let last = records.last(where: { $0.outcome == .completed }), let finished = last.finishedAt {
                for member in last.members where completed[member].map({ $0 < finished }) ?? true { completed[member] = finished }
            }
        }
        openMembers = open
        lastCompletedByInstance = completed
        estimator = DurationEstimator(journal: input.cutovers)
        groupIndex = Dictionary(uniqueKeysWithValues: input.fleet.groups.map { ($0.id, $0) })
        var byTenant: [String: [(name: String, group: String)]] = [:]
        var members: [String: [String]] = [:]
        // By index: copying 100k Instance values (a dozen references each) costs more than the work.
        let instances = input.fleet.instances
        for (index, group) in input.fleet.groups.enumerated() {
            for member in input.fleet.memberIndices(ofGroupAt: index) where instances[member].environment != .prod {
                byTenant[instances[member].tenant, default: []].append((instances[member].name, group.id))
            }
        }
        for index in instances.indices { members[instances[index].wave.value, default: []].append(instances[index].name) }
        nonProductionByTenant = byTenant
        // Fleet instances are sorted by name, so each wave's list is already in order.
        waveMembers = members.mapValues { $0.isStrictlyAscending ? $0 : $0.sorted() }
        groupsByWave = Dictionary(grouping: input.fleet.groups, by: \.wave)
        for group in input.fleet.groups { complete[group.id] = isAtTarget(group) }
        // Notices are per wave: work them out once, not once per group.
        for wave in input.fleet.waves {
            if let pending = makeNoticeToRecord(wave) { toRecordByWave[wave.name] = pending }
            let stored = input.notices[wave.name]
            let inForce = toRecordByWave[wave.name] ?? stored
            guard let notice = inForce else { continue }
            noticeByWave[wave.name] = notice
            staleByWave[wave.name] = staleness(of: notice, for: wave)
        }
    }

    /// The latest cut-over of each group in the journal when it is open or held: the ones
    /// that are pinned, sorted by group.
    var activeCutovers: [CutoverRecord] {
        cutoversByGroup.keys.sorted().compactMap { group in
            guard let latest = cutoversByGroup[group]?.last, latest.outcome == nil || latest.outcome == .held else { return nil }
            return latest
        }
    }

    // MARK: Observed state

    /// Every member and prefix is on the target, nothing frozen, no cut-over open.
    func isAtTarget(_ group: CutoverGroup) -> Bool {
        let observedOK = group.instances.allSatisfy { name in
            guard let observed = input.observedInstances[name] else { return false }
            return observed.path == group.target && !observed.frozen
        }
        let prefixesOK = group.blocks.allSatisfy { input.observedPrefixes[$0]?.advertisedFrom == [group.target] }
        let open = group.instances.contains(where: openMembers.contains)
        return observedOK && prefixesOK && !open
    }

    mutating func setComplete(_ group: String, _ value: Bool) { complete[group] = value }

    /// Whether a group is done: on target, with no cut-over open.
    func isComplete(_ group: CutoverGroup) -> Bool { complete[group.id] ?? isAtTarget(group) }

    func driftReasons(_ group: CutoverGroup, observed: [ObservedInstance?]) -> [BlockReason] {
        var reasons: [BlockReason] = []
        var paths = Set<SendingPath>()
        for (name, state) in zip(group.instances, observed) {
            guard let state else {
                reasons.append(BlockReason(.drift, "instance '\(name)' is unknown to the provider"))
                continue
            }
            let index = input.fleet.instanceIndex(named: name)!
            paths.insert(state.path)
            if state.frozen {
                reasons.append(BlockReason(.drift, "instance '\(name)' is frozen outside any Sendpath cut-over"))
            }
            if !input.fleet.instances[index].sendsFrom(exactly: state.sendingIPs) {
                let actual = Array(Set(state.sendingIPs)).sorted()
                reasons.append(BlockReason(.drift, "instance '\(name)' sends from \(actual.map(\.description).joined(separator: ", ")) but its manifest declares \(input.fleet.instances[index].declaredIPs.map(\.description).joined(separator: ", "))"))
            }
            if state.build != input.fleet.instances[index].build {
                reasons.append(BlockReason(.drift, "instance '\(name)' runs build '\(state.build)' but its manifest declares '\(input.fleet.instances[index].build)'"))
            }
        }
        if paths.count > 1 {
            reasons.append(BlockReason(.drift, "the group's instances send from different places: \(paths.map(\.description).sorted().joined(separator: ", "))"))
        }
        for block in group.blocks {
            guard let prefix = input.observedPrefixes[block] else {
                reasons.append(BlockReason(.drift, "prefix \(block) is unknown to the provider"))
                continue
            }
            if prefix.advertisedFrom.count != 1 {
                reasons.append(BlockReason(.drift, "prefix \(block) is advertised from \(prefix.advertisedFrom.isEmpty ? "nowhere" : prefix.advertisedFrom.map(\.description).joined(separator: " and "))"))
            } else if paths.count == 1, let path = paths.first, prefix.advertisedFrom[0] != path {
                reasons.append(BlockReason(.drift, "prefix \(block) is advertised from \(prefix.advertisedFrom[0]) but its instances send from \(path)"))
            }
        }
        return reasons
    }

    // MARK: Notices

    /// The notice in force: the latest of the recorded one and the manifest's declaration.
    func notice(for wave: Wave) -> NoticeRecord? { noticeByWave[wave.name] }

    /// A manifest notice not yet in the store (or newer than the stored one), as it will be recorded.
    func noticeToRecord(_ wave: Wave) -> NoticeRecord? { toRecordByWave[wave.name] }

    private func makeNoticeToRecord(_ wave: Wave) -> NoticeRecord? {
        guard let declared = wave.noticeSentAt?.value else { return nil }
        if let stored = input.notices[wave.name], stored.sentAt >= declared { return nil }
        let groups = groupsByWave[wave.name] ?? []
        let durations = groups.map { group in
            estimator.cutover(group, queuedMessages: group.instances.reduce(0) { $0 + (input.observedInstances[$1]?.queueDepth ?? 0) })
        }
        return NoticeRecord(wave: wave.name, sentAt: declared, window: wave.window, members: waveMembers[wave.name] ?? [],
                            expectedDuration: estimator.wave(durations, maxParallel: wave.maxParallel),
                            source: .manifest, recordedAt: input.now)
    }

    func noticeReasons(_ group: CutoverGroup, wave: Wave) -> [BlockReason] {
        guard let notice = notice(for: wave) else {
            let lead = leadTime(group)
            return [BlockReason(.noticeMissing, "wave '\(wave.name)' has no notice; record one with 'sendpath notify --wave \(wave.name)' at least \(ManifestDuration.format(lead)) before \(wave.window.start)")]
        }
        var reasons: [BlockReason] = []
        let lead = leadTime(group)
        let given = wave.window.start - notice.sentAt
        if given < lead {
            let when = given > .zero
                ? "\(ManifestDuration.format(given)) before the window"
                : given == .zero ? "as the window opened" : "\(ManifestDuration.format(.zero - given)) after the window opened"
            reasons.append(BlockReason(.noticeTooLate, "the notice went out \(when), at \(notice.sentAt); \(strictestEnvironment(group).rawValue) needs \(ManifestDuration.format(lead)) before it: announce a new window"))
        }
        reasons += staleByWave[wave.name] ?? []
        return reasons
    }

    /// Whether the wave's window and instances are still what the notice announced.
    private func staleness(of notice: NoticeRecord, for wave: Wave) -> [BlockReason] {
        var reasons: [BlockReason] = []
        if notice.window != wave.window {
            reasons.append(BlockReason(.noticeStale, "the window changed after the notice (announced \(notice.window.start) to \(notice.window.end)); a new schedule needs a new notice with the full lead time"))
        }
        let announced = Set(notice.members)
        let current = Set(waveMembers[wave.name] ?? [])
        if announced != current {
            let added = current.subtracting(announced).sorted(), removed = announced.subtracting(current).sorted()
            var change: [String] = []
            if !added.isEmpty { change.append("added \(Self.list(added))") }
            if !removed.isEmpty { change.append("removed \(Self.list(removed))") }
            reasons.append(BlockReason(.noticeStale, "the wave's instances changed after the notice (\(change.joined(separator: "; "))); send a new notice"))
        }
        return reasons
    }

    /// Names for a message: all of them when few, else the first ones and a count.
    static func list(_ names: [String], limit: Int = 10) -> String {
        names.count <= limit ? names.joined(separator: ", ") : names.prefix(limit).joined(separator: ", ") + " and \(names.count - limit) more"
    }

    func strictestEnvironment(_ group: CutoverGroup) -> Environment {
        group.instances.compactMap { name in input.fleet.instanceIndex(named: name).map { input.fleet.instances[$0].environment } }
            .max { input.fleet.policy.leadTime(for: $0) < input.fleet.policy.leadTime(for: $1) } ?? .prod
    }

    func leadTime(_ group: CutoverGroup) -> Duration { input.fleet.policy.leadTime(for: strictestEnvironment(group)) }

    // MARK: Order

    func orderReasons(_ group: CutoverGroup, wave: Wave) -> [BlockReason] {
        var reasons: [BlockReason] = []
        for before in wave.after {
            let groups = groupsByWave[before.value] ?? []
            let open = groups.filter { !isComplete($0) }
            if !open.isEmpty {
                reasons.append(BlockReason(.order, "wave '\(before.value)' must complete first: \(open.count) of \(groups.count) groups remain"))
            }
        }
        let members = Set(group.instances)
        let tenants = Set(group.instances.compactMap { name -> String? in
            guard let instance = input.fleet.instance(named: name), instance.environment == .prod else { return nil }
            return instance.tenant
        })
        for tenant in tenants.sorted() {
            let nonProduction = (nonProductionByTenant[tenant] ?? []).filter { !members.contains($0.name) }
            let waiting = nonProduction.filter { complete[$0.group] != true }
            if !waiting.isEmpty {
                reasons.append(BlockReason(.order, "tenant '\(tenant)' must migrate its non-production first: \(Self.list(waiting.map(\.name))) not yet moved"))
                continue
            }
            // By instance, not group id: a group renamed since its cut-over keeps its bake.
            let finished = nonProduction.compactMap { lastCompletedByInstance[$0.name] }
            if let last = finished.max() {
                let baked = last + input.fleet.policy.bakeTime
                if input.now < baked {
                    reasons.append(BlockReason(.order, "tenant '\(tenant)' non-production migrated at \(last) and bakes until \(baked) (bakeTime \(ManifestDuration.format(input.fleet.policy.bakeTime)))"))
                }
            }
        }
        return reasons
    }

    // MARK: Window

    func windowReasons(_ wave: Wave, expected: Duration, now: Timestamp) -> [BlockReason] {
        Planner.windowReasons(wave, expected: expected, rollbackReserve: input.fleet.policy.rollbackReserve, now: now)
    }
}
