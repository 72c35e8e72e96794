/// Range checks for what a state store gives back: a store is a file or a database that
/// anything with access can change, so its numbers are checked where they enter, like a
/// manifest's (SPEC section 6). A value out of range is a corrupt store, never a trap later.
public enum StoredValue {
    /// Why a stored value cannot be used.
    public struct OutOfRange: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    /// An instant stored as nanoseconds since the epoch: within ``Timestamp/supportedRange``.
    public static func timestamp(nanoseconds: Int64, column: String) throws(OutOfRange) -> Timestamp {
        let value = Timestamp(nanosecondsSinceEpoch: nanoseconds)
        guard Timestamp.supportedRange.contains(value) else {
            throw OutOfRange(description: "column \(column) holds \(nanoseconds) ns, a time outside the range sendpath reads "
                             + "(\(Timestamp.supportedRangeDescription)); the store was changed by something other than sendpath")
        }
        return value
    }

    /// A duration stored as nanoseconds: from 0 to ``maximumDuration``.
    public static func duration(nanoseconds: Int64, column: String) throws(OutOfRange) -> Duration {
        guard nanoseconds >= 0, nanoseconds <= maximumDuration.nanoseconds else {
            throw OutOfRange(description: "column \(column) holds \(nanoseconds) ns, a duration outside the range sendpath reads "
                             + "(from 0s to 3650d); the store was changed by something other than sendpath")
        }
        return .nanoseconds(nanoseconds)
    }

    /// The longest duration a store may hold: ``ManifestDuration/maximum`` (3650d).
    public static let maximumDuration = ManifestDuration.maximum
}
