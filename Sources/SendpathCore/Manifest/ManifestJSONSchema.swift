/// Builds the JSON Schema (draft 2020-12) of the manifests from ``ManifestSchema``, so that
/// editors (yaml-language-server) check what the validator checks, as far as JSON Schema can:
/// rules across documents (references, prefixes, closure) are the validator's alone.
public enum ManifestJSONSchema {
    public static let id = "https://sendpath.dev/schemas/sendpath-v1.json"

    public static func document() -> JSONValue {
        var defs: [JSONValue.Member] = [
            .init("name", ["type": "string", "pattern": "^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$",
                           "description": "A DNS label: lowercase letters, digits and '-', at most 63."]),
            .init("duration", ["type": "string", "pattern": "^(?=[0-9])([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?([0-9]+ms)?$",
                               "description": "Like 90s, 15m, 4h, 7d or 1h30m."]),
            .init("time", ["type": "string", "pattern": .string(timePattern),
                           "description": "RFC 3339 with an offset, like 2023-10-10T20:00:00Z (a space may stand for the T, as RFC 3339 allows; second 60 for a leap second); years 1970 to 2199."]),
            .init("text", ["type": "string", "pattern": .string(textPattern),
                           "description": "One line of printable text: no control characters."]),
            .init("ipAddress", ["type": "string", "pattern": .string("^(\(ipv4)|\(ipv6))$"),
                                "description": "An IPv4 or IPv6 address."]),
            .init("cidr", ["type": "string",
                           "anyOf": [["pattern": .string(ipv4BlockPattern)],
                                     ["pattern": .string("^\(ipv6)/(1[2-9]|[23][0-9]|4[0-8])$")]],
                           "description": "What BYOIP can take: an IPv4 /8 to /24, or an IPv6 /12 to /48."]),
            .init("awsRegion", ["type": "string", "pattern": "^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$",
                                "description": "An AWS region, like eu-west-1."]),
            .init("emailAddress", ["type": "string", "maxLength": .integer(EmailAddress.maximumLength), "pattern": .string(emailPattern),
                                   "description": "An email address: local@domain, ASCII, no quotes or display name."]),
            .init("timeZone", ["type": "string", "maxLength": 64, "pattern": .string(timeZonePattern),
                               "description": "An IANA time zone name, like Europe/Paris or UTC."]),
            .init("httpsURL", ["type": "string", "maxLength": .integer(WebhookURL.maximumLength), "pattern": .string(httpsURLPattern),
                               "description": "An https URL without user name or password."]),
        ]
        var conditions: [JSONValue] = []
        for kind in ManifestKind.allCases {
            let spec = ManifestSchema.spec(for: kind)
            let defName = kind.rawValue + "Spec"
            defs.append(.init(defName, object(spec)))
            conditions.append([
                "if": ["properties": ["kind": ["const": .string(kind.rawValue)]], "required": ["kind"]],
                "then": ["properties": ["spec": ["$ref": .string("#/$defs/\(defName)")]]],
            ])
        }
        defs.append(.init("metadata", object(ManifestSchema.metadata)))
        return .object([
            .init("$schema", "https://json-schema.org/draft/2020-12/schema"),
            .init("$id", .string(id)),
            .init("title", "Sendpath manifest"),
            .init("description", "One document of a Sendpath manifest file (apiVersion sendpath/v1)."),
            .init("type", "object"),
            .init("required", ["apiVersion", "kind", "metadata", "spec"]),
            .init("additionalProperties", false),
            .init("properties", [
                "apiVersion": ["const": .string(ManifestSchema.apiVersion)],
                "kind": ["enum": .array(ManifestKind.allCases.map { .string($0.rawValue) })],
                "metadata": ["$ref": "#/$defs/metadata"],
                "spec": ["type": "object"],
            ]),
            .init("allOf", .array(conditions)),
            .init("$defs", .object(defs)),
        ])
    }

    // Patterns that say the validator's grammar without `format` (which draft 2020-12 only
    // annotates by default), checked by check-jsonschema in ManifestSchemaAgreementCLITests.

    /// A decimal octet, no leading zero (the validator refuses `010`: octal in some tools).
    static let octet = "(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
    static let ipv4 = "\(octet)(\\.\(octet)){3}"
    /// RFC 3986's IPv6address: 1 to 4 hex digits a group, at most one `::`, an IPv4 tail.
    static let ipv6: String = {
        let h = "[0-9A-Fa-f]{1,4}", ls32 = "(\(h):\(h)|\(ipv4))"
        let forms = [
            "(\(h):){6}\(ls32)", "::(\(h):){5}\(ls32)", "(\(h))?::(\(h):){4}\(ls32)",
            "((\(h):){0,1}\(h))?::(\(h):){3}\(ls32)", "((\(h):){0,2}\(h))?::(\(h):){2}\(ls32)",
            "((\(h):){0,3}\(h))?::\(h):\(ls32)", "((\(h):){0,4}\(h))?::\(ls32)",
            "((\(h):){0,5}\(h))?::\(h)", "((\(h):){0,6}\(h))?::",
        ]
        return "(" + forms.joined(separator: "|") + ")"
    }()

