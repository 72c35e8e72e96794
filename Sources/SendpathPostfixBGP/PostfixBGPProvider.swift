public import Logging
public import SendpathCore
import Foundation
import Synchronization

/// The `postfix-bgp:CONFIG` provider: real MTAs and real routes (docs/postfix-bgp.md).
///
/// - An instance has one Postfix MTA per site; the one at its *active* site sends. The others
///   pass new mail on to it (`default_transport = smtp:[ACTIVE]:PORT`), so mail that reaches
///   any MTA of the instance is delivered once, from the active site.
/// - freeze: the active MTA holds every queued and every new message (`header_checks =
///   static:HOLD`, `postsuper -h ALL`), and the call returns once nothing is outside the hold
///   queue. unfreeze first moves what other sites hold, then releases everything.
/// - switch-path: the target MTA holds; each prefix is withdrawn at its source speaker, seen
///   gone at the collector, announced at the target, seen there (never both at once); the
///   target becomes active and the source passes new mail on to it.
/// - resend: each snapshotted message is copied, held, into the target MTA's queue, then
///   deleted at the source; the ledger and a look at the target's queue make a rerun after a
///   crash finish the move without a second copy. Released by unfreeze.
public final class PostfixBGPProvider: Provider {
    let configuration: PostfixBGPConfiguration
    let tools: ToolRunner
    let routes: BGPRoutes
    let logger: Logger

    public init(configuration: PostfixBGPConfiguration, logger: Logger) throws(ProviderError) {
        self.configuration = configuration
        self.logger = logger
        tools = ToolRunner(timeout: configuration.commandTimeout)
        routes = BGPRoutes(configuration: configuration, tools: tools)
    }

    private let openedLedger = Mutex<ProviderLedger?>(nil)
    /// Envelopes (sender, Message-ID) read from queues, by MTA, queue id and arrival time.
    let envelopeCache = Mutex<[String: MessageEnvelope]>([:])

    /// The ledger, created with its folder by the first call that changes something: a
    /// dry run or `status` creates nothing.
    var ledger: ProviderLedger {
        get throws(ProviderError) {
            if let ledger = existingLedger() { return ledger }
            do {
                try FileManager.default.createDirectory(atPath: configuration.stateDirectory, withIntermediateDirectories: true,
                                                        attributes: [.posixPermissions: 0o700])
            } catch {
                throw ProviderError(.unreachable, "cannot create the provider's state directory \(configuration.stateDirectory): \(error.localizedDescription)")
            }
            return try openedLedger.withLock { (opened: inout ProviderLedger?) throws(ProviderError) -> ProviderLedger in
                if let opened { return opened }
                let ledger = try ProviderLedger(directory: configuration.stateDirectory)
                opened = ledger
                return ledger
            }
        }
    }

    /// The ledger if it exists already (observations read it; they never create it).
    func existingLedger() -> ProviderLedger? {
        openedLedger.withLock { (opened: inout ProviderLedger?) -> ProviderLedger? in
            if let opened { return opened }
            guard FileManager.default.fileExists(atPath: ProviderLedger.path(in: configuration.stateDirectory)) else { return nil }
            opened = try? ProviderLedger(directory: configuration.stateDirectory)
            return opened
        }
    }

    /// Opens the provider a `postfix-bgp:PATH` URL names.
    public static func open(path: String, logger: Logger) throws -> PostfixBGPProvider {
        try PostfixBGPProvider(configuration: try PostfixBGPConfiguration.load(path: path), logger: logger)
    }

    func mta(_ instance: String, _ site: Infrastructure) throws(ProviderError) -> PostfixMTA {
        guard let sites = configuration.instances[instance] else {
            throw ProviderError(.notFound, "the provider configuration has no instance \(instance)")
        }
        guard let directory = sites[site] else {
            throw ProviderError(.rejected, "instance \(instance) has no MTA at site \(site.rawValue) in the provider configuration")
        }
        return PostfixMTA(directory: directory, tools: tools)
    }

