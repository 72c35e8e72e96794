/// AWS region names: `eu-west-1`, `us-gov-west-1`, `ap-southeast-2`.
public enum AWSRegion {
    /// Whether `text` has the shape of an AWS region name: two letters, one or more
    /// lowercase words, and a number, joined by '-'.
    public static func isValid(_ text: String) -> Bool {
        var parts = 0
        var partLength = 0
        var partIsNumber = false
        var firstLength = 0
        for byte in text.utf8 {
            if byte == 0x2D {
                if partLength == 0 || partIsNumber { return false }
                if parts == 0 { firstLength = partLength }
                parts += 1
                partLength = 0
                continue
            }
            let isLetter = byte >= 0x61 && byte <= 0x7A
            let isDigit = byte >= 0x30 && byte <= 0x39
            if partLength == 0 {
                partIsNumber = isDigit
            }
            if partIsNumber ? !isDigit : !isLetter { return false }
            partLength += 1
        }
        return parts >= 2 && firstLength == 2 && partIsNumber && partLength >= 1 && partLength <= 2
    }
}

/// DNS-label names (RFC 1123): lowercase letters, digits and '-', 1 to 63 characters,
/// starting and ending with a letter or digit.
public enum DNSLabel {
    @inlinable
    public static func isValid(_ bytes: some Collection<UInt8>) -> Bool {
        guard !bytes.isEmpty, bytes.count <= 63 else { return false }
        guard let first = bytes.first, first != 0x2D else { return false }
        var last: UInt8 = 0
        for byte in bytes {
            let ok = (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x30 && byte <= 0x39) || byte == 0x2D
            if !ok { return false }
            last = byte
        }
        return last != 0x2D
    }

    /// A DNS-label version of a name, for hints: lowercased, other characters replaced by '-'.
    public static func suggestion(for name: String) -> String {
        var out = ""
        for scalar in name.lowercased().unicodeScalars {
            let c = Character(scalar)
            out.append(c.isASCII && (c.isLetter || c.isNumber) ? c : "-")
        }
        while out.hasPrefix("-") { out.removeFirst() }
        while out.hasSuffix("-") { out.removeLast() }
        return String(out.prefix(63))
    }
}
