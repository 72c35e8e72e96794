import SendpathController
import SendpathCore
import SendpathHTTP
import Testing

/// The operators' controls in the controller's metrics: blocked groups by reason code (each
/// group once), and the suspensions in force, back to 0 when lifted.
@Suite("Controls in the metrics")
struct ControlMetricsTests {
    static let target = SendingPath(infrastructure: .aws, location: "eu-west-1")

    static func instance(_ name: String, _ group: String, _ status: InstanceStatus, _ code: ReasonCode? = nil) -> InstanceReport {
        InstanceReport(name: name, wave: "w1", group: group, status: status, reason: code.map { "because \($0.rawValue)" },
                       reasonCode: code, current: nil, target: target, steps: [])
    }

    @Test func blockedGroupsAreCountedOncePerGroupUnderTheirReason() {
        let report = ReconcileReport(dryRun: false, at: Timestamp(rfc3339: "2024-01-16T21:00:00Z")!, instances: [
            Self.instance("a1", "g1", .blocked, .awaitingApproval), Self.instance("a2", "g1", .blocked, .awaitingApproval),
            Self.instance("b1", "g2", .blocked, .canary), Self.instance("c1", "g3", .blocked, .failureBudget),
            Self.instance("d1", "g4", .blocked, .suspended), Self.instance("e1", "g5", .migrated),
        ], groups: [], detailedExitCode: false)
        var gauges = JournalGauges(cutovers: [])
        gauges.count(blockedIn: report)
        #expect(gauges.blockedGroups == [.awaitingApproval: 1, .canary: 1, .failureBudget: 1, .suspended: 1])

        let metrics = ControllerMetrics()
        metrics.setBlockedGroups(gauges.blockedGroups)
        metrics.setSuspended(["everything", "w2"])
        let text = metrics.exposition()
        for line in [#"sendpath_groups_blocked{reason="awaiting-approval"} 1"#, #"sendpath_groups_blocked{reason="canary"} 1"#,
                     #"sendpath_groups_blocked{reason="failure-budget"} 1"#, #"sendpath_groups_blocked{reason="window-not-open"} 0"#,
                     #"sendpath_suspended{wave="*"} 1"#, #"sendpath_suspended{wave="w2"} 1"#] {
            #expect(text.contains(line), "\(line) missing from:\n\(text)")
        }
        metrics.setSuspended(["w2"])
        #expect(metrics.exposition().contains(#"sendpath_suspended{wave="*"} 0"#))
    }
}