    /// Each instance's active site: the ledger's, or, for an instance the provider has not
    /// changed yet, the first site whose MTA sends (else the first that holds), in
    /// adobe-dc, aws order.
    func activeSites(_ names: [String]) async throws(ProviderError) -> [String: Infrastructure] {
        let known = try await existingLedger()?.instances(names) ?? [:]
        var result: [String: Infrastructure] = [:]
        for name in names {
            if let row = known[name] { result[name] = row.active; continue }
            guard let sites = configuration.instances[name] else { continue }
            var holding: Infrastructure?
            for site in Infrastructure.allCases where sites[site] != nil {
                switch try await mta(name, site).role() {
                case .sending: result[name] = site
                case .frozen: holding = holding ?? site
                case .forwarding: break
                }
                if result[name] != nil { break }
            }
            result[name] = result[name] ?? holding ?? Infrastructure.allCases.first { sites[$0] != nil }
        }
        return result
    }

    // MARK: - Observations

    public func observeInstances(_ names: [String], step: StepName?) async throws(ProviderError) -> [String: ObservedInstance] {
        let names = Array(Set(names)).sorted().filter { configuration.instances[$0] != nil }
        let active = try await activeSites(names)
        let prepared = try await existingLedger()?.instances(names) ?? [:]
        var result: [String: ObservedInstance] = [:]
        for name in names {
            guard let site = active[name] else { continue }
            let sender = try mta(name, site)
            var depth = 0
            for other in Infrastructure.allCases where configuration.instances[name]?[other] != nil {
                depth += try await mta(name, other).queue().count
            }
            result[name] = ObservedInstance(name: name, path: configuration.path(site), frozen: try await sender.role() == .frozen,
                                            sendingIPs: try await sender.sendingIPs(), build: try sender.build(),
                                            queueDepth: min(depth, maximumMessageCount),
                                            preparedTarget: prepared[name]?.prepared.map(configuration.path))
        }
        return result
    }

    public func observePrefixes(_ cidrs: [AddressBlock]) async throws(ProviderError) -> [AddressBlock: ObservedPrefix] {
        let heard = try await routes.heardAt(collector: Set(cidrs))
        var result: [AddressBlock: ObservedPrefix] = [:]
        for cidr in cidrs {
            result[cidr] = ObservedPrefix(cidr: cidr, advertisedFrom: (heard[cidr] ?? []).sorted { $0.rawValue < $1.rawValue }.map(configuration.path))
        }
        return result
    }

    public func highestFencingToken() async throws(ProviderError) -> FencingToken {
        try await existingLedger()?.highestToken() ?? FencingToken(0)
    }

    // MARK: - Calls

    /// Runs a mutating call at most once per idempotency key, after the fencing check; the
    /// work itself is idempotent, so a call cut short (a crash, a timeout) is done again whole.
    func once<Answer: Codable & Sendable>(_ operation: String, _ request: some Encodable, resources: [String],
                                          context: MutationContext,
                                          _ work: () async throws(ProviderError) -> Answer) async throws(ProviderError) -> Answer {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let requestText = String(decoding: (try? encoder.encode(request)) ?? Data(), as: UTF8.self)
        try await ledger.fence(resources, token: context.fencingToken)
        if let stored = try await ledger.answer(key: context.idempotencyKey, operation: operation, request: requestText),
           let answer = try? JSONDecoder().decode(Answer.self, from: Data(stored.utf8)) {
            return answer
        }
        let answer = try await work()
        let answerText = String(decoding: (try? encoder.encode(answer)) ?? Data("null".utf8), as: UTF8.self)
        try await ledger.finish(key: context.idempotencyKey, operation: operation, request: requestText, answer: answerText)
        logger.info("postfix-bgp call done", metadata: ["operation": "\(operation)", "key": "\(context.idempotencyKey)"])
        return answer
    }

    /// What a path change fences: its instances and its prefixes.
    func resources(_ change: PathChange) -> [String] {
        change.instances.keys.sorted() + change.prefixes.keys.map { "prefix:\($0)" }.sorted()
    }

    public func prepareTarget(_ change: PathChange, context: MutationContext) async throws(ProviderError) {
        _ = try await once("prepare-target", change, resources: resources(change), context: context) { () async throws(ProviderError) -> Bool in
            let active = try await activeSites(Array(change.instances.keys))
            for (name, path) in change.instances.sorted(by: { $0.key < $1.key }) {
                guard let current = active[name] else { throw ProviderError(.notFound, "no instance \(name)") }
                let target = try mta(name, path.infrastructure)
                guard try await target.isRunning() else {
                    throw ProviderError(.rejected, "the MTA of \(name) at \(path.infrastructure.rawValue) (\(target.directory)) is not running")
                }
                _ = try target.build()
                if path.infrastructure != current {
                    try await target.assume(.forwarding(to: try await mta(name, current).submitAddress()))
                }
                try await ledger.setPrepared(name, path.infrastructure, active: current)
            }
            _ = try await routes.localRIB(change.prefixes.values.first?.infrastructure ?? .aws)
            return true
        }
    }

