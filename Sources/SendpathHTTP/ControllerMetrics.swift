public import SendpathCore
public import Prometheus
import Synchronization

/// The controller's Prometheus metrics, in their own ``PrometheusCollectorRegistry``.
///
/// Names follow Prometheus conventions (snake_case, `sendpath_` prefix, `_total` on counters,
/// base units): `sendpath_steps_total{step,result}`, `sendpath_groups_in_progress`,
/// `sendpath_instances_frozen`, `sendpath_messages_awaiting_resend`,
/// `sendpath_reconcile_duration_seconds`, `sendpath_last_successful_reconcile_timestamp_seconds`,
/// `sendpath_reconciles_total{outcome}`, `sendpath_fencing_rejections_total`,
/// `sendpath_suspended{wave}` (1 while suspended; `wave="*"` for every wave) and
/// `sendpath_groups_blocked{reason}` (groups blocked, by reason code). The unlabelled
/// ones exist from the start (at 0), so `/metrics` lists them before the first reconcile.
public final class ControllerMetrics: Sendable {
    /// The registry the metrics live in; hand it to a `PrometheusMetricsFactory` to add
    /// swift-metrics ones to the same exposition.
    public let registry: PrometheusCollectorRegistry

    private let groupsInProgress: Gauge
    private let instancesFrozen: Gauge
    private let messagesAwaitingResend: Gauge
    private let reconcileDuration: ValueHistogram
    private let lastSuccessfulReconcile: Gauge
    private let suspendedWaves = Mutex<Set<String>>([])
    /// The series of `sendpath_applied_revision_info` in force, replaced when the revision changes.
    private let appliedRevision = Mutex<(revision: RunRevision, gauge: Gauge)?>(nil)

