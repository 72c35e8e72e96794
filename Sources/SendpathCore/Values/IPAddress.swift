/// An IPv4 or IPv6 address, compared canonically.
///
/// `2001:db8::10` and `2001:0db8:0:0:0:0:0:10` are the same address; `description` prints
/// the RFC 5952 form. IPv4-mapped IPv6 addresses stay IPv6: they are a different family
/// for BYOIP purposes.
public enum IPAddress: Sendable, Hashable, Comparable, CustomStringConvertible {
    case v4(UInt32)
    case v6(high: UInt64, low: UInt64)

    /// Address length in bits: 32 or 128.
    public var bitWidth: Int {
        switch self {
        case .v4: 32
        case .v6: 128
        }
    }

    public var family: String {
        switch self {
        case .v4: "IPv4"
        case .v6: "IPv6"
        }
    }

    /// Parses a textual address; `nil` when it is not a valid IPv4 dotted quad or IPv6 address.
    public init?(_ text: some StringProtocol) {
        var text = String(text)
        guard let address = text.withUTF8({ IPAddress(utf8Bytes: $0) }) else { return nil }
        self = address
    }

    /// Parses from raw UTF-8 bytes without building a `String`.
    public init?(utf8Bytes bytes: UnsafeBufferPointer<UInt8>) {
        if let v4 = IPAddress.parseV4(bytes, 0, bytes.count) {
            self = .v4(v4)
        } else if let v6 = IPAddress.parseV6(bytes) {
            self = .v6(high: v6.0, low: v6.1)
        } else {
            return nil
        }
    }

    static func parseV4(_ bytes: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int) -> UInt32? {
        var result: UInt32 = 0
        var octets = 0
        var value: UInt32 = 0
        var digits = 0
        var index = start
        while index < end {
            let byte = bytes[index]
            index += 1
            if byte >= 0x30 && byte <= 0x39 {
                // A leading zero is ambiguous (octal in some tools): reject it.
                if digits == 1 && value == 0 { return nil }
                value = value * 10 + UInt32(byte - 0x30)
                digits += 1
                if digits > 3 || value > 255 { return nil }
            } else if byte == 0x2E {
                if digits == 0 || octets == 3 { return nil }
                result = result << 8 | value
                octets += 1
                value = 0
                digits = 0
            } else {
                return nil
            }
        }
        if digits == 0 || octets != 3 { return nil }
        return result << 8 | value
    }