    public func freeze(_ instances: [String], context: MutationContext) async throws(ProviderError) {
        _ = try await once("freeze", instances.sorted(), resources: instances.sorted(), context: context) { () async throws(ProviderError) -> Bool in
            let active = try await activeSites(instances)
            for name in instances.sorted() {
                guard let site = active[name] else { throw ProviderError(.notFound, "no instance \(name)") }
                try await hold(try mta(name, site))
            }
            return true
        }
    }

    /// Makes `mta` hold everything, and waits until nothing of its queue is outside `hold`
    /// (a message already being delivered finishes first).
    func hold(_ mta: PostfixMTA) async throws(ProviderError) {
        try await mta.assume(.frozen)
        let deadline = ContinuousClock.now + configuration.commandTimeout * 2
        // Complete when two checks 100 ms apart find everything held and no held file locked
        // by a delivery agent (a listing can miss a message moving between queues).
        var quietChecks = 0
        while true {
            try await mta.holdAll()
            let loose = try await mta.queue().filter { $0.queueName != "hold" }
            if loose.isEmpty, try await !mta.holdQueueIsLocked() {
                quietChecks += 1
                if quietChecks == 2 { return }
            } else {
                quietChecks = 0
            }
            guard ContinuousClock.now < deadline else {
                throw ProviderError(.timeout, "messages of the MTA at \(mta.directory) are still outside the hold queue or being delivered")
            }
            do { try await Task.sleep(for: .milliseconds(100)) } catch { throw ProviderError(.transient, "cancelled while freezing \(mta.directory)") }
        }
    }

    public func snapshotQueue(_ instances: [String], context: MutationContext) async throws(ProviderError) -> [QueueSnapshot] {
        try await once("snapshot-queue", instances.sorted(), resources: instances.sorted(), context: context) { () async throws(ProviderError) -> [QueueSnapshot] in
            let active = try await activeSites(instances)
            var snapshots: [QueueSnapshot] = []
            for name in instances.sorted() {
                guard let site = active[name] else { throw ProviderError(.notFound, "no instance \(name)") }
                var messages = try await ledger.snapshot(key: context.idempotencyKey, instance: name)?.messages
                if messages == nil {
                    let source = try mta(name, site)
                    // A held message with no recipient left was delivered while it was being held.
                    let entries = try await source.queue().filter { $0.queueName == "hold" && !$0.recipients.isEmpty }
                    let known = try await envelopes(of: entries, at: source)
                    var taken = entries.compactMap { entry in
                        known[entry.queueID]?.messageID.map { SnapshotMessage(queueID: entry.queueID, messageID: $0, arrival: entry.arrivalTime) }
                    }
                    taken.sort { ($0.arrival, $0.queueID) < ($1.arrival, $1.queueID) }
                    try await ledger.saveSnapshot(key: context.idempotencyKey, instance: name, site: site, messages: taken)
                    messages = taken
                }
                let list = messages ?? []
                snapshots.append(QueueSnapshot(instance: name, messageCount: list.count, digest: Self.digest(list),
                                               oldestEnqueuedAt: list.first.map { Timestamp(secondsSinceEpoch: $0.arrival) },
                                               messages: list.map { QueuedMessage(id: $0.messageID, enqueuedAt: Timestamp(secondsSinceEpoch: $0.arrival)) }))
            }
            return snapshots
        }
    }

    /// FNV-1a (64 bits) over the sorted queue ids and Message-IDs: equal sets, equal digests.
    static func digest(_ messages: [SnapshotMessage]) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for line in messages.map({ $0.queueID + " " + $0.messageID }).sorted() {
            for byte in line.utf8 + [10] {
                hash ^= UInt64(byte)
                hash = hash &* 0x0000_0100_0000_01b3
            }
        }
        return String(hash, radix: 16)
    }
}