    /// Seconds: from a quick level-triggered pass to a long cut-over batch.
    public static let reconcileDurationBuckets: [Double] = [0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600]

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        groupsInProgress = registry.makeGauge(descriptor: Self.name(
            "groups_in_progress", "", "Cut-over groups with an open cut-over."))
        instancesFrozen = registry.makeGauge(descriptor: Self.name(
            "instances_frozen", "", "Instances frozen (not sending) now."))
        messagesAwaitingResend = registry.makeGauge(descriptor: Self.name(
            "messages_awaiting_resend", "", "Messages in queue snapshots not yet resent."))
        reconcileDuration = registry.makeValueHistogram(descriptor: Self.name(
            "reconcile_duration", "seconds", "How long each reconcile pass took."), buckets: Self.reconcileDurationBuckets)
        lastSuccessfulReconcile = registry.makeGauge(descriptor: Self.name(
            "last_successful_reconcile_timestamp", "seconds", "Unix time of the last reconcile that did not fail."))
        // Every series exists from the start, at 0, so a dashboard can tell "none" from "unknown"
        // and `increase()` sees the first event after a restart.
        for fence in Fence.allCases { _ = fencingCounter(by: fence) }
        for outcome in Outcome.allCases { _ = reconcilesCounter(outcome: outcome.rawValue) }
        setBlockedGroups([:])
        for step in Self.stepLabels {
            for result in Self.stepResults { _ = stepsCounter(step: step, result: result) }
        }
    }

    /// The `step` label of every move: the forward steps, and the steps on the way back.
    public static let stepLabels: [String] = StepName.allCases.filter { $0 != .rollbackPath }.map(\.rawValue)
        + [StepName.rollbackPath, .resendQueue, .unfreeze].map { "rollback/\($0.rawValue)" }

    /// The results a step is counted under (journal phases that end an attempt).
    public static let stepResults = ["done", "retry", "failed", "fenced"]

    private func stepsCounter(step: String, result: String) -> Counter {
        registry.makeCounter(descriptor: Self.name("steps", "total", "Cut-over steps finished, by step and result."),
                             labels: [("step", step), ("result", result)])
    }

    private func reconcilesCounter(outcome: String) -> Counter {
        registry.makeCounter(descriptor: Self.name("reconciles", "total", "Reconcile passes finished, by outcome."),
                             labels: [("outcome", outcome)])
    }

    private func fencingCounter(by fence: Fence) -> Counter {
        registry.makeCounter(descriptor: Self.name(
            "fencing_rejections", "total",
            "Times this controller was stopped for a stale fencing token: by the provider, the state store (a journal entry), or a lease renewal."),
            labels: [("by", fence.rawValue)])
    }

    /// Counts a finished step (`sendpath_steps_total{step,result}`), e.g. `("freeze", "done")`.
    public func stepFinished(step: String, result: String) {
        stepsCounter(step: step, result: result).increment()
    }

    /// `sendpath_groups_in_progress`.
    public func setGroupsInProgress(_ count: Int) { groupsInProgress.set(to: Double(count)) }

    /// `sendpath_instances_frozen`.
    public func setInstancesFrozen(_ count: Int) { instancesFrozen.set(to: Double(count)) }

    /// `sendpath_messages_awaiting_resend`.
    public func setMessagesAwaitingResend(_ count: Int) { messagesAwaitingResend.set(to: Double(count)) }

    /// `sendpath_suspended{wave}`: 1 for each suspension in force (`*` for every wave), 0 for
    /// one lifted since the controller started.
    public func setSuspended(_ waves: [String]) {
        let now = Set(waves.map { $0 == "everything" ? "*" : $0 })
        suspendedWaves.withLock { known in
            known.formUnion(now)
            for wave in known {
                registry.makeGauge(descriptor: Self.name("suspended", "", "1 while reconciling is suspended (wave \"*\": every wave)."),
                                   labels: [("wave", wave)]).set(to: now.contains(wave) ? 1 : 0)
            }
        }
    }

    /// `sendpath_groups_blocked{reason}`: groups blocked after the last pass, per reason code.
    public func setBlockedGroups(_ counts: [ReasonCode: Int]) {
        for code in ReasonCode.allCases {
            registry.makeGauge(descriptor: Self.name("groups_blocked", "", "Cut-over groups blocked after the last pass, by reason code."),
                               labels: [("reason", code.rawValue)]).set(to: Double(counts[code] ?? 0))
        }
    }

    /// `sendpath_applied_revision_info{commit, dirty, manifest_digest}` = 1: what the last pass
    /// applied (commit `""` outside Git). One series at a time: a new revision replaces the old.
    public func setAppliedRevision(_ revision: RunRevision) {
        appliedRevision.withLock { current in
            if let current, current.revision == revision { return }
            if let old = current?.gauge { registry.unregisterGauge(old) }
            let gauge = registry.makeGauge(
                descriptor: Self.name("applied_revision_info", "", "The manifests the controller applied last: Git commit (empty outside Git), whether the work tree had uncommitted changes, and their digest."),
                labels: [("commit", revision.gitCommit ?? ""), ("dirty", revision.gitDirty == true ? "true" : "false"),
                         ("manifest_digest", revision.manifestDigest)])
            gauge.set(to: 1)
            current = (revision, gauge)
        }
    }

    /// Records one pass in `sendpath_reconcile_duration_seconds`.
    public func observeReconcileDuration(seconds: Double) { reconcileDuration.record(seconds) }

    /// `sendpath_last_successful_reconcile_timestamp_seconds`.
    public func setLastSuccessfulReconcile(unixSeconds: Double) { lastSuccessfulReconcile.set(to: unixSeconds) }

    /// Counts a finished pass (`sendpath_reconciles_total{outcome}`), e.g. `"converged"`.
    public func reconcileFinished(outcome: String) {
        reconcilesCounter(outcome: outcome).increment()
    }

    /// Counts a stop for a stale fencing token (`sendpath_fencing_rejections_total{by}`).
    public func fencingRejected(by fence: Fence) { fencingCounter(by: fence).increment() }

    /// Every metric in the Prometheus text exposition format (version 0.0.4).
    public func exposition() -> String { registry.emitToString() }

    private static func name(_ metric: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "sendpath", metricName: metric, unitName: unit, helpText: help)
    }
}
