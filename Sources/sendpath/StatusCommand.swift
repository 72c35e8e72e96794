import ArgumentParser
import SendpathController
import SendpathCore

/// `sendpath status`: desired, observed and journal state, per instance.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show desired (manifest), observed (provider) and journal state per instance.",
        discussion: "Read-only. Exits with the code a dry run would (0, 3, 4 or 5), so scripts can branch on it. With --at, evaluates the gates at that time, as `reconcile --dry-run --at` does."
    )

    enum Format: String, ExpressibleByArgument, CaseIterable { case text, json, html }

    @OptionGroup var manifests: ManifestOptions
    @OptionGroup var runtime: RuntimeOptions

    @Option(help: "text, json, or html (the schedule as one self-contained page).")
    var output: Format = .text

    @Option(help: ArgumentHelp("Evaluate windows, notices and bake times at this RFC 3339 time, as a dry run at that time would.",
                               valueName: "time"))
    var at: String?

    func validate() throws {
        if let at { _ = try FlagValues.time(at, flag: "--at") }
    }

    func run() async throws {
        let instant = at.flatMap { Timestamp(rfc3339: $0) }
        let stopped = output == .json ? StoppedReport.Context(dryRun: true, at: instant ?? SystemClock().now()) : nil
        let fleet = try manifests.loadFleet(json: stopped)
        let scope = try runtime.scope(in: fleet, json: stopped)
        try await withCommandErrors(json: stopped) {
            let logger = runtime.logger("sendpath.status")
            // Read-only at any provider: a time given is only where the gates are evaluated.
            let clock: any WallClock = instant.map { ManualClock($0) } ?? SystemClock()
            let runtime = self.runtime
            let output = self.output
            let (report, page, applied) = try await runtime.withStore(logger: logger, create: false) { store in
                let opened = try await runtime.openProvider(fleet: fleet, clock: clock, logger: logger, create: false)
                return try await opened.use { provider in
                    let reconciler = Reconciler(fleet: fleet, provider: provider, store: store, clock: clock, lease: nil, logger: logger,
                                                options: ReconcileOptions(dryRun: true, scope: scope),
                                                holder: ThisProcess.holder(command: "sendpath status"), command: "status")
                    let report = try await reconciler.status()
                    let page = output == .html ? ScheduleHTML.page(try await reconciler.schedule(for: report, title: "Status")) : nil
                    // The last apply that recorded what it applied (runs before run history kept it have none).
                    let applied = try await store.recentRuns(limit: 100).first { !$0.dryRun && $0.revision != nil }
                    return (report, page, applied)
                }
            }
            switch output {
            case .json: ReportJSONWriter.write(report, to: AppliedRevisionJSON.splicing(applied) { StandardStreams.out(bytes: $0) })
            case .text:
                StatusPrinter.text(report) { StandardStreams.out($0) }
                StandardStreams.out(StatusPrinter.lastApplied(applied))
            case .html: StandardStreams.out(page ?? "")
            }
            if report.exitCode != 0 { throw ExitCode(report.exitCode) }
        }
    }
}

/// One line per instance: desired, observed, journal.
enum StatusPrinter {
    /// `Last applied: commit ... (dirty) by user@host at T (outcome); manifests fnv1a64:...`.
    static func lastApplied(_ run: RunRecord?) -> String {
        guard let run, let revision = run.revision else { return "Last applied: nothing recorded yet ('sendpath history' lists runs).\n" }
        let what = revision.gitCommit.map { "commit \($0)" + (revision.gitDirty == true ? " with uncommitted changes" : "") }
            ?? "manifests outside Git"
        let who = [revision.user, run.holder.host].compactMap { $0 }.joined(separator: "@")
        return "Last applied: \(what), by \(Escaped.line(who)) at \(run.startedAt.secondsDescription) (\(run.outcome?.rawValue ?? "running")); manifests \(revision.manifestDigest)\n"
    }

    static func text(_ report: ReconcileReport) -> String {
        var all = ""
        text(report) { all += $0 }
        return all
    }

    /// The status table, handed to `write` in pieces as it is laid out (100,000 rows are never
    /// held as strings at once).
    static func text(_ report: ReconcileReport, write: (String) -> Void) {
        func row(_ index: Int) -> [String] {
            let instance = report.instances[index]
            var observed = instance.current?.description ?? "unknown"
            if let state = instance.observed {
                if state.frozen { observed += " frozen" }
                if !state.ipsMatchManifest { observed += " IPs≠manifest" }
                if !state.buildMatchesManifest { observed += " build≠manifest" }
            }
            let journal = instance.journal.map { "\($0.cutover) \($0.outcome)" + ($0.lastStep.map { " (last: \($0))" } ?? "") } ?? "-"
            var status = instance.status.rawValue
            if let code = instance.reasonCode { status += " (\(code.rawValue))" }
            return [instance.name, instance.wave, instance.target.description, observed, journal, status]
        }
        var out = "Status at \(report.at.secondsDescription)\n\n"
        for suspension in report.suspensions ?? [] {
            let what = suspension.wave.map { "Wave \($0) is suspended" } ?? "Every wave is suspended"
            out += "\(what) by \(Escaped.value(suspension.by)) since \(suspension.at)\(suspension.reason.map { ": " + Escaped.value($0) } ?? ""); 'sendpath resume\(suspension.wave.map { " --wave " + $0 } ?? "")' lifts it.\n"
        }
        if report.suspensions != nil { out += "\n" }
        write(out)
        ReportPrinter.table(header: ["INSTANCE", "WAVE", "DESIRED", "OBSERVED", "JOURNAL", "STATUS"], count: report.instances.count,
                            row: row, indent: "", write: write)
        let summary = InstanceStatus.allCases.compactMap { status in report.summary[status.rawValue].map { "\($0) \(status.rawValue)" } }
        write("\nSummary: \(summary.joined(separator: ", ")). \(report.outcomeLine)\n")
    }
}
