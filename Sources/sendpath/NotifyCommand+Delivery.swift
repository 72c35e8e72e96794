import ArgumentParser
import Foundation
import Logging
import SendpathController
import SendpathCore
import SendpathNotices

/// What `notify` prints when it delivered: the notice as recorded (if every tenant was told)
/// and what happened per tenant and channel.
struct DeliveryReport: Encodable {
    var wave: String
    var noticeKey: String
    var deliveries: [NoticeCourier.Outcome]
    /// The notice in force after the run; absent while some tenant has not been told.
    var notice: NoticeReport?
}

extension NotifyCommand {
    func transports(webhookClient: inout WebhookTransport?) throws -> [any NoticeTransport] {
        var transports: [any NoticeTransport] = []
        let environment = ProcessInfo.processInfo.environment
        if let smtp {
            let user = environment["SENDPATH_SMTP_USER"], password = environment["SENDPATH_SMTP_PASSWORD"]
            if (user == nil) != (password == nil) {
                throw ValidationError("set both SENDPATH_SMTP_USER and SENDPATH_SMTP_PASSWORD, or neither")
            }
            let credentials = user.flatMap { user in password.map { (user: user, password: $0) } }
            transports.append(SMTPTransport(url: smtp, credentials: credentials, caFile: environment["SENDPATH_SMTP_CA_FILE"]))
        }
        if sendmail {
            transports.append(SendmailTransport(path: environment["SENDPATH_SENDMAIL"] ?? "/usr/sbin/sendmail"))
        }
        if webhook {
            let transport = try WebhookTransport(caFile: environment["SENDPATH_WEBHOOK_CA_FILE"])
            webhookClient = transport
            transports.append(transport)
        }
        return transports
    }

    func deliver(fleet: Fleet, runtime: RuntimeOptions, clock: SystemClock, logger: Logger) async throws {
        let wave = fleet.wave(named: self.wave)!
        var webhookTransport: WebhookTransport?
        let transports = try transports(webhookClient: &webhookTransport)
        let from = EmailAddress(self.from)!
        let result: Result<(DeliveryReport, Int), any Error>
        do {
            result = .success(try await delivering(fleet: fleet, wave: wave, runtime: runtime, clock: clock, logger: logger,
                                                   transports: transports, from: from))
        } catch {
            result = .failure(error)
        }
        await webhookTransport?.shutdown()
        let report: DeliveryReport, failed: Int
        switch result {
        case .success(let value): (report, failed) = value
        case .failure(let error as NoContactsError): throw error.exit(json: output == .json)
        case .failure(let error): throw error
        }
        switch output {
        case .json: StandardStreams.out(try ReportPrinter.json(report))
        case .text: StandardStreams.out(deliveryText(report))
        }
        if failed > 0 {
            let message = "\(counted(failed, "delivery")) failed; run notify again to send what is missing (nothing delivered is sent twice)"
            StderrLine.write("sendpath: error: \(message)", level: .error, message: message, fields: ["outcome": "error"])
            throw ExitCode(Outcome.error.exitCode)
        }
    }

    func delivering(fleet: Fleet, wave: Wave, runtime: RuntimeOptions, clock: SystemClock, logger: Logger,
                    transports: [any NoticeTransport], from: EmailAddress) async throws -> (DeliveryReport, Int) {
        try await runtime.withStore(logger: logger) { store -> (DeliveryReport, Int) in
            let courier = NoticeCourier(fleet: fleet, store: store, transports: transports, from: from)
            let plan = try await courier.plan(wave: wave)
            guard plan.isComplete else { throw NoContactsError(plan: plan) }
            let opened = try await runtime.openProvider(fleet: fleet, clock: clock, logger: logger)
            return try await opened.use { provider in
                let desk = NoticeDesk(fleet: fleet, provider: provider, store: store)
                let expected = try await desk.expectedDuration(wave: wave.name)
                let (outcomes, announcedAt) = try await courier.deliver(plan, wave: wave, expectedDuration: expected, now: { clock.now() })
                var notice: NoticeReport?
                if let announcedAt { notice = try await desk.notify(wave: wave.name, now: clock.now(), deliveredAt: announcedAt) }
                let report = DeliveryReport(wave: wave.name, noticeKey: plan.noticeKey, deliveries: outcomes, notice: notice)
                return (report, outcomes.filter { $0.state == .failed }.count)
            }
        }
    }

    func deliveryText(_ report: DeliveryReport) -> String {
        var out = ""
        for outcome in report.deliveries {
            let target = outcome.recipients.isEmpty ? "" : " to \(outcome.recipients.joined(separator: ", "))"
            switch outcome.state {
            case .delivered:
                out += "Delivered \(outcome.channel.rawValue) notice to tenant \(outcome.tenant)\(target) (\(outcome.messageID))"
                out += outcome.supersedes.map { ", superseding \($0)\n" } ?? "\n"
            case .alreadyDelivered:
                out += "Already delivered \(outcome.channel.rawValue) notice to tenant \(outcome.tenant) (\(outcome.messageID)); not sent again\n"
            case .failed:
                out += "FAILED \(outcome.channel.rawValue) notice to tenant \(outcome.tenant): \(Escaped.line(outcome.error ?? ""))\n"
            }
        }
        if let notice = report.notice {
            out += text(notice)
        } else {
            out += "Notice for wave \(report.wave) not in force yet: some tenant has not been told.\n"
        }
        return out
    }
}

/// Tenants of the wave without a Tenant document (or without a webhook when only `--webhook`
/// was asked for): nothing was sent (exit 65).
struct NoContactsError: Error {
    var plan: NoticeDeliveryPlan

    /// Says which tenants lack what, on stderr (and as JSON on stdout), and exits 65.
    func exit(json: Bool) -> ExitCode {
        var parts: [String] = []
        if !plan.tenantsWithoutContacts.isEmpty {
            parts.append("tenants of wave \(plan.wave) without a Tenant document (contacts): \(plan.tenantsWithoutContacts.joined(separator: ", "))")
        }
        if !plan.tenantsWithoutWebhook.isEmpty {
            parts.append("tenants of wave \(plan.wave) without a webhook: \(plan.tenantsWithoutWebhook.joined(separator: ", "))")
        }
        let message = parts.joined(separator: "; ") + "; nothing was sent"
        StderrLine.write("sendpath: invalid: \(message) (add a Tenant document with spec.contacts for each; see docs/manifests.md#tenant)",
                         level: .error, message: message, fields: ["outcome": "invalid"])
        if json, let text = try? ReportPrinter.json(UsageReport(outcome: .invalid, error: message)) { StandardStreams.out(text) }
        return ExitCode(Outcome.invalid.exitCode)
    }
}
