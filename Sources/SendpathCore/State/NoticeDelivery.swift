/// One tenant told of one notice of a wave, by one channel: what `notify --smtp/--sendmail/
/// --webhook` records after the message was accepted (by the SMTP server, sendmail, or the
/// webhook with a 2xx). Re-running `notify` sends only what has no delivery yet.
public struct NoticeDelivery: Sendable, Hashable, Codable {
    public enum Channel: String, Sendable, Hashable, Codable, CaseIterable {
        case email
        case webhook
    }

    public var wave: String
    /// Which notice: ``NoticeDelivery/key(wave:window:members:)`` of what it announced.
    public var noticeKey: String
    public var tenant: String
    public var channel: Channel
    /// The email's Message-ID (also sent in the webhook's JSON), stable per (wave, notice, tenant).
    public var messageID: String
    /// The addresses (email) or the URL (webhook) it went to.
    public var recipients: [String]
    /// The instances of the tenant it announced, sorted.
    public var members: [String]
    public var deliveredAt: Timestamp

    public init(wave: String, noticeKey: String, tenant: String, channel: Channel, messageID: String,
                recipients: [String], members: [String], deliveredAt: Timestamp) {
        self.wave = wave
        self.noticeKey = noticeKey
        self.tenant = tenant
        self.channel = channel
        self.messageID = messageID
        self.recipients = recipients
        self.members = members
        self.deliveredAt = deliveredAt
    }

    /// What identifies a notice: the wave, its window and its members. A changed window or
    /// membership is a new notice (it supersedes the old one and restarts the lead time).
    public static func key(wave: String, window: Window, members: [String]) -> String {
        var hash = FNV1a()
        for part in [wave, String(window.start.nanosecondsSinceEpoch), String(window.end.nanosecondsSinceEpoch)] + members {
            hash.combine(part.utf8)
            hash.combine(CollectionOfOne(0x0A))
        }
        let hex = String(hash.value, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}
