public import SendpathCore
import Foundation

extension PostfixBGPProvider {
    // MARK: - Paths

    public func switchPath(_ change: PathChange, context: MutationContext) async throws(ProviderError) {
        _ = try await once("switch-path", change, resources: resources(change), context: context) { () async throws(ProviderError) -> Bool in
            try await move(change)
            return true
        }
    }

    public func rollbackPath(_ change: PathChange, context: MutationContext) async throws(ProviderError) {
        _ = try await once("rollback-path", change, resources: resources(change), context: context) { () async throws(ProviderError) -> Bool in
            try await move(change)
            return true
        }
    }

    /// Moves a group to where `change` says: the new sites' MTAs hold, the prefixes move one
    /// at a time (withdrawn and seen gone before announced), the new sites become active, and
    /// the old ones pass new mail on to them. Every part is skipped when already done.
    func move(_ change: PathChange) async throws(ProviderError) {
        let active = try await activeSites(Array(change.instances.keys))
        for (name, path) in change.instances.sorted(by: { $0.key < $1.key }) where active[name] != path.infrastructure {
            try await hold(try mta(name, path.infrastructure))
        }
        let deadline = ContinuousClock.now + configuration.routeTimeout
        for (cidr, path) in change.prefixes.sorted(by: { $0.key < $1.key }) {
            let target = path.infrastructure
            let heard = try await routes.heardAt(collector: [cidr])[cidr] ?? []
            if heard == [target] { continue }
            for site in configuration.sites.keys.sorted(by: { $0.rawValue < $1.rawValue }) where site != target {
                try await routes.withdraw(cidr, at: site)
            }
            if heard.contains(where: { $0 != target }) {
                try await routes.waitUntilHeard(cidr, from: heard.contains(target) ? [target] : [], deadline: deadline)
            }
            if !(try await routes.localRIB(target).contains(cidr)) {
                try await routes.announce(cidr, at: target)
            }
            try await routes.waitUntilHeard(cidr, from: [target], deadline: deadline)
            logger.info("prefix moved", metadata: ["prefix": "\(cidr)", "site": "\(target.rawValue)"])
        }
        for (name, path) in change.instances.sorted(by: { $0.key < $1.key }) {
            let site = path.infrastructure
            try await ledger.setActive(name, site)
            let next = try await mta(name, site).submitAddress()
            for other in Infrastructure.allCases where other != site && configuration.instances[name]?[other] != nil {
                try await mta(name, other).assume(.forwarding(to: next))
            }
        }
    }

    // MARK: - Messages

    public func resend(_ instances: [String], snapshotKey: String, maxAge: Duration,
                       context: MutationContext) async throws(ProviderError) -> [ResendResult] {
        struct Request: Encodable { var instances: [String]; var snapshotKey: String; var maxAgeSeconds: Int64 }
        let request = Request(instances: instances.sorted(), snapshotKey: snapshotKey, maxAgeSeconds: maxAge.components.seconds)
        return try await once("resend", request, resources: instances.sorted(), context: context) { () async throws(ProviderError) -> [ResendResult] in
            let active = try await activeSites(instances)
            var results: [ResendResult] = []
            for name in instances.sorted() {
                guard let (source, messages) = try await ledger.snapshot(key: snapshotKey, instance: name) else {
                    results.append(ResendResult(instance: name, resent: 0, expired: 0, digest: Self.digest([])))
                    continue
                }
                guard let target = active[name] else { throw ProviderError(.notFound, "no instance \(name)") }
                let oldest = Int64(Date().timeIntervalSince1970) - maxAge.components.seconds
                var expired: [SnapshotMessage] = [], fresh: [SnapshotMessage] = []
                for message in messages { if message.arrival < oldest { expired.append(message) } else { fresh.append(message) } }
                try await ledger.record(expired.map {
                    MessageMove(instance: name, source: source, target: source, queueID: $0.queueID, messageID: $0.messageID,
                                reason: "resend:\(snapshotKey)")
                }, .expired)
                if source != target {
                    try await transfer(name, from: source, to: target, messages: fresh, reason: "resend:\(snapshotKey)")
                }
                results.append(ResendResult(instance: name, resent: fresh.count, expired: expired.count,
                                            expiredMessageIDs: expired.map(\.messageID), digest: Self.digest(messages)))
            }
            return results
        }
    }

