/// The shape of every manifest kind, in one place.
///
/// The YAML decoder checks keys against it (unknown, duplicate, missing fields) and
/// `sendpath schema` turns it into a JSON Schema, so editors and the validator agree.
public struct ObjectSchema: Sendable {
    /// How messages name the object: "Instance spec", "metadata", "Wave window".
    public var title: String
    public var fields: [FieldSchema]
    public var summary: String

    public init(_ title: String, summary: String = "", fields: [FieldSchema]) {
        self.title = title
        self.summary = summary
        self.fields = fields
    }

    /// The index of a field by name, for the decoder's dispatch.
    public func index(of name: some StringProtocol) -> Int? {
        fields.firstIndex { $0.name == name }
    }

    /// The closest known field name for a hint, when one is close enough.
    public func suggestion(for name: String) -> String? {
        Spelling.closest(to: name, among: fields.map(\.name))
    }
}

/// One field of an ``ObjectSchema``.
public struct FieldSchema: Sendable {
    public var name: String
    public var type: FieldType
    public var required: Bool
    public var summary: String
    /// The default in manifest syntax, when the field is optional and has one.
    public var defaultValue: String?

    public init(_ name: String, _ type: FieldType, required: Bool = false, summary: String, default defaultValue: String? = nil) {
        self.name = name
        self.type = type
        self.required = required
        self.summary = summary
        self.defaultValue = defaultValue
    }
}

/// The value types manifests use. Scalars are decoded by these types, never guessed.
public indirect enum FieldType: Sendable {
    case string
    case constant(String)
    case name
    case enumeration([String])
    case integer(minimum: Int, maximum: Int)
    case duration
    case time
    case ipAddress
    case cidr
    case awsRegion
    /// A count (an integer) or a percentage ("10%").
    case failureBudget
    /// An ``EmailAddress``.
    case emailAddress
    /// An IANA time zone name (checked against the system's time zone database).
    case timeZone
    /// A ``WebhookURL``: https only.
    case httpsURL
    case list(FieldType, nonEmpty: Bool)
    case stringMap
    case object(ObjectSchema)

    /// How messages name the type: "a string", "a list", ...
    public var noun: String {
        switch self {
        case .string, .constant, .name, .enumeration, .duration, .time, .ipAddress, .cidr, .awsRegion,
             .emailAddress, .timeZone, .httpsURL: "a string"
        case .integer: "an integer"
        case .failureBudget: "an integer or a percentage"
        case .list: "a list"
        case .stringMap, .object: "a mapping"
        }
    }
}

/// The manifest schemas by kind.
public enum ManifestSchema {
    public static let apiVersion = "sendpath/v1"

    public static let metadata = ObjectSchema("metadata", summary: "Name and labels of the document.", fields: [
        FieldSchema("name", .name, required: true, summary: "DNS-label name (lowercase letters, digits, '-'; at most 63), unique per kind."),
        FieldSchema("labels", .stringMap, summary: "Free-form string labels, for filtering and reports."),
    ])

    public static let sendingPath = ObjectSchema("sendingPath", summary: "Where the instance sends from.", fields: [
        FieldSchema("infrastructure", .enumeration(Infrastructure.allCases.map(\.rawValue)), required: true,
                    summary: "adobe-dc (the legacy data center) or aws."),
        FieldSchema("location", .string, required: true, summary: "The data-center site, or the AWS region (for example eu-west-1)."),
    ])

    public static let instanceSpec = ObjectSchema("Instance spec", summary: "A marketing-platform instance and its target sending path.", fields: [
        FieldSchema("tenant", .string, required: true, summary: "The customer the instance belongs to."),
        FieldSchema("product", .enumeration(Product.allCases.map(\.rawValue)), required: true, summary: "The product the instance runs."),
        FieldSchema("hosting", .enumeration(Hosting.allCases.map(\.rawValue)), required: true, summary: "How it is hosted; on-premise instances are not migrated."),
        FieldSchema("environment", .enumeration(Environment.allCases.map(\.rawValue)), required: true, summary: "dev, staging or prod."),
        FieldSchema("build", .string, required: true, summary: "The build it runs, unchanged by the move (always a string: 7.3 means \"7.3\")."),
        FieldSchema("sendingIPs", .list(.ipAddress, nonEmpty: true), required: true, summary: "Its sending IPs, each inside a declared AddressPrefix; the same after the move."),
        FieldSchema("sendingPath", .object(sendingPath), required: true, summary: "The target sending path."),
        FieldSchema("wave", .name, required: true, summary: "The Wave it migrates in."),
    ])

    public static let addressPrefixSpec = ObjectSchema("AddressPrefix spec", summary: "A BYOIP prefix, moved whole.", fields: [
        FieldSchema("cidr", .cidr, required: true, summary: "An IPv4 /8 to /24, or an IPv6 /12 to /48, without host bits."),
        FieldSchema("awsRegion", .awsRegion, summary: "The AWS region the prefix is provisioned in; instances targeted at aws must use it."),
    ])

    public static let window = ObjectSchema("Wave window", summary: "The maintenance window.", fields: [
        FieldSchema("start", .time, required: true, summary: "RFC 3339 with an offset."),
        FieldSchema("end", .time, required: true, summary: "RFC 3339 with an offset; after start."),
    ])

