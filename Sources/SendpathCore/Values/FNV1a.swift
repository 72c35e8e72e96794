/// The 64-bit FNV-1a hash: stable across processes and machines (unlike `hashValue`, which
/// Swift seeds randomly per process), so seeded queues and digests are the same everywhere.
public struct FNV1a: Sendable {
    public private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325

    public init() {}

    public mutating func combine(_ bytes: some Sequence<UInt8>) {
        for byte in bytes {
            value ^= UInt64(byte)
            value &*= 0x0000_0100_0000_01b3
        }
    }

    /// The hash of one string's UTF-8 bytes.
    public static func hash(_ text: String) -> UInt64 {
        var hasher = FNV1a()
        hasher.combine(text.utf8)
        return hasher.value
    }

    /// The digest of a set of message ids: FNV-1a 64 over the ids sorted by their UTF-8
    /// bytes, each followed by a newline, printed as `fnv1a64:` and 16 hex digits.
    /// The order the ids come in does not matter.
    public static func digest(ofMessageIDs ids: [String]) -> String {
        var hasher = FNV1a()
        for id in ids.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) {
            hasher.combine(id.utf8)
            hasher.combine(CollectionOfOne(0x0A))
        }
        return hasher.digest
    }

    /// The hash as a digest: `fnv1a64:` and 16 hex digits.
    public var digest: String {
        let hex = String(value, radix: 16)
        return "fnv1a64:" + String(repeating: "0", count: 16 - hex.count) + hex
    }
}
