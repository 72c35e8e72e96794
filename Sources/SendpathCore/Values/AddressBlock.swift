/// An address prefix in CIDR notation: a network address and a prefix length.
///
/// The network address must have no host bits set (`198.51.100.0/24`, not
/// `198.51.100.7/24`); ``init(parsing:)`` says which form was meant.
public struct AddressBlock: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let network: IPAddress
    public let length: Int

    public init(network: IPAddress, length: Int) {
        self.network = network.masked(to: length)
        self.length = length
    }

    /// Why a CIDR text was refused.
    public enum ParseError: Error, Equatable, Sendable {
        case malformed
        case hostBitsSet(suggestion: AddressBlock)
    }

    /// Parses `address/length`, refusing host bits (with the network that was likely meant).
    public static func parse(_ text: String) -> Result<AddressBlock, ParseError> {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let address = IPAddress(parts[0]),
              !parts[1].isEmpty, parts[1].allSatisfy({ $0.isASCII && $0.isNumber }),
              parts[1].count <= 3, let length = Int(parts[1]),
              length <= address.bitWidth,
              !(parts[1].count > 1 && parts[1].first == "0")
        else { return .failure(.malformed) }
        let block = AddressBlock(network: address, length: length)
        if block.network != address { return .failure(.hostBitsSet(suggestion: block)) }
        return .success(block)
    }

    public func contains(_ address: IPAddress) -> Bool {
        address.bitWidth == network.bitWidth && address.masked(to: length) == network
    }

    /// Whether the two blocks share any address.
    public func overlaps(_ other: AddressBlock) -> Bool {
        guard network.bitWidth == other.network.bitWidth else { return false }
        let shorter = min(length, other.length)
        return network.masked(to: shorter) == other.network.masked(to: shorter)
    }

    public var description: String { "\(network)/\(length)" }

    public static func < (lhs: AddressBlock, rhs: AddressBlock) -> Bool {
        (lhs.network, lhs.length) < (rhs.network, rhs.length)
    }
}

/// Encoded as its CIDR text, also as a dictionary key (JSON objects keyed by prefix).
extension AddressBlock: CodingKeyRepresentable {
    public var codingKey: any CodingKey { AnyCodingKey(description) }

    public init?<T: CodingKey>(codingKey: T) {
        guard case .success(let block) = AddressBlock.parse(codingKey.stringValue) else { return nil }
        self = block
    }

    struct AnyCodingKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ string: String) { stringValue = string }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }
}

extension AddressBlock: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard case .success(let block) = AddressBlock.parse(text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "not a CIDR block: \(text)")
        }
        self = block
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

extension IPAddress: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let address = IPAddress(text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "not an IP address: \(text)")
        }
        self = address
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
