/// A tenant's webhook: an `https://` URL of printable ASCII, at most 2048 bytes, with a host
/// (a DNS name, an IPv4 address or a bracketed IPv6 address), an optional port from 1 to 65535,
/// and no user name or password (credentials do not belong in manifests kept in Git).
public struct WebhookURL: Sendable, Hashable, CustomStringConvertible, Codable {
    public let value: String
    /// The host, without brackets, and the port (443 when none is written).
    public let host: String
    public let port: Int

    public static let maximumLength = 2048

    public enum Problem: Error, Sendable, Hashable {
        case notHTTPS
        case credentials
        case malformed
    }

    public static func parse(_ text: some StringProtocol) -> Result<WebhookURL, Problem> {
        let string = String(text)
        let bytes = Array(string.utf8)
        guard bytes.count <= maximumLength, bytes.allSatisfy({ (0x21...0x7E).contains($0) }) else { return .failure(.malformed) }
        let scheme = "https://"
        guard string.lowercased().hasPrefix(scheme) else { return .failure(.notHTTPS) }
        let rest = bytes.dropFirst(scheme.utf8.count)
        let authorityEnd = rest.firstIndex { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "#") } ?? rest.endIndex
        let authority = rest[rest.startIndex..<authorityEnd]
        guard !authority.contains(UInt8(ascii: "@")) else { return .failure(.credentials) }
        var hostPart = authority, portPart: ArraySlice<UInt8>?
        if authority.first == UInt8(ascii: "[") {
            guard let close = authority.firstIndex(of: UInt8(ascii: "]")) else { return .failure(.malformed) }
            let inside = authority[(authority.startIndex + 1)..<close]
            guard let address = IPAddress(String(decoding: inside, as: UTF8.self)), address.family == "IPv6" else {
                return .failure(.malformed)
            }
            hostPart = inside
            let after = authority[(close + 1)...]
            if !after.isEmpty {
                guard after.first == UInt8(ascii: ":") else { return .failure(.malformed) }
                portPart = after.dropFirst()
            }
        } else {
            if let colon = authority.firstIndex(of: UInt8(ascii: ":")) {
                hostPart = authority[..<colon]
                portPart = authority[(colon + 1)...]
            }
            guard isHostName(hostPart) else { return .failure(.malformed) }
        }
        var port = 443
        if let portPart {
            guard (1...5).contains(portPart.count), portPart.first != UInt8(ascii: "0"),
                  portPart.allSatisfy({ (0x30...0x39).contains($0) }),
                  let number = Int(String(decoding: portPart, as: UTF8.self)), (1...65_535).contains(number) else {
                return .failure(.malformed)
            }
            port = number
        }
        return .success(WebhookURL(value: string, host: String(decoding: hostPart, as: UTF8.self), port: port))
    }

    private init(value: String, host: String, port: Int) {
        self.value = value
        self.host = host
        self.port = port
    }

    public var description: String { value }

    /// Letters, digits, '-' and '.', starting and ending with a letter or digit.
    static func isHostName(_ bytes: ArraySlice<UInt8>) -> Bool {
        guard let first = bytes.first, let last = bytes.last, bytes.count <= 253,
              EmailAddress.isAlphanumeric(first), EmailAddress.isAlphanumeric(last) else { return false }
        return bytes.allSatisfy { EmailAddress.isAlphanumeric($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".") }
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard case .success(let url) = WebhookURL.parse(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not an https URL"))
        }
        self = url
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(value)
    }
}
