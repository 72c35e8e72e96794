/// Address space that is not publicly routable, and the bounds of what BYOIP can take.
///
/// A prefix in such space cannot be brought to AWS (BYOIP takes "publicly routable" ranges
/// registered with a regional internet registry), but labs and tests use it: loopback,
/// private and documentation ranges. The validator warns (`non-public-address`) rather than
/// refusing, so those still validate.
public enum AddressSpace {
    /// One special-purpose range and why it is not public.
    public struct Range: Sendable {
        public let block: AddressBlock
        public let purpose: String
    }

    /// The special-purpose ranges (IANA's IPv4 and IPv6 special-purpose registries, RFC 6890,
    /// the parts that are not globally routable).
    public static let nonPublic: [Range] = [
        range("0.0.0.0/8", "'this network' (RFC 791)"),
        range("10.0.0.0/8", "private (RFC 1918)"),
        range("100.64.0.0/10", "shared carrier-grade NAT space (RFC 6598)"),
        range("127.0.0.0/8", "loopback (RFC 1122)"),
        range("169.254.0.0/16", "link-local (RFC 3927)"),
        range("172.16.0.0/12", "private (RFC 1918)"),
        range("192.0.0.0/24", "IETF protocol assignments (RFC 6890)"),
        range("192.0.2.0/24", "documentation, TEST-NET-1 (RFC 5737)"),
        range("192.168.0.0/16", "private (RFC 1918)"),
        range("198.18.0.0/15", "benchmarking (RFC 2544)"),
        range("198.51.100.0/24", "documentation, TEST-NET-2 (RFC 5737)"),
        range("203.0.113.0/24", "documentation, TEST-NET-3 (RFC 5737)"),
        range("224.0.0.0/4", "multicast (RFC 5771)"),
        range("240.0.0.0/4", "reserved, and broadcast (RFC 1112, RFC 919)"),
        range("::/127", "unspecified or loopback (RFC 4291)"),
        range("::ffff:0:0/96", "IPv4-mapped (RFC 4291)"),
        range("64:ff9b::/96", "IPv4/IPv6 translation (RFC 6052)"),
        range("100::/64", "discard-only (RFC 6666)"),
        range("2001:db8::/32", "documentation (RFC 3849)"),
        range("3fff::/20", "documentation (RFC 9637)"),
        range("fc00::/7", "unique local (RFC 4193)"),
        range("fe80::/10", "link-local (RFC 4291)"),
        range("ff00::/8", "multicast (RFC 4291)"),
    ]

    static let nonPublicV4 = nonPublic.filter { $0.block.network.bitWidth == 32 }
    static let nonPublicV6 = nonPublic.filter { $0.block.network.bitWidth == 128 }

    /// The first special-purpose range that shares addresses with `block`, if any.
    public static func nonPublicRange(overlapping block: AddressBlock) -> Range? {
        (block.network.bitWidth == 32 ? nonPublicV4 : nonPublicV6).first { $0.block.overlaps(block) }
    }

    /// The most specific prefix BYOIP takes: AWS documents IPv4 /24 and, for a publicly
    /// advertised range, IPv6 /48 ("The most specific IPv4 address range that you can bring
    /// is /24. The most specific IPv6 address range that you can bring is /48 for CIDRs that
    /// are publicly advertised", EC2 User Guide, "Bring your own IP addresses", requirements).
    public static func mostSpecificLength(bitWidth: Int) -> Int { bitWidth == 32 ? 24 : 48 }

    /// The least specific prefix sendpath accepts. AWS documents no bound, but a range must be
    /// registered to one organisation by a regional internet registry, and IANA hands the
    /// registries IPv4 /8 and IPv6 /12 blocks: nothing larger is anyone's to bring.
    public static func leastSpecificLength(bitWidth: Int) -> Int { bitWidth == 32 ? 8 : 12 }

    private static func range(_ cidr: String, _ purpose: String) -> Range {
        guard case .success(let block) = AddressBlock.parse(cidr) else { fatalError("bad built-in CIDR \(cidr)") }
        return Range(block: block, purpose: purpose)
    }
}
