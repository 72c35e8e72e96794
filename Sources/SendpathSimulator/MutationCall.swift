import Foundation
import SendpathCore

/// One mutating provider call, normalised: which operation, which instances and prefixes it
/// touches (sorted, without repeats), and a canonical text of the request that two calls
/// share exactly when they ask for the same thing (idempotency compares it).
struct MutationCall: Sendable {
    var operation: StepName
    var instances: [String]
    var prefixes: [AddressBlock]
    var request: String
    var context: MutationContext

    init(_ operation: StepName, instances: [String], prefixes: [AddressBlock] = [], context: MutationContext,
         group: String? = nil, paths: [String: SendingPath]? = nil, prefixPaths: [AddressBlock: SendingPath]? = nil,
         snapshotKey: String? = nil, maxAge: Duration? = nil) {
        self.operation = operation
        self.instances = Array(Set(instances)).sorted()
        self.prefixes = Array(Set(prefixes)).sorted()
        self.context = context
        let fingerprint = RequestFingerprint(
            operation: operation.rawValue, instances: self.instances, group: group,
            paths: paths.map { $0.map { RequestFingerprint.Entry(key: $0.key, path: $0.value.description) }.sorted { $0.key < $1.key } },
            prefixes: prefixPaths.map { $0.map { RequestFingerprint.Entry(key: $0.key.description, path: $0.value.description) }.sorted { $0.key < $1.key } },
            snapshotKey: snapshotKey, maxAgeNanoseconds: maxAge?.nanoseconds)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        // Encoding plain strings and integers cannot fail.
        request = (try? encoder.encode(fingerprint)).map { String(decoding: $0, as: UTF8.self) } ?? ""
    }

    /// Dictionaries with non-string keys encode in hash order, which changes per process:
    /// the fingerprint holds sorted lists only.
    private struct RequestFingerprint: Encodable {
        struct Entry: Encodable {
            var key: String
            var path: String
        }
        var operation: String
        var instances: [String]
        var group: String?
        var paths: [Entry]?
        var prefixes: [Entry]?
        var snapshotKey: String?
        var maxAgeNanoseconds: Int64?
    }
}

/// What an operation's body decided: done (with the answer to store and return) or refused.
/// A body checks everything before it changes anything, so a refusal leaves the fleet as it
/// was (apart from the violations it records).
enum OperationOutcome {
    case done(Data)
    case refused(ProviderError)

    static var empty: OperationOutcome { .done(Data("[]".utf8)) }
}

/// A fault rule with the identity its consumed uses are stored under: the rule's fields and
/// its rank among identical rules, so the same faults file finds the same uses after a restart.
struct ArmedFault: Sendable {
    var rule: FaultRule
    var key: String

    static func arm(_ rules: [FaultRule]) -> [ArmedFault] {
        var seen: [String: Int] = [:]
        return rules.map { rule in
            let base = "\(rule.instance)|\(rule.operation.rawValue)|\(rule.effect.rawValue)"
            let rank = seen[base, default: 0]
            seen[base] = rank + 1
            return ArmedFault(rule: rule, key: "\(base)|\(rank)")
        }
    }
}

extension FleetSimulator {
    /// The faults with uses left that match `step` and one of `instances`.
    func firingFaults(step: StepName, instances: [String], in tx: FleetTransaction) throws -> [ArmedFault] {
        try faults.filter { fault in
            guard fault.rule.operation == step, instances.contains(fault.rule.instance) else { return false }
            return try tx.faultUses(fault.key) < fault.rule.count
        }
    }

    /// Gives the instance the IPs or build a `change-ips` / `change-build` fault describes,
    /// tied to where the instance is now.
    func applyOverride(_ fault: ArmedFault, in tx: FleetTransaction) throws {
        guard let instance = try tx.instances([fault.rule.instance])[fault.rule.instance] else { return }
        switch fault.rule.effect {
        case .changeIPs:
            var ips = instance.declaredIPs
            if let last = ips.popLast() { ips.append(Self.substituteIP(for: last, instance: instance.name)) }
            try tx.setOverride(of: instance.name, at: instance.path, ips: ips)
        case .changeBuild:
            try tx.setOverride(of: instance.name, at: instance.path, build: instance.build + "-hotfix")
        case .error, .timeout, .partial, .late, .duplicate, .arrivals:
            break
        }
    }

    /// An address derived from the instance's name in 100.64.0.0/10 (IPv4) or fd00::/8 (IPv6),
    /// never equal to `address`.
    static func substituteIP(for address: IPAddress, instance: String) -> IPAddress {
        let hash = FNV1a.hash(instance)
        switch address {
        case .v4:
            let candidate = IPAddress.v4(0x6440_0000 | UInt32(truncatingIfNeeded: hash & 0x003F_FFFF))
            return candidate == address ? .v4(0x6440_0000 | UInt32(truncatingIfNeeded: (hash ^ 1) & 0x003F_FFFF)) : candidate
        case .v6:
            let high = 0xFD00_0000_0000_0000 | (hash >> 8)
            let low = FNV1a.hash(instance + "/v6")
            let candidate = IPAddress.v6(high: high, low: low)
            return candidate == address ? .v6(high: high, low: low ^ 1) : candidate
        }
    }