    public static let notice = ObjectSchema("Wave notice", summary: "A notice already sent by another system.", fields: [
        FieldSchema("sentAt", .time, required: true, summary: "When the notice went out, RFC 3339 with an offset."),
    ])

    public static let waveSpec = ObjectSchema("Wave spec", summary: "A migration wave and its maintenance window.", fields: [
        FieldSchema("window", .object(window), required: true, summary: "When sending may be frozen."),
        FieldSchema("maxParallel", .integer(minimum: 1, maximum: 10_000), summary: "Cut-over groups moved at once (at most 10000).", default: "1"),
        FieldSchema("after", .list(.name, nonEmpty: false), summary: "Waves that must have completed first.", default: "[]"),
        FieldSchema("notice", .object(notice), summary: "A notice sent by another system; otherwise record one with `sendpath notify`."),
        FieldSchema("approval", .enumeration(ApprovalPolicy.allCases.map(\.rawValue)),
                    summary: "required: each cut-over waits after prepare-target until `sendpath approve` before it freezes.", default: "none"),
        FieldSchema("canary", .object(canary), summary: "The wave's first groups (by id) run alone and bake before the others start."),
        FieldSchema("maxFailures", .failureBudget,
                    summary: "Groups that may roll back or be held in one window (a count, or a percentage like 10%) before no further group of the wave starts."),
    ])

    public static let canary = ObjectSchema("Wave canary", summary: "Canary groups of a wave.", fields: [
        FieldSchema("groups", .integer(minimum: 1, maximum: 10_000), required: true, summary: "How many groups, first by id, run alone."),
        FieldSchema("bake", .duration, required: true, summary: "How long every canary runs on its new path before the rest of the wave starts."),
    ])

    public static let noticeLeadTime = ObjectSchema("Policy noticeLeadTime", summary: "Minimum notice before a window, per environment.", fields: [
        FieldSchema("dev", .duration, summary: "Lead time for dev.", default: "7d"),
        FieldSchema("staging", .duration, summary: "Lead time for staging.", default: "7d"),
        FieldSchema("prod", .duration, summary: "Lead time for prod.", default: "30d"),
    ])

    public static let policySpec = ObjectSchema("Policy spec", summary: "Fleet-wide settings; at most one Policy.", fields: [
        FieldSchema("noticeLeadTime", .object(noticeLeadTime), summary: "Minimum notice per environment."),
        FieldSchema("bakeTime", .duration, summary: "How long a tenant's non-production runs on the new path before its production may move.", default: "7d"),
        FieldSchema("rollbackReserve", .duration, summary: "Time kept free at the end of a window for a rollback.", default: "15m"),
        FieldSchema("resendMaxAge", .duration, summary: "Queued messages older than this are reported expired, not resent.", default: "84h"),
        FieldSchema("onVerificationFailure", .enumeration(VerificationFailurePolicy.allCases.map(\.rawValue)),
                    summary: "rollback: move back and resend; hold: stay frozen for a human.", default: "rollback"),
    ])

    public static let tenantSpec = ObjectSchema("Tenant spec", summary: "A customer of the migration: who its notices go to.", fields: [
        FieldSchema("contacts", .list(.emailAddress, nonEmpty: true), required: true,
                    summary: "Email addresses its notices go to (at most \(Tenant.maximumContacts))."),
        FieldSchema("timeZone", .timeZone, summary: "The IANA time zone its notices show times in, besides UTC (for example Europe/Paris).",
                    default: "UTC"),
        FieldSchema("webhook", .httpsURL, summary: "An https URL that `notify --webhook` POSTs its notices to, as JSON."),
    ])

    public static func spec(for kind: ManifestKind) -> ObjectSchema {
        switch kind {
        case .instance: instanceSpec
        case .addressPrefix: addressPrefixSpec
        case .wave: waveSpec
        case .policy: policySpec
        case .tenant: tenantSpec
        }
    }

    public static let document = ObjectSchema("document", summary: "A Sendpath manifest document.", fields: [
        FieldSchema("apiVersion", .constant(apiVersion), required: true, summary: "Always sendpath/v1."),
        FieldSchema("kind", .enumeration(ManifestKind.allCases.map(\.rawValue)), required: true, summary: "Instance, AddressPrefix, Wave, Policy or Tenant."),
        FieldSchema("metadata", .object(metadata), required: true, summary: "Name and labels."),
        FieldSchema("spec", .object(ObjectSchema("spec", fields: [])), required: true, summary: "The kind's fields."),
    ])
}

/// Spelling suggestions for "did you mean ...?" hints.
public enum Spelling {
    /// The candidate closest to `word` (case-insensitive edit distance), if close enough to help.
    public static func closest(to word: String, among candidates: [String]) -> String? {
        let lowered = word.lowercased()
        var best: (String, Int)? = nil
        for candidate in candidates {
            let distance = editDistance(lowered, candidate.lowercased())
            if best == nil || distance < best!.1 { best = (candidate, distance) }
        }
        guard let (candidate, distance) = best else { return nil }
        let limit = max(2, min(word.count, candidate.count) / 3)
        return distance <= limit ? candidate : nil
    }

    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a.unicodeScalars), b = Array(b.unicodeScalars)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }
}
