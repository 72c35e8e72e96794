/// Where Sendpath keeps what it did and what it announced: the journal of cut-overs,
/// notices, run history and leases with fencing tokens.
///
/// Implementations: ``InMemoryStateStore`` (tests), SQLite (GRDB) and PostgreSQL. One contract
/// test body runs against each. Every write is durable when the call returns.
public protocol StateStore: Sendable {
    /// Grants the lease on `scope` to `holder` for `ttl` when it is free, expired, or already
    /// the holder's (a re-grant keeps the token); otherwise throws ``StateStoreError/locked``.
    /// Each new grant gets a token greater than every token this store has granted before.
    func acquireLease(scope: String, holder: LeaseHolder, ttl: Duration, now: Timestamp) async throws -> Lease

    /// Grants `holder` one of `scopes` that is free, expired or already its own (like
    /// ``acquireLease(scope:holder:ttl:now:)``), or returns `nil` when another holder has each.
    /// Used for a wave's slots: any one will do.
    func acquireAnyLease(of scopes: [String], holder: LeaseHolder, ttl: Duration, now: Timestamp) async throws -> Lease?

    /// Makes every later grant carry a token greater than `token` (a provider has seen it from
    /// another store); never lowers the sequence.
    func raiseTokenFloor(above token: FencingToken) async throws

    /// Extends a lease that is still the current grant; throws ``StateStoreError/leaseLost`` otherwise.
    func renewLease(_ lease: Lease, ttl: Duration, now: Timestamp) async throws -> Lease

    /// Gives the lease up if it is still this version of the current grant (same token and
    /// expiry): a release that arrives after a renewal or re-grant changes nothing.
    func releaseLease(_ lease: Lease) async throws

    /// Removes the lease on `scope` if its token is still `token` (used to break the lease
    /// of a holder known to be dead).
    func breakLease(scope: String, token: FencingToken) async throws

    /// The current lease on `scope`, if any (expired or not).
    func currentLease(scope: String) async throws -> Lease?

    /// Records the start of a cut-over (its baseline); entries follow with ``append(_:)``.
    func beginCutover(_ record: CutoverRecord) async throws

    /// Appends one journal entry, durably.
    ///
    /// Fenced: an entry whose token is lower than the token of the current lease on
    /// `group:<entry.group>` or on `reconciler` (expired or not) comes from a holder that has
    /// lost its lease, and is refused with ``StateStoreError/leaseLost``, except entries of
    /// phase `fenced`, which record exactly that refusal.
    func append(_ entry: JournalEntry) async throws

    /// Records how a cut-over ended.
    func finishCutover(id: String, outcome: CutoverOutcome, reason: String?, at: Timestamp) async throws

    /// Every cut-over of the given groups (all groups when `nil`), oldest first, with entries.
    func cutovers(groups: Set<String>?) async throws -> [CutoverRecord]

    /// Journal entries not part of a cut-over (prepare-target), oldest first.
    func preparations(groups: Set<String>?) async throws -> [JournalEntry]

    /// Stores a notice; it supersedes the wave's earlier notice.
    func recordNotice(_ notice: NoticeRecord) async throws

    /// The latest notice of each wave.
    func notices() async throws -> [String: NoticeRecord]

    /// Records that a tenant was told of a notice by a channel. The first delivery of a
    /// (wave, notice key, tenant, channel) stands; a repeat changes nothing.
    func recordDelivery(_ delivery: NoticeDelivery) async throws

    /// Every delivery of a wave's notices, oldest first.
    func deliveries(wave: String) async throws -> [NoticeDelivery]

    /// Inserts or updates a run by id.
    func recordRun(_ run: RunRecord) async throws

    /// The most recent runs, newest first.
    func recentRuns(limit: Int) async throws -> [RunRecord]

    /// Records an operator's decision (suspend, resume, approve), durably, after every earlier one.
    func recordControl(_ control: ControlRecord) async throws

    /// Every recorded control, oldest first.
    func controls() async throws -> [ControlRecord]

    /// Whether several reconcilers may share this store's work, each claiming cut-over groups
    /// with a lease per group (PostgreSQL). Otherwise one reconciler at a time holds the
    /// store's `reconciler` lease (SQLite).
    var sharesWork: Bool { get }
}

extension StateStore {
    public var sharesWork: Bool { false }

    /// One scope at a time, in order (a store that can do better in one step overrides this).
    public func acquireAnyLease(of scopes: [String], holder: LeaseHolder, ttl: Duration, now: Timestamp) async throws -> Lease? {
        for scope in scopes {
            do {
                return try await acquireLease(scope: scope, holder: holder, ttl: ttl, now: now)
            } catch StateStoreError.locked {
                continue
            }
        }
        return nil
    }
}
