public import SendpathCore
import GRDB

/// The kinds of invariant breach the simulator records when a caller tries one.
///
/// The simulator refuses the call (or, for `sentFromUndeclaredIPs` at unfreeze, lets it
/// through as the real platform would) and keeps a ``Violation`` in the fleet file.
public enum ViolationKind: String, Sendable, Hashable, Codable, CaseIterable {
    /// A path change touched an instance that was still sending (not frozen).
    case sentDuringSwitch
    /// A path change moved a prefix without every instance that sends from it.
    case partialPrefixMove
    /// An instance was unfrozen, or asked to resend, while its IPs differ from the declared ones.
    case sentFromUndeclaredIPs
    /// A resend was asked from a path its prefixes are not advertised from.
    case sentWithoutRoute
}

/// One recorded invariant breach.
public struct Violation: Sendable, Hashable, Codable {
    public var kind: ViolationKind
    public var instance: String
    public var detail: String
    public var at: Timestamp

    public init(kind: ViolationKind, instance: String, detail: String, at: Timestamp) {
        self.kind = kind
        self.instance = instance
        self.detail = detail
        self.at = at
    }
}

/// What `sendpath simulator check` prints: the fleet's message accounting and every
/// invariant of the cut-over contract, since the fleet file was created.
///
/// ``ok`` holds only when nothing was lost, duplicated or stranded, no prefix is advertised
/// from two places, nothing is left frozen and no violation was recorded.
public struct InvariantReport: Sendable, Hashable, Codable {
    /// Message accounting, counting distinct messages.
    public struct Messages: Sendable, Hashable, Codable {
        /// Every message ever queued on an instance.
        public var enqueued: Int
        /// Messages sent at least once.
        public var delivered: Int
        /// Messages sent more than once.
        public var duplicated: Int
        /// `enqueued − (delivered + queued + inSnapshot + expired)`.
        public var lost: Int
        /// Messages reported too old to resend.
        public var expired: Int
        /// Messages waiting in an instance's queue.
        public var queued: Int
        /// Messages taken into a snapshot and not resent yet.
        public var inSnapshot: Int
        /// Messages in a snapshot of an instance that is no longer frozen: nobody will resend them.
        public var stranded: Int

        public init(enqueued: Int = 0, delivered: Int = 0, duplicated: Int = 0, lost: Int = 0, expired: Int = 0,
                    queued: Int = 0, inSnapshot: Int = 0, stranded: Int = 0) {
            self.enqueued = enqueued
            self.delivered = delivered
            self.duplicated = duplicated
            self.lost = lost
            self.expired = expired
            self.queued = queued
            self.inSnapshot = inSnapshot
            self.stranded = stranded
        }
    }

    public var instances: Int
    public var messages: Messages
    /// How many prefixes are advertised from more than one place now.
    public var doubleAdvertisements: Int
    /// Instances frozen now, sorted.
    public var frozen: [String]
    /// Every mutating call received since the fleet was created (replays and refusals included).
    public var mutatingOperations: Int
    /// Calls refused because their fencing token was older than one already seen.
    public var refusedStaleTokens: Int
    /// Recorded breaches, oldest first.
    public var violations: [Violation]
    public var ok: Bool

    public init(instances: Int, messages: Messages, doubleAdvertisements: Int, frozen: [String], mutatingOperations: Int,
                refusedStaleTokens: Int, violations: [Violation]) {
        self.instances = instances
        self.messages = messages
        self.doubleAdvertisements = doubleAdvertisements
        self.frozen = frozen
        self.mutatingOperations = mutatingOperations
        self.refusedStaleTokens = refusedStaleTokens
        self.violations = violations
        ok = messages.duplicated == 0 && messages.lost == 0 && messages.stranded == 0 && doubleAdvertisements == 0
            && frozen.isEmpty && violations.isEmpty
    }

    /// Reads the report from the fleet file.
    static func read(_ db: Database) throws -> InvariantReport {
        func count(_ sql: String) throws -> Int { try Int.fetchOne(db, sql: sql) ?? 0 }
        var messages = Messages()
        messages.enqueued = try count("SELECT count(*) FROM message")
        messages.delivered = try count("SELECT count(*) FROM message WHERE deliveries > 0")
        messages.duplicated = try count("SELECT count(*) FROM message WHERE deliveries > 1")
        messages.expired = try count("SELECT count(*) FROM message WHERE state = 'expired' AND deliveries = 0")
        messages.queued = try count("SELECT count(*) FROM message WHERE state = 'queued'")
        messages.inSnapshot = try count("SELECT count(*) FROM message WHERE state = 'snapshot'")
        messages.stranded = try count("""
            SELECT count(*) FROM message JOIN instance ON instance.name = message.instance
            WHERE message.state = 'snapshot' AND instance.frozen = 0
            """)
        messages.lost = messages.enqueued - (messages.delivered + messages.queued + messages.inSnapshot + messages.expired)
        let violations = try Row.fetchAll(db, sql: "SELECT * FROM violation ORDER BY id").map { row in
            let kind: String = row["kind"]
            guard let value = ViolationKind(rawValue: kind) else {
                throw CorruptFleetFile(description: "unknown violation kind '\(kind)' in the fleet file")
            }
            return Violation(kind: value, instance: row["instance"], detail: row["detail"],
                             at: Timestamp(nanosecondsSinceEpoch: row["at"]))
        }
        return InvariantReport(
            instances: try count("SELECT count(*) FROM instance"),
            messages: messages,
            doubleAdvertisements: try count("SELECT count(*) FROM (SELECT cidr FROM advertisement GROUP BY cidr HAVING count(*) > 1)"),
            frozen: try String.fetchAll(db, sql: "SELECT name FROM instance WHERE frozen = 1 ORDER BY name"),
            mutatingOperations: try count("SELECT count(*) FROM call"),
            refusedStaleTokens: try count("SELECT count(*) FROM call WHERE outcome = '\(ProviderError.Code.staleFencingToken.rawValue)'"),
            violations: violations)
    }
}