    /// An IPv4 block BYOIP can take (/8 to /24) with no host bits set: per length, the octets
    /// inside the length are any, the one it cuts is a multiple of its step, the rest are 0.
    static let ipv4BlockPattern: String = {
        let forms = (8...24).map { length -> String in
            let whole = length / 8, bits = length % 8
            var octets = Array(repeating: octet, count: whole)
            if bits > 0 {
                let step = 1 << (8 - bits)
                octets.append("(" + stride(from: 0, to: 256, by: step).map(String.init).joined(separator: "|") + ")")
            }
            while octets.count < 4 { octets.append("0") }
            return octets.joined(separator: "\\.") + "/\(length)"
        }
        return "^(" + forms.joined(separator: "|") + ")$"
    }()

    /// The times the validator reads: real calendar dates (29 February in leap years only),
    /// hours 00-23, minutes 00-59, seconds 00-60, offsets up to 23:59.
    static let timePattern: String = {
        let year = "(19[7-9][0-9]|2[01][0-9]{2})"
        let leapYear = "(19(7[26]|8[048]|9[26])|20([02468][048]|[13579][26])|21(0[48]|[2468][048]|[13579][26]))"
        let date = "(\(year)-((0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])|(0[469]|11)-(0[1-9]|[12][0-9]|30)|02-(0[1-9]|1[0-9]|2[0-8]))|\(leapYear)-02-29)"
        let time = "([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\\.[0-9]+)?"
        let offset = "([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])"
        return "^\(date)[Tt ]\(time)\(offset)$"
    }()

    /// ``EmailAddress``: a dot-atom local part of at most 64 bytes, a domain of two or more labels.
    static let emailPattern: String = {
        let atext = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
        let label = "[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
        return "^(?=[^@]{1,64}@)\(atext)+(\\.\(atext)+)*@\(label)(\\.\(label))+$"
    }()

    /// What ``ManifestFileDecoder`` accepts before it asks the time zone database.
    public static let timeZonePattern = "^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+){0,2}$"

    /// ``WebhookURL``: https, a host name or bracketed IPv6 address, a port from 1 to 65535.
    static let httpsURLPattern: String = {
        let host = "([A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?|\\[[0-9A-Fa-f:.]+\\])"
        let port = "(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3})"
        return "^[Hh][Tt][Tt][Pp][Ss]://\(host)(:\(port))?([/?#][!-~]*)?$"
    }()

    /// No character the validator refuses as a control character (see ``Escaped/isControl(_:)``).
    static let textPattern = "^[^\\u0000-\\u001F\\u007F-\\u009F\\u2028\\u2029\\u202A-\\u202E\\u2066-\\u2069]*$"

    static func object(_ schema: ObjectSchema) -> JSONValue {
        var members: [JSONValue.Member] = [.init("type", "object")]
        if !schema.summary.isEmpty { members.append(.init("description", .string(schema.summary))) }
        let required = schema.fields.filter(\.required).map { JSONValue.string($0.name) }
        if !required.isEmpty { members.append(.init("required", .array(required))) }
        members.append(.init("additionalProperties", false))
        members.append(.init("properties", .object(schema.fields.map { field in
            var property = type(field.type)
            if case .object(var parts) = property {
                parts.removeAll { $0.key == "description" }
                parts.append(.init("description", .string(field.summary)))
                if let value = field.defaultValue { parts.append(.init("default", defaultValue(value, field.type))) }
                property = .object(parts)
            }
            return .init(field.name, property)
        })))
        return .object(members)
    }

    static func defaultValue(_ text: String, _ type: FieldType) -> JSONValue {
        if case .integer = type, let value = Int(text) { return .integer(value) }
        if text == "[]" { return .array([]) }
        return .string(text)
    }

    static func type(_ type: FieldType) -> JSONValue {
        switch type {
        case .string: ["type": "string", "minLength": 1, "pattern": .string(textPattern)]
        case .constant(let value): ["const": .string(value)]
        case .name: ["$ref": "#/$defs/name"]
        case .enumeration(let values): ["enum": .array(values.map(JSONValue.string))]
        case .integer(let minimum, let maximum): ["type": "integer", "minimum": .integer(minimum), "maximum": .integer(maximum)]
        case .duration: ["$ref": "#/$defs/duration"]
        case .time: ["$ref": "#/$defs/time"]
        case .ipAddress: ["$ref": "#/$defs/ipAddress"]
        case .cidr: ["$ref": "#/$defs/cidr"]
        case .awsRegion: ["$ref": "#/$defs/awsRegion"]
        case .emailAddress: ["$ref": "#/$defs/emailAddress"]
        case .timeZone: ["$ref": "#/$defs/timeZone"]
        case .httpsURL: ["$ref": "#/$defs/httpsURL"]
        case .failureBudget:
            ["oneOf": [["type": "integer", "minimum": 1, "maximum": 10_000],
                       ["type": "string", "pattern": "^(100|[1-9][0-9]?)%$"]]]
        case .list(let element, let nonEmpty):
            nonEmpty ? ["type": "array", "minItems": 1, "items": self.type(element)]
                : ["type": "array", "items": self.type(element)]
        case .stringMap: ["type": "object", "propertyNames": ["$ref": "#/$defs/text"], "additionalProperties": ["$ref": "#/$defs/text"]]
        case .object(let schema): object(schema)
        }
    }
}
