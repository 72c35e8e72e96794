import Foundation
import Testing

/// The lab's report (`scripts/lab/report.py`) is the outside observer the lab tests trust, so
/// each of its checks must fail on a planted violation: a lab's records written by hand, clean
/// first, then with one thing wrong at a time.
@Suite("The lab's report catches what it checks")
struct LabReportCLITests {
    /// One instance, one prefix; its cut-over froze at t=10 s, asked for the unfreeze at 20 s.
    struct Records {
        var backlog = [#"{"instance": "i1", "messageId": "<b1@lab>"}"#, #"{"instance": "i1", "messageId": "<b2@lab>"}"#]
        var submitted = [#"{"instance": "i1", "messageId": "<s1@lab>", "site": "adobe-dc", "time": "1970-01-01T00:00:05Z"}"#]
        var deliveries = [
            #"{"time": "1970-01-01T00:00:21Z", "peer": "127.10.1.11", "helo": "i1.aws", "messageId": "<b1@lab>"}"#,
            #"{"time": "1970-01-01T00:00:21.5Z", "peer": "127.10.1.11", "helo": "i1.aws", "messageId": "<b2@lab>"}"#,
            #"{"time": "1970-01-01T00:00:06Z", "peer": "127.10.1.11", "helo": "i1.adobe-dc", "messageId": "<s1@lab>"}"#,
        ]
        var routes = [
            #"{"time": "1970-01-01T00:00:01Z", "prefix": "127.10.1.0/24", "originAS": 65001, "withdrawal": false}"#,
            #"{"time": "1970-01-01T00:00:15Z", "prefix": "127.10.1.0/24", "originAS": 65001, "withdrawal": true}"#,
            #"{"time": "1970-01-01T00:00:15.1Z", "prefix": "127.10.1.0/24", "originAS": 65002, "withdrawal": false}"#,
        ]
    }

    static let labJSON = """
        {"instances": {"i1": {"sendingIPs": ["127.10.1.11"], "sites": {"adobe-dc": {"helo": "i1.adobe-dc"}, "aws": {"helo": "i1.aws"}}}},
         "bgp": {"adobe-dc": {"asn": 65001}, "aws": {"asn": 65002}},
         "prefixes": {"p1": {"cidr": "127.10.1.0/24", "instances": ["i1"]}}}
        """

    /// Writes the records and a journal, runs the report; returns its status and output.
    static func report(_ records: Records, earlyUnfreezeAt: Int? = nil) throws -> (status: Int32, text: String) {
        let folder = try TemporaryFolder("lab-report")
        defer { folder.remove() }
        try folder.write("lab.json", labJSON)
        try folder.write("backlog.jsonl", records.backlog.joined(separator: "\n") + "\n")
        try folder.write("submitted.jsonl", records.submitted.joined(separator: "\n") + "\n")
        try folder.write("deliveries.jsonl", records.deliveries.joined(separator: "\n") + "\n")
        try folder.write("routes.jsonl", records.routes.joined(separator: "\n") + "\n")
        let s = 1_000_000_000
        let sql = """
            CREATE TABLE cutover (id TEXT, group_id TEXT, wave TEXT, members TEXT, window_start INTEGER, window_end INTEGER,
                                  started_at INTEGER, finished_at INTEGER, outcome TEXT, reason TEXT, baseline TEXT);
            CREATE TABLE journal (id INTEGER PRIMARY KEY, cutover_id TEXT, group_id TEXT, step TEXT, is_rollback INTEGER, phase TEXT,
                                  attempt INTEGER, idempotency_key TEXT, fencing_token INTEGER, at INTEGER, duration_ns INTEGER,
                                  detail TEXT, holder TEXT);
            INSERT INTO cutover VALUES ('p1#1', 'p1', 'w', '["i1"]', 0, \(100 * s), \(9 * s), \(22 * s), 'completed', NULL, '{}');
            INSERT INTO journal (cutover_id, group_id, step, is_rollback, phase, attempt, idempotency_key, fencing_token, at, holder) VALUES
              ('p1#1', 'p1', 'freeze', 0, 'intent', 1, 'k1', 1, \(9 * s), 'h'),
              ('p1#1', 'p1', 'freeze', 0, 'done', 1, 'k1', 1, \(10 * s), 'h'),
              ('p1#1', 'p1', 'unfreeze', 0, 'intent', 1, 'k2', 1, \(20 * s), 'h'),
              ('p1#1', 'p1', 'unfreeze', 0, 'done', 1, 'k2', 1, \(22 * s), 'h');
            """ + (earlyUnfreezeAt.map { """
            INSERT INTO journal (cutover_id, group_id, step, is_rollback, phase, attempt, idempotency_key, fencing_token, at, holder) VALUES
              ('p1#1', 'p1', 'unfreeze', 0, 'intent', 1, 'k2', 1, \($0 * s), 'h');
            """ } ?? "")
        let database = try Command.run("/usr/bin/sqlite3", [folder.path + "/state.db", sql])
        #expect(database.status == 0, "\(database.stderr)")
        let result = try Command.run(Lab.python, ["-B", SendpathBinary.packageRoot + "/scripts/lab/report.py", "--lab", folder.path,
                                                  "--state", folder.path + "/state.db", "--expect-site", "i1=aws", "--settle", "0"])
        return (result.status, result.stdout + result.stderr)
    }

    @Test func cleanRecordsPass() throws {
        let report = try Self.report(Records())
        #expect(report.status == 0, "\(report.text)")
        #expect(!report.text.contains("FAIL"), "\(report.text)")
    }

    /// A run killed after asking for the unfreeze may have released the instance: mail
    /// delivered after that first request is not "while frozen", though the run that finished
    /// the cut-over asked again later.
    @Test func theFrozenWindowEndsAtTheFirstUnfreezeAskedFor() throws {
        var records = Records()
        Violation.deliveredWhileFrozen.plant(&records)
        let report = try Self.report(records, earlyUnfreezeAt: 11)
        #expect(report.status == 0, "\(report.text)")
    }

    /// One thing wrong each, and the check that must catch it.
    enum Violation: String, CaseIterable, Sendable {
        case deliveredTwice, neverDelivered, undeclaredAddress, backlogFromTheDataCenter, deliveredWhileFrozen,
             heardFromTwoOrigins, leftAtTheDataCenter

        var check: String {
            switch self {
            case .deliveredTwice, .neverDelivered: "delivered-once"
            case .undeclaredAddress: "sending-ip"
            case .backlogFromTheDataCenter: "expected-site"
            case .deliveredWhileFrozen: "quiet-while-frozen"
            case .heardFromTwoOrigins: "single-origin"
            case .leftAtTheDataCenter: "final-origin"
            }
        }

        func plant(_ r: inout Records) {
            switch self {
            case .deliveredTwice: r.deliveries.append(r.deliveries[0])
            case .neverDelivered: r.deliveries.removeFirst()
            case .undeclaredAddress: r.deliveries[1] = r.deliveries[1].replacingOccurrences(of: "127.10.1.11", with: "127.10.1.99")
            case .backlogFromTheDataCenter: r.deliveries[0] = r.deliveries[0].replacingOccurrences(of: "i1.aws", with: "i1.adobe-dc")
            case .deliveredWhileFrozen: r.deliveries[2] = r.deliveries[2].replacingOccurrences(of: "00:00:06Z", with: "00:00:12Z")
            case .heardFromTwoOrigins:
                r.routes.insert(#"{"time": "1970-01-01T00:00:14Z", "prefix": "127.10.1.0/24", "originAS": 65002, "withdrawal": false}"#, at: 1)
            case .leftAtTheDataCenter:
                r.routes.append(#"{"time": "1970-01-01T00:00:30Z", "prefix": "127.10.1.0/24", "originAS": 65002, "withdrawal": true}"#)
            }
        }
    }

    @Test(arguments: Violation.allCases)
    func aPlantedViolationFailsItsCheck(_ violation: Violation) throws {
        var records = Records()
        violation.plant(&records)
        let report = try Self.report(records)
        #expect(report.status == 1, "\(violation): \(report.text)")
        #expect(report.text.contains("FAIL \(violation.check):"), "\(violation): \(report.text)")
    }
}
