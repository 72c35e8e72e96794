public import SendpathCore
import Foundation

/// One tenant's notice, written out: the email (text and HTML as multipart/alternative, with
/// its headers) and the webhook's JSON. Everything in it is ASCII: names are DNS labels, times
/// are formatted with the POSIX locale, addresses and zone names are validated ASCII.
public struct NoticeMessage: Sendable {
    public var from: EmailAddress
    public var to: [EmailAddress]
    public var subject: String
    public var messageID: String
    public var supersedes: String?
    public var date: Timestamp
    public var text: String
    public var html: String
    public var json: String

    /// The promises a notice makes to the customer, in order.
    public static let promises = [
        "During the window your instances pause sending email; every other function keeps working.",
        "Your sending IP addresses and your build stay exactly the same.",
        "Email queued before the window is resent after the move: none is lost or sent twice.",
        "No action or testing is needed on your side.",
        "The date cannot be moved.",
    ]

    public init(notice: NoticeDeliveryPlan.TenantNotice, wave: Wave, environments: [String: Environment],
                expectedDuration: Duration, from: EmailAddress, date: Timestamp) {
        let tenant = notice.tenant
        let zoneName = tenant.timeZone?.value ?? "UTC"
        let zone = TimeZone(identifier: zoneName) ?? TimeZone(identifier: "UTC")!
        let utc = TimeZone(identifier: "UTC")!
        let start = Self.format(wave.window.start, utc, isUTC: true), end = Self.format(wave.window.end, utc, isUTC: true)
        let localStart = Self.format(wave.window.start, zone), localEnd = Self.format(wave.window.end, zone)
        let duration = ManifestDuration.formatEstimate(expectedDuration)
        self.from = from
        self.to = tenant.contacts.map(\.value)
        self.messageID = notice.messageID
        self.supersedes = notice.supersedes
        self.date = date
        self.subject = "\(notice.supersedes == nil ? "" : "Updated: ")Email sending pause for \(tenant.name) on \(Self.day(wave.window.start, utc)) UTC (maintenance \(wave.name))"
        let instances = notice.members.map { "\($0) (\(environments[$0]?.rawValue ?? "?"))" }

        var text = "Hello \(tenant.name),\n\n"
        text += "We are moving the email-sending path of your instances below to AWS\n"
        text += "during one maintenance window.\n\n"
        if let old = notice.supersedes {
            text += "This notice REPLACES our earlier one (\(old)): its window or\n"
            text += "instances changed. Please go by this one.\n\n"
        }
        text += "Instances:\n" + instances.map { "  - \($0)\n" }.joined() + "\n"
        text += "Window (UTC):        \(start) to \(end)\n"
        if zoneName != "UTC" { text += "Window (\(zoneName)): \(localStart) to \(localEnd)\n" }
        text += "Expected duration:   about \(duration), within the window\n\n"
        text += "What this means for you:\n" + Self.promises.map { "  - \($0)\n" }.joined() + "\n"
        text += "Reference: wave \(wave.name), notice \(notice.messageID)\n"
        self.text = text

        let e = Self.escapeHTML
        var html = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>\(e(subject))</title></head>\n<body style=\"font-family: sans-serif\">\n"
        html += "<p>Hello \(e(tenant.name)),</p>\n<p>We are moving the email-sending path of your instances below to AWS during one maintenance window.</p>\n"
        if let old = notice.supersedes {
            html += "<p><strong>This notice replaces our earlier one</strong> (\(e(old))): its window or instances changed. Please go by this one.</p>\n"
        }
        html += "<table>\n<tr><th align=\"left\">Instances</th><td>" + instances.map(e).joined(separator: "<br>") + "</td></tr>\n"
        html += "<tr><th align=\"left\">Window (UTC)</th><td>\(e(start)) to \(e(end))</td></tr>\n"
        if zoneName != "UTC" { html += "<tr><th align=\"left\">Window (\(e(zoneName)))</th><td>\(e(localStart)) to \(e(localEnd))</td></tr>\n" }
        html += "<tr><th align=\"left\">Expected duration</th><td>about \(e(duration)), within the window</td></tr>\n</table>\n"
        html += "<p>What this means for you:</p>\n<ul>\n" + Self.promises.map { "<li>\(e($0))</li>\n" }.joined() + "</ul>\n"
        html += "<p><small>Reference: wave \(e(wave.name)), notice \(e(notice.messageID))</small></p>\n</body></html>\n"
        self.html = html

        var payload: [String: Any] = [
            "type": "sendpath.notice", "messageId": notice.messageID, "wave": wave.name, "tenant": tenant.name,
            "instances": notice.members, "window": ["start": wave.window.start.description, "end": wave.window.end.description],
            "timeZone": zoneName, "windowLocal": ["start": localStart, "end": localEnd],
            "expectedDurationSeconds": expectedDuration.seconds, "promises": Self.promises, "sentAt": date.description,
        ]
        if let old = notice.supersedes { payload["supersedes"] = old }
        let data = (try? JSONSerialization.data(withJSONObject: payload, options: [.sortedKeys])) ?? Data("{}".utf8)
        self.json = String(decoding: data, as: UTF8.self)
    }

    /// The whole message, headers and both parts, with `newline` between lines (CRLF for SMTP,
    /// LF for sendmail).
    public func rfc5322(newline: String) -> String {
        let boundary = "sendpath-alt-" + String(FNV1a.hash(messageID), radix: 16)
        var headers = [
            "From: \(from)",
            "To: \(to.map(\.value).joined(separator: ", "))",
            "Subject: \(subject)",
            "Date: \(Self.rfc5322Date(date))",
            "Message-ID: \(messageID)",
            "MIME-Version: 1.0",
            "Auto-Submitted: auto-generated",
            "Content-Type: multipart/alternative; boundary=\"\(boundary)\"",
        ]
        if let supersedes { headers += ["Supersedes: \(supersedes)", "References: \(supersedes)"] }
        var lines = headers + [""]
        lines += ["--\(boundary)", "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 7bit", ""]
        lines += text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        lines += ["--\(boundary)", "Content-Type: text/html; charset=utf-8", "Content-Transfer-Encoding: 7bit", ""]
        lines += html.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        lines += ["--\(boundary)--", ""]
        return lines.joined(separator: newline)
    }

    static func format(_ instant: Timestamp, _ zone: TimeZone, isUTC: Bool = false) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = zone
        formatter.dateFormat = "EEE yyyy-MM-dd HH:mm"
        let date = Date(timeIntervalSince1970: Double(instant.nanosecondsSinceEpoch) / 1e9)
        let offset = zone.secondsFromGMT(for: date)
        let sign = offset < 0 ? "-" : "+", minutes = abs(offset) / 60
        let hhmm = String(format: "%02d:%02d", minutes / 60, minutes % 60)
        return formatter.string(from: date) + (isUTC ? " UTC" : " (UTC\(sign)\(hhmm))")
    }

    static func day(_ instant: Timestamp, _ zone: TimeZone) -> String {
        String(format(instant, zone, isUTC: true).dropFirst(4).prefix(10))
    }

    static func rfc5322Date(_ instant: Timestamp) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss '+0000'"
        return formatter.string(from: Date(timeIntervalSince1970: Double(instant.nanosecondsSinceEpoch) / 1e9))
    }

    static func escapeHTML(_ text: String) -> String {
        var out = ""
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            default: out.append(character)
            }
        }
        return out
    }
}
