import Foundation
import Testing
import SendpathCore
@testable import SendpathPostfixBGP

/// The parts of the postfix-bgp provider that read what Postfix and GoBGP print, and run
/// their tools, checked without the daemons (the lab tests run them for real).
@Suite("postfix-bgp parts")
struct PostfixBGPPartsTests {
    @Test func aCommandThatDoesNotFinishInTimeIsATimeoutNotAHang() async throws {
        let tools = ToolRunner(timeout: .milliseconds(300))
        let started = ContinuousClock.now
        do {
            _ = try await tools.run("sleep", ["30"])
            Issue.record("sleep 30 finished within 300ms")
        } catch {
            #expect(error.code == .timeout)
            #expect(error.message == "'sleep 30' did not finish within 0.3 seconds")
        }
        // Stopped, not waited for: far less than the 30 s it asked for.
        #expect(ContinuousClock.now - started < .seconds(20))
    }

    @Test func aFailingCommandIsATransientErrorWithItsStatusAndWhatItSaid() async throws {
        let tools = ToolRunner(timeout: .seconds(30))
        do {
            _ = try await tools.run("sh", ["-c", "printf 'no such queue\\033[31m\\n' >&2; exit 3"])
            Issue.record("a failing command succeeded")
        } catch {
            #expect(error.code == .transient)
            #expect(error.message == #"'sh -c printf 'no such queue\033[31m\n' >&2; exit 3' exited with 3: no such queue\u{1B}[31m"#)
        }
    }

