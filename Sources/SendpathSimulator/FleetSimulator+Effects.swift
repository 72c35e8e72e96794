import Foundation
import GRDB
import SendpathCore

/// The fault effects that are more than a changed answer: effects that land late, requests
/// that arrive twice, and mail that keeps arriving (see ``FaultEffect``).
extension FleetSimulator {
    /// How many messages one `arrivals` fault brings.
    static let arrivalsPerFault = 3

    /// Whether any fault may hold an effect back (then observations write, to land it).
    var holdsLateFaults: Bool { faults.contains { $0.rule.effect == .late } }

    // MARK: late

    /// Keeps the call's effect for a later call to land (once per key).
    func holdBack(_ effect: PendingEffect, in tx: FleetTransaction) throws {
        try tx.execute("INSERT OR IGNORE INTO pendingEffect (key, request, recordedAt) VALUES (?, ?, ?)",
                       [effect.context.idempotencyKey, try Self.encode(effect), tx.now.nanosecondsSinceEpoch])
        logger.info("fleet simulator: effect held back", metadata: [
            "idempotency.key": "\(effect.context.idempotencyKey)", "step.name": "\(effect.context.step.rawValue)",
        ])
    }

    /// Lands every held-back effect (oldest first) but the one under `key`: each runs as its
    /// call would have, and its answer is stored under its key, unless a newer fencing token
    /// was seen since (another reconciler took over: the effect is dropped) or its key got an
    /// answer meanwhile.
    func landPendingEffects(except key: String?, in tx: FleetTransaction) throws {
        let rows = try Row.fetchAll(tx.db.cachedStatement(sql: "SELECT id, key, request FROM pendingEffect ORDER BY id"))
        for row in rows where (row["key"] as String) != key {
            try tx.execute("DELETE FROM pendingEffect WHERE id = ?", [row["id"] as Int64])
            let effect = try JSONDecoder().decode(PendingEffect.self, from: row["request"] as Data)
            let call = effect.request.call(effect.context)
            guard try tx.idempotencyRecord(call.context.idempotencyKey) == nil else { continue }
            if let stale = try staleToken(call, in: tx) {
                logger.info("fleet simulator: late effect dropped", metadata: ["idempotency.key": "\(call.context.idempotencyKey)", "error.message": "\(stale.message)"])
                continue
            }
            switch try body(for: effect.request, call)(tx) {
            case .done(let data):
                try tx.storeIdempotencyRecord(call, response: data)
                logger.info("fleet simulator: late effect landed", metadata: ["idempotency.key": "\(call.context.idempotencyKey)"])
            case .refused(let error):
                logger.info("fleet simulator: late effect refused", metadata: ["idempotency.key": "\(call.context.idempotencyKey)", "error.message": "\(error.message)"])
            }
        }
    }

    // MARK: duplicate

    /// Whether a `duplicate` fault fires on this call (its use is consumed at once).
    func duplicateFires(_ call: MutationCall) async throws(ProviderError) -> Bool {
        guard faults.contains(where: { $0.rule.effect == .duplicate && $0.rule.operation == call.context.step && call.instances.contains($0.rule.instance) }) else {
            return false
        }
        do {
            return try await pool.write { db in
                let tx = FleetTransaction(db: db, now: self.clock.now())
                let firing = try self.firingFaults(step: call.context.step, instances: call.instances, in: tx).filter { $0.rule.effect == .duplicate }
                for fault in firing { try tx.consumeFault(fault.key) }
                return !firing.isEmpty
            }
        } catch {
            throw Self.storeError(error)
        }
    }

    /// Runs the call twice concurrently; answers with the first success (or the first failure).
    func performTwice(_ request: MutationRequest, _ call: MutationCall) async throws(ProviderError) -> Data {
        let results = await withTaskGroup(of: Result<Data, ProviderError>.self) { group in
            for _ in 0..<2 {
                group.addTask {
                    do throws(ProviderError) {
                        return .success(try await self.performOnce(request, call))
                    } catch {
                        return .failure(error)
                    }
                }
            }
            var results: [Result<Data, ProviderError>] = []
            for await result in group { results.append(result) }
            return results
        }
        for result in results { if case .success(let data) = result { return data } }
        return try results[0].get()
    }

    // MARK: arrivals

    /// Applies the `arrivals` faults among `firing`.
    func applyArrivals(_ firing: [ArmedFault], cause: String, in tx: FleetTransaction) throws {
        for fault in firing where fault.rule.effect == .arrivals {
            try tx.consumeFault(fault.key)
            guard let instance = try tx.instances([fault.rule.instance])[fault.rule.instance] else { continue }
            try arrive(Self.arrivalsPerFault, at: instance, cause: cause, in: tx)
        }
    }

    /// New mail for the instance: held in its queue while it is frozen, else sent at once
    /// from where it is (and logged as sent from there, route or not).
    func arrive(_ count: Int, at instance: InstanceRow, cause: String, in tx: FleetTransaction) throws {
        let stem = instance.name + "/arrival-"
        let before = try Int.fetchOne(tx.db.cachedStatement(sql: "SELECT count(*) FROM message WHERE instance = ? AND substr(id, 1, ?) = ?"),
                                      arguments: [instance.name, stem.unicodeScalars.count, stem]) ?? 0
        let ids = (1...count).map { stem + String(before + $0) }
        for id in ids {
            try tx.execute("INSERT INTO message (id, instance, ageSeconds, state, enqueuedAt, held) VALUES (?, ?, 0, 'queued', ?, ?)",
                           [id, instance.name, tx.now.nanosecondsSinceEpoch, instance.frozen])
            try tx.recordEvent(.enqueue, instance: instance.name, message: id, cause: "arrival:" + cause)
        }
        if instance.frozen {
            try tx.execute("UPDATE instance SET queued = queued + ? WHERE name = ?", [count, instance.name])
        } else {
            try tx.deliver(from: instance, where: "id IN (\(databaseQuestionMarks(count: ids.count)))", StatementArguments(ids), cause: "send")
        }
        logger.info("fleet simulator: mail arrived", metadata: [
            "instance.name": "\(instance.name)", "messages.count": "\(count)", "instance.frozen": "\(instance.frozen)",
        ])
    }
}
