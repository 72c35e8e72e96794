import ArgumentParser
import SendpathCore

/// Reads the values of flags, range-checked where they enter: a value out of range is a usage
/// error (exit 64) that says the range, never a trap later.
enum FlagValues {
    /// A duration flag within `range`, e.g. `--lease-ttl` from 1s to 1d.
    static func duration(_ text: String, flag: String, in range: ClosedRange<Duration>, example: String) throws -> Duration {
        let bounds = "from \(ManifestDuration.format(range.lowerBound)) to \(ManifestDuration.format(range.upperBound))"
        switch ManifestDuration.parseChecked(text) {
        case .malformed:
            throw ValidationError("\(flag) must be a duration like \(example) (\(bounds)); found '\(Escaped.value(text))'")
        case .tooLarge:
            throw ValidationError("\(flag) '\(Escaped.value(text))' is out of range: it must be \(bounds)")
        case .duration(let value):
            guard range.contains(value) else {
                throw ValidationError("\(flag) '\(Escaped.value(text))' is out of range: it must be \(bounds)")
            }
            return value
        }
    }

    /// A time flag (`--at`), RFC 3339 with an offset and within ``Timestamp/supportedRange``.
    static func time(_ text: String, flag: String) throws -> Timestamp {
        switch Timestamp.parse(rfc3339: text) {
        case .time(let value):
            return value
        case .malformed:
            throw ValidationError("\(flag) must be an RFC 3339 time with an offset, like 2024-01-13T21:00:00Z; found '\(Escaped.value(text))'")
        case .outOfRange:
            throw ValidationError("\(flag) '\(Escaped.value(text))' is out of range: times must be \(Timestamp.supportedRangeDescription)")
        }
    }

    /// An integer flag within `range`.
    static func integer(_ value: Int, flag: String, in range: ClosedRange<Int>) throws {
        guard range.contains(value) else {
            throw ValidationError("\(flag) \(value) is out of range: it must be from \(range.lowerBound) to \(range.upperBound)")
        }
    }

    /// The ranges of the duration flags.
    static let leaseTTL: ClosedRange<Duration> = .seconds(1) ... .seconds(86_400)
    static let interval: ClosedRange<Duration> = .milliseconds(100) ... .seconds(86_400)
    static let retryDelay: ClosedRange<Duration> = .zero ... .seconds(3600)
    static let latency: ClosedRange<Duration> = .zero ... .seconds(3600)
    /// `--attempts`: enough for any retry schedule, small enough that doubling delays stay bounded.
    static let attempts: ClosedRange<Int> = 1...100
    /// `--max-parallel`.
    static let maxParallel: ClosedRange<Int> = 1...10_000
}
