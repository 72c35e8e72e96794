import Foundation
import Testing
@testable import SendpathCore

@Suite("IP addresses and prefixes")
struct IPAddressTests {
    @Test(arguments: [
        ("2001:db8::10", "2001:0db8:0:0:0:0:0:10"),
        ("2001:db8::10", "2001:DB8:0000::0010"),
        ("::1", "0:0:0:0:0:0:0:1"),
        ("::", "0::0"),
        ("2001:db8::", "2001:db8:0:0:0:0:0:0"),
        ("::ffff:192.0.2.1", "0:0:0:0:0:ffff:c000:201"),
        ("198.51.100.7", "198.51.100.7"),
    ])
    func canonicalEquality(a: String, b: String) throws {
        let left = try #require(IPAddress(a))
        let right = try #require(IPAddress(b))
        #expect(left == right)
        #expect(left.description == right.description)
    }

    @Test(arguments: [
        ("2001:0db8:0000:0000:0000:0000:0000:0010", "2001:db8::10"),
        ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),
        ("2001:db8:1:1:1:1:1:1", "2001:db8:1:1:1:1:1:1"),
        ("0:0:0:0:0:0:0:0", "::"),
        ("2001:0:0:1:0:0:0:1", "2001:0:0:1::1"),
        ("::ffff:c633:6401", "::ffff:198.51.100.1"),
        ("0:0:0:0:0:ffff:198.51.100.1", "::ffff:198.51.100.1"),
    ])
    func rfc5952Text(input: String, canonical: String) throws {
        #expect(try #require(IPAddress(input)).description == canonical)
    }

    @Test(arguments: ["", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1..2.3", "1.2.3.4 ", "2001:db8:::1",
                      "2001:db8::1::2", "1:2:3:4:5:6:7:8:9", "2001:db8:g::1", ":1", "1:", "12345::1", "not an ip",
                      "1:2:3:4:5:6:7::8:9"])
    func rejectsMalformed(text: String) {
        #expect(IPAddress(text) == nil)
    }

    @Test func prefixesContainAndOverlap() throws {
        let block = try AddressBlock.parse("198.51.100.0/24").get()
        #expect(block.contains(IPAddress("198.51.100.255")!))
        #expect(!block.contains(IPAddress("198.51.101.0")!))
        #expect(!block.contains(IPAddress("::ffff:198.51.100.1")!))
        let wide = try AddressBlock.parse("198.51.0.0/16").get()
        #expect(wide.overlaps(block) && block.overlaps(wide))
        let v6 = try AddressBlock.parse("2001:db8:100::/48").get()
        #expect(v6.contains(IPAddress("2001:db8:100:ffff::1")!))
        #expect(!v6.contains(IPAddress("2001:db8:101::1")!))
    }

    @Test func cidrWithHostBitsSuggestsNetwork() {
        #expect(AddressBlock.parse("198.51.100.7/24") == .failure(.hostBitsSet(suggestion: AddressBlock(network: IPAddress("198.51.100.0")!, length: 24))))
        #expect(AddressBlock.parse("198.51.100.0/33") == .failure(.malformed))
        #expect(AddressBlock.parse("198.51.100.0") == .failure(.malformed))
        #expect(AddressBlock.parse("198.51.100.0/024") == .failure(.malformed))
    }
}

@Suite("Times and durations")
struct TimeTests {
    @Test func parsesOffsetsToTheSameInstant() throws {
        let utc = try #require(Timestamp(rfc3339: "2023-10-10T20:00:00Z"))
        let paris = try #require(Timestamp(rfc3339: "2023-10-10T22:00:00+02:00"))
        let fraction = try #require(Timestamp(rfc3339: "2023-10-10T20:00:00.250Z"))
        #expect(utc == paris)
        #expect(fraction - utc == .milliseconds(250))
        #expect(utc.description == "2023-10-10T20:00:00Z")
        #expect(utc.secondsSinceEpoch == 1_696_968_000)
    }

    @Test(arguments: ["2023-10-10T20:00:00", "2023-10-10", "2023-13-10T20:00:00Z", "2023-02-29T20:00:00Z",
                      "2023-10-10T24:00:00Z", "10/10/2023 20:00", "2023-10-10T20:00:00+2:00", "2023-10-10T20:00Z"])
    func rejectsTimesWithoutOffsetOrInvalid(text: String) {
        #expect(Timestamp(rfc3339: text) == nil)
    }

