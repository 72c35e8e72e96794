import Foundation
import SendpathCore

/// The Tenant kind: contacts, time zone and webhook.
extension ManifestFileDecoder {
    func decodeTenantSpec(_ metadata: Metadata) throws(YAMLReadError) -> Tenant? {
        let table = FieldTable.tenantSpec
        guard let opening = try readMapping("spec", in: ManifestSchema.document) else { return nil }
        var contacts: [Located<EmailAddress>]?
        var timeZone: Located<String>?, webhook: Located<WebhookURL>?
        var ok = true
        let complete = try forEachField(of: table, opening: opening) { (field, _) throws(YAMLReadError) in
            switch field {
            case "contacts":
                contacts = try readList("contacts", in: table.schema, nonEmpty: true) { event in self.emailAddress(event) }
                if let list = contacts, list.count > Tenant.maximumContacts {
                    diagnosticsAppend(Diagnostic(.valueOutOfRange, at: list[Tenant.maximumContacts].location,
                                                 "'contacts' in Tenant spec lists \(list.count) addresses; at most \(Tenant.maximumContacts) are allowed",
                                                 hint: "use a distribution list for a larger audience"))
                    contacts = nil
                }
                if contacts == nil { ok = false }
            case "timeZone":
                timeZone = try readTimeZone("timeZone", in: table.schema)
                if timeZone == nil { ok = false }
            default:
                webhook = try readWebhook("webhook", in: table.schema)
                if webhook == nil { ok = false }
            }
        }
        guard complete, ok, let contacts else { return nil }
        return Tenant(metadata: metadata, contacts: contacts, timeZone: timeZone, webhook: webhook)
    }

    func emailAddress(_ event: YAMLEvent) -> Located<EmailAddress>? {
        guard event.kind == .scalar, !event.isNull else {
            report(.wrongType, at: event, "'contacts' must list email addresses, found \(describe(event))")
            return nil
        }
        guard elementTagFits(event, field: "contacts") else { return nil }
        let text = event.string
        if Escaped.containsControl(text) {
            reportControl(at: event, "an address in 'contacts'", text)
            return nil
        }
        guard let address = EmailAddress(text) else {
            report(.badEmail, at: event, "'\(Escaped.value(text))' is not an email address",
                   hint: "write it like ops@example.com: ASCII, no display name, quotes or angle brackets")
            return nil
        }
        return Located(address, at: location(of: event))
    }

    func readTimeZone(_ field: String, in schema: ObjectSchema) throws(YAMLReadError) -> Located<String>? {
        guard let event = try readScalar(field, in: schema, .timeZone) else { return nil }
        let text = event.string
        if Escaped.containsControl(text) {
            reportControl(at: event, "'\(field)' in \(schema.title)", text)
            return nil
        }
        guard Tenant.isWellFormedTimeZoneName(text), TimeZone(identifier: text) != nil else {
            report(.badTimeZone, at: event, "'\(field)' in \(schema.title) is not a time zone of the IANA database: '\(Escaped.value(text))'",
                   hint: Self.timeZoneHint(for: text))
            return nil
        }
        return Located(text, at: location(of: event))
    }

    /// A known zone spelled alike, or an example.
    static func timeZoneHint(for text: String) -> String {
        if text.utf8.count <= 64, let close = Spelling.closest(to: text, among: TimeZone.knownTimeZoneIdentifiers) {
            return "did you mean '\(close)'?"
        }
        return "write a zone name like Europe/Paris, America/New_York or UTC"
    }

    func readWebhook(_ field: String, in schema: ObjectSchema) throws(YAMLReadError) -> Located<WebhookURL>? {
        guard let event = try readScalar(field, in: schema, .httpsURL) else { return nil }
        let text = event.string
        if Escaped.containsControl(text) {
            reportControl(at: event, "'\(field)' in \(schema.title)", text)
            return nil
        }
        switch WebhookURL.parse(text) {
        case .success(let url):
            return Located(url, at: location(of: event))
        case .failure(.notHTTPS):
            report(.badURL, at: event, "'\(field)' in \(schema.title) must be an https URL, found '\(Escaped.escape(text, limit: 120))'",
                   hint: "notices carry customer names and schedules: send them over TLS")
        case .failure(.credentials):
            report(.badURL, at: event, "'\(field)' in \(schema.title) holds a user name or password",
                   hint: "keep credentials out of manifests kept in Git; let the receiver authenticate by the URL's path or a token it issues")
        case .failure(.malformed):
            report(.badURL, at: event, "'\(field)' in \(schema.title) is not a valid https URL: '\(Escaped.escape(text, limit: 120))'",
                   hint: "write it like https://hooks.example.com/sendpath (printable ASCII, at most \(WebhookURL.maximumLength) bytes)")
        }
        return nil
    }
}
