/// The manifest duration syntax: whole numbers with units `d`, `h`, `m`, `s` (and `ms`),
/// largest first, combinable: `90s`, `15m`, `4h`, `7d`, `1h30m`.
///
/// Durations are at most ``maximum`` (3650d, about ten years): with times in
/// ``Timestamp/supportedRange``, any sum of a time and a few such durations stays far from the
/// ends of `Int64` nanoseconds.
public enum ManifestDuration {
    /// The longest duration sendpath reads: 3650d.
    public static let maximum: Duration = .seconds(3650 * 86_400)
    /// The range for messages.
    public static let rangeDescription = "from 0s to 3650d"

    /// What parsing a duration text found.
    public enum ParseResult: Sendable, Equatable {
        case duration(Duration)
        /// Not in the syntax.
        case malformed
        /// In the syntax, but longer than ``maximum``.
        case tooLarge
    }

    /// Parses a duration; `nil` when the text is not in the syntax above or is longer than
    /// ``maximum`` (``parseChecked(_:)`` tells which).
    public static func parse(_ text: some StringProtocol) -> Duration? {
        guard case .duration(let value) = parseChecked(text) else { return nil }
        return value
    }

    /// Parses a duration, saying whether a refused text was malformed or too large.
    public static func parseChecked(_ text: some StringProtocol) -> ParseResult {
        let bytes = Array(text.utf8)
        guard !bytes.isEmpty else { return .malformed }
        var tooLarge = false
        var total: Int64 = 0  // milliseconds
        var index = 0
        var lastRank = Int.max
        while index < bytes.count {
            var value: Int64 = 0
            let start = index
            while index < bytes.count, bytes[index] >= 0x30, bytes[index] <= 0x39 {
                // Past a billion, keep reading the syntax but remember the value is too large.
                if value <= 1_000_000_000 { value = value * 10 + Int64(bytes[index] - 0x30) } else { tooLarge = true }
                index += 1
            }
            guard index > start, index < bytes.count else { return .malformed }
            let unit: Int64
            let rank: Int
            switch bytes[index] {
            case 0x64: unit = 86_400_000; rank = 4  // d
            case 0x68: unit = 3_600_000; rank = 3  // h
            case 0x6D:
                if index + 1 < bytes.count, bytes[index + 1] == 0x73 {  // ms
                    unit = 1; rank = 0; index += 1
                } else {
                    unit = 60_000; rank = 2  // m
                }
            case 0x73: unit = 1000; rank = 1  // s
            default: return .malformed
            }
            guard rank < lastRank else { return .malformed }
            lastRank = rank
            total += value * unit  // at most 5 parts of at most 1e10 d in ms: no overflow
            index += 1
        }
        guard !tooLarge, total <= maximum.nanoseconds / 1_000_000 else { return .tooLarge }
        return .duration(.milliseconds(total))
    }

    /// Formats a duration the way manifests write it: `7d`, `1h30m`, `90s`, `250ms`, `0s`.
    public static func format(_ duration: Duration) -> String {
        var millis = duration.nanoseconds / 1_000_000
        if millis == 0 { return "0s" }
        var text = millis < 0 ? "-" : ""
        millis = abs(millis)
        for (unit, suffix) in [(Int64(86_400_000), "d"), (3_600_000, "h"), (60_000, "m"), (1000, "s"), (1, "ms")] {
            if millis >= unit {
                text += "\(millis / unit)\(suffix)"
                millis %= unit
            }
        }
        return text
    }

    /// An estimate for people: rounded up to whole seconds ("9m33s", not "9m32s400ms").
    public static func formatEstimate(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        return format(.seconds(seconds + (attoseconds > 0 ? 1 : 0)))
    }
}
