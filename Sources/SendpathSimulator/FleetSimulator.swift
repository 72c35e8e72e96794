public import SendpathCore
public import Logging
import Foundation
import GRDB
import SendpathSQLiteOpening

/// The embedded fleet simulator (`sim:PATH`): a persistent, crash-safe model of the fleet's
/// sending infrastructure in its own SQLite file, behind the ``Provider`` protocol.
///
/// Every mutating call is one write transaction: a process killed mid-call leaves the file as
/// before or after the call, never between. The simulator enforces the provider contract
/// (idempotency keys, fencing tokens), models instances, prefixes and queued messages, injects
/// the faults it is given, and records every invariant breach it is asked to commit. It also
/// logs what happens (deliveries with their place and IPs, announcements and withdrawals,
/// freezes and moves); ``check()`` computes every invariant from that log. Time comes from
/// the injected ``WallClock``; `latency` is awaited on that clock before every operation.
///
/// The file is created with mode 0600 (its parent folders too when missing), in WAL mode with a
/// busy timeout, so a `simulator check` may read it while a reconciler writes.
public final class FleetSimulator: Provider {
    let pool: DatabasePool
    /// A read-only opener's migrated copy of an older file, removed with the simulator.
    let temporaryFolder: String?
    /// Opened for reading only (`simulator check`, a dry run): observations never write, so
    /// armed faults and late effects wait for a reconciler that may change the fleet.
    let readOnly: Bool
    let clock: any WallClock
    let latency: Duration
    let faults: [ArmedFault]
    let logger: Logger

    /// The data-center site an instance starts at when its manifest targets AWS.
    public static let defaultSite = SendingPath(infrastructure: .adobeDC, location: "dc1")

    /// Opens (creating if needed, with its folders) the fleet file at `path`. With
    /// `create: false` (`simulator check`, a dry run) a missing file is refused and nothing is
    /// created. A file that holds another kind's tables (a state database) is refused before
    /// anything is written to it. With `privateCopy`, the simulator works on a temporary copy
    /// of the file (a dry run whose manifests name instances the file does not know yet).
    public init(path: String, clock: any WallClock, latency: Duration = .zero, faults: [FaultRule] = [],
                logger: Logger, create: Bool = true, privateCopy: Bool = false) throws {
        self.clock = clock
        self.latency = latency
        self.faults = ArmedFault.arm(faults)
        self.logger = logger
        do {
            let file = PrivateDatabaseFile(path: path)
            let created: Bool
            if create {
                created = try file.prepare()
            } else {
                try file.requireExisting(name: "fleet simulator file")
                created = false
            }
            // A reader changes nothing, not even the file's mode.
            if create && !created { try file.restrict() }
            var configuration = Configuration()
            configuration.label = "sendpath.fleet-simulator"
            configuration.busyMode = .timeout(10)
            configuration.prepareDatabase { db in
                // WAL with synchronous NORMAL: every transaction is atomic and survives the death of
                // the process that wrote it (what the crash tests kill); only a power loss may undo the
                // last commits, which a simulator need not survive. FULL would fsync every call.
                try db.execute(sql: "PRAGMA synchronous = NORMAL")
            }
            // Two reconcilers may create the same new fleet file at one moment.
            let opened = try MigratedDatabasePool.open(
                path: path, configuration: configuration, migrator: FleetSchema.migrator, busyTimeout: .seconds(10),
                kind: .fleet, access: privateCopy ? .privateCopy : create ? .readWrite : .readOnly)
            pool = opened.pool
            temporaryFolder = opened.temporaryFolder
            readOnly = pool.configuration.readonly
            if created { try file.restrictCompanions() }
        } catch {
            throw ProviderError(.unreachable, "cannot open the fleet simulator file '\(path)': \(error)")
        }
    }

    deinit {
        if let temporaryFolder { try? FileManager.default.removeItem(atPath: temporaryFolder) }
    }

    // MARK: - Reports

    /// The invariants, as they hold now (see ``InvariantReport``).
    public func check() async throws(ProviderError) -> InvariantReport {
        do {
            return try await pool.read { db in try InvariantReport.read(db) }
        } catch {
            throw Self.storeError(error)
        }
    }

    // MARK: - Provider: observations

    public func observeInstances(_ names: [String], step: StepName?) async throws(ProviderError) -> [String: ObservedInstance] {
        try await pause()
        // Distinct and sorted; a whole fleet's names (100,000) usually come that way already.
        let names = names.isStrictlyAscending ? names : Array(Set(names)).sorted()
        let armed = step.map { step in faults.contains { $0.rule.operation == step && names.contains($0.rule.instance) } } ?? false
        let result: Result<[String: ObservedInstance], ProviderError>
        do {
            if (armed || holdsLateFaults) && !readOnly {
                // A verification fault may fire, or a late effect land: this observation writes.
                result = try await pool.write { db in
                    let tx = FleetTransaction(db: db, now: self.clock.now())
                    try self.landPendingEffects(except: nil, in: tx)
                    guard let step, armed else { return .success(try tx.observations(names)) }
                    return try self.observe(names, step: step, in: tx)
                }
            } else {
                result = try await pool.read { db in
                    .success(try FleetTransaction(db: db, now: self.clock.now()).observations(names))
                }
            }
        } catch {
            throw Self.storeError(error)
        }
        return try result.get()
    }