    public func unfreeze(_ instances: [String], context: MutationContext) async throws(ProviderError) {
        _ = try await once("unfreeze", instances.sorted(), resources: instances.sorted(), context: context) { () async throws(ProviderError) -> Bool in
            let active = try await activeSites(instances)
            for name in instances.sorted() {
                guard let site = active[name] else { throw ProviderError(.notFound, "no instance \(name)") }
                let sender = try mta(name, site)
                // Mail other sites hold (late arrivals during the freeze) joins the active site's
                // queue first, held, so that it is released with the rest.
                for other in Infrastructure.allCases where other != site && configuration.instances[name]?[other] != nil {
                    let source = try mta(name, other)
                    let expired = try await ledger.expired(instance: name, site: other)
                    let entries = try await source.queue()
                        .filter { $0.queueName == "hold" && !$0.recipients.isEmpty && !expired.contains($0.queueID) }
                    let known = try await envelopes(of: entries, at: source)
                    let held = entries.compactMap { entry in
                        known[entry.queueID]?.messageID.map { SnapshotMessage(queueID: entry.queueID, messageID: $0, arrival: entry.arrivalTime) }
                    }
                    if !held.isEmpty {
                        if try await sender.role() != .frozen { try await hold(sender) }
                        try await transfer(name, from: other, to: site, messages: held, reason: "sweep")
                    }
                }
                try await sender.assume(.sending)
                try await sender.releaseAll(patience: configuration.commandTimeout * 2)
            }
            return true
        }
    }

