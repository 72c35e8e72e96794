public import SendpathCore
import Foundation

/// Email through the system's sendmail (`/usr/sbin/sendmail -t -i`): the local MTA queues and
/// delivers it, with its own retries. Recipients come from the message's To header (`-t`); a
/// line with a single dot does not end it (`-i`).
public struct SendmailTransport: NoticeTransport {
    public let channel = NoticeDelivery.Channel.email
    public let path: String
    public let timeoutSeconds: Double

    public init(path: String = "/usr/sbin/sendmail", timeoutSeconds: Double = 60) {
        self.path = path
        self.timeoutSeconds = timeoutSeconds
    }

    public func deliver(_ message: NoticeMessage, tenant: Tenant) async throws -> [String] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = ["-t", "-i", "-f", message.from.value]
        let input = Pipe(), errors = Pipe()
        process.standardInput = input
        process.standardOutput = FileHandle.nullDevice
        process.standardError = errors
        let finished = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in finished.signal() }
        do {
            try process.run()
        } catch {
            throw NoticeDeliveryError(.sendmail, "could not run \(path): \(error.localizedDescription)")
        }
        try? input.fileHandleForWriting.write(contentsOf: Data(message.rfc5322(newline: "\n").utf8))
        try? input.fileHandleForWriting.close()
        if finished.wait(timeout: .now() + timeoutSeconds) == .timedOut {
            process.terminate()
            throw NoticeDeliveryError(.sendmail, "\(path) did not finish within \(Int(timeoutSeconds))s")
        }
        guard process.terminationStatus == 0 else {
            let said = String(decoding: errors.fileHandleForReading.readDataToEndOfFile().prefix(400), as: UTF8.self)
            throw NoticeDeliveryError(.sendmail, "\(path) exited \(process.terminationStatus): \(Escaped.value(said))")
        }
        return message.to.map(\.value)
    }
}
