import ArgumentParser
import Foundation
import SendpathController
import SendpathCore
import SendpathNotices

/// `sendpath notify --wave NAME`: records the wave's notice now and prints it.
struct NotifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "notify",
        abstract: "Record a wave's notice (sent now) and print it: instances, window, expected duration; with --smtp, --sendmail or --webhook, deliver it to every tenant of the wave.",
        discussion: """
            Running it again while the window and the instances are unchanged records nothing new. A wave whose window or instances changed needs a new notice, with the full lead time.

            With a delivery option, each tenant of the wave (a Tenant document) gets one notice: by email to its contacts (--smtp smtp://HOST:PORT, STARTTLS when offered, user and password from SENDPATH_SMTP_USER and SENDPATH_SMTP_PASSWORD; or --sendmail) and/or as JSON to its webhook (--webhook). Every tenant must have a Tenant document first (else exit 65). Deliveries are recorded per tenant: a re-run sends only what was not delivered. The notice counts from the moment the last tenant was told.
            """
    )

    enum Format: String, ExpressibleByArgument, CaseIterable { case text, json }

    @OptionGroup var manifests: ManifestOptions

    @Option(help: ArgumentHelp("The state store: sqlite:PATH or postgres://USER@HOST:PORT/DB.", valueName: "url"))
    var state: String = "sqlite:.sendpath/state.db"

    @Option(help: ArgumentHelp("The provider, for queue depths in the estimate.", valueName: "url"))
    var provider: String = "sim:.sendpath/fleet.db"

    @Option(help: ArgumentHelp("The wave to announce.", valueName: "name"))
    var wave: String

    @Option(help: "text or json.")
    var output: Format = .text

    @Option(help: ArgumentHelp("Deliver by email through this SMTP server (STARTTLS when offered; credentials from SENDPATH_SMTP_USER / SENDPATH_SMTP_PASSWORD).", valueName: "smtp://host:port"))
    var smtp: String?

    @Flag(help: "Deliver by email through the system's sendmail (/usr/sbin/sendmail -t -i).")
    var sendmail = false

    @Flag(help: "POST each tenant's notice as JSON to its spec.webhook (https).")
    var webhook = false

    @Option(help: ArgumentHelp("The notices' From address (and the Message-ID domain).", valueName: "address"))
    var from: String = "migration-notices@sendpath.example"

    var delivers: Bool { smtp != nil || sendmail || webhook }

    func validate() throws {
        if smtp != nil && sendmail { throw ValidationError("--smtp and --sendmail both send email: give one") }
        if let smtp, let problem = SMTPTransport.validate(url: smtp) { throw ValidationError("--smtp \(problem)") }
        if EmailAddress(from) == nil { throw ValidationError("--from must be a plain email address, like notices@example.com") }
    }

    func run() async throws {
        let fleet = try manifests.loadFleet()
        guard fleet.wave(named: wave) != nil else {
            let error = ValidationError("no wave named '\(Escaped.value(wave))' in the manifests")
            // A pipeline that asked for JSON gets JSON, with the usage outcome (exit 64).
            if output == .json, let text = try? ReportPrinter.json(UsageReport(error: error.message)) { StandardStreams.out(text) }
            throw error
        }
        var runtime = try RuntimeOptions.parse([])
        runtime.state = state
        runtime.provider = provider
        try runtime.validate()
        try await withCommandErrors {
            let logger = runtime.logger("sendpath.notify")
            let clock = SystemClock()
            let wave = self.wave
            let runtime = runtime
            guard delivers else {
                let report = try await runtime.withStore(logger: logger) { store in
                    let opened = try await runtime.openProvider(fleet: fleet, clock: clock, logger: logger)
                    return try await opened.use { provider in
                        try await NoticeDesk(fleet: fleet, provider: provider, store: store).notify(wave: wave, now: clock.now())
                    }
                }
                switch output {
                case .json: StandardStreams.out(try ReportPrinter.json(report))
                case .text: StandardStreams.out(text(report))
                }
                return
            }
            try await deliver(fleet: fleet, runtime: runtime, clock: clock, logger: logger)
        }
    }

    func text(_ report: NoticeReport) -> String {
        let notice = report.notice
        var out = report.recorded
            ? "Notice recorded for wave \(notice.wave), sent \(notice.sentAt)\n"
            : "Notice already in force for wave \(notice.wave), sent \(notice.sentAt) (\(notice.source.rawValue)); nothing new recorded\n"
        out += "  Window: \(notice.window.start) to \(notice.window.end) (\(ManifestDuration.format(notice.window.length)))\n"
        out += "  Expected duration: about \(ManifestDuration.formatEstimate(notice.expectedDuration)) (\(counted(report.groups, "cut-over group")), \(report.maxParallel) at a time)\n"
        out += "  During its part of the window each instance cannot send email; every other function keeps working.\n"
        out += "  Queued email is resent after the move; the sending IPs and the build stay the same.\n"
        out += "  Instances (\(notice.members.count)): \(notice.members.joined(separator: ", "))\n"
        let required = ManifestDuration.format(.seconds(Int64(report.requiredLeadTimeSeconds)))
        if report.leadTimeMet {
            out += "  Lead time: \(required) required before the window; met.\n"
        } else {
            out += "  Lead time: \(required) required before the window; NOT met: the wave cannot start in this window. Announce a later window.\n"
        }
        if let old = report.superseded {
            out += "  Supersedes the notice of \(old.sentAt) (window \(old.window.start) to \(old.window.end)).\n"
        }
        return out
    }
}
