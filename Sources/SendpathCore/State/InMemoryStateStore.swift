/// The in-memory twin of the durable stores: same contract, nothing persisted.
/// For tests and for `--state memory:`.
public actor InMemoryStateStore: StateStore, JournalCursorReading {
    private var leases: [String: Lease] = [:]
    /// The last token granted per scope, kept after release: the journal's fence.
    private var granted: [String: FencingToken] = [:]
    private var lastToken: Int64 = 0
    private var cutoverList: [CutoverRecord] = []
    private var preparationList: [JournalEntry] = []
    private var noticeByWave: [String: NoticeRecord] = [:]
    private var runs: [RunRecord] = []
    private var controlList: [ControlRecord] = []
    /// Every entry in append order, numbered from 1, for readers that follow the journal.
    private var journalLog: [SequencedEntry] = []
    private var deliveryList: [NoticeDelivery] = []
    /// Whether reconcilers share its work through per-group leases (like PostgreSQL).
    public nonisolated let sharesWork: Bool

    public init(sharesWork: Bool = false) {
        self.sharesWork = sharesWork
    }

    public func recordControl(_ control: ControlRecord) { controlList.append(control) }

    public func controls() -> [ControlRecord] { controlList }

    public func acquireLease(scope: String, holder: LeaseHolder, ttl: Duration, now: Timestamp) throws -> Lease {
        if let current = leases[scope], current.expiresAt > now, current.holder.id != holder.id {
            throw StateStoreError.locked(holder: current.holder, scope: scope, expiresAt: current.expiresAt)
        }
        if let current = leases[scope], current.holder.id == holder.id, current.expiresAt > now {
            var renewed = current
            renewed.expiresAt = now + ttl
            leases[scope] = renewed
            return renewed
        }
        lastToken += 1
        let lease = Lease(scope: scope, holder: holder, token: FencingToken(lastToken), acquiredAt: now, expiresAt: now + ttl)
        leases[scope] = lease
        granted[scope] = lease.token
        return lease
    }

    public func raiseTokenFloor(above token: FencingToken) {
        lastToken = max(lastToken, token.value)
    }

    public func renewLease(_ lease: Lease, ttl: Duration, now: Timestamp) throws -> Lease {
        guard var current = leases[lease.scope], current.token == lease.token, current.holder.id == lease.holder.id else {
            throw StateStoreError.leaseLost(scope: lease.scope)
        }
        current.expiresAt = now + ttl
        leases[lease.scope] = current
        return current
    }

    public func releaseLease(_ lease: Lease) {
        if leases[lease.scope]?.token == lease.token && leases[lease.scope]?.expiresAt == lease.expiresAt { leases[lease.scope] = nil }
    }

    public func breakLease(scope: String, token: FencingToken) {
        if leases[scope]?.token == token { leases[scope] = nil }
    }

    public func currentLease(scope: String) -> Lease? { leases[scope] }

    public func beginCutover(_ record: CutoverRecord) throws {
        guard !cutoverList.contains(where: { $0.id == record.id }) else {
            throw StateStoreError.corrupt("cut-over \(record.id) already exists")
        }
        cutoverList.append(record)
        for entry in record.entries { journalLog.append(SequencedEntry(sequence: Int64(journalLog.count + 1), entry: entry)) }
    }

    public func append(_ entry: JournalEntry) throws {
        if entry.phase != .fenced {
            for scope in [Lease.groupScope(entry.group), Lease.reconcilerScope] {
                if let last = granted[scope], last > entry.fencingToken {
                    throw StateStoreError.leaseLost(scope: scope)
                }
            }
        }
        guard let id = entry.cutoverID else {
            preparationList.append(entry)
            journalLog.append(SequencedEntry(sequence: Int64(journalLog.count + 1), entry: entry))
            return
        }
        guard let index = cutoverList.firstIndex(where: { $0.id == id }) else {
            throw StateStoreError.corrupt("no cut-over \(id) for a journal entry")
        }
        cutoverList[index].entries.append(entry)
        journalLog.append(SequencedEntry(sequence: Int64(journalLog.count + 1), entry: entry))
    }

    public func journalEntries(after sequence: Int64, including: [Int64], limit: Int) -> [SequencedEntry] {
        let start = Int(max(0, min(sequence, Int64(journalLog.count))))
        let earlier = Set(including).filter { $0 >= 1 && $0 <= Int64(start) }.sorted().map { journalLog[Int($0) - 1] }
        return earlier + journalLog[start..<min(journalLog.count, start + max(1, limit))]
    }

    /// Cut-overs are numbered from 1 in the order they were begun.
    public func cutoverHeaders(after sequence: Int64, including: [String], limit: Int) -> [SequencedCutover] {
        let start = Int(max(0, min(sequence, Int64(cutoverList.count))))
        let wanted = Set(including)
        let earlier = cutoverList[..<start].indices.filter { wanted.contains(cutoverList[$0].id) }
        return (earlier + Array(start..<min(cutoverList.count, start + max(1, limit)))).map { index in
            var record = cutoverList[index]
            record.entries = []
            return SequencedCutover(sequence: Int64(index + 1), record: record)
        }
    }

    public func finishCutover(id: String, outcome: CutoverOutcome, reason: String?, at: Timestamp) throws {
        guard let index = cutoverList.firstIndex(where: { $0.id == id }) else {
            throw StateStoreError.corrupt("no cut-over \(id) to finish")
        }
        cutoverList[index].outcome = outcome
        cutoverList[index].reason = reason
        cutoverList[index].finishedAt = at
    }

    public func cutovers(groups: Set<String>?) -> [CutoverRecord] {
        guard let groups else { return cutoverList }
        return cutoverList.filter { groups.contains($0.group) }
    }

    public func preparations(groups: Set<String>?) -> [JournalEntry] {
        guard let groups else { return preparationList }
        return preparationList.filter { groups.contains($0.group) }
    }

    public func recordNotice(_ notice: NoticeRecord) { noticeByWave[notice.wave] = notice }

    public func notices() -> [String: NoticeRecord] { noticeByWave }

    public func recordDelivery(_ delivery: NoticeDelivery) {
        guard !deliveryList.contains(where: {
            $0.wave == delivery.wave && $0.noticeKey == delivery.noticeKey && $0.tenant == delivery.tenant && $0.channel == delivery.channel
        }) else { return }
        deliveryList.append(delivery)
    }

    public func deliveries(wave: String) -> [NoticeDelivery] { deliveryList.filter { $0.wave == wave } }

    public func recordRun(_ run: RunRecord) {
        if let index = runs.firstIndex(where: { $0.id == run.id }) { runs[index] = run } else { runs.append(run) }
    }

    public func recentRuns(limit: Int) -> [RunRecord] {
        Array(runs.sorted { $0.startedAt > $1.startedAt }.prefix(limit))
    }
}
