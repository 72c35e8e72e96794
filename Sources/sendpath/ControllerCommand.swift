import ArgumentParser
import Foundation
import Logging
import SendpathController
import SendpathCore
import SendpathHTTP
import SendpathPostgres
import SendpathSQLite
import SendpathSimulator
import SendpathYAML
import ServiceLifecycle
import Synchronization

/// `sendpath controller`: reconciles continuously and serves health, readiness, metrics and status.
struct ControllerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "controller",
        abstract: "Reconcile continuously; serve / (the schedule page), /healthz, /readyz, /metrics and /status.",
        discussion: """
        Reconciles every --interval (with 10% jitter) and at once when a manifest file changes. On SIGTERM or SIGINT \
        it finishes the cut-overs in flight (or their rollbacks), starts no new group, and exits 0. Invalid manifests \
        are logged and skipped until fixed; the last valid ones keep being served by /status.
        """
    )

    @OptionGroup var manifests: ManifestOptions
    @OptionGroup var runtime: RuntimeOptions

    @Option(help: ArgumentHelp("Where to serve the endpoints (HOST:PORT).", valueName: "address"))
    var listen: String = "127.0.0.1:\(ControllerHTTPServer.defaultPort)"

    @Option(help: ArgumentHelp("Time between reconciles.", valueName: "duration"))
    var interval: String = "60s"

    @Option(help: ArgumentHelp("Cut-over groups in flight at once, across waves.", valueName: "n"))
    var maxParallel: Int?

    @Option(help: ArgumentHelp("Attempts per step before it counts as failed.", valueName: "n"))
    var attempts: Int = 4

    @Option(help: ArgumentHelp("Wait before the first retry; it doubles each time, with jitter.", valueName: "duration"))
    var retryDelay: String = "1s"

    /// How often the schedule page at `/` reloads itself.
    static let pageRefreshSeconds = 10

    func validate() throws {
        _ = try ListenAddress(listen)
        _ = try FlagValues.duration(interval, flag: "--interval", in: FlagValues.interval, example: "60s")
        _ = try FlagValues.duration(retryDelay, flag: "--retry-delay", in: FlagValues.retryDelay, example: "1s")
        if let maxParallel { try FlagValues.integer(maxParallel, flag: "--max-parallel", in: FlagValues.maxParallel) }
        try FlagValues.integer(attempts, flag: "--attempts", in: FlagValues.attempts)
    }

    func run() async throws {
        let initial = try manifests.loadFleet()
        let scope = try runtime.scope(in: initial)
        let address = try ListenAddress(listen)
        try await withCommandErrors {
            let logger = runtime.logger("sendpath.controller", defaultLevel: .info)
            let clock = SystemClock()
            // A PostgreSQL pool is a service of its own: it runs first and stops last.
            var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
            let store: any StateStore
            switch try StateLocation(runtime.state) {
            case .sqlite(let path):
                store = try SQLiteStateStore(path: path, logger: logger)
            case .postgres(let url):
                let postgres = try PostgresStateStore(configuration: try PostgresConfiguration(url: url), logger: logger)
                services.append(.init(service: BoundedShutdown(inner: postgres, grace: .seconds(5), logger: logger)))
                store = postgres
            }
            let opened = try await runtime.openProvider(fleet: initial, clock: clock, logger: logger)
            let provider = opened.provider
            let metrics = ControllerMetrics()
            let current = Mutex(initial)
            let holder = ThisProcess.holder(command: "sendpath controller")
            let options = ReconcileOptions(scope: scope, maxParallel: maxParallel,
                                           retry: RetryPolicy(maxAttempts: attempts, baseDelay: ManifestDuration.parse(retryDelay)!))
            let lease = LeaseKeeper(store: store, holder: holder, ttl: runtime.leaseDuration, clock: clock,
                                    isAlive: ThisProcess.isAlive, logger: logger)
            let manifests = self.manifests
            let isSimulator = (try? ProviderLocation(runtime.provider))?.isSimulator ?? false

            let frozen = FrozenTally()
            // Kept from pass to pass: each pass reads only the journal appended since the last.
            let journal = JournalFollower(store: store, compactingFinished: true)
            let pass: ReconcileLoop.Pass = { stop in
                // Manifests are read afresh each pass: they change in Git under the controller.
                let loaded = manifests.load()
                guard let fleet = loaded.fleet else {
                    for diagnostic in loaded.diagnostics { logger.error("invalid manifest", metadata: ["diagnostic": "\(diagnostic)"]) }
                    throw CommandFailure("the manifests are invalid (\(loaded.diagnostics.filter { $0.severity == .error }.count) errors); keeping the last valid ones until they are fixed")
                }
                current.withLock { $0 = fleet }
                if isSimulator, let simulator = provider as? FleetSimulator { _ = try await simulator.seed(from: fleet) }
                var passOptions = options
                passOptions.stop = stop
                passOptions.journal = journal
                passOptions.revision = ManifestRevision.current(paths: manifests.paths, files: loaded.files)
                let progress = MetricsProgress(metrics: metrics, tally: frozen, fleet: fleet)
                let reconciler = Reconciler(fleet: fleet, provider: provider, store: store, clock: clock, lease: lease, logger: logger,
                                            progress: progress, options: passOptions, holder: holder,
                                            command: "sendpath controller")
                // What is frozen as the pass starts; the gauge then moves as freezes and unfreezes happen.
                if let gauges = try? await reconciler.gauges() { progress.start(from: gauges) }
                let report = try await reconciler.run()
                if let revision = passOptions.revision { metrics.setAppliedRevision(revision) }
                var gauges = try? await reconciler.gauges()
                gauges?.count(blockedIn: report)
                return (report, gauges)
            }
            let loop = ReconcileLoop(pass: pass, interval: ManifestDuration.parse(interval)!, watcher: ManifestWatcher(paths: manifests.paths),
                                     clock: clock, logger: logger, observer: MetricsObserver(metrics: metrics))
            let endpoints = ControllerEndpoints(
                ready: {
                    do {
                        _ = try await store.currentLease(scope: Lease.reconcilerScope)
                    } catch {
                        return (false, "state store unreachable: \(error)")
                    }
                    let probe = current.withLock { $0.instances.first?.name }.map { [$0] } ?? []
                    do {
                        _ = try await provider.observeInstances(probe, step: nil)
                    } catch {
                        return (false, "provider unreachable: \(error)")
                    }
                    return (true, "state store and provider reachable")
                },
                status: {
                    let fleet = current.withLock { $0 }
                    let report = try await Reconciler(fleet: fleet, provider: provider, store: store, clock: clock, lease: nil, logger: logger,
                                                      options: ReconcileOptions(dryRun: true, scope: scope), holder: holder).status()
                    var body: [UInt8] = []
                    ReportJSONWriter.write(report) { body += $0 }
                    // What was applied last (by any replica), as `appliedRevision`: spliced in as the
                    // object's first member, so the rest stays what `status --output json` prints.
                    let applied = try await store.recentRuns(limit: 100).first { !$0.dryRun && $0.revision != nil }
                    return AppliedRevisionJSON.splice(applied, into: body)
                },
                metrics: metrics,
                page: {
                    let fleet = current.withLock { $0 }
                    let reconciler = Reconciler(fleet: fleet, provider: provider, store: store, clock: clock, lease: nil, logger: logger,
                                                options: ReconcileOptions(dryRun: true, scope: scope), holder: holder)
                    let report = try await reconciler.status()
                    return ScheduleHTML.page(try await reconciler.schedule(for: report, title: "Status"),
                                             refreshSeconds: ControllerCommand.pageRefreshSeconds)
                })
            let server = ControllerHTTPServer.makeApplication(endpoints: endpoints, host: address.host, port: address.port, logger: logger) { port in
                logger.notice("serving /, /healthz, /readyz, /metrics and /status", metadata: ["http.address": "\(address.host):\(port)"])
            }
            services += [.init(service: loop, successTerminationBehavior: .gracefullyShutdownGroup), .init(service: server)]
            let group = ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
            do {
                try await group.run()
            } catch {
                await opened.close()
                throw error
            }
            await opened.close()
        }
    }
}

