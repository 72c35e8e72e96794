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
/// Every count is read from the evidence a breach leaves in the fleet file's log (see
/// ``EvidenceReplay``): each message's enqueueing, deliveries (with the place and IPs they
/// were sent from) and expiry reports; each announcement and withdrawal of a prefix; each
/// freeze, unfreeze and move of an instance. None is the complement of other counts.
/// ``ok`` holds only when ``broken`` is empty.
public struct InvariantReport: Sendable, Hashable, Codable {
    /// Message accounting, counting distinct messages.
    public struct Messages: Sendable, Hashable, Codable {
        /// Messages whose enqueueing is logged.
        public var enqueued: Int
        /// Messages with at least one logged delivery.
        public var delivered: Int
        /// Messages with more than one logged delivery.
        public var duplicated: Int
        /// Enqueued messages with no logged delivery, no logged expiry report, and not
        /// waiting in a queue or snapshot: nothing shows what became of them.
        public var lost: Int
        /// Messages reported too old to resend (and never delivered).
        public var expired: Int
        /// Messages waiting in an instance's queue.
        public var queued: Int
        /// Messages taken into a snapshot and not resent yet.
        public var inSnapshot: Int
        /// Messages in a snapshot of an instance that is no longer frozen: nobody will resend them.
        public var stranded: Int
        /// Queued messages that arrived while their instance was frozen (sent when it is unfrozen).
        public var held: Int

        public init(enqueued: Int = 0, delivered: Int = 0, duplicated: Int = 0, lost: Int = 0, expired: Int = 0,
                    queued: Int = 0, inSnapshot: Int = 0, stranded: Int = 0, held: Int = 0) {
            self.enqueued = enqueued
            self.delivered = delivered
            self.duplicated = duplicated
            self.lost = lost
            self.expired = expired
            self.queued = queued
            self.inSnapshot = inSnapshot
            self.stranded = stranded
            self.held = held
        }
    }

    public var instances: Int
    public var messages: Messages
    /// Prefixes that were ever advertised from two places at once (by the announcement and
    /// withdrawal log), or are now.
    public var doubleAdvertisements: Int
    /// Times a prefix was advertised from nowhere for a while (withdrawn, announced again
    /// later), or is now.
    public var advertisementGaps: Int
    /// Deliveries per place they were sent from (`infrastructure/location`).
    public var sendsByPath: [String: Int]
    /// Deliveries sent from a place where a prefix of the sending IPs was not advertised then.
    public var sendsWithoutRoute: Int
    /// Deliveries sent from IPs other than the instance's declared ones.
    public var sendsFromUndeclaredIPs: Int
    /// Deliveries an instance made on its own (not a resend) while it was frozen.
    public var sendsWhileFrozen: Int
    /// Deliveries by an instance while one of its prefixes was changing place: advertised from
    /// no single place, or with instances that send from it at different places.
    public var sendsDuringPathChange: Int
    /// Moves of an instance that was sending (not frozen) at that moment.
    public var movesWhileSending: Int
    /// Instances sending now (not frozen) from a place where one of their prefixes is not
    /// advertised, sorted: left behind by a move of their prefix.
    public var unroutedInstances: [String]
    /// Instances frozen now, sorted.
    public var frozen: [String]
    /// How many instances are frozen now (a freeze left behind, unless a cut-over is open or held).
    public var frozenInstances: Int
    /// Effects a `late` fault still holds back (they land at the next call).
    public var pendingEffects: Int
    /// Every mutating call received since the fleet was created (replays and refusals included).
    public var mutatingOperations: Int
    /// Calls refused because their fencing token was older than one already seen.
    public var refusedStaleTokens: Int
    /// Recorded breaches, oldest first.
    public var violations: [Violation]
    /// The names of the invariants that do not hold (report keys: `lost`, `duplicated`,
    /// `stranded`, `doubleAdvertisements`, ...), in a fixed order.
    public var broken: [String]
    public var ok: Bool

