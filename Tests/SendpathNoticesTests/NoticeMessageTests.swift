import Foundation
import Testing
@testable import SendpathCore
@testable import SendpathNotices

/// The email and JSON a tenant receives.
@Suite("Notice message")
struct NoticeMessageTests {
    static func message() throws -> NoticeMessage {
        let fleet = try NoticeFixture.fleet()
        let wave = try #require(fleet.wave(named: "wave-a"))
        let plan = NoticeDeliveryPlan.make(fleet: fleet, wave: wave, channels: [.email], deliveries: [], previous: nil,
                                           messageDomain: "sendpath.example")
        return NoticeMessage(notice: plan.notices[0], wave: wave, environments: ["acme-prod1": .prod], expectedDuration: .seconds(5400),
                             from: EmailAddress("notices@sendpath.example")!, date: Timestamp(rfc3339: "2024-01-10T09:00:00Z")!)
    }

    @Test func theEmailIsMultipartWithProperHeadersAndEveryPromise() throws {
        let message = try Self.message()
        let raw = message.rfc5322(newline: "\r\n")
        let head = String(raw[..<raw.range(of: "\r\n\r\n")!.lowerBound])
        #expect(head.contains("From: notices@sendpath.example"))
        #expect(head.contains("To: ops@acme.example, oncall@acme.example"))
        #expect(head.contains("Date: Wed, 10 Jan 2024 09:00:00 +0000"))
        #expect(head.contains("MIME-Version: 1.0"))
        #expect(head.contains("Content-Type: multipart/alternative; boundary="))
        #expect(head.range(of: #"Message-ID: <wave-a\.[0-9a-f]{16}\.acme@sendpath\.example>"#, options: .regularExpression) != nil)
        #expect(raw.contains("Content-Type: text/plain; charset=utf-8"))
        #expect(raw.contains("Content-Type: text/html; charset=utf-8"))
        #expect(raw.utf8.allSatisfy { $0 < 0x80 }, "7bit")
        #expect(!raw.replacingOccurrences(of: "\r\n", with: "").contains("\n"), "CRLF only")
        // The window in UTC and in the tenant's zone (Paris is UTC+1 in March 2024), the duration.
        #expect(message.text.contains("Window (UTC):        Sat 2024-03-02 20:00 UTC to Sun 2024-03-03 04:00 UTC"))
        #expect(message.text.contains("Window (Europe/Paris): Sat 2024-03-02 21:00 (UTC+01:00) to Sun 2024-03-03 05:00 (UTC+01:00)"))
        #expect(message.text.contains("about 1h30m"))
        #expect(message.text.contains("acme-prod1 (prod)"))
        for promise in NoticeMessage.promises {
            #expect(message.text.contains(promise))
            #expect(message.html.contains(promise))
        }
    }

    @Test func theWebhookJSONCarriesTheSameNotice() throws {
        let message = try Self.message()
        let object = try #require(try JSONSerialization.jsonObject(with: Data(message.json.utf8)) as? [String: Any])
        #expect(object["type"] as? String == "sendpath.notice")
        #expect(object["messageId"] as? String == message.messageID)
        #expect(object["tenant"] as? String == "acme")
        #expect(object["instances"] as? [String] == ["acme-prod1"])
        #expect((object["window"] as? [String: String])?["start"] == "2024-03-02T20:00:00Z")
        #expect(object["timeZone"] as? String == "Europe/Paris")
        #expect((object["expectedDurationSeconds"] as? NSNumber)?.intValue == 5400)
        #expect((object["promises"] as? [String])?.count == 5)
    }
}