    /// Runs one mutating call inside its write transaction: lands held-back effects, checks
    /// the instances and prefixes exist, checks and raises fencing tokens, fires faults,
    /// replays or runs the operation and stores its answer, and logs the call. Refusals are
    /// returned (not thrown) so that what they record commits; only a storage failure rolls
    /// the transaction back.
    func run(_ request: MutationRequest, _ call: MutationCall, in tx: FleetTransaction) throws -> Result<Data, ProviderError> {
        func refuse(_ error: ProviderError) throws -> Result<Data, ProviderError> {
            try tx.logCall(call, outcome: error.code.rawValue, detail: error.message)
            return .failure(error)
        }
        let key = call.context.idempotencyKey
        let firing = try firingFaults(step: call.context.step, instances: call.instances, in: tx)
        let late = firing.filter { $0.rule.effect == .late }

        let rows = try tx.instances(call.instances)
        let prefixTokens = try tx.prefixTokens(call.prefixes)
        let unknown = call.instances.filter { rows[$0] == nil } + call.prefixes.filter { prefixTokens[$0] == nil }.map(\.description)
        if !unknown.isEmpty {
            return try refuse(ProviderError(.notFound, "the fleet simulator knows no instance or prefix named \(unknown.joined(separator: ", ")); seed it from the manifests first"))
        }
        if let stale = try staleToken(call, in: tx) { return try refuse(stale) }
        try tx.raiseTokens(instances: call.instances, prefixes: call.prefixes, to: call.context.fencingToken.value)
        // What a late fault held back lands now (after this call's token: a newer reconciler's
        // call fences it out), except under this very key while the fault still fires.
        try landPendingEffects(except: late.isEmpty ? nil : key, in: tx)

        let errors = firing.filter { $0.rule.effect == .error }
        if !errors.isEmpty {
            for fault in errors { try tx.consumeFault(fault.key) }
            let names = errors.map(\.rule.instance).joined(separator: ", ")
            return try refuse(ProviderError(.transient, "injected fault: \(call.operation.rawValue) failed for \(names); nothing changed, retry"))
        }

        let response: Data
        var outcome = "applied"
        if let stored = try tx.idempotencyRecord(key) {
            guard stored.operation == call.operation.rawValue, stored.request == call.request else {
                return try refuse(ProviderError(.idempotencyConflict, "idempotency key '\(key)' was used before for another request (\(stored.operation)); use a new key for a new request"))
            }
            response = stored.response
            outcome = "replayed"
        } else if !late.isEmpty {
            for fault in late { try tx.consumeFault(fault.key) }
            try holdBack(PendingEffect(request: request, context: call.context), in: tx)
            try applyArrivals(firing, cause: key, in: tx)
            return try refuse(ProviderError(.timeout, "injected fault: \(call.operation.rawValue) got no answer in time; its effect lands later"))
        } else {
            let partial = firing.filter { $0.rule.effect == .partial }
            switch try body(for: request, call, partial: !partial.isEmpty)(tx) {
            case .refused(let error):
                return try refuse(error)
            case .done(let data):
                if !partial.isEmpty {
                    for fault in partial { try tx.consumeFault(fault.key) }
                    try applyArrivals(firing, cause: key, in: tx)
                    return try refuse(ProviderError(.transient, "injected fault: \(call.operation.rawValue) moved part of group \(request.group ?? "?") and failed; retry with the same idempotency key"))
                }
                try tx.storeIdempotencyRecord(call, response: data)
                response = data
            }
        }

        for fault in firing where fault.rule.effect == .changeIPs || fault.rule.effect == .changeBuild {
            try tx.consumeFault(fault.key)
            try applyOverride(fault, in: tx)
            logger.info("fleet simulator: injected fault", metadata: [
                "instance.name": "\(fault.rule.instance)", "fault.effect": "\(fault.rule.effect.rawValue)",
                "step.name": "\(call.context.step.rawValue)",
            ])
        }
        try applyArrivals(firing, cause: key, in: tx)
        let timeouts = firing.filter { $0.rule.effect == .timeout }
        if !timeouts.isEmpty {
            for fault in timeouts { try tx.consumeFault(fault.key) }
            return try refuse(ProviderError(.timeout, "injected fault: \(call.operation.rawValue) was done but its answer was lost; retry with the same idempotency key"))
        }
        try tx.logCall(call, outcome: outcome)
        return .success(response)
    }

    /// A stale-token refusal when a newer token was seen for any instance or prefix of the call.
    func staleToken(_ call: MutationCall, in tx: FleetTransaction) throws -> ProviderError? {
        let token = call.context.fencingToken.value
        let seen = try tx.instances(call.instances).values.map { ($0.name, $0.fencingToken) }
            + tx.prefixTokens(call.prefixes).map { ($0.key.description, $0.value) }
        guard let newer = seen.filter({ $0.1 > token }).max(by: { $0.1 < $1.1 }) else { return nil }
        return ProviderError(.staleFencingToken, "fencing token \(token) is older than token \(newer.1) already seen for \(newer.0): another reconciler has taken over")
    }
}
