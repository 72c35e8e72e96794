public import SendpathCore

/// What `sendpath notify` recorded (or found already recorded) for a wave.
public struct NoticeReport: Sendable, Codable {
    public var notice: NoticeRecord
    /// Whether this call recorded it (false: a notice with the same window and members stood already).
    public var recorded: Bool
    public var groups: Int
    public var maxParallel: Int
    /// The lead time the wave's strictest environment needs, and whether the notice gives it.
    public var requiredLeadTimeSeconds: Double
    public var leadTimeMet: Bool
    public var superseded: NoticeRecord?
}

/// Records notices: the instances, the window and the expected duration, announced now.
public struct NoticeDesk: Sendable {
    public let fleet: Fleet
    public let provider: any Provider
    public let store: any StateStore

    public init(fleet: Fleet, provider: any Provider, store: any StateStore) {
        self.fleet = fleet
        self.provider = provider
        self.store = store
    }

    /// The wave's expected duration, as a notice announces it (from the queues observed now).
    public func expectedDuration(wave waveName: String) async throws -> Duration {
        guard let wave = fleet.wave(named: waveName) else { throw StateStoreError.corrupt("no wave named \(waveName)") }
        let groups = fleet.groups(inWave: wave.name)
        let members = fleet.instances.filter { $0.wave.value == wave.name }.map(\.name).sorted()
        let observed = try await provider.observeInstances(members, step: nil)
        // Paged and compacted: the estimator reads only the forward steps done of ended cut-overs.
        let journal = try await JournalFollower(store: store, compactingFinished: true).cutovers()
        let estimator = DurationEstimator(journal: journal)
        let durations = groups.map { group in
            estimator.cutover(group, queuedMessages: group.instances.reduce(0) { $0 + (observed[$1]?.queueDepth ?? 0) })
        }
        return estimator.wave(durations, maxParallel: wave.maxParallel)
    }

    /// Records a notice for `waveName` sent at `now`, unless the notice in force already
    /// announces this window and these instances (then it is returned unchanged).
    ///
    /// `deliveredAt`: the notice was delivered to every tenant by `notify --smtp/--sendmail/
    /// --webhook`, the last of them at that time. A new notice (none in force, or the window or
    /// the members changed) counts from then, not from now. A notice in force for this window
    /// and these members stands: the tenants were told by then already (by another system).
    public func notify(wave waveName: String, now: Timestamp, deliveredAt: Timestamp? = nil) async throws -> NoticeReport {
        guard let wave = fleet.wave(named: waveName) else { throw StateStoreError.corrupt("no wave named \(waveName)") }
        let groups = fleet.groups(inWave: wave.name)
        let members = fleet.instances.filter { $0.wave.value == wave.name }.map(\.name).sorted()
        let expected = try await expectedDuration(wave: wave.name)
        let environments = Set(members.compactMap { fleet.instance(named: $0)?.environment })
        let required = environments.map { fleet.policy.leadTime(for: $0) }.max() ?? .zero

        let existing = try await store.notices()[wave.name]
        var inForce = existing
        if let declared = wave.noticeSentAt?.value, existing.map({ $0.sentAt < declared }) ?? true {
            inForce = NoticeRecord(wave: wave.name, sentAt: declared, window: wave.window, members: members,
                                   expectedDuration: expected, source: .manifest, recordedAt: now)
        }
        if let inForce, inForce.window == wave.window, inForce.members == members {
            if inForce.source == .manifest && existing != inForce { try await store.recordNotice(inForce) }
            return NoticeReport(notice: inForce, recorded: false, groups: groups.count, maxParallel: wave.maxParallel,
                                requiredLeadTimeSeconds: required.seconds, leadTimeMet: wave.window.start - inForce.sentAt >= required,
                                superseded: nil)
        }
        let sentAt = deliveredAt ?? now
        let notice = NoticeRecord(wave: wave.name, sentAt: sentAt, window: wave.window, members: members,
                                  expectedDuration: expected, source: .recorded, recordedAt: now)
        try await store.recordNotice(notice)
        return NoticeReport(notice: notice, recorded: true, groups: groups.count, maxParallel: wave.maxParallel,
                            requiredLeadTimeSeconds: required.seconds, leadTimeMet: wave.window.start - sentAt >= required,
                            superseded: inForce)
    }
}
