import Foundation
@testable import SendpathCore
import Testing

/// The streamed JSON of a report is what `JSONEncoder` made of it before, and what a parser reads back.
@Suite struct ReportJSONWriterTests {
    static let t0 = Timestamp(rfc3339: "2024-01-16T21:00:00Z")!
    static let dc = SendingPath(infrastructure: .adobeDC, location: "dc-1")
    static let aws = SendingPath(infrastructure: .aws, location: "us-east-1")

    static func encoded(_ report: ReconcileReport) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(report), as: UTF8.self) + "\n"
    }

    static func streamed(_ report: ReconcileReport, chunkSize: Int = 1 << 16) -> (text: String, chunks: Int) {
        var bytes: [UInt8] = []
        var chunks = 0
        ReportJSONWriter.write(report, chunkSize: chunkSize) { chunk in
            bytes += chunk
            chunks += 1
        }
        return (String(decoding: bytes, as: UTF8.self), chunks)
    }

    static func journal() -> JournalSummary {
        let window = Window(start: t0, end: t0 + .seconds(8 * 3600))
        let entry = JournalEntry(cutoverID: "g1#2", group: "g1", step: .switchPath, rollback: true, phase: .done, attempt: 1,
                                 idempotencyKey: "k", fencingToken: FencingToken(3), at: t0, holder: "host/42/reconcile")
        let record = CutoverRecord(id: "g1#2", group: "g1", wave: "w1", members: ["a"], window: window, startedAt: t0,
                                   finishedAt: t0 + .seconds(90), outcome: .rolledBack, reason: "verification failed: ips",
                                   baseline: CutoverBaseline(members: [:], prefixes: [:], target: aws), entries: [entry])
        return JournalSummary(record)
    }

    /// Every optional field present somewhere, absent elsewhere; strings that need escaping.
    static func varied() -> ReconcileReport {
        let steps = [StepReport(name: .prepareTarget, state: .done, duration: .milliseconds(1500)),
                     StepReport(name: .freeze, state: .failed, duration: .seconds(2)),
                     StepReport(name: .switchPath, state: .skipped, rollback: true),
                     StepReport(name: .unfreeze, state: .pending)]
        var a = InstanceReport(name: "a", wave: "w1", group: "g1", status: .rolledBack, reason: "quote \" back\\slash /path\n\ttab \u{1} é €",
                               reasonCode: .drift, current: dc, target: aws, steps: steps,
                               messages: MessageReport(resent: 3, expired: 1, expiredMessageIDs: ["<m1@x>", "<m2@x>"]))
        a.observed = ObservedSummary(frozen: true, sendingIPs: [IPAddress("192.0.2.1")!, IPAddress("2001:db8::1")!], build: "7.3.5 build 9368",
                                     queueDepth: 7, ipsMatchManifest: false, buildMatchesManifest: true)
        a.journal = journal()
        let b = InstanceReport(name: "b", wave: "w1", group: "g1", status: .rolledBack, current: nil, target: aws, steps: steps,
                               messages: MessageReport(resent: 0, expired: 0, expiredMessageIDs: []))
        let c = InstanceReport(name: "c", wave: "w2", group: "g2", status: .pending, current: dc, target: aws, steps: [])
        var report = ReconcileReport(dryRun: false, at: t0 + .milliseconds(250), instances: [a, b, c],
                                     groups: [.init(id: "g1", wave: "w1", instances: ["a", "b"], status: .rolledBack,
                                                    expectedDuration: .seconds(600), cutover: "g1#2"),
                                              .init(id: "g2", wave: "w2", instances: ["c"], status: .pending,
                                                    expectedDuration: .milliseconds(12345), cutover: nil)],
                                     detailedExitCode: false, errors: ["g3: provider unreachable"])
        report.suspensions = [ControlRecord(kind: .suspend, by: "ops@host", at: t0),
                              ControlRecord(kind: .suspend, wave: "w2", group: "g", cutover: 2, by: "me", at: t0, reason: "freeze \"week\"")]
        return report
    }

    static func empty() -> ReconcileReport {
        ReconcileReport(dryRun: true, at: t0, instances: [], groups: [], detailedExitCode: true)
    }

    /// A plan of `groups` groups of `size` members, each group with its own steps.
    static func large(groups: Int, size: Int) -> ReconcileReport {
        var instances: [InstanceReport] = []
        var summaries: [ReconcileReport.GroupSummary] = []
        for group in 0..<groups {
            let steps = StepName.allCases.prefix(1 + group % 8).map { StepReport(name: $0, state: .pending, rollback: $0 == .rollbackPath) }
            let names = (0..<size).map { "i-\(group)-\($0)" }
            for name in names {
                instances.append(InstanceReport(name: name, wave: "w\(group % 3)", group: "g\(group)", status: group % 5 == 0 ? .blocked : .pending,
                                                reason: group % 5 == 0 ? "window not open until 2024-01-16T20:00:00Z" : nil,
                                                reasonCode: group % 5 == 0 ? .windowNotOpen : nil, current: dc, target: aws, steps: steps))
            }
            summaries.append(.init(id: "g\(group)", wave: "w\(group % 3)", instances: names, status: .pending,
                                   expectedDuration: .seconds(Double(group) * 1.25), cutover: nil))
        }
        return ReconcileReport(dryRun: true, at: t0, instances: instances, groups: summaries, detailedExitCode: true)
    }

    @Test func smallReportsAreByteForByteWhatJSONEncoderMakes() throws {
        for report in [Self.varied(), Self.empty(), Self.large(groups: 12, size: 3)] {
            #expect(Self.streamed(report).text == (try Self.encoded(report)))
        }
    }

    @Test(arguments: [1, 100, 4096])
    func chunksMakeTheSameDocument(chunkSize: Int) throws {
        let report = Self.large(groups: 40, size: 5)
        let (text, chunks) = Self.streamed(report, chunkSize: chunkSize)
        #expect(text == (try Self.encoded(report)))
        #expect(chunks > 1)
    }

    /// Rows after the first are laid out in blocks on the cores side by side: the seams between
    /// halves and blocks (commas, indentation) are invisible in the bytes.
    @Test func rowsLaidOutSideBySideMakeTheSameBytesAcrossBlockSeams() throws {
        let rows = 2 * ReportJSONWriter.rowsPerBlock + 7
        for report in [Self.large(groups: rows, size: 1), Self.large(groups: 2, size: 1), Self.large(groups: 1, size: 3)] {
            #expect(Self.streamed(report).text == (try Self.encoded(report)))
        }
    }

    @Test func aLargeReportParsesBackToItself() throws {
        let report = Self.large(groups: 1000, size: 20)
        let (text, chunks) = Self.streamed(report)
        #expect(chunks > 10)
        let decoded = try JSONDecoder().decode(ReconcileReport.self, from: Data(text.utf8))
        #expect(decoded == report)
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        #expect((parsed["instances"] as? [Any])?.count == 20_000)
        #expect(parsed["outcome"] as? String == "changes-pending")
    }

    @Test func numbersAreWrittenAsJSONEncoderWritesThem() throws {
        let values: [Double] = [0, -0.0, 1, 300, 1.5, 0.1, 1e15, 1e16, 1e20, 1e-7, 12345678.9, 3600.000001, 123456789012345.5, .leastNonzeroMagnitude]
        let encoder = JSONEncoder()
        for value in values {
            var json = PrettyJSONWriter()
            json.number(value)
            #expect(String(decoding: json.bytes, as: UTF8.self) == String(decoding: try encoder.encode(value), as: UTF8.self))
        }
    }
}
