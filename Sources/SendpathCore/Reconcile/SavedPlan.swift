/// A reviewed plan (`reconcile --dry-run --out FILE`), applied exactly by `reconcile --plan
/// FILE` or refused (exit 6, `stale-plan`) when what it was computed from has changed.
///
/// It holds the groups that act (start, resume, prepare) with their steps, and fingerprints of
/// the manifests (their files' bytes), the observed fleet (paths, freezes, sending IPs, builds,
/// prepared targets, where each prefix is advertised; not queue depths, which move all the
/// time and change no decision) and the journal (cut-overs and their entries, notices, the
/// operators' controls). Fingerprints detect change; they are not signatures. A plan file
/// holds no secret: names, steps and digests only.
public struct SavedPlan: Sendable, Hashable, Codable {
    public static let format = "sendpath-plan/v1"

    public var format: String
    /// The instant it was planned at.
    public var plannedAt: Timestamp
    public var fingerprint: PlanFingerprint
    /// The groups an apply would act on, in plan order.
    public var groups: [Group]

    public struct Group: Sendable, Hashable, Codable {
        public var id: String
        public var wave: String
        public var instances: [String]
        /// `start`, `resume` or `prepare`.
        public var decision: String
        /// Moves in order; a rollback step is written `rollback:STEP`.
        public var steps: [String]
    }

    public init(plan: Plan, fingerprint: PlanFingerprint) {
        format = Self.format
        plannedAt = plan.at
        self.fingerprint = fingerprint
        groups = Self.acting(plan)
    }

    /// The groups of a plan that act now.
    static func acting(_ plan: Plan) -> [Group] {
        plan.groups.compactMap { group in
            let decision: String
            switch group.decision {
            case .start: decision = "start"
            case .resume: decision = "resume"
            case .prepare: decision = "prepare"
            default: return nil
            }
            return Group(id: group.group.id, wave: group.wave.name, instances: group.group.instances, decision: decision,
                         steps: group.steps.map { $0.rollback ? "rollback:\($0.step.rawValue)" : $0.step.rawValue })
        }
    }

    /// What differs between this plan and the one computed now, in sentences; empty when the
    /// plan still holds.
    public func differences(from plan: Plan, fingerprint now: PlanFingerprint) -> [String] {
        var changes: [String] = []
        if fingerprint.manifests != now.manifests { changes.append("the manifests changed (digest \(fingerprint.manifests) then, \(now.manifests) now)") }
        if fingerprint.fleet != now.fleet { changes.append("the observed fleet changed (digest \(fingerprint.fleet) then, \(now.fleet) now)") }
        if fingerprint.journal != now.journal { changes.append("the journal changed (digest \(fingerprint.journal) then, \(now.journal) now)") }
        let current = Dictionary(Self.acting(plan).map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        let saved = Dictionary(groups.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        for group in groups {
            guard let live = current[group.id] else {
                changes.append("group \(group.id) would not act now (the plan had it \(group.decision): \(group.steps.joined(separator: " → ")))")
                continue
            }
            if live.steps != group.steps || live.decision != group.decision {
                changes.append("group \(group.id) would now \(live.decision): \(live.steps.joined(separator: " → ")) (the plan had \(group.decision): \(group.steps.joined(separator: " → ")))")
            }
        }
        for group in current.values.sorted(by: { $0.id < $1.id }) where saved[group.id] == nil {
            changes.append("group \(group.id) would now \(group.decision) too: \(group.steps.joined(separator: " → ")) (not in the plan)")
        }
        return changes
    }
}

/// Digests of what a plan was computed from.
public struct PlanFingerprint: Sendable, Hashable, Codable {
    public var manifests: String
    public var fleet: String
    public var journal: String

    public init(manifests: String, fleet: String, journal: String) {
        self.manifests = manifests
        self.fleet = fleet
        self.journal = journal
    }

    /// The fingerprint of a plan's input; `manifests` is the digest of the manifest files.
    public init(input: PlanInput, manifests: String) {
        self.manifests = manifests
        var fleet: [String] = []
        for (name, state) in input.observedInstances {
            let ips = state.sendingIPs.map(\.description).sorted().joined(separator: ",")
            fleet.append("i \(name) \(state.path) \(state.frozen) \(ips) \(state.build) \(state.preparedTarget?.description ?? "-")")
        }
        for (cidr, state) in input.observedPrefixes {
            fleet.append("p \(cidr) \(state.advertisedFrom.map(\.description).sorted().joined(separator: ","))")
        }
        self.fleet = Self.digest(fleet)
        var journal: [String] = []
        // Over what plans read of each cut-over (ended ones compacted), so that the fingerprint
        // is the same whether the journal was read whole or through a compacting follower.
        for record in input.cutovers.lazy.map(JournalFollower.compacted) {
            let last = record.entries.last.map { "\($0.step.rawValue) \($0.rollback) \($0.phase.rawValue) \($0.attempt)" } ?? "-"
            journal.append("c \(record.id) \(record.outcome?.rawValue ?? "open") \(record.entries.count) \(last)")
        }
        for notice in input.notices.values {
            journal.append("n \(notice.wave) \(notice.sentAt) \(notice.window.start) \(notice.window.end) \(notice.members.joined(separator: ","))")
        }
        journal.append("controls \(input.controls.fingerprint)")
        self.journal = Self.digest(journal)
    }

    /// FNV-1a 64 over the lines sorted, each ended by a newline.
    public static func digest(_ lines: [String]) -> String { FNV1a.digest(ofMessageIDs: lines) }
}

/// `reconcile --plan FILE` found the plan stale: nothing was changed.
public struct StalePlanError: Error, Sendable, CustomStringConvertible {
    public var changes: [String]

    public init(changes: [String]) { self.changes = changes }

    public var description: String {
        "the saved plan no longer matches; nothing was changed: " + changes.joined(separator: "; ")
            + ". Review a new plan ('sendpath reconcile --dry-run --out FILE')"
    }
}
