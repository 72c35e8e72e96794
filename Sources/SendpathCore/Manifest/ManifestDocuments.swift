/// `metadata` of every document: a DNS-label name (unique per kind) and optional labels.
public struct Metadata: Sendable, Hashable {
    public var name: Located<String>
    public var labels: [String: String]
    /// Where the document starts, for problems about the document as a whole.
    public var documentLocation: SourceLocation

    public init(name: Located<String>, labels: [String: String] = [:], documentLocation: SourceLocation) {
        self.name = name
        self.labels = labels
        self.documentLocation = documentLocation
    }
}

/// A marketing-platform instance and the sending path it should have.
public struct Instance: Sendable, Hashable {
    public var metadata: Metadata
    public var tenant: String
    public var product: Product
    public var hosting: Hosting
    public var environment: Environment
    public var build: String
    public var sendingIPs: [Located<IPAddress>]
    public var sendingPath: Located<SendingPath>
    public var wave: Located<String>

    public init(metadata: Metadata, tenant: String, product: Product, hosting: Hosting,
                environment: Environment, build: String, sendingIPs: [Located<IPAddress>],
                sendingPath: Located<SendingPath>, wave: Located<String>) {
        self.metadata = metadata
        self.tenant = tenant
        self.product = product
        self.hosting = hosting
        self.environment = environment
        self.build = build
        self.sendingIPs = sendingIPs
        self.sendingPath = sendingPath
        self.wave = wave
    }

    public var name: String { metadata.name.value }
    /// The declared IPs, deduplicated and in canonical order.
    public var declaredIPs: [IPAddress] { Array(Set(sendingIPs.map(\.value))).sorted() }

    /// Whether `ips` are exactly the declared IPs (compared canonically, in any order).
    public func sendsFrom(exactly ips: [IPAddress]) -> Bool {
        if ips.count == sendingIPs.count && zip(ips, sendingIPs).allSatisfy({ $0 == $1.value }) { return true }
        return Set(ips) == Set(sendingIPs.map(\.value))
    }
}

/// A BYOIP address prefix: advertised from exactly one place, moved whole.
public struct AddressPrefix: Sendable, Hashable {
    public var metadata: Metadata
    public var cidr: Located<AddressBlock>
    public var awsRegion: Located<String>?

    public init(metadata: Metadata, cidr: Located<AddressBlock>, awsRegion: Located<String>? = nil) {
        self.metadata = metadata
        self.cidr = cidr
        self.awsRegion = awsRegion
    }

    public var name: String { metadata.name.value }
}

/// A maintenance window: sending is frozen only inside it.
public struct Window: Sendable, Hashable, Codable {
    public var start: Timestamp
    public var end: Timestamp

    public init(start: Timestamp, end: Timestamp) {
        self.start = start
        self.end = end
    }

    public func contains(_ instant: Timestamp) -> Bool { instant >= start && instant < end }
    public var length: Duration { end - start }
}

/// A migration wave: a window, how many cut-over groups run at once, what must come first.
public struct Wave: Sendable, Hashable {
    public var metadata: Metadata
    public var window: Window
    public var windowLocation: SourceLocation
    public var maxParallel: Int
    public var after: [Located<String>]
    /// A notice sent by another system, if the manifest declares one.
    public var noticeSentAt: Located<Timestamp>?
    /// Whether each cut-over waits for `sendpath approve` before it freezes.
    public var approval: ApprovalPolicy
    /// Groups that run alone first, and how long they bake.
    public var canary: CanaryPolicy?
    /// Failed groups (rolled back or held) in one window that stop the rest of the wave.
    public var maxFailures: FailureBudget?

    public init(metadata: Metadata, window: Window, windowLocation: SourceLocation, maxParallel: Int = 1,
                after: [Located<String>] = [], noticeSentAt: Located<Timestamp>? = nil, approval: ApprovalPolicy = .none,
                canary: CanaryPolicy? = nil, maxFailures: FailureBudget? = nil) {
        self.approval = approval
        self.canary = canary
        self.maxFailures = maxFailures
        self.metadata = metadata
        self.window = window
        self.windowLocation = windowLocation
        self.maxParallel = maxParallel
        self.after = after
        self.noticeSentAt = noticeSentAt
    }

    public var name: String { metadata.name.value }
}

/// Fleet-wide settings. Every field is optional in the manifest; these are the defaults.
public struct Policy: Sendable, Hashable {
    public var noticeLeadTime: [Environment: Duration]
    public var bakeTime: Duration
    public var rollbackReserve: Duration
    public var resendMaxAge: Duration
    public var onVerificationFailure: VerificationFailurePolicy
    /// The Policy document's metadata, when the manifests declare one.
    public var metadata: Metadata?