    @Test func roundTripsAcrossEras() throws {
        for text in ["1970-01-01T00:00:00Z", "2024-02-29T23:59:59Z", "2100-03-01T00:00:00Z", "2199-12-31T23:59:59Z"] {
            #expect(try #require(Timestamp(rfc3339: text)).description == text)
        }
        // Before 1970 is outside what sendpath reads, but still prints.
        #expect(Timestamp(secondsSinceEpoch: -1).description == "1969-12-31T23:59:59Z")
    }

    @Test(arguments: [("90s", 90), ("15m", 900), ("4h", 14_400), ("7d", 604_800), ("1h30m", 5400), ("0s", 0), ("84h", 302_400)])
    func parsesDurations(text: String, seconds: Int64) {
        #expect(ManifestDuration.parse(text) == .seconds(seconds))
    }

    @Test(arguments: ["", "7", "d", "1.5h", "30m1h", "1h1h", "7 d", "-1h", "1w", "15min"])
    func rejectsBadDurations(text: String) {
        #expect(ManifestDuration.parse(text) == nil)
    }

    @Test func formatsDurations() {
        #expect(ManifestDuration.format(.seconds(5400)) == "1h30m")
        #expect(ManifestDuration.format(.seconds(604_800)) == "7d")
        #expect(ManifestDuration.format(.milliseconds(250)) == "250ms")
        #expect(ManifestDuration.format(.zero) == "0s")
    }

    @Test func secondsFromJSONRoundTripAndRefuseWhatIsNoDuration() throws {
        for duration: Duration in [.seconds(302_400), .milliseconds(1500), .nanoseconds(573_400_000_001), .zero] {
            #expect(Duration(jsonSeconds: duration.seconds) == duration)
        }
        for bad in [-1, 9e9, 1e300, .infinity, .nan] as [Double] {
            #expect(Duration(jsonSeconds: bad) == nil, "\(bad)")
        }
    }

    @Test func aNoticeWithAnImpossibleDurationIsACorruptValueNotACrash() throws {
        let notice = NoticeRecord(wave: "prod", sentAt: Timestamp(secondsSinceEpoch: 0),
                                  window: Window(start: Timestamp(secondsSinceEpoch: 100), end: Timestamp(secondsSinceEpoch: 200)),
                                  members: ["a"], expectedDuration: .milliseconds(1500), source: .manifest,
                                  recordedAt: Timestamp(secondsSinceEpoch: 0))
        let json = String(decoding: try JSONEncoder().encode(notice), as: UTF8.self)
        #expect(try JSONDecoder().decode(NoticeRecord.self, from: Data(json.utf8)) == notice)
        let impossible = json.replacingOccurrences(of: #""expectedDurationSeconds":1.5"#, with: #""expectedDurationSeconds":1e300"#)
        #expect(impossible != json)
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(NoticeRecord.self, from: Data(impossible.utf8)) }
    }
}

@Suite("Outcomes")
struct OutcomeTests {
    @Test func mostSeriousWins() {
        #expect(Outcome.waiting.combined(with: .rolledBack) == .rolledBack)
        #expect(Outcome.held.combined(with: .rolledBack) == .held)
        #expect(Outcome.converged.combined(with: .changesPending) == .changesPending)
        #expect(Outcome.changesPending.combined(with: .waiting) == .waiting)
        #expect(Outcome.waiting.combined(with: .locked) == .locked)
        #expect(Outcome.error.combined(with: .held) == .error)
    }

    /// A dry run ranks 5 > 4 > 2 > 3 > 0: a change that can run now outranks changes that wait.
    @Test func inADryRunAChangeThatCanRunNowOutranksWaiting() {
        #expect(Outcome.changesPending.combined(with: .waiting, dryRun: true) == .changesPending)
        #expect(Outcome.waiting.combined(with: .changesPending, dryRun: true) == .changesPending)
        #expect(Outcome.changesPending.combined(with: .rolledBack, dryRun: true) == .rolledBack)
        #expect(Outcome.held.combined(with: .changesPending, dryRun: true) == .held)
        #expect(Outcome.converged.combined(with: .waiting, dryRun: true) == .waiting)
    }

    @Test func exitCodesMatchTheContract() {
        #expect(Outcome.allCases.map(\.exitCode) == [0, 1, 2, 3, 4, 5, 6, 64, 65, 75])
    }
}
