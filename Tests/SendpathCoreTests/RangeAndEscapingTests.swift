import Foundation
import Testing
@testable import SendpathCore

/// Values that once trapped (Int64 nanoseconds overflow) and text that once forged lines.
@Suite("Ranges and escaping")
struct RangeAndEscapingTests {
    @Test(arguments: ["1600-01-01T00:00:00Z", "1677-09-21T00:12:43Z", "2262-04-11T23:47:17Z", "2300-01-01T00:00:00Z",
                      "9999-12-31T23:59:59Z", "0000-01-01T00:00:00Z", "1969-12-31T23:59:59Z", "2200-01-01T00:00:00Z",
                      "1970-01-01T00:30:00+01:00"])
    func timesOutsideTheSupportedRangeAreOutOfRangeNotATrap(text: String) {
        #expect(Timestamp.parse(rfc3339: text) == .outOfRange)
        #expect(Timestamp(rfc3339: text) == nil)
    }

    @Test func theEndsOfTheSupportedRangeParse() throws {
        #expect(Timestamp.parse(rfc3339: "1970-01-01T00:00:00Z") == .time(Timestamp.earliestSupported))
        let last = try #require(Timestamp(rfc3339: "2199-12-31T23:59:59.999999999Z"))
        #expect(last == Timestamp.latestSupported)
        #expect(Timestamp.parse(rfc3339: "not a time") == .malformed)
    }

    @Test func timeArithmeticSaturatesInsteadOfTrapping() {
        let late = Timestamp(nanosecondsSinceEpoch: .max - 10)
        #expect((late + .seconds(1)).nanosecondsSinceEpoch == .max)
        let early = Timestamp(nanosecondsSinceEpoch: .min + 10)
        #expect((early - .seconds(1)).nanosecondsSinceEpoch == .min)
        #expect((late - early).nanoseconds == .max)
        #expect((early - late).nanoseconds == .min)
        #expect(Timestamp(secondsSinceEpoch: .max).nanosecondsSinceEpoch == .max)
        // Saturated values still print (printing once subtracted past Int64.min).
        #expect(Timestamp(nanosecondsSinceEpoch: .min).description == "1677-09-21T00:12:43.145224192Z")
        #expect(Timestamp(nanosecondsSinceEpoch: .max).description == "2262-04-11T23:47:16.854775807Z")
        #expect(Timestamp(nanosecondsSinceEpoch: .min).secondsDescription == "1677-09-21T00:12:43Z")
        #expect(Timestamp(nanosecondsSinceEpoch: -1).description == "1969-12-31T23:59:59.999999999Z")
        #expect(Duration.seconds(Int64.max).nanoseconds == .max)
        #expect(Duration.seconds(Int64.min).nanoseconds == .min)
        // The bounded domain: the latest time plus the longest duration stays representable.
        let sum = Timestamp.latestSupported + ManifestDuration.maximum + ManifestDuration.maximum
        #expect(sum > Timestamp.latestSupported && sum.nanosecondsSinceEpoch < .max)
        let difference = Timestamp.earliestSupported - ManifestDuration.maximum - ManifestDuration.maximum
        #expect(difference.nanosecondsSinceEpoch > .min)
    }

    @Test(arguments: ["999999d", "3651d", "3650d1s", "99999999999d", "99999999999999999999999s", "1000000000d"])
    func durationsBeyondTheMaximumAreTooLarge(text: String) {
        #expect(ManifestDuration.parseChecked(text) == .tooLarge)
        #expect(ManifestDuration.parse(text) == nil)
    }

    @Test func theLongestDurationParses() {
        #expect(ManifestDuration.parseChecked("3650d") == .duration(.seconds(3650 * 86_400)))
        #expect(ManifestDuration.parseChecked("99999999999x") == .malformed)
        #expect(ManifestDuration.parseChecked("1d1d") == .malformed)
    }

