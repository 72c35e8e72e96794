import Foundation
import GRDB
import SendpathCore

/// The bodies of the mutating operations. Each runs inside the call's write transaction,
/// after the existence, fencing, fault and idempotency checks of ``FleetSimulator/run(_:in:body:)``.
/// Each checks everything first and changes the fleet only when the call is accepted; the
/// violations it records on the way commit either way.
extension FleetSimulator {
    func prepare(_ change: PathChange, in tx: FleetTransaction) throws -> OperationOutcome {
        for (name, target) in change.instances {
            try tx.setPrepared(name, target)
        }
        return .empty
    }

    /// Moves each frozen instance's queued messages into the snapshot named by the call's key.
    func snapshot(_ call: MutationCall, in tx: FleetTransaction) throws -> OperationOutcome {
        let rows = try tx.instances(call.instances)
        let sending = call.instances.filter { rows[$0]?.frozen != true }
        if !sending.isEmpty {
            return .refused(ProviderError(.rejected, "cannot take the queue of \(sending.joined(separator: ", ")) while it is sending; freeze it first"))
        }
        let key = call.context.idempotencyKey
        var snapshots: [QueueSnapshot] = []
        for name in call.instances {
            // A message's age is how long it had waited when the snapshot was taken.
            try tx.execute("""
                UPDATE message SET state = 'snapshot', snapshotKey = ?, enqueuedAt = coalesce(enqueuedAt, ? - ageSeconds * 1000000000)
                WHERE instance = ? AND state = 'queued'
                """, [key, tx.now.nanosecondsSinceEpoch, name])
            try tx.execute("UPDATE instance SET queued = 0 WHERE name = ?", [name])
            let rows = try Row.fetchAll(tx.db.cachedStatement(sql: """
                SELECT id, enqueuedAt FROM message WHERE snapshotKey = ? AND instance = ? ORDER BY enqueuedAt, id
                """), arguments: [key, name])
            let messages = rows.map { QueuedMessage(id: $0["id"], enqueuedAt: Timestamp(nanosecondsSinceEpoch: $0["enqueuedAt"])) }
            let ids = messages.map(\.id)
            snapshots.append(QueueSnapshot(instance: name, messageCount: ids.count, digest: FNV1a.digest(ofMessageIDs: ids),
                                           oldestEnqueuedAt: messages.first?.enqueuedAt, messages: messages))
        }
        logger.info("fleet simulator: queue snapshot taken", metadata: [
            "snapshot.key": "\(key)", "messages.count": "\(snapshots.reduce(0) { $0 + $1.messageCount })",
        ])
        return .done(try Self.encode(snapshots))
    }

    /// switch-path and rollback-path: the same move, atomically; a switch also needs each
    /// instance prepared for where it goes. Each prefix is withdrawn, then announced (two
    /// logged events). `partial` (a fault) moves only the first half of the prefixes, rounded
    /// up, and of the instances, rounded down, by name.
    func move(_ change: PathChange, call: MutationCall, requirePrepared: Bool, partial: Bool = false,
              in tx: FleetTransaction) throws -> OperationOutcome {
        let operation = call.operation.rawValue
        let rows = try tx.instances(call.instances)
        var problems: [String] = []
        for name in call.instances where rows[name]?.frozen != true {
            try tx.recordViolation(.sentDuringSwitch, instance: name,
                                   "\(operation) of group \(change.group) asked while \(name) was still sending (not frozen)")
            problems.append("\(name) is not frozen")
        }
        let moving = Set(call.instances)
        for cidr in call.prefixes.sorted() {
            for name in try tx.members(of: [cidr]).subtracting(moving).sorted() {
                try tx.recordViolation(.partialPrefixMove, instance: name,
                                       "\(operation) of group \(change.group) moves prefix \(cidr) without \(name), which sends from it")
                problems.append("prefix \(cidr) would move without \(name)")
            }
        }
        if !problems.isEmpty {
            return .refused(ProviderError(.rejected, "\(operation) refused: \(problems.joined(separator: "; "))"))
        }
        if requirePrepared {
            let unprepared = call.instances.filter { rows[$0]?.prepared != change.instances[$0] }
            if !unprepared.isEmpty {
                return .refused(ProviderError(.rejected, "target not prepared for \(unprepared.joined(separator: ", ")); run prepare-target for the same target first"))
            }
        }
        let prefixes = change.prefixes.keys.sorted(), instances = change.instances.keys.sorted()
        for cidr in partial ? Array(prefixes.prefix((prefixes.count + 1) / 2)) : prefixes {
            try tx.advertise(cidr, from: change.prefixes[cidr]!)
        }
        for name in partial ? Array(instances.prefix(instances.count / 2)) : instances {
            try tx.setPath(name, change.instances[name]!)
        }
        logger.info("fleet simulator: path moved", metadata: [
            "cutover.id": "\(change.group)", "step.name": "\(operation)", "instances.count": "\(call.instances.count)",
        ])
        return .empty
    }