    static func parseV6(_ bytes: UnsafeBufferPointer<UInt8>) -> (UInt64, UInt64)? {
        let count = bytes.count
        if count < 2 || count > 45 { return nil }
        var groups: (UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16) = (0, 0, 0, 0, 0, 0, 0, 0)
        return withUnsafeMutableBytes(of: &groups) { raw -> (UInt64, UInt64)? in
            let slots = raw.bindMemory(to: UInt16.self)
            var used = 0
            var gapIndex: Int? = nil
            var index = 0
            if bytes[0] == 0x3A {
                guard bytes[1] == 0x3A else { return nil }
                gapIndex = 0
                index = 2
                if index == count { return (0, 0) }
            }
            while index < count {
                // A group is hex digits, or an embedded IPv4 address at the end.
                var end = index
                var sawDot = false
                while end < count && bytes[end] != 0x3A {
                    if bytes[end] == 0x2E { sawDot = true }
                    end += 1
                }
                if sawDot {
                    guard end == count, used <= 6, let v4 = parseV4(bytes, index, end) else { return nil }
                    slots[used] = UInt16(v4 >> 16)
                    slots[used + 1] = UInt16(v4 & 0xFFFF)
                    used += 2
                    index = end
                    break
                }
                let length = end - index
                if length == 0 || length > 4 || used == 8 { return nil }
                var value: UInt32 = 0
                for position in index..<end {
                    guard let digit = hexValue(bytes[position]) else { return nil }
                    value = value << 4 | UInt32(digit)
                }
                slots[used] = UInt16(value)
                used += 1
                index = end
                if index == count { break }
                index += 1  // past the colon
                if index < count && bytes[index] == 0x3A {
                    if gapIndex != nil { return nil }
                    gapIndex = used
                    index += 1
                    if index == count { break }
                } else if index == count {
                    return nil  // a trailing single colon
                }
            }
            if let gapIndex {
                if used > 7 { return nil }
                let missing = 8 - used
                // Shift the groups after the gap to the end, zero the gap.
                var from = used - 1
                while from >= gapIndex {
                    slots[from + missing] = slots[from]
                    from -= 1
                }
                for position in gapIndex..<(gapIndex + missing) { slots[position] = 0 }
            } else if used != 8 {
                return nil
            }
            var high: UInt64 = 0
            var low: UInt64 = 0
            for i in 0..<4 { high = high << 16 | UInt64(slots[i]) }
            for i in 4..<8 { low = low << 16 | UInt64(slots[i]) }
            return (high, low)
        }
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case 0x30...0x39: byte - 0x30
        case 0x41...0x46: byte - 0x41 + 10
        case 0x61...0x66: byte - 0x61 + 10
        default: nil
        }
    }

    /// The RFC 5952 canonical text.
    public var description: String {
        switch self {
        case .v4(let value):
            return "\(value >> 24).\(value >> 16 & 0xFF).\(value >> 8 & 0xFF).\(value & 0xFF)"
        case .v6(let high, let low):
            // IPv4-mapped (::ffff:0:0/96): the last 32 bits as a dotted quad (RFC 5952 §5).
            if high == 0 && low >> 32 == 0xFFFF {
                return "::ffff:" + IPAddress.v4(UInt32(truncatingIfNeeded: low)).description
            }
            var groups: [UInt16] = []
            for shift in stride(from: 48, through: 0, by: -16) { groups.append(UInt16(truncatingIfNeeded: high >> UInt64(shift))) }
            for shift in stride(from: 48, through: 0, by: -16) { groups.append(UInt16(truncatingIfNeeded: low >> UInt64(shift))) }
            // The longest run of two or more zero groups (first one on a tie) becomes "::".
            var bestStart = -1, bestLength = 0, runStart = -1
            for i in 0...8 {
                if i < 8 && groups[i] == 0 {
                    if runStart < 0 { runStart = i }
                } else if runStart >= 0 {
                    let length = i - runStart
                    if length > bestLength && length >= 2 { bestStart = runStart; bestLength = length }
                    runStart = -1
                }
            }
            func hex(_ range: Range<Int>) -> String {
                groups[range].map { String($0, radix: 16) }.joined(separator: ":")
            }
            if bestStart < 0 { return hex(0..<8) }
            return hex(0..<bestStart) + "::" + hex((bestStart + bestLength)..<8)
        }
    }

    public static func < (lhs: IPAddress, rhs: IPAddress) -> Bool {
        switch (lhs, rhs) {
        case (.v4(let a), .v4(let b)): a < b
        case (.v4, .v6): true
        case (.v6, .v4): false
        case (.v6(let ah, let al), .v6(let bh, let bl)): (ah, al) < (bh, bl)
        }
    }

    /// This address with every bit after the first `length` bits cleared.
    public func masked(to length: Int) -> IPAddress {
        switch self {
        case .v4(let value):
            let mask: UInt32 = length == 0 ? 0 : ~UInt32(0) << UInt32(32 - length)
            return .v4(value & mask)
        case .v6(let high, let low):
            if length >= 64 {
                let lowMask: UInt64 = length == 64 ? 0 : ~UInt64(0) << UInt64(128 - length)
                return .v6(high: high, low: low & lowMask)
            }
            let highMask: UInt64 = length == 0 ? 0 : ~UInt64(0) << UInt64(64 - length)
            return .v6(high: high & highMask, low: 0)
        }
    }
}