    private func observe(_ names: [String], step: StepName, in tx: FleetTransaction) throws -> Result<[String: ObservedInstance], ProviderError> {
        let firing = try firingFaults(step: step, instances: names, in: tx)
        for effect in [FaultEffect.error, .timeout] {
            let matching = firing.filter { $0.rule.effect == effect }
            guard !matching.isEmpty else { continue }
            for fault in matching { try tx.consumeFault(fault.key) }
            let instances = matching.map(\.rule.instance).joined(separator: ", ")
            return .failure(effect == .error
                ? ProviderError(.transient, "injected fault: observing \(instances) for \(step.rawValue) failed; retry")
                : ProviderError(.timeout, "injected fault: observing \(instances) for \(step.rawValue) timed out; retry"))
        }
        for fault in firing where fault.rule.effect == .changeIPs || fault.rule.effect == .changeBuild {
            try tx.consumeFault(fault.key)
            try applyOverride(fault, in: tx)
        }
        let observations = try tx.observations(names)
        try applyArrivals(firing, cause: "observe:\(step.rawValue)", in: tx)
        return .success(observations)
    }

    public func observePrefixes(_ cidrs: [AddressBlock]) async throws(ProviderError) -> [AddressBlock: ObservedPrefix] {
        try await pause()
        do {
            if holdsLateFaults && !readOnly {
                try await pool.write { db in try self.landPendingEffects(except: nil, in: FleetTransaction(db: db, now: self.clock.now())) }
            }
            return try await pool.read { db in
                let known = try FleetTransaction(db: db, now: self.clock.now()).prefixes()
                var result: [AddressBlock: ObservedPrefix] = [:]
                for cidr in cidrs {
                    if let places = known[cidr] { result[cidr] = ObservedPrefix(cidr: cidr, advertisedFrom: places) }
                }
                return result
            }
        } catch {
            throw Self.storeError(error)
        }
    }

    // MARK: - Provider: mutations

    public func prepareTarget(_ change: PathChange, context: MutationContext) async throws(ProviderError) {
        _ = try await perform(.prepareTarget(change), context: context)
    }

    public func freeze(_ instances: [String], context: MutationContext) async throws(ProviderError) {
        _ = try await perform(.freeze(instances), context: context)
    }

    public func snapshotQueue(_ instances: [String], context: MutationContext) async throws(ProviderError) -> [QueueSnapshot] {
        try Self.decode(try await perform(.snapshotQueue(instances), context: context))
    }

    public func switchPath(_ change: PathChange, context: MutationContext) async throws(ProviderError) {
        _ = try await perform(.switchPath(change), context: context)
    }

    public func resend(_ instances: [String], snapshotKey: String, maxAge: Duration,
                       context: MutationContext) async throws(ProviderError) -> [ResendResult] {
        try Self.decode(try await perform(.resend(instances, snapshotKey: snapshotKey, maxAgeNanoseconds: maxAge.nanoseconds),
                                          context: context))
    }

    public func unfreeze(_ instances: [String], context: MutationContext) async throws(ProviderError) {
        _ = try await perform(.unfreeze(instances), context: context)
    }

    public func rollbackPath(_ change: PathChange, context: MutationContext) async throws(ProviderError) {
        _ = try await perform(.rollbackPath(change), context: context)
    }

    // MARK: - Plumbing

    /// The per-operation latency, on the injected clock.
    private func pause() async throws(ProviderError) {
        do {
            try await clock.sleep(for: latency)
        } catch {
            throw ProviderError(.transient, "the call was cancelled before it reached the fleet simulator")
        }
    }

    /// Runs one mutating call in one write transaction (see ``run(_:_:in:)``); a `duplicate`
    /// fault runs it twice at once.
    private func perform(_ request: MutationRequest, context: MutationContext) async throws(ProviderError) -> Data {
        try await pause()
        let call = request.call(context)
        if try await duplicateFires(call) {
            return try await performTwice(request, call)
        }
        return try await performOnce(request, call)
    }

    /// One mutating call in its own write transaction.
    func performOnce(_ request: MutationRequest, _ call: MutationCall) async throws(ProviderError) -> Data {
        let result: Result<Data, ProviderError>
        do {
            result = try await pool.write { db in
                try self.run(request, call, in: FleetTransaction(db: db, now: self.clock.now()))
            }
        } catch {
            throw Self.storeError(error)
        }
        if case .failure(let error) = result {
            logger.debug("fleet simulator: call refused", metadata: [
                "step.name": "\(call.context.step.rawValue)", "error.code": "\(error.code.rawValue)",
                "idempotency.key": "\(call.context.idempotencyKey)",
            ])
        }
        return try result.get()
    }

    static func decode<T: Decodable>(_ data: Data) throws(ProviderError) -> T {
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch {
            throw ProviderError(.unreachable, "the fleet simulator file holds an unreadable stored answer: \(error)")
        }
    }

    static func encode(_ value: some Encodable) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return try encoder.encode(value)
    }

    /// A storage failure as a provider error: a busy file may pass, anything else will not.
    static func storeError(_ error: any Error) -> ProviderError {
        if let error = error as? ProviderError { return error }
        if let error = error as? DatabaseError,
           error.resultCode == .SQLITE_BUSY || error.resultCode == .SQLITE_LOCKED {
            return ProviderError(.transient, "the fleet simulator file is busy: \(error.message ?? "locked"); retry")
        }
        if error is CancellationError {
            return ProviderError(.transient, "the call was cancelled before the fleet simulator answered")
        }
        return ProviderError(.unreachable, "the fleet simulator file failed: \(error)")
    }
}