    /// Moves held messages from the instance's MTA at `source` to its MTA at `target`, each
    /// exactly once across crashes: (1) a copy is queued at the target (which holds) unless
    /// one is there already, found by its Message-ID; (2) once every copy is in the target's
    /// queue, the originals are deleted at the source; the ledger records each stage.
    func transfer(_ instance: String, from source: Infrastructure, to target: Infrastructure,
                  messages: [SnapshotMessage], reason: String) async throws(ProviderError) {
        let from = try mta(instance, source), to = try mta(instance, target)
        var pending: [(MessageMove, SnapshotMessage)] = []
        for message in messages {
            let move = MessageMove(instance: instance, source: source, target: target, queueID: message.queueID,
                                   messageID: message.messageID, reason: reason)
            if try await ledger.moveState(move) != .moved { pending.append((move, message)) }
        }
        guard !pending.isEmpty else { return }
        // Copies a run cut short already queued: two listings 100 ms apart (a listing can miss a
        // message moving between queues), and every move the ledger has seen staged.
        var atTarget = try await messageIDs(at: to)
        do { try await Task.sleep(for: .milliseconds(100)) } catch { throw ProviderError(.transient, "cancelled while moving messages") }
        atTarget.formUnion(try await messageIDs(at: to))
        for (move, message) in pending where try await ledger.moveState(move) == .staged { atTarget.insert(message.messageID) }
        let listed = try await from.queue()
        let queued = Dictionary(listed.map { ($0.queueID, $0) }, uniquingKeysWith: { first, _ in first })
        let toCopy = pending.filter { !atTarget.contains($0.1.messageID) }
        let senders = try await envelopes(of: toCopy.compactMap { queued[$0.1.queueID] }, at: from)
        var staged: [MessageMove] = []
        // Copies run a few at a time (each is two short-lived processes); the ledger records
        // them as staged in batches (a crash before a batch is recorded leaves copies that the
        // next run finds in the target's queue by Message-ID).
        let ledger = try self.ledger
        var start = 0
        while start < toCopy.count {
            let batch = Array(toCopy[start..<min(start + Self.copiesAtOnce, toCopy.count)])
            start += batch.count
            let jobs = batch.map { move, message in
                CopyJob(move: move, message: message, entry: queued[message.queueID], sender: senders[message.queueID]?.sender)
            }
            do {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for job in jobs {
                        group.addTask { try await self.copy(job, from: from, to: to, instance: instance, source: source, target: target) }
                    }
                    try await group.waitForAll()
                }
            } catch let error as ProviderError {
                throw error
            } catch {
                throw ProviderError(.transient, "moving \(instance)'s messages failed: \(error)")
            }
            staged.append(contentsOf: batch.map(\.0))
            if staged.count >= 50 || start == toCopy.count {
                try await ledger.record(staged, .staged)
                staged.removeAll()
            }
        }
        // The copies are written to the target's maildrop; wait until its pickup has queued them.
        let wanted = Set(pending.map(\.1.messageID))
        let deadline = ContinuousClock.now + configuration.commandTimeout * 2
        while !wanted.isSubset(of: try await messageIDs(at: to, onlyHeld: true)) {
            guard ContinuousClock.now < deadline else {
                throw ProviderError(.timeout, "copies of \(instance)'s messages did not reach the hold queue of \(to.directory) in time")
            }
            do { try await Task.sleep(for: .milliseconds(50)) } catch { throw ProviderError(.transient, "cancelled while moving messages") }
        }
        try await from.deleteHeld(pending.map(\.1.queueID))
        try await ledger.record(pending.map(\.0), .moved)
        logger.info("messages moved", metadata: ["instance": "\(instance)", "from": "\(source.rawValue)", "to": "\(target.rawValue)",
                                                 "count": "\(pending.count)", "reason": "\(reason)"])
    }

    /// Messages copied at once by a transfer.
    static let copiesAtOnce = 4

    /// One message to copy, with what the source's queue said of it.
    struct CopyJob: Sendable {
        var move: MessageMove
        var message: SnapshotMessage
        var entry: PostfixQueueEntry?
        var sender: String?
    }

    /// Queues a copy of one message at the target, held, with its envelope.
    func copy(_ job: CopyJob, from: PostfixMTA, to: PostfixMTA, instance: String, source: Infrastructure,
              target: Infrastructure) async throws(ProviderError) {
        guard let entry = job.entry, let sender = job.sender, let content = try await from.content(job.message.queueID) else {
            throw ProviderError(.transient, "message \(Escaped.value(job.message.messageID)) of \(instance) is neither at \(source.rawValue) nor at \(target.rawValue): it cannot be moved")
        }
        // The recipients still pending (postqueue -j lists only those).
        try await to.submit(content, sender: sender, recipients: entry.recipients)
    }

    /// The Message-IDs of what an MTA has queued (only its hold queue with `onlyHeld`).
    func messageIDs(at mta: PostfixMTA, onlyHeld: Bool = false) async throws(ProviderError) -> Set<String> {
        let entries = try await mta.queue().filter { !onlyHeld || $0.queueName == "hold" }
        return Set(try await envelopes(of: entries, at: mta).values.compactMap(\.messageID))
    }

    /// The envelopes (sender, Message-ID) of queued messages, each read once (`postcat -e -h`,
    /// in batches) and remembered by MTA, queue id and arrival time: a poll over a queue of
    /// hundreds runs one `postqueue` and reads only what is new.
    func envelopes(of entries: [PostfixQueueEntry], at mta: PostfixMTA) async throws(ProviderError) -> [String: MessageEnvelope] {
        func key(_ entry: PostfixQueueEntry) -> String { "\(mta.directory)|\(entry.queueID)|\(entry.arrivalTime)" }
        var result: [String: MessageEnvelope] = [:]
        var unknown: [PostfixQueueEntry] = []
        envelopeCache.withLock { cache in
            for entry in entries {
                if let known = cache[key(entry)] { result[entry.queueID] = known } else { unknown.append(entry) }
            }
        }
        guard !unknown.isEmpty else { return result }
        let read = try await mta.envelopes(unknown.map(\.queueID))
        envelopeCache.withLock { cache in
            if cache.count > 200_000 { cache.removeAll() }
            for entry in unknown {
                guard let envelope = read[entry.queueID] else { continue }
                cache[key(entry)] = envelope
                result[entry.queueID] = envelope
            }
        }
        return result
    }
}
