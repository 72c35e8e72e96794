/// A fencing token: grows with every lease grant; a provider refuses calls carrying a
/// token lower than one it has already seen for the same resources.
public struct FencingToken: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    public var value: Int64

    public init(_ value: Int64) { self.value = value }

    public static func < (lhs: FencingToken, rhs: FencingToken) -> Bool { lhs.value < rhs.value }
    public var description: String { String(value) }

    public init(from decoder: any Decoder) throws { value = try decoder.singleValueContainer().decode(Int64.self) }
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(value)
    }
}

/// What every mutating provider call carries.
public struct MutationContext: Sendable, Hashable, Codable {
    /// Repeating a key returns the first answer; the provider does the work at most once.
    public var idempotencyKey: String
    public var fencingToken: FencingToken
    /// The step the call belongs to (for logs and fault injection).
    public var step: StepName

    public init(idempotencyKey: String, fencingToken: FencingToken, step: StepName) {
        self.idempotencyKey = idempotencyKey
        self.fencingToken = fencingToken
        self.step = step
    }
}

/// An instance as the provider sees it now.
public struct ObservedInstance: Sendable, Hashable, Codable {
    public var name: String
    /// Where it sends from now.
    public var path: SendingPath
    public var frozen: Bool
    public var sendingIPs: [IPAddress]
    public var build: String
    public var queueDepth: Int
    /// The target this instance has been prepared for, if any.
    public var preparedTarget: SendingPath?

    public init(name: String, path: SendingPath, frozen: Bool, sendingIPs: [IPAddress], build: String,
                queueDepth: Int, preparedTarget: SendingPath? = nil) {
        self.name = name
        self.path = path
        self.frozen = frozen
        self.sendingIPs = sendingIPs
        self.build = build
        self.queueDepth = queueDepth
        self.preparedTarget = preparedTarget
    }

    enum CodingKeys: String, CodingKey {
        case name, path, frozen, sendingIPs, build, queueDepth, preparedTarget
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(name: try container.decode(String.self, forKey: .name), path: try container.decode(SendingPath.self, forKey: .path),
                  frozen: try container.decode(Bool.self, forKey: .frozen),
                  sendingIPs: try container.decode([IPAddress].self, forKey: .sendingIPs),
                  build: try container.decode(String.self, forKey: .build), queueDepth: try container.decodeCount(forKey: .queueDepth),
                  preparedTarget: try container.decodeIfPresent(SendingPath.self, forKey: .preparedTarget))
    }
}

/// A prefix as the provider sees it now: where it is advertised (normally exactly one place).
public struct ObservedPrefix: Sendable, Hashable, Codable {
    public var cidr: AddressBlock
    public var advertisedFrom: [SendingPath]

    public init(cidr: AddressBlock, advertisedFrom: [SendingPath]) {
        self.cidr = cidr
        self.advertisedFrom = advertisedFrom
    }
}

/// A group's move: its instances and prefixes, and where each goes.
public struct PathChange: Sendable, Hashable, Codable {
    public var group: String
    /// Instance name to the path it should send from after the call.
    public var instances: [String: SendingPath]
    /// Prefix to the place it should be advertised from after the call.
    public var prefixes: [AddressBlock: SendingPath]

    public init(group: String, instances: [String: SendingPath], prefixes: [AddressBlock: SendingPath]) {
        self.group = group
        self.instances = instances
        self.prefixes = prefixes
    }
}

/// The most messages one instance's queue may report (a count, a snapshot, a resend): 10^9.
/// A provider answer or a stored record beyond it is refused when decoded, so no sum or
/// estimate over counts can overflow (SPEC section 6).
public let maximumMessageCount = 1_000_000_000

extension KeyedDecodingContainer {
    /// An integer count in 0...``maximumMessageCount``.
    func decodeCount(forKey key: Key) throws -> Int {
        let value = try decode(Int.self, forKey: key)
        guard (0...maximumMessageCount).contains(value) else {
            throw DecodingError.dataCorruptedError(forKey: key, in: self,
                                                   debugDescription: "\(value) is not a count from 0 to \(maximumMessageCount)")
        }
        return value
    }
}

/// One instance's queue, taken while frozen: what must be resent after the switch.
public struct QueueSnapshot: Sendable, Hashable, Codable {
    public var instance: String
    public var messageCount: Int
    /// A digest of the message ids, to check that a resend covered exactly these messages.
    public var digest: String
    public var oldestEnqueuedAt: Timestamp?
    /// The messages taken, oldest first: the record of what the resend must send or report
    /// expired. Optional on the wire (a provider may leave it out for huge queues).
    public var messages: [QueuedMessage]?

    public init(instance: String, messageCount: Int, digest: String, oldestEnqueuedAt: Timestamp? = nil,
                messages: [QueuedMessage]? = nil) {
        self.instance = instance
        self.messageCount = messageCount
        self.digest = digest
        self.oldestEnqueuedAt = oldestEnqueuedAt
        self.messages = messages
    }

    enum CodingKeys: String, CodingKey {
        case instance, messageCount, digest, oldestEnqueuedAt, messages
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(instance: try container.decode(String.self, forKey: .instance),
                  messageCount: try container.decodeCount(forKey: .messageCount), digest: try container.decode(String.self, forKey: .digest),
                  oldestEnqueuedAt: try container.decodeIfPresent(Timestamp.self, forKey: .oldestEnqueuedAt),
                  messages: try container.decodeIfPresent([QueuedMessage].self, forKey: .messages))
    }
}

/// One message of a queue snapshot: its id and when it was enqueued.
public struct QueuedMessage: Sendable, Hashable, Codable {
    public var id: String
    public var enqueuedAt: Timestamp

    public init(id: String, enqueuedAt: Timestamp) {
        self.id = id
        self.enqueuedAt = enqueuedAt
    }
}

/// What a resend did for one instance: messages sent, and those too old to send.
public struct ResendResult: Sendable, Hashable, Codable {
    public var instance: String
    public var resent: Int
    public var expired: Int
    /// Ids of the expired messages, reported to the operator (never dropped silently).
    public var expiredMessageIDs: [String]
    /// Digest over every message handled (resent or expired); equals the snapshot's.
    public var digest: String

    public init(instance: String, resent: Int, expired: Int, expiredMessageIDs: [String] = [], digest: String) {
        self.instance = instance
        self.resent = resent
        self.expired = expired
        self.expiredMessageIDs = expiredMessageIDs
        self.digest = digest
    }

    enum CodingKeys: String, CodingKey {
        case instance, resent, expired, expiredMessageIDs, digest
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(instance: try container.decode(String.self, forKey: .instance), resent: try container.decodeCount(forKey: .resent),
                  expired: try container.decodeCount(forKey: .expired),
                  expiredMessageIDs: try container.decodeIfPresent([String].self, forKey: .expiredMessageIDs) ?? [],
                  digest: try container.decode(String.self, forKey: .digest))
    }
}
