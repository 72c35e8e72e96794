public import Logging
public import SendpathCore
public import ServiceLifecycle
import Foundation

/// What the controller reports after each reconcile, for metrics and logs.
public protocol ReconcileLoopObserver: Sendable {
    func reconcileFinished(outcome: Outcome, duration: Duration, finishedAt: Timestamp, gauges: JournalGauges?)
}

/// `sendpath controller`'s loop, as a Service: reconcile on an interval with jitter, and at
/// once when a manifest file changes. On graceful shutdown (SIGTERM, SIGINT) the run in
/// flight finishes the cut-overs it has begun (or their rollbacks), starts no new group,
/// and the loop returns.
public struct ReconcileLoop: Service {
    /// One reconcile: loads the manifests afresh and applies them.
    public typealias Pass = @Sendable (_ stop: StopRequest) async throws -> (ReconcileReport, JournalGauges?)

    let pass: Pass
    let interval: Duration
    let jitter: Double
    let watcher: ManifestWatcher
    let clock: any WallClock
    let logger: Logger
    let observer: (any ReconcileLoopObserver)?
    let pollEvery: Duration

    public init(pass: @escaping Pass, interval: Duration, jitter: Double = 0.1, watcher: ManifestWatcher,
                clock: any WallClock, logger: Logger, observer: (any ReconcileLoopObserver)?, pollEvery: Duration = .seconds(1)) {
        self.pass = pass
        self.interval = interval
        self.jitter = jitter
        self.watcher = watcher
        self.clock = clock
        self.logger = logger
        self.observer = observer
        self.pollEvery = pollEvery
    }

    public func run() async throws {
        let stop = StopRequest()
        await withGracefulShutdownHandler {
            var fingerprint = watcher.fingerprint()
            while !stop.isRequested && !Task.isCancelled {
                let started = clock.now()
                do {
                    let (report, gauges) = try await pass(stop)
                    let duration = clock.now() - started
                    logger.notice("reconciled", metadata: [
                        "reconcile.outcome": "\(report.outcome.rawValue)", "reconcile.duration_s": "\(duration.seconds)",
                        "reconcile.summary": "\(report.summary.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ","))",
                    ])
                    observer?.reconcileFinished(outcome: report.outcome, duration: duration, finishedAt: clock.now(), gauges: gauges)
                } catch StateStoreError.locked(let holder, _, let until) {
                    logger.info("another reconciler holds the lease; waiting", metadata: ["lease.holder": "\(holder)", "lease.expires": "\(until)"])
                    observer?.reconcileFinished(outcome: .locked, duration: clock.now() - started, finishedAt: clock.now(), gauges: nil)
                } catch {
                    logger.error("reconcile failed; retrying on the next pass", metadata: ["error": "\(error)"])
                    observer?.reconcileFinished(outcome: .error, duration: clock.now() - started, finishedAt: clock.now(), gauges: nil)
                }
                // Wait out the interval (with jitter), waking early for a manifest change or a stop.
                let spread = Double(interval.nanoseconds) * Double.random(in: (1 - jitter)...(1 + jitter))
                let deadline = clock.now() + .nanoseconds(Int64(spread))
                while !stop.isRequested && !Task.isCancelled && clock.now() < deadline {
                    try? await Task.sleep(for: min(pollEvery, deadline - clock.now()))
                    let current = watcher.fingerprint()
                    if current != fingerprint {
                        fingerprint = current
                        logger.info("manifests changed; reconciling now")
                        break
                    }
                }
            }
        } onGracefulShutdown: {
            logger.notice("shutting down: finishing the cut-overs in flight, starting no new group")
            stop.request()
        }
    }
}

/// Notices manifest changes by polling the files' names, sizes and modification times.
public struct ManifestWatcher: Sendable {
    public let paths: [String]

    public init(paths: [String]) {
        self.paths = paths
    }

    /// A value that changes when a manifest file is added, removed or modified.
    public func fingerprint() -> [String] {
        var entries: [String] = []
        let manager = FileManager.default
        func visit(_ path: String) {
            var isDirectory: ObjCBool = false
            guard manager.fileExists(atPath: path, isDirectory: &isDirectory) else { return }
            if isDirectory.boolValue {
                for entry in ((try? manager.contentsOfDirectory(atPath: path)) ?? []).sorted() where !entry.hasPrefix(".") {
                    visit(path + "/" + entry)
                }
            } else if let attributes = try? manager.attributesOfItem(atPath: path) {
                let size = (attributes[.size] as? NSNumber)?.int64Value ?? -1
                let modified = (attributes[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
                entries.append("\(path)|\(size)|\(modified)")
            }
        }
        for path in paths { visit(path) }
        return entries
    }
}
