/// A customer of the migration: who is told about its waves, where, and in which time zone.
///
/// `metadata.name` is the tenant id that instances name in `spec.tenant`. Optional kind:
/// `notify` needs one for every tenant of a wave before it delivers anything.
public struct Tenant: Sendable, Hashable {
    public var metadata: Metadata
    /// Where its notices go by email; never empty.
    public var contacts: [Located<EmailAddress>]
    /// The IANA time zone its notices show times in (UTC is always shown too).
    public var timeZone: Located<String>?
    /// An https URL its notices are POSTed to as JSON by `notify --webhook`.
    public var webhook: Located<WebhookURL>?

    public init(metadata: Metadata, contacts: [Located<EmailAddress>], timeZone: Located<String>? = nil,
                webhook: Located<WebhookURL>? = nil) {
        self.metadata = metadata
        self.contacts = contacts
        self.timeZone = timeZone
        self.webhook = webhook
    }

    public var name: String { metadata.name.value }

    /// Whether `name` has the shape of an IANA time zone name (`UTC`, `Europe/Paris`,
    /// `America/Argentina/Buenos_Aires`, `Etc/GMT+5`): what the JSON Schema's pattern says. Whether
    /// the zone exists is for the time zone database to say, outside the core.
    public static func isWellFormedTimeZoneName(_ name: some StringProtocol) -> Bool {
        let parts = name.split(separator: "/", omittingEmptySubsequences: false)
        guard (1...3).contains(parts.count), name.utf8.count <= 64, let first = name.unicodeScalars.first,
              first.isASCII, first.properties.isAlphabetic else { return false }
        return parts.allSatisfy { part in
            !part.isEmpty && part.unicodeScalars.allSatisfy { scalar in
                scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || "_+-".unicodeScalars.contains(scalar))
            }
        }
    }

    /// Contacts per tenant: a notice is one message to all of them.
    public static let maximumContacts = 50
}