/// Per group, the members frozen now, as freezes and unfreezes are journalled.
final class FrozenTally: Sendable {
    private let byGroup = Mutex<[String: Int]>([:])

    func reset(_ counts: [String: Int]) -> Int { byGroup.withLock { $0 = counts; return $0.values.reduce(0, +) } }

    func set(_ group: String, _ count: Int) -> Int { byGroup.withLock { $0[group] = count; return $0.values.reduce(0, +) } }
}

/// Step events into the Prometheus counters, and `sendpath_instances_frozen` as it changes.
struct MetricsProgress: ReconcileProgress {
    let metrics: ControllerMetrics
    let tally: FrozenTally
    let fleet: Fleet

    func start(from gauges: JournalGauges) {
        metrics.setInstancesFrozen(tally.reset(gauges.frozenByGroup))
    }

    func stepStarted(group: String, move: CutoverMachine.Move, attempt: Int, at: Timestamp) {}

    func stepFinished(group: String, move: CutoverMachine.Move, phase: JournalEntry.Phase, duration: Duration, detail: String?) {
        metrics.stepFinished(step: move.rollback ? "rollback/\(move.step.rawValue)" : move.step.rawValue, result: phase.rawValue)
        guard phase == .done else { return }
        if move.step == .freeze && !move.rollback, let members = fleet.group(id: group)?.instances.count {
            metrics.setInstancesFrozen(tally.set(group, members))
        } else if move.step == .unfreeze {
            metrics.setInstancesFrozen(tally.set(group, 0))
        }
    }

