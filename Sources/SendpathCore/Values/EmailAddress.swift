/// An email address as manifests may write it: `local@domain`, ASCII only, a dot-atom local
/// part (RFC 5322 atext, at most 64 bytes) and a domain of DNS labels with at least one dot;
/// 254 bytes at most. No quoted local parts, comments, display names or address literals:
/// nothing that could carry a header or a command into a message or an SMTP envelope.
public struct EmailAddress: Sendable, Hashable, Comparable, CustomStringConvertible, Codable {
    public let value: String

    public static let maximumLength = 254
    public static let maximumLocalLength = 64

    /// The address, or `nil` when `text` is not one.
    public init?(_ text: some StringProtocol) {
        let bytes = Array(text.utf8)
        guard bytes.count <= Self.maximumLength, let at = bytes.lastIndex(of: UInt8(ascii: "@")) else { return nil }
        let local = bytes[..<at], domain = bytes[(at + 1)...]
        guard !local.isEmpty, local.count <= Self.maximumLocalLength, Self.isDotAtom(local),
              Self.isDomain(domain) else { return nil }
        self.value = String(decoding: bytes, as: UTF8.self)
    }

    public var description: String { value }
    public var domain: Substring { value[value.index(after: value.lastIndex(of: "@")!)...] }

    public static func < (lhs: EmailAddress, rhs: EmailAddress) -> Bool { lhs.value < rhs.value }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let address = EmailAddress(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not an email address"))
        }
        self = address
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(value)
    }

    /// RFC 5322 atext: letters, digits and these.
    static let atextSymbols = Set("!#$%&'*+-/=?^_`{|}~".utf8)

    static func isDotAtom(_ bytes: ArraySlice<UInt8>) -> Bool {
        var previousDot = true
        for byte in bytes {
            if byte == UInt8(ascii: ".") {
                if previousDot { return false }
                previousDot = true
            } else if isAlphanumeric(byte) || atextSymbols.contains(byte) {
                previousDot = false
            } else {
                return false
            }
        }
        return !previousDot
    }

    static func isDomain(_ bytes: ArraySlice<UInt8>) -> Bool {
        let labels = bytes.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard labels.count >= 2 else { return false }
        return labels.allSatisfy { label in
            guard (1...63).contains(label.count), isAlphanumeric(label.first!), isAlphanumeric(label.last!) else { return false }
            return label.allSatisfy { isAlphanumeric($0) || $0 == UInt8(ascii: "-") }
        }
    }

    static func isAlphanumeric(_ byte: UInt8) -> Bool {
        (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
    }
}