    @Test func controlCharactersAreEscapedAndLongValuesCut() {
        #expect(Escaped.value("a\nb\rc\td") == "a\\nb\\rc\\td")
        #expect(Escaped.value("\u{1B}[2Jred\u{7}") == "\\u{1B}[2Jred\\u{7}")
        #expect(Escaped.value("nul\u{0}del\u{7F}c1\u{85}\u{9B}") == "nul\\u{0}del\\u{7F}c1\\u{85}\\u{9B}")
        #expect(Escaped.value("line\u{2028}sep\u{202E}rtl") == "line\\u{2028}sep\\u{202E}rtl")
        #expect(Escaped.value("plain café ✓") == "plain café ✓")
        let long = String(repeating: "x", count: 500)
        #expect(Escaped.value(long) == String(repeating: "x", count: 200) + "…")
        #expect(Escaped.value(String(repeating: "y", count: 200)) == String(repeating: "y", count: 200))
    }

    @Test(arguments: [("plain text", false), ("café ✓ 東京", false), ("tab\there", true), ("nul\u{0}", true), ("del\u{7F}", true),
                      ("c1 \u{9B}", true), ("c1 \u{85}", true), ("line\u{2028}sep", true), ("rtl\u{202E}", true), ("isolate\u{2066}", true),
                      ("nbsp\u{A0}", false), ("", false)])
    func controlCharactersAreFoundInAnyEncodingWidth(text: String, expected: Bool) {
        #expect(Escaped.containsControl(text) == expected)
        #expect(text.unicodeScalars.contains(where: Escaped.isControl) == expected)
    }

    @Test func aDiagnosticIsOneLineWhateverItQuotes() {
        let forged = "ok\nmanifests/prod.yaml:1:1: warning: [fake] all good\u{1B}[2K"
        let diagnostic = Diagnostic(.badValue, at: SourceLocation(file: "evil\n.yaml", line: 3, column: 4), "found '\(forged)'",
                                    hint: "hint\nwith a newline")
        let line = diagnostic.description
        #expect(!line.contains("\n") && !line.contains("\u{1B}"))
        #expect(line.hasPrefix("evil\\n.yaml:3:4: error: [bad-value] found 'ok\\nmanifests/prod.yaml:1:1: warning"))
        #expect(!diagnostic.message.contains("\n") && !(diagnostic.hint ?? "").contains("\n"))
    }

    /// Counts in provider answers and stored records are checked when decoded: a queue depth
    /// or snapshot count beyond 10^9 (or negative) is refused, so sums and estimates over them
    /// cannot overflow (issue 10: "a provider answer ... range-checked where it enters").
    @Test(arguments: [
        #"{"name":"a","path":{"infrastructure":"aws","location":"x"},"frozen":false,"sendingIPs":[],"build":"b","queueDepth":9223372036854775807}"#,
        #"{"name":"a","path":{"infrastructure":"aws","location":"x"},"frozen":false,"sendingIPs":[],"build":"b","queueDepth":-1}"#,
    ])
    func observedQueueDepthsOutOfRangeAreRefused(json: String) {
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(ObservedInstance.self, from: Data(json.utf8)) }
    }

    @Test func snapshotAndResendCountsOutOfRangeAreRefused() throws {
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(QueueSnapshot.self, from: Data(#"{"instance":"a","messageCount":1000000001,"digest":"d"}"#.utf8))
        }
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(ResendResult.self, from: Data(#"{"instance":"a","resent":0,"expired":-3,"digest":"d"}"#.utf8))
        }
        let edge = try JSONDecoder().decode(QueueSnapshot.self, from: Data(#"{"instance":"a","messageCount":1000000000,"digest":"d"}"#.utf8))
        #expect(edge.messageCount == 1_000_000_000)
    }

    /// A calibration factor from a journal of absurd durations saturates the estimate.
    @Test func anAbsurdCalibrationSaturatesTheEstimate() {
        let estimator = DurationEstimator(calibration: [.switchPath: 1e30, .freeze: .infinity])
        #expect(estimator.step(.switchPath, prefixes: 1, messages: 0) == StoredValue.maximumDuration)
        #expect(estimator.step(.freeze, prefixes: 1, messages: 0) == StoredValue.maximumDuration)
        #expect(estimator.step(.resendQueue, prefixes: 1, messages: maximumMessageCount) == .seconds(60) + .milliseconds(20 * 1_000_000_000))
    }
}
