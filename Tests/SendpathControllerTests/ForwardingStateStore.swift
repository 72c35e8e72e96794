import SendpathCore

/// A test store that wraps another and changes a few calls: every call it does not implement
/// itself goes to `forwardee` unchanged.
protocol ForwardingStateStore: StateStore {
    var forwardee: any StateStore { get }
}

extension ForwardingStateStore {
    func acquireLease(scope: String, holder: LeaseHolder, ttl: Duration, now: Timestamp) async throws -> Lease {
        try await forwardee.acquireLease(scope: scope, holder: holder, ttl: ttl, now: now)
    }
    func renewLease(_ lease: Lease, ttl: Duration, now: Timestamp) async throws -> Lease {
        try await forwardee.renewLease(lease, ttl: ttl, now: now)
    }
    func raiseTokenFloor(above token: FencingToken) async throws { try await forwardee.raiseTokenFloor(above: token) }
    func releaseLease(_ lease: Lease) async throws { try await forwardee.releaseLease(lease) }
    func breakLease(scope: String, token: FencingToken) async throws { try await forwardee.breakLease(scope: scope, token: token) }
    func currentLease(scope: String) async throws -> Lease? { try await forwardee.currentLease(scope: scope) }
    func beginCutover(_ record: CutoverRecord) async throws { try await forwardee.beginCutover(record) }
    func append(_ entry: JournalEntry) async throws { try await forwardee.append(entry) }
    func finishCutover(id: String, outcome: CutoverOutcome, reason: String?, at: Timestamp) async throws {
        try await forwardee.finishCutover(id: id, outcome: outcome, reason: reason, at: at)
    }
    func cutovers(groups: Set<String>?) async throws -> [CutoverRecord] { try await forwardee.cutovers(groups: groups) }
    func preparations(groups: Set<String>?) async throws -> [JournalEntry] { try await forwardee.preparations(groups: groups) }
    func recordNotice(_ notice: NoticeRecord) async throws { try await forwardee.recordNotice(notice) }
    func notices() async throws -> [String: NoticeRecord] { try await forwardee.notices() }
    func recordRun(_ run: RunRecord) async throws { try await forwardee.recordRun(run) }
    func recentRuns(limit: Int) async throws -> [RunRecord] { try await forwardee.recentRuns(limit: limit) }
    func recordDelivery(_ delivery: NoticeDelivery) async throws { try await forwardee.recordDelivery(delivery) }
    func deliveries(wave: String) async throws -> [NoticeDelivery] { try await forwardee.deliveries(wave: wave) }
    func recordControl(_ control: ControlRecord) async throws { try await forwardee.recordControl(control) }
    func controls() async throws -> [ControlRecord] { try await forwardee.controls() }
}
