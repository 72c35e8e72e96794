/// A cut-over pinned at its start: everything its moves use, recorded before the first one.
///
/// Every move, retry, resume and rollback reads this record, never the live manifest: a
/// manifest edited under an open cut-over (a prefix renamed, a member added or removed, a
/// policy flipped) cannot redefine what the cut-over moves or how it ends. Records written
/// before pinning existed lack `declaredIPs`, `policy` and `nonce`; they fall back to the
/// observed IPs at the start, the live policy and keys without a nonce (what they used then).
public struct CutoverBaseline: Sendable, Hashable, Codable {
    public struct Member: Sendable, Hashable, Codable {
        /// Where it sent from before the cut-over: where a rollback returns it.
        public var path: SendingPath
        /// The sending IPs observed at the start.
        public var sendingIPs: [IPAddress]
        /// The build observed at the start: the build must be the same after the move.
        public var build: String
        /// The sending IPs its manifest declared at the start, sorted.
        public var declaredIPs: [IPAddress]?

        public init(path: SendingPath, sendingIPs: [IPAddress], build: String, declaredIPs: [IPAddress]? = nil) {
            self.path = path
            self.sendingIPs = sendingIPs
            self.build = build
            self.declaredIPs = declaredIPs
        }

        /// The IPs it must send from after the move.
        public var expectedIPs: [IPAddress] { declaredIPs ?? Array(Set(sendingIPs)).sorted() }
    }

    public var members: [String: Member]
    /// Each prefix of the group, by CIDR, and where it was advertised from at the start.
    public var prefixes: [AddressBlock: SendingPath]
    public var target: SendingPath
    /// The policy values the cut-over runs under.
    public var policy: CutoverPolicy?
    /// A random value of this cut-over, part of every idempotency key: keys stay unique when
    /// the same fleet is reconciled again from another (or a fresh) state store.
    public var nonce: String?

    public init(members: [String: Member], prefixes: [AddressBlock: SendingPath], target: SendingPath,
                policy: CutoverPolicy? = nil, nonce: String? = nil) {
        self.members = members
        self.prefixes = prefixes
        self.target = target
        self.policy = policy
        self.nonce = nonce
    }

    /// The prefixes, sorted.
    public var blocks: [AddressBlock] { prefixes.keys.sorted() }

    /// The pinned policy, or (for a record from before pinning) the live one.
    public func policy(orLive live: Policy) -> CutoverPolicy { policy ?? CutoverPolicy(live) }

    /// Where the group sent from before the cut-over (for a member missing from the baseline).
    public var sourcePath: SendingPath {
        members.values.map(\.path).min { $0.description < $1.description } ?? prefixes.values.first ?? target
    }
}

/// The policy values a cut-over runs under, fixed when it starts: a policy edited later
/// applies only to cut-overs that start after the edit.
public struct CutoverPolicy: Sendable, Hashable, Codable {
    public var onVerificationFailure: VerificationFailurePolicy
    public var resendMaxAge: Duration
    public var rollbackReserve: Duration

    public init(onVerificationFailure: VerificationFailurePolicy, resendMaxAge: Duration, rollbackReserve: Duration) {
        self.onVerificationFailure = onVerificationFailure
        self.resendMaxAge = resendMaxAge
        self.rollbackReserve = rollbackReserve
    }

    public init(_ policy: Policy) {
        self.init(onVerificationFailure: policy.onVerificationFailure, resendMaxAge: policy.resendMaxAge,
                  rollbackReserve: policy.rollbackReserve)
    }

    // Durations are whole seconds in JSON, as elsewhere in Sendpath's records.
    enum CodingKeys: String, CodingKey {
        case onVerificationFailure, resendMaxAgeSeconds, rollbackReserveSeconds
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        func seconds(_ key: CodingKeys) throws -> Duration {
            let value = try container.decode(Double.self, forKey: key)
            guard let duration = Duration(jsonSeconds: value) else {
                throw DecodingError.dataCorruptedError(forKey: key, in: container,
                                                       debugDescription: "\(value) is not a number of seconds from 0 to 9e9")
            }
            return duration
        }
        self.init(onVerificationFailure: try container.decode(VerificationFailurePolicy.self, forKey: .onVerificationFailure),
                  resendMaxAge: try seconds(.resendMaxAgeSeconds), rollbackReserve: try seconds(.rollbackReserveSeconds))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(onVerificationFailure, forKey: .onVerificationFailure)
        try container.encode(resendMaxAge.seconds, forKey: .resendMaxAgeSeconds)
        try container.encode(rollbackReserve.seconds, forKey: .rollbackReserveSeconds)
    }
}

extension CutoverRecord {
    /// The idempotency key of a move: every attempt of it repeats the same key, and the
    /// cut-over's nonce makes it unique across state stores.
    public func key(_ move: CutoverMachine.Move) -> String {
        let base = baseline.nonce.map { "\(id)/\($0)" } ?? id
        return move.rollback ? "\(base)/rollback/\(move.step.rawValue)" : "\(base)/\(move.step.rawValue)"
    }

    /// The group as this cut-over pinned it: its members, prefixes (by CIDR) and target.
    public func pinnedGroup(prefixNames: [String] = []) -> CutoverGroup {
        CutoverGroup(id: group, wave: wave, instances: members, prefixes: prefixNames, blocks: baseline.blocks,
                     target: baseline.target)
    }

    /// Whether a live group shares an instance or a prefix with this cut-over.
    public func overlaps(_ other: CutoverGroup) -> Bool {
        let names = Set(members)
        if other.instances.contains(where: names.contains) { return true }
        return other.blocks.contains { block in baseline.prefixes.keys.contains { $0.overlaps(block) } }
    }

    /// Whether a live group is exactly what this cut-over pinned (same members, prefixes and
    /// target), whatever its prefixes are called now.
    public func matches(_ other: CutoverGroup) -> Bool {
        other.instances.sorted() == members.sorted() && other.blocks.sorted() == baseline.blocks && other.target == baseline.target
    }
}