    public static let defaultNoticeLeadTime: [Environment: Duration] = [
        .dev: .seconds(7 * 86_400), .staging: .seconds(7 * 86_400), .prod: .seconds(30 * 86_400),
    ]

    public init(noticeLeadTime: [Environment: Duration] = Policy.defaultNoticeLeadTime,
                bakeTime: Duration = .seconds(7 * 86_400),
                rollbackReserve: Duration = .seconds(15 * 60),
                resendMaxAge: Duration = .seconds(84 * 3600),
                onVerificationFailure: VerificationFailurePolicy = .rollback,
                metadata: Metadata? = nil) {
        self.noticeLeadTime = noticeLeadTime
        self.bakeTime = bakeTime
        self.rollbackReserve = rollbackReserve
        self.resendMaxAge = resendMaxAge
        self.onVerificationFailure = onVerificationFailure
        self.metadata = metadata
    }

    /// The notice lead time for an environment (the default when the Policy omits it).
    public func leadTime(for environment: Environment) -> Duration {
        noticeLeadTime[environment] ?? Policy.defaultNoticeLeadTime[environment]!
    }
}

/// One decoded manifest document.
public enum ManifestDocument: Sendable, Hashable {
    case instance(Instance)
    case addressPrefix(AddressPrefix)
    case wave(Wave)
    case policy(Policy)
    case tenant(Tenant)
}

/// Decoded documents, kept by kind in the order they were read.
public struct ManifestSet: Sendable {
    public var instances: [Instance] = []
    public var prefixes: [AddressPrefix] = []
    public var waves: [Wave] = []
    public var policies: [Policy] = []
    public var tenants: [Tenant] = []
    /// What the documents that could not be decoded (they had errors) might have declared.
    public var unreadable = UnreadableDocuments()

    public init() {}

    public mutating func append(_ document: ManifestDocument) {
        switch document {
        case .instance(let value): instances.append(value)
        case .addressPrefix(let value): prefixes.append(value)
        case .wave(let value): waves.append(value)
        case .policy(let value): policies.append(value)
        case .tenant(let value): tenants.append(value)
        }
    }

    public mutating func append(contentsOf other: ManifestSet) {
        instances += other.instances
        prefixes += other.prefixes
        waves += other.waves
        policies += other.policies
        tenants += other.tenants
        unreadable.merge(other.unreadable)
    }

    public var count: Int { instances.count + prefixes.count + waves.count + policies.count + tenants.count }

    /// Every document, grouped by kind.
    public var documents: [ManifestDocument] {
        instances.map(ManifestDocument.instance) + prefixes.map(ManifestDocument.addressPrefix)
            + waves.map(ManifestDocument.wave) + policies.map(ManifestDocument.policy) + tenants.map(ManifestDocument.tenant)
    }
}

/// The documents that had errors of their own, as far as they could be identified, so that the
/// rules across documents still run on the rest without blaming what these may declare: an
/// instance whose wave failed to decode is not reported as pointing at a missing wave.
public struct UnreadableDocuments: Sendable, Hashable {
    /// Names of unreadable documents, by kind.
    public var names: [ManifestKind: Set<String>] = [:]
    /// Kinds with an unreadable document whose name could not be read.
    public var unnamedKinds: Set<ManifestKind> = []
    /// Some document's kind is unknown: its `kind` was bad, or a file could not be read to its end.
    public var someKindUnknown = false

    public init() {}

    /// Records a document that could not be decoded.
    public mutating func add(kind: ManifestKind?, name: String?) {
        guard let kind else {
            someKindUnknown = true
            return
        }
        if let name, !name.isEmpty {
            names[kind, default: []].insert(name)
        } else {
            unnamedKinds.insert(kind)
        }
    }

    public mutating func merge(_ other: UnreadableDocuments) {
        for (kind, more) in other.names { names[kind, default: []].formUnion(more) }
        unnamedKinds.formUnion(other.unnamedKinds)
        someKindUnknown = someKindUnknown || other.someKindUnknown
    }

    /// Whether an unreadable document may be the `kind` named `name`.
    public func mayDeclare(_ kind: ManifestKind, named name: String) -> Bool {
        someKindUnknown || unnamedKinds.contains(kind) || names[kind]?.contains(name) == true
    }

    /// Whether an unreadable document may be of `kind`.
    public func mayDeclareAny(_ kind: ManifestKind) -> Bool {
        someKindUnknown || unnamedKinds.contains(kind) || names[kind]?.isEmpty == false
    }
}
