import ArgumentParser
import Foundation
import SendpathController
import SendpathCore

/// `sendpath reconcile`: plans and (unless `--dry-run`) applies, resumably and idempotently.
struct ReconcileCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reconcile",
        abstract: "Plan and (unless --dry-run) apply the manifests to the fleet.",
        discussion: """
        Exit codes: 0 converged, 1 error, 2 changes pending (--dry-run --detailed-exitcode), 3 waiting (blocked by a \
        window, notice, order or an operator's control), 4 rolled back, 5 held for a human, 6 stale plan (--plan), \
        64 usage, 65 invalid manifests, 75 locked. A dry run ranks 5 > 4 > 2 > 3 > 0, an apply 5 > 4 > 3 > 0.
        """
    )

    enum Format: String, ExpressibleByArgument, CaseIterable { case text, json, html }

    @OptionGroup var manifests: ManifestOptions
    @OptionGroup var runtime: RuntimeOptions

    @Option(help: "text (a plan table), json (one object) or html (the schedule as one self-contained page; with --dry-run).")
    var output: Format = .text

    @Flag(help: "Plan only: print what an apply at the same time would run, change nothing.")
    var dryRun = false

    @Flag(help: "With --dry-run, exit 2 when some change can run now.")
    var detailedExitcode = false

    @Option(help: ArgumentHelp("With --dry-run, also write the plan (JSON, with fingerprints of the manifests, the fleet and the journal) to this file.", valueName: "file"))
    var out: String?

    @Option(help: ArgumentHelp("Apply exactly this saved plan, or change nothing and exit 6 if the manifests, the fleet or the journal changed since.", valueName: "file"))
    var plan: String?

    @Option(help: ArgumentHelp("Cut-over groups in flight at once, across waves (each wave's maxParallel still applies).", valueName: "n"))
    var maxParallel: Int?

    @Option(help: ArgumentHelp("Evaluate windows and notices at this RFC 3339 time (dry runs, or applies against sim: providers).", valueName: "time"))
    var at: String?

    @Option(name: .customLong("resume-held"), help: ArgumentHelp("Resume this held cut-over (GROUP#N), group, or the group of this instance, after fixing its cause (repeatable).", valueName: "name"))
    var resumeHeld: [String] = []

    @Option(help: ArgumentHelp("Attempts per step before it counts as failed.", valueName: "n"))
    var attempts: Int = 4

    @Option(help: ArgumentHelp("Wait before the first retry; it doubles each time (up to 30s), with jitter.", valueName: "duration"))
    var retryDelay: String = "1s"

    func validate() throws {
        if let at { _ = try FlagValues.time(at, flag: "--at") }
        let provider = try ProviderLocation(runtime.provider)
        if at != nil && !dryRun && !provider.isSimulator {
            throw ValidationError("--at is allowed with --dry-run, or with a sim: provider; a real fleet is changed only at the real time")
        }
        if detailedExitcode && !dryRun { throw ValidationError("--detailed-exitcode goes with --dry-run") }
        if output == .html && !dryRun {
            throw ValidationError("--output html goes with --dry-run: an apply reports what it did as text or json; 'sendpath status --output html' shows the schedule after it")
        }
        if out != nil && !dryRun { throw ValidationError("--out goes with --dry-run (apply a saved plan with --plan FILE)") }
        if plan != nil && dryRun { throw ValidationError("--plan applies a saved plan: it does not go with --dry-run") }
        if let maxParallel { try FlagValues.integer(maxParallel, flag: "--max-parallel", in: FlagValues.maxParallel) }
        try FlagValues.integer(attempts, flag: "--attempts", in: FlagValues.attempts)
        _ = try FlagValues.duration(retryDelay, flag: "--retry-delay", in: FlagValues.retryDelay, example: "1s or 250ms")
    }

    func run() async throws {
        let stopped = output == .json
            ? StoppedReport.Context(dryRun: dryRun, at: at.flatMap { Timestamp(rfc3339: $0) } ?? SystemClock().now()) : nil
        let (fleet, files) = try manifests.loadFleetAndFiles(json: stopped)
        let saved = try plan.map(SavedPlanFile.read)
        let scope = try runtime.scope(in: fleet, json: stopped)
        let resume = try Set(resumeHeld.map { name -> String in
            if let group = fleet.group(of: name) { return group.id }
            if let group = fleet.group(id: name) { return group.id }
            // A cut-over id (GROUP#N, as a hold names it): it resumes that cut-over even when its
            // group is called otherwise in today's manifests.
            if name.contains("#") { return name }
            throw ValidationError("--resume-held: no instance, group or cut-over (GROUP#N) named '\(name)'")
        })
        try await withCommandErrors(json: stopped) {
            let logger = runtime.logger("sendpath.reconcile")
            let realClock = SystemClock()
            // A dry run at --at sees that instant exactly; an apply at --at lets time pass from it.
            let clock: any WallClock = at.flatMap { Timestamp(rfc3339: $0) }.map { start -> any WallClock in
                dryRun ? ManualClock(start) : OffsetClock(startingAt: start)
            } ?? realClock
            let command = dryRun ? "sendpath reconcile --dry-run" : "sendpath reconcile"
            let holder = ThisProcess.holder(command: command)
            var options = ReconcileOptions(dryRun: dryRun, detailedExitCode: detailedExitcode, scope: scope, resumeHeld: resume,
                                           maxParallel: maxParallel,
                                           retry: RetryPolicy(maxAttempts: attempts, baseDelay: ManifestDuration.parse(retryDelay)!),
                                           savedPlan: saved,
                                           manifestDigest: out != nil || saved != nil ? ManifestOptions.digest(files: files) : "")
            // An apply records what it applied (digest, Git commit) for `sendpath history` and `status`.
            if !dryRun { options.revision = ManifestRevision.current(paths: manifests.paths, files: files) }
            let configured = options
            let live = !dryRun && (runtime.verbose || (StandardStreams.stdoutIsTerminal && output == .text))
            let runtime = self.runtime
            let output = self.output
            let saving = out != nil
            let (report, page, planned) = try await runtime.withStore(logger: logger, create: !dryRun) { store in
                let lease = configured.dryRun ? nil : LeaseKeeper(store: store, holder: holder, ttl: runtime.leaseDuration, clock: realClock,
                                                       isAlive: ThisProcess.isAlive, logger: logger)
                let opened = try await runtime.openProvider(fleet: fleet, clock: clock, logger: logger, create: !dryRun)
                return try await opened.use { provider in
                    let reconciler = Reconciler(fleet: fleet, provider: provider, store: store, clock: clock, lease: lease, logger: logger,
                                                progress: live ? LiveProgress() : nil, options: configured, holder: holder, command: command)
                    var planned: SavedPlan?
                    let report: ReconcileReport
                    if saving {
                        (report, planned) = try await reconciler.plannedForSaving()
                    } else {
                        report = try await reconciler.run()
                    }
                    let page = output == .html ? ScheduleHTML.page(try await reconciler.schedule(for: report, title: "Plan")) : nil
                    return (report, page, planned)
                }
            }
            if let out, let planned { try SavedPlanFile.write(planned, to: out) }
            switch output {
            case .text: ReportPrinter.text(report, fleet: fleet, title: dryRun ? "Plan" : "Applied") { StandardStreams.out($0) }
            case .json: ReportPrinter.streamJSON(report)
            case .html: StandardStreams.out(page ?? "")
            }
            if report.exitCode != 0 { throw ExitCode(report.exitCode) }
        }
    }
}
