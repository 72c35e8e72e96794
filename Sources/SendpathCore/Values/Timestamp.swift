/// An instant on the wall clock, nanoseconds since 1970-01-01T00:00:00Z.
///
/// Parsed from and printed as RFC 3339. The core never reads the system clock: the current
/// instant comes from an injected ``WallClock``.
///
/// Nanoseconds in an `Int64` reach from 1677 to 2262; times read from manifests, flags, JSON
/// and stores must lie in ``supportedRange`` (1970 through 2199), so that any sum of such a
/// time and durations sendpath allows (see ``ManifestDuration/maximum``) stays representable.
/// Arithmetic saturates at the ends of `Int64` rather than trapping.
public struct Timestamp: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    public var nanosecondsSinceEpoch: Int64

    public init(nanosecondsSinceEpoch: Int64) {
        self.nanosecondsSinceEpoch = nanosecondsSinceEpoch
    }

    public init(secondsSinceEpoch: Int64) {
        self.nanosecondsSinceEpoch = Self.saturating(secondsSinceEpoch.multipliedReportingOverflow(by: 1_000_000_000),
                                                     negative: secondsSinceEpoch < 0)
    }

    /// The earliest time sendpath reads: 1970-01-01T00:00:00Z.
    public static let earliestSupported = Timestamp(nanosecondsSinceEpoch: 0)
    /// The latest time sendpath reads: 2199-12-31T23:59:59.999999999Z.
    public static let latestSupported = Timestamp(nanosecondsSinceEpoch: 7_258_118_400 * 1_000_000_000 - 1)
    /// The times sendpath reads from manifests, flags and stores (years 1970 through 2199).
    public static let supportedRange = earliestSupported...latestSupported
    /// The supported range for messages: "from 1970-01-01T00:00:00Z to 2199-12-31T23:59:59Z".
    public static let supportedRangeDescription = "from 1970-01-01T00:00:00Z to 2199-12-31T23:59:59Z"

    /// What parsing an RFC 3339 text found.
    public enum ParseResult: Sendable, Equatable {
        case time(Timestamp)
        /// Not RFC 3339 with an offset.
        case malformed
        /// Well-formed, but outside ``supportedRange``.
        case outOfRange
    }

    static func saturating(_ result: (partialValue: Int64, overflow: Bool), negative: Bool) -> Int64 {
        result.overflow ? (negative ? .min : .max) : result.partialValue
    }

    public var secondsSinceEpoch: Int64 { nanosecondsSinceEpoch / 1_000_000_000 }

    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool {
        lhs.nanosecondsSinceEpoch < rhs.nanosecondsSinceEpoch
    }

    /// Saturates at the ends of `Int64` instead of trapping.
    public static func + (lhs: Timestamp, rhs: Duration) -> Timestamp {
        let step = rhs.nanoseconds
        return Timestamp(nanosecondsSinceEpoch: saturating(lhs.nanosecondsSinceEpoch.addingReportingOverflow(step), negative: step < 0))
    }

    /// Saturates at the ends of `Int64` instead of trapping.
    public static func - (lhs: Timestamp, rhs: Duration) -> Timestamp {
        let step = rhs.nanoseconds
        return Timestamp(nanosecondsSinceEpoch: saturating(lhs.nanosecondsSinceEpoch.subtractingReportingOverflow(step), negative: step > 0))
    }

    /// Saturates at the ends of `Int64` nanoseconds instead of trapping.
    public static func - (lhs: Timestamp, rhs: Timestamp) -> Duration {
        .nanoseconds(saturating(lhs.nanosecondsSinceEpoch.subtractingReportingOverflow(rhs.nanosecondsSinceEpoch),
                                negative: lhs < rhs))
    }

    /// Parses RFC 3339 (`2023-10-10T08:00:00Z`, `2024-01-16T22:00:00+01:00`, fractions
    /// allowed). The offset is required: a time without one is ambiguous across sites.
    /// `nil` when malformed or outside ``supportedRange`` (``parse(rfc3339:)`` tells which).
    public init?(rfc3339 text: some StringProtocol) {
        guard case .time(let value) = Self.parse(rfc3339: text) else { return nil }
        self = value
    }

    /// Parses RFC 3339 like ``init(rfc3339:)``, saying whether a refused text was malformed or
    /// out of the supported range.
    public static func parse(rfc3339 text: some StringProtocol) -> ParseResult {
        let b = Array(text.utf8)
        func digits(_ start: Int, _ count: Int) -> Int? {
            guard start + count <= b.count else { return nil }
            var value = 0
            for i in start..<(start + count) {
                let c = b[i]
                guard c >= 0x30 && c <= 0x39 else { return nil }
                value = value * 10 + Int(c - 0x30)
            }
            return value
        }
        guard b.count >= 20,
              let year = digits(0, 4), b[4] == 0x2D,
              let month = digits(5, 2), b[7] == 0x2D,
              let day = digits(8, 2), b[10] == 0x54 || b[10] == 0x74 || b[10] == 0x20,
              let hour = digits(11, 2), b[13] == 0x3A,
              let minute = digits(14, 2), b[16] == 0x3A,
              let second = digits(17, 2)
        else { return .malformed }
        guard (1...12).contains(month), day >= 1, day <= Timestamp.daysIn(month: month, year: year),
              hour <= 23, minute <= 59, second <= 60
        else { return .malformed }
        var index = 19
        var nanos: Int64 = 0
        if index < b.count && b[index] == 0x2E {
            index += 1
            var scale: Int64 = 100_000_000
            let start = index
            while index < b.count, b[index] >= 0x30, b[index] <= 0x39 {
                nanos += Int64(b[index] - 0x30) * scale
                scale /= 10
                index += 1
            }
            if index == start { return .malformed }
        }
        guard index < b.count else { return .malformed }
        var offsetSeconds = 0
        if b[index] == 0x5A || b[index] == 0x7A {
            index += 1
        } else if b[index] == 0x2B || b[index] == 0x2D {
            let sign = b[index] == 0x2D ? -1 : 1
            guard let oh = digits(index + 1, 2), b.count > index + 3, b[index + 3] == 0x3A,
                  let om = digits(index + 4, 2), oh <= 23, om <= 59 else { return .malformed }
            offsetSeconds = sign * (oh * 3600 + om * 60)
            index += 6
        } else {
            return .malformed
        }
        guard index == b.count else { return .malformed }
        let days = Timestamp.daysFromCivil(year: year, month: month, day: day)
        let seconds = Int64(days) * 86_400 + Int64(hour * 3600 + minute * 60 + min(second, 59)) - Int64(offsetSeconds)
        // At most four digits of year: the seconds fit an Int64 with room; the nanoseconds may not.
        guard seconds >= earliestSupported.secondsSinceEpoch, seconds <= latestSupported.secondsSinceEpoch else { return .outOfRange }
        return .time(Timestamp(nanosecondsSinceEpoch: seconds * 1_000_000_000 + nanos))
    }

    /// Whole seconds since the epoch, rounded down (also before 1970), for every value: no
    /// subtraction that could overflow at the ends of `Int64`.
    var flooredSeconds: Int64 {
        let (quotient, remainder) = nanosecondsSinceEpoch.quotientAndRemainder(dividingBy: 1_000_000_000)
        return remainder < 0 ? quotient - 1 : quotient
    }

    /// RFC 3339 in UTC, with a fraction only when there is one (as many digits as it needs).
    public var description: String {
        let seconds = flooredSeconds
        let remainder = nanosecondsSinceEpoch % 1_000_000_000
        let nanos = remainder < 0 ? remainder + 1_000_000_000 : remainder
        var days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = seconds - days * 86_400
        let (y, m, d) = Timestamp.civilFromDays(Int(days))
        days = 0
        func pad(_ value: Int, _ width: Int) -> String {
            let text = String(value)
            return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
        }
        var text = "\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2))T\(pad(Int(secondOfDay / 3600), 2)):\(pad(Int(secondOfDay / 60 % 60), 2)):\(pad(Int(secondOfDay % 60), 2))"
        if nanos != 0 {
            var fraction = pad(Int(nanos), 9)
            while fraction.hasSuffix("0") { fraction.removeLast() }
            text += "." + fraction
        }
        return text + "Z"
    }

    /// RFC 3339 in UTC to the second, for people (`2024-01-13T21:00:00Z`).
    public var secondsDescription: String {
        // The fraction is the time past the whole second (rounded down): dropping it floors.
        let text = description
        guard let dot = text.firstIndex(of: ".") else { return text }
        return String(text[..<dot]) + "Z"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let value = Timestamp(rfc3339: text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "not an RFC 3339 time: \(text)")
        }
        self = value
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }

    static func isLeap(_ year: Int) -> Bool { year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    // Howard Hinnant's days_from_civil / civil_from_days.
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func civilFromDays(_ z0: Int) -> (Int, Int, Int) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }
}

extension Duration {
    /// Whole nanoseconds (truncated), for arithmetic with ``Timestamp``; saturates at the ends
    /// of `Int64` (about 292 years either way) instead of trapping.
    public var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let whole = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        guard !whole.overflow else { return seconds < 0 ? .min : .max }
        return Timestamp.saturating(whole.partialValue.addingReportingOverflow(attoseconds / 1_000_000_000), negative: seconds < 0)
    }

    /// Seconds as a floating-point number, for reports and metrics.
    public var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }

    /// A number of seconds as JSON carries them (the inverse of ``seconds``): exact for whole
    /// seconds, to the nearest nanosecond otherwise. `nil` when it is not finite, negative, or
    /// 9e9 s (285 years) or more, rather than a trap converting it.
    public init?(jsonSeconds: Double) {
        guard jsonSeconds.isFinite, jsonSeconds >= 0, jsonSeconds < 9e9 else { return nil }
        self = jsonSeconds.rounded(.towardZero) == jsonSeconds
            ? .seconds(Int64(jsonSeconds))
            : .nanoseconds(Int64((jsonSeconds * 1e9).rounded()))
    }
}
