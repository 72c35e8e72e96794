public import Logging
public import SendpathCore

/// Holds the reconciler's lease for a run: acquires it (breaking one left by a dead process on
/// this host), renews it while work goes on, and gives it up at the end.
public actor LeaseKeeper {
    public let store: any StateStore
    public let scope: String
    public let holder: LeaseHolder
    public let ttl: Duration
    private let clock: any WallClock
    private let isAlive: @Sendable (LeaseHolder) -> Bool
    private let logger: Logger
    public private(set) var lease: Lease?

    /// `clock` must be the real wall clock (not an `--at` offset): leases are about real time.
    /// `isAlive` tells whether a holder process still exists (only asked for holders on this host).
    public init(store: any StateStore, scope: String = Lease.reconcilerScope, holder: LeaseHolder, ttl: Duration = .seconds(30),
                clock: any WallClock, isAlive: @escaping @Sendable (LeaseHolder) -> Bool, logger: Logger) {
        self.store = store
        self.scope = scope
        self.holder = holder
        self.ttl = ttl
        self.clock = clock
        self.isAlive = isAlive
        self.logger = logger
    }

    /// A keeper for another scope, with the same holder, TTL, clock and liveness check.
    public nonisolated func sibling(scope: String) -> LeaseKeeper {
        LeaseKeeper(store: store, scope: scope, holder: holder, ttl: ttl, clock: clock, isAlive: isAlive, logger: logger)
    }

    /// Claims any one of `scopes` on behalf of one piece of work (`for`), with the same TTL and
    /// clock; `nil` when live holders have each of them (slots held by dead processes on this
    /// host are broken first, as ``acquire()`` does). The holder id names the work too, so two
    /// pieces of work of this process never share a lease (one's release would pull it from
    /// under the other). Throws when the store fails.
    public nonisolated func claimAny(of scopes: [String], for work: String) async throws -> LeaseKeeper? {
        let owner = LeaseHolder(id: "\(holder.id)/\(work)", host: holder.host, pid: holder.pid, command: holder.command)
        var granted = try await store.acquireAnyLease(of: scopes, holder: owner, ttl: ttl, now: clock.now())
        if granted == nil {
            var broke = false
            for scope in scopes {
                guard let stale = try await store.currentLease(scope: scope), stale.expiresAt > clock.now(),
                      isGoneFromThisHost(stale.holder) else { continue }
                try await breakLeftBehind(stale)
                broke = true
            }
            if broke { granted = try await store.acquireAnyLease(of: scopes, holder: owner, ttl: ttl, now: clock.now()) }
        }
        guard let granted else { return nil }
        let keeper = LeaseKeeper(store: store, scope: granted.scope, holder: owner, ttl: ttl, clock: clock, isAlive: isAlive, logger: logger)
        await keeper.adopt(granted)
        return keeper
    }

    /// Whether `other` (a lease read from the store) is another holder's and still live, by
    /// this keeper's (real) clock; a lease of a process on this host that is gone is not.
    public nonisolated func isLiveElsewhere(_ other: Lease) -> Bool {
        other.holder != holder && other.expiresAt > clock.now() && !isGoneFromThisHost(other.holder)
    }

    /// Whether `other` is a process of this host that no longer runs (its leases may be broken).
    public nonisolated func isGoneFromThisHost(_ other: LeaseHolder) -> Bool {
        other.host == holder.host && !isAlive(other)
    }

    /// Breaks `stale`, a lease left by a process that is gone, saying so in the log.
    private nonisolated func breakLeftBehind(_ stale: Lease) async throws {
        logger.warning("breaking a lease left by a dead process", metadata: [
            "lease.scope": "\(stale.scope)", "lease.holder": "\(stale.holder)", "lease.token": "\(stale.token)",
        ])
        try await store.breakLease(scope: stale.scope, token: stale.token)
    }

    private func adopt(_ granted: Lease) {
        lease = granted
    }

    /// Acquires the lease; throws ``StateStoreError/locked`` naming the live holder.
    @discardableResult
    public func acquire() async throws -> Lease {
        do {
            let granted = try await store.acquireLease(scope: scope, holder: holder, ttl: ttl, now: clock.now())
            lease = granted
            return granted
        } catch StateStoreError.locked(let other, _, _) where isGoneFromThisHost(other) {
            guard let stale = try await store.currentLease(scope: scope), stale.holder == other else { throw StateStoreError.leaseLost(scope: scope) }
            try await breakLeftBehind(stale)
            let granted = try await store.acquireLease(scope: scope, holder: holder, ttl: ttl, now: clock.now())
            lease = granted
            return granted
        }
    }

    /// The current grant's token.
    public var token: FencingToken? { lease?.token }

    /// Renews now; throws ``StateStoreError/leaseLost`` if another holder has it.
    public func renew() async throws {
        guard let lease else { throw StateStoreError.leaseLost(scope: scope) }
        self.lease = try await store.renewLease(lease, ttl: ttl, now: clock.now())
    }

    /// Renews every third of the TTL until cancelled. A failed renewal is tried again (a store
    /// blip must not stop a cut-over) until the lease would expire; throws when it is lost.
    public func keepRenewing() async throws {
        while !Task.isCancelled {
            try await Task.sleep(for: ttl / 3)
            while true {
                do {
                    try await renew()
                    break
                } catch StateStoreError.leaseLost(let scope) {
                    logger.error("lease lost: another reconciler holds it now", metadata: ["lease.scope": "\(scope)"])
                    throw StateStoreError.leaseLost(scope: scope)
                } catch {
                    guard let lease, clock.now() + .seconds(1) < lease.expiresAt else { throw error }
                    logger.warning("could not renew the lease; trying again", metadata: ["error": "\(error)"])
                    try await Task.sleep(for: .seconds(1))
                }
            }
        }
    }

    public func release() async {
        guard let lease else { return }
        do {
            try await store.releaseLease(lease)
        } catch {
            logger.warning("could not release the lease; it expires by itself", metadata: ["error": "\(error)"])
        }
        self.lease = nil
    }
}