    @Test func queueEntriesAreReadFromPostqueueJSON() throws {
        let line = #"{"queue_name": "hold", "queue_id": "4F2B81C0A1", "arrival_time": 1764942000, "message_size": 512, "forced_expire": false, "sender": "MAILER-DAEMON", "recipients": [{"address": "a@example.com"}, {"address": "b@example.com", "delay_reason": "held"}]}"#
        let entry = try JSONDecoder().decode(PostfixQueueEntry.self, from: Data(line.utf8))
        #expect(entry.queueName == "hold" && entry.queueID == "4F2B81C0A1" && entry.arrivalTime == 1_764_942_000)
        #expect(entry.recipients == ["a@example.com", "b@example.com"])
        // Delivered while it was being held: no recipient left.
        let done = try JSONDecoder().decode(PostfixQueueEntry.self, from: Data(#"{"queue_name": "hold", "queue_id": "X", "arrival_time": 1, "sender": "s", "recipients": []}"#.utf8))
        #expect(done.recipients.isEmpty)
        #expect(!entry.awaitsQueueManager, "held: waiting for a release, not for the queue manager")
    }

    /// Released messages are deferred with no reason until a queue manager takes them up; one
    /// the remote turned away says why. Unfreeze asks again for delivery while any message is
    /// of the first kind (a reload can swallow the first request).
    @Test func aDeferralWithoutReasonAwaitsTheQueueManagerOneWithAReasonAwaitsTheRemote() throws {
        func entry(_ json: String) throws -> PostfixQueueEntry { try JSONDecoder().decode(PostfixQueueEntry.self, from: Data(json.utf8)) }
        let released = try entry(#"{"queue_name": "deferred", "queue_id": "A", "arrival_time": 1, "sender": "s", "recipients": [{"address": "a@example.com"}]}"#)
        #expect(released.deferredWithoutReason && released.awaitsQueueManager)
        let refused = try entry(#"{"queue_name": "deferred", "queue_id": "B", "arrival_time": 1, "sender": "s", "recipients": [{"address": "a@example.com", "delay_reason": "connect to 127.0.0.1[127.0.0.1]:2525: Connection refused"}]}"#)
        #expect(!refused.deferredWithoutReason && !refused.awaitsQueueManager)
        let active = try entry(#"{"queue_name": "active", "queue_id": "C", "arrival_time": 1, "sender": "s", "recipients": [{"address": "a@example.com"}]}"#)
        #expect(!active.awaitsQueueManager, "being delivered: taken up")
        let incoming = try entry(#"{"queue_name": "incoming", "queue_id": "D", "arrival_time": 1, "sender": "s", "recipients": [{"address": "a@example.com"}]}"#)
        #expect(incoming.awaitsQueueManager)
    }

    @Test(arguments: [
        ("From: a@x\nMessage-ID: <one@lab.invalid>\nSubject: s\n", "<one@lab.invalid>"),
        ("Subject: s\nmessage-id:\n  <folded@lab.invalid>\nTo: b\n", "<folded@lab.invalid>"),
        ("Subject: s\nX-Message-ID: <not-it>\n\nMessage-ID: <in-the-body>\n", nil),
    ] as [(String, String?)])
    func theMessageIDHeaderIsFoundFoldedOrNot(headers: String, expected: String?) {
        #expect(PostfixMTA.messageID(inHeaders: headers) == expected)
    }

    @Test func theOriginOfEachPathComesFromTheLastASOfItsPath() throws {
        let rib = #"""
        {"127.10.1.0/24":[{"nlri":{"prefix":"127.10.1.0/24"},"age":1,"best":true,"attrs":[{"type":1,"value":0},{"type":2,"as_paths":[{"segment_type":2,"num":2,"asns":[65100,65001]}]},{"type":3,"nexthop":"192.0.2.1"}],"neighbor-ip":"127.30.0.1"},
                           {"nlri":{"prefix":"127.10.1.0/24"},"age":1,"best":false,"attrs":[{"type":2,"as_paths":[{"segment_type":2,"num":1,"asns":[65002]}]}],"neighbor-ip":"127.30.0.2"}],
         "127.10.2.0/24":[{"nlri":{"prefix":"127.10.2.0/24"},"attrs":[{"type":1,"value":0}]}],
         "not a prefix":[]}
        """#
        let paths = try BGPRoutes.paths(Array(rib.utf8), from: "collector")
        let byPrefix = Dictionary(uniqueKeysWithValues: paths.map { ($0.0.description, $0.1.sorted()) })
        #expect(byPrefix == ["127.10.1.0/24": [65001, 65002], "127.10.2.0/24": [0]])
        #expect(try BGPRoutes.paths(Array("null\n".utf8), from: "collector").isEmpty)
        #expect(throws: ProviderError.self) { try BGPRoutes.paths(Array("<html>".utf8), from: "collector") }
    }

    @Test func rolesAreSettingsAndBack() {
        let next = PostfixBGPConfiguration.HostPort("127.20.1.2:2525")!
        #expect(MTARole.forwarding(to: next).settings["default_transport"] == "smtp:[127.20.1.2]:2525")
        #expect(MTARole.frozen.settings["header_checks"] == "static:HOLD")
        #expect(PostfixBGPConfiguration.HostPort("[::1]:25")?.description == "[::1]:25")
        #expect(PostfixBGPConfiguration.HostPort("host:0") == nil && PostfixBGPConfiguration.HostPort("h o:1") == nil)
    }

    @Test func theSnapshotDigestDependsOnTheSetNotTheOrder() {
        let a = SnapshotMessage(queueID: "A", messageID: "<a>", arrival: 1), b = SnapshotMessage(queueID: "B", messageID: "<b>", arrival: 2)
        #expect(PostfixBGPProvider.digest([a, b]) == PostfixBGPProvider.digest([b, a]))
        #expect(PostfixBGPProvider.digest([a, b]) != PostfixBGPProvider.digest([a]))
    }

    /// One `postcat -e -h` call reads the sender and Message-ID of many messages; a header
    /// cannot pass for a marker, and the null sender is empty.
    @Test func envelopesAreSplitAtPostcatsMarkers() {
        let text = """
            *** ENVELOPE RECORDS hold/3156AFDE5E6 ***
            message_size:             581             742               1               0             581               0
            sender: backlog@lab-a1.lab.invalid
            recipient: customer-2@recipients.lab.invalid
            *** MESSAGE CONTENTS hold/3156AFDE5E6 ***
            Received: from backlog.lab.invalid (localhost [127.0.0.1])
            \tby lab-a1-adobe-dc.lab.invalid (Postfix) with ESMTP id 3156AFDE5E6
            Subject: *** ENVELOPE RECORDS hold/FORGED ***
            Message-ID: <backlog-2@lab.invalid>
            *** HEADER EXTRACTED hold/3156AFDE5E6 ***
            *** MESSAGE FILE END hold/3156AFDE5E6 ***
            *** ENVELOPE RECORDS hold/2F19AFDE5DC ***
            sender:
            *** MESSAGE CONTENTS hold/2F19AFDE5DC ***
            message-id: <bounce@lab.invalid>
            *** HEADER EXTRACTED hold/2F19AFDE5DC ***
            *** MESSAGE FILE END hold/2F19AFDE5DC ***

            """
        #expect(PostfixMTA.envelopes(inPostcat: text) == [
            "3156AFDE5E6": MessageEnvelope(sender: "backlog@lab-a1.lab.invalid", messageID: "<backlog-2@lab.invalid>"),
            "2F19AFDE5DC": MessageEnvelope(sender: "", messageID: "<bounce@lab.invalid>"),
        ])
    }
}