    /// Sends (or reports expired) the messages of one snapshot, from each instance's current path.
    func resend(_ call: MutationCall, snapshotKey: String, maxAge: Duration, in tx: FleetTransaction) throws -> OperationOutcome {
        let rows = try tx.instances(call.instances)
        var problems: [String] = []
        for name in call.instances {
            guard let row = rows[name] else { continue }
            problems += try sendingProblems(row, doing: "resend", in: tx)
        }
        if !problems.isEmpty {
            return .refused(ProviderError(.rejected, "resend refused: \(problems.joined(separator: "; "))"))
        }
        let cutoff = (tx.now - maxAge).nanosecondsSinceEpoch
        var results: [ResendResult] = []
        for name in call.instances {
            let messages = try Row.fetchAll(tx.db.cachedStatement(sql: "SELECT id, enqueuedAt FROM message WHERE snapshotKey = ? AND instance = ?"),
                                            arguments: [snapshotKey, name])
            // Older than maxAge means now − enqueuedAt > maxAge, that is enqueuedAt < now − maxAge.
            let expired = messages.filter { ($0["enqueuedAt"] as Int64) < cutoff }.map { $0["id"] as String }
            let cause = "resend:" + call.context.idempotencyKey
            try tx.recordExpired(of: name, where: "snapshotKey = ? AND enqueuedAt < ?", [snapshotKey, cutoff], cause: cause)
            try tx.execute("""
                UPDATE message SET state = 'expired'
                WHERE snapshotKey = ? AND instance = ? AND enqueuedAt < ? AND deliveries = 0
                """, [snapshotKey, name, cutoff])
            if let row = rows[name] {
                try tx.deliver(from: row, where: "snapshotKey = ? AND enqueuedAt >= ?", [snapshotKey, cutoff], cause: cause)
            }
            results.append(ResendResult(instance: name, resent: messages.count - expired.count, expired: expired.count,
                                        expiredMessageIDs: expired.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) },
                                        digest: FNV1a.digest(ofMessageIDs: messages.map { $0["id"] as String })))
        }
        return .done(try Self.encode(results))
    }

    /// Lets the instances send again. The real platform would not stop an operator here, so
    /// neither does the simulator: sending from other IPs or without a route is recorded.
    /// Mail held while an instance was frozen is sent now, once, from where it is.
    func unfreeze(_ call: MutationCall, in tx: FleetTransaction) throws -> OperationOutcome {
        let rows = try tx.instances(call.instances)
        for name in call.instances {
            guard let row = rows[name], row.frozen else { continue }
            _ = try sendingProblems(row, doing: "unfreeze", in: tx)
        }
        try tx.setFrozen(call.instances, false)
        for name in call.instances {
            guard let row = rows[name], row.frozen else { continue }
            let sent = try tx.deliver(from: row, where: "state = 'queued' AND held = 1", [], cause: "unfreeze:" + call.context.idempotencyKey)
            if sent > 0 { try tx.execute("UPDATE instance SET queued = max(queued - ?, 0) WHERE name = ?", [sent, name]) }
        }
        return .empty
    }

    /// What would make the instance send against the invariants from where it is now: IPs other
    /// than the declared ones, or a prefix of its IPs not advertised from its path. Each is
    /// recorded as a violation.
    private func sendingProblems(_ row: InstanceRow, doing action: String, in tx: FleetTransaction) throws -> [String] {
        var problems: [String] = []
        let current = try tx.currentIPs(row)
        if Set(current) != Set(row.declaredIPs) {
            let detail = "\(action) while \(row.name) sends from \(Self.list(current)) at \(row.path), not its declared \(Self.list(row.declaredIPs))"
            try tx.recordViolation(.sentFromUndeclaredIPs, instance: row.name, detail)
            problems.append(detail)
        }
        for (cidr, places) in try tx.prefixes(of: row.name).sorted(by: { $0.key < $1.key }) where !places.contains(row.path) {
            let from = places.isEmpty ? "nowhere" : places.map(\.description).joined(separator: ", ")
            let detail = "\(action) from \(row.path) while prefix \(cidr) of \(row.name) is advertised from \(from)"
            try tx.recordViolation(.sentWithoutRoute, instance: row.name, detail)
            problems.append(detail)
        }
        return problems
    }

    private static func list(_ ips: [IPAddress]) -> String { ips.map(\.description).joined(separator: ", ") }
}