    func fencedOut(group: String, by fence: Fence, detail: String) { metrics.fencingRejected(by: fence) }
}

/// Reconcile results into the gauges and histograms.
struct MetricsObserver: ReconcileLoopObserver {
    let metrics: ControllerMetrics

    func reconcileFinished(outcome: Outcome, duration: Duration, finishedAt: Timestamp, gauges: JournalGauges?) {
        metrics.reconcileFinished(outcome: outcome.rawValue)
        metrics.observeReconcileDuration(seconds: duration.seconds)
        if [.converged, .waiting, .changesPending, .rolledBack, .held].contains(outcome) {
            metrics.setLastSuccessfulReconcile(unixSeconds: Double(finishedAt.nanosecondsSinceEpoch) / 1e9)
        }
        if let gauges {
            metrics.setGroupsInProgress(gauges.groupsInProgress)
            metrics.setInstancesFrozen(gauges.instancesFrozen)
            metrics.setMessagesAwaitingResend(gauges.messagesAwaitingResend)
            metrics.setSuspended(gauges.suspended)
            metrics.setBlockedGroups(gauges.blockedGroups)
        }
    }
}

/// HOST:PORT for listening.
struct ListenAddress {
    var host: String
    var port: Int

    init(_ text: String) throws {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
            throw ValidationError("--listen must be HOST:PORT, like 127.0.0.1:9464")
        }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { throw ValidationError("--listen must name a host, like 127.0.0.1:9464") }
        self.host = host
        self.port = port
    }
}

/// Runs a service whose shutdown could hang (a connection pool after its server restarted)
/// so that it cannot keep the process from exiting: on graceful shutdown it is cancelled and
/// given `grace` to finish, then left behind. By then the reconcile loop has stopped and its
/// journal writes are done.
struct BoundedShutdown: Service {
    let inner: any Service
    let grace: Duration
    let logger: Logger

    final class State: Sendable {
        let finished = Mutex(false)
        let deadline = Mutex<ContinuousClock.Instant?>(nil)
    }

    func run() async throws {
        let inner = self.inner
        let state = State()
        let task = Task.detached {
            try? await inner.run()
            state.finished.withLock { $0 = true }
        }
        await withGracefulShutdownHandler {
            while !state.finished.withLock({ $0 }) {
                if Task.isCancelled {
                    task.cancel()
                    return
                }
                if let deadline = state.deadline.withLock({ $0 }), ContinuousClock.now >= deadline {
                    logger.warning("the state store's connections did not close in time; exiting without them")
                    return
                }
                try? await Task.sleep(for: .milliseconds(100))
            }
        } onGracefulShutdown: {
            task.cancel()
            state.deadline.withLock { $0 = ContinuousClock.now + grace }
        }
    }
}