    public init(instances: Int, messages: Messages, doubleAdvertisements: Int, frozen: [String], mutatingOperations: Int,
                refusedStaleTokens: Int, violations: [Violation], advertisementGaps: Int = 0, sendsByPath: [String: Int] = [:],
                sendsWithoutRoute: Int = 0, sendsFromUndeclaredIPs: Int = 0, sendsWhileFrozen: Int = 0,
                sendsDuringPathChange: Int = 0, movesWhileSending: Int = 0, unroutedInstances: [String] = [],
                pendingEffects: Int = 0) {
        self.instances = instances
        self.messages = messages
        self.doubleAdvertisements = doubleAdvertisements
        self.frozen = frozen
        self.frozenInstances = frozen.count
        self.mutatingOperations = mutatingOperations
        self.refusedStaleTokens = refusedStaleTokens
        self.violations = violations
        self.advertisementGaps = advertisementGaps
        self.sendsByPath = sendsByPath
        self.sendsWithoutRoute = sendsWithoutRoute
        self.sendsFromUndeclaredIPs = sendsFromUndeclaredIPs
        self.sendsWhileFrozen = sendsWhileFrozen
        self.sendsDuringPathChange = sendsDuringPathChange
        self.movesWhileSending = movesWhileSending
        self.unroutedInstances = unroutedInstances
        self.pendingEffects = pendingEffects
        let checks: [(String, Bool)] = [
            ("lost", messages.lost > 0), ("duplicated", messages.duplicated > 0), ("stranded", messages.stranded > 0),
            ("doubleAdvertisements", doubleAdvertisements > 0), ("advertisementGaps", advertisementGaps > 0),
            ("sendsWithoutRoute", sendsWithoutRoute > 0), ("sendsFromUndeclaredIPs", sendsFromUndeclaredIPs > 0),
            ("sendsWhileFrozen", sendsWhileFrozen > 0), ("sendsDuringPathChange", sendsDuringPathChange > 0),
            ("movesWhileSending", movesWhileSending > 0), ("unroutedInstances", !unroutedInstances.isEmpty),
            ("frozen", !frozen.isEmpty), ("violations", !violations.isEmpty),
        ]
        broken = checks.filter(\.1).map(\.0)
        ok = broken.isEmpty
    }

    /// Reads the report from the fleet file.
    static func read(_ db: Database) throws -> InvariantReport {
        func count(_ sql: String) throws -> Int { try Int.fetchOne(db, sql: sql) ?? 0 }
        var messages = Messages()
        messages.enqueued = try count("SELECT count(DISTINCT message) FROM event WHERE kind = 'enqueue'")
        messages.delivered = try count("SELECT count(DISTINCT message) FROM event WHERE kind = 'deliver'")
        messages.duplicated = try count("SELECT count(*) FROM (SELECT message FROM event WHERE kind = 'deliver' GROUP BY message HAVING count(*) > 1)")
        messages.expired = try count("""
            SELECT count(DISTINCT e.message) FROM event e WHERE e.kind = 'expire'
            AND NOT EXISTS (SELECT 1 FROM event d WHERE d.message = e.message AND d.kind = 'deliver')
            """)
        messages.lost = try count("""
            SELECT count(*) FROM (SELECT DISTINCT message FROM event WHERE kind = 'enqueue') e
            WHERE NOT EXISTS (SELECT 1 FROM event d WHERE d.message = e.message AND d.kind IN ('deliver', 'expire'))
            AND NOT EXISTS (SELECT 1 FROM message m WHERE m.id = e.message AND m.state IN ('queued', 'snapshot'))
            """)
        messages.queued = try count("SELECT count(*) FROM message WHERE state = 'queued'")
        messages.held = try count("SELECT count(*) FROM message WHERE state = 'queued' AND held = 1")
        messages.inSnapshot = try count("SELECT count(*) FROM message WHERE state = 'snapshot'")
        messages.stranded = try count("""
            SELECT count(*) FROM message JOIN instance ON instance.name = message.instance
            WHERE message.state = 'snapshot' AND instance.frozen = 0
            """)
        let violations = try Row.fetchAll(db, sql: "SELECT * FROM violation ORDER BY id").map { row in
            let kind: String = row["kind"]
            guard let value = ViolationKind(rawValue: kind) else {
                throw CorruptFleetFile(description: "unknown violation kind '\(kind)' in the fleet file")
            }
            return Violation(kind: value, instance: row["instance"], detail: row["detail"],
                             at: Timestamp(nanosecondsSinceEpoch: row["at"]))
        }
        let replay = try EvidenceReplay.run(db)
        return InvariantReport(
            instances: try count("SELECT count(*) FROM instance"),
            messages: messages,
            doubleAdvertisements: replay.doubleAdvertisements,
            frozen: try String.fetchAll(db, sql: "SELECT name FROM instance WHERE frozen = 1 ORDER BY name"),
            mutatingOperations: try count("SELECT count(*) FROM call"),
            refusedStaleTokens: try count("SELECT count(*) FROM call WHERE outcome = '\(ProviderError.Code.staleFencingToken.rawValue)'"),
            violations: violations,
            advertisementGaps: replay.gaps,
            sendsByPath: replay.sendsByPath,
            sendsWithoutRoute: replay.sendsWithoutRoute,
            sendsFromUndeclaredIPs: replay.sendsFromUndeclaredIPs,
            sendsWhileFrozen: replay.sendsWhileFrozen,
            sendsDuringPathChange: replay.sendsDuringPathChange,
            movesWhileSending: replay.movesWhileSending,
            unroutedInstances: try String.fetchAll(db, sql: """
                SELECT DISTINCT i.name FROM instance i JOIN membership m ON m.instance = i.name
                WHERE i.frozen = 0 AND NOT EXISTS (
                    SELECT 1 FROM advertisement a WHERE a.cidr = m.cidr AND a.infrastructure = i.infrastructure AND a.location = i.location)
                ORDER BY i.name
                """),
            pendingEffects: try count("SELECT count(*) FROM pendingEffect"))
    }
}
