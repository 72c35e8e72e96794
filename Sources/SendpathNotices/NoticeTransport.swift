public import SendpathCore

/// Hands one notice to one channel; returns the recipients it went to once the other side
/// accepted it (the SMTP server or sendmail took the message, the webhook answered 2xx).
public protocol NoticeTransport: Sendable {
    var channel: NoticeDelivery.Channel { get }
    func deliver(_ message: NoticeMessage, tenant: Tenant) async throws -> [String]
}

/// A notice could not be handed over. The message never holds a password.
public struct NoticeDeliveryError: Error, CustomStringConvertible, Sendable {
    public enum Code: String, Sendable {
        case smtp
        case sendmail
        case webhook
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
