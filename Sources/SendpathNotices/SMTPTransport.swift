internal import CCurl
public import SendpathCore
import Foundation

/// Email through an SMTP server, with libcurl's SMTP client (a well-kept one, with STARTTLS and
/// AUTH), not a hand-written one. STARTTLS is used whenever the server offers it; with a user
/// name and password it is required, so credentials never cross the network in clear.
public struct SMTPTransport: NoticeTransport {
    public let channel = NoticeDelivery.Channel.email
    /// `smtp://HOST:PORT` (or `smtps://` for TLS from the first byte).
    public let url: String
    public let credentials: (user: String, password: String)?
    public let timeoutSeconds: Int
    /// A CA bundle to trust instead of the system's (tests, private relays).
    public let caFile: String?

    public init(url: String, credentials: (user: String, password: String)?, timeoutSeconds: Int = 30, caFile: String? = nil) {
        self.url = url
        self.credentials = credentials
        self.timeoutSeconds = timeoutSeconds
        self.caFile = caFile
    }

    /// Checks `smtp://HOST:PORT` / `smtps://HOST:PORT` (no user, path or query).
    public static func validate(url: String) -> String? {
        let lowered = url.lowercased()
        guard lowered.hasPrefix("smtp://") || lowered.hasPrefix("smtps://") else { return "must start with smtp:// or smtps://" }
        let rest = url[url.range(of: "://")!.upperBound...]
        guard !rest.isEmpty, rest.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || ".-:[]".contains($0)) }) else {
            return "must be smtp://HOST:PORT, with no user, password or path (credentials come from SENDPATH_SMTP_USER and SENDPATH_SMTP_PASSWORD)"
        }
        return nil
    }

    public func deliver(_ message: NoticeMessage, tenant: Tenant) async throws -> [String] {
        let body = Array(message.rfc5322(newline: "\r\n").utf8)
        let recipients = message.to.map(\.value)
        try Self.send(url: url, from: message.from.value, recipients: recipients, body: body, credentials: credentials,
                      timeoutSeconds: timeoutSeconds, caFile: caFile)
        return recipients
    }

    /// The upload's bytes and how far curl has read them.
    final class Upload {
        let bytes: [UInt8]
        var offset = 0
        init(_ bytes: [UInt8]) { self.bytes = bytes }
    }

    static let globalInit: Void = { curl_global_init(Int(CURL_GLOBAL_DEFAULT)) ; return () }()

    static func send(url: String, from: String, recipients: [String], body: [UInt8],
                     credentials: (user: String, password: String)?, timeoutSeconds: Int, caFile: String?) throws {
        _ = globalInit
        guard let curl = curl_easy_init() else { throw NoticeDeliveryError(.smtp, "libcurl could not start a transfer") }
        defer { curl_easy_cleanup(curl) }
        var list: UnsafeMutablePointer<curl_slist>?
        for recipient in recipients { list = curl_slist_append(list, "<\(recipient)>") }
        defer { curl_slist_free_all(list) }
        let upload = Upload(body)
        let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        defer { errorBuffer.deallocate() }
        let code: CURLcode = withExtendedLifetime(upload) {
            let context = Unmanaged.passUnretained(upload).toOpaque()
            var setup = sendpath_curl_set_string(curl, CURLOPT_URL, url)
            func also(_ next: CURLcode) { if setup == CURLE_OK { setup = next } }
            also(sendpath_curl_set_string(curl, CURLOPT_MAIL_FROM, "<\(from)>"))
            also(sendpath_curl_set_list(curl, CURLOPT_MAIL_RCPT, list))
            also(sendpath_curl_set_long(curl, CURLOPT_UPLOAD, 1))
            also(sendpath_curl_set_long(curl, CURLOPT_INFILESIZE, body.count))
            also(sendpath_curl_set_pointer(curl, CURLOPT_READDATA, context))
            also(sendpath_curl_set_read_function(curl) { buffer, size, count, context in
                let upload = Unmanaged<Upload>.fromOpaque(context!).takeUnretainedValue()
                let n = min(size * count, upload.bytes.count - upload.offset)
                upload.bytes.withUnsafeBufferPointer { source in
                    buffer!.withMemoryRebound(to: UInt8.self, capacity: n) { target in
                        target.update(from: source.baseAddress! + upload.offset, count: n)
                    }
                }
                upload.offset += n
                return n
            })
            // STARTTLS when offered; required when a password is sent.
            also(sendpath_curl_set_long(curl, CURLOPT_USE_SSL, Int(credentials == nil ? CURLUSESSL_TRY.rawValue : CURLUSESSL_ALL.rawValue)))
            if let credentials {
                also(sendpath_curl_set_string(curl, CURLOPT_USERNAME, credentials.user))
                also(sendpath_curl_set_string(curl, CURLOPT_PASSWORD, credentials.password))
            }
            if let caFile { also(sendpath_curl_set_string(curl, CURLOPT_CAINFO, caFile)) }
            also(sendpath_curl_set_long(curl, CURLOPT_CONNECTTIMEOUT, min(10, timeoutSeconds)))
            also(sendpath_curl_set_long(curl, CURLOPT_TIMEOUT, timeoutSeconds))
            also(sendpath_curl_set_long(curl, CURLOPT_NOSIGNAL, 1))
            also(sendpath_curl_set_string(curl, CURLOPT_PROTOCOLS_STR, "smtp,smtps"))
            also(sendpath_curl_set_pointer(curl, CURLOPT_ERRORBUFFER, errorBuffer))
            guard setup == CURLE_OK else { return setup }
            return curl_easy_perform(curl)
        }
        guard code == CURLE_OK else {
            let detail = String(cString: errorBuffer)
            let reason = detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail
            throw NoticeDeliveryError(.smtp, "the SMTP server at \(url) did not take the message: \(Escaped.value(reason))")
        }
    }
}
