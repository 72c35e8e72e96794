import SendpathCore

/// Runs one move of a cut-over against the provider and judges its result.
///
/// It reads only what the cut-over pinned at its start (members, prefixes by CIDR, target,
/// declared IPs and baseline build), never the live manifest.
struct StepExecutor: Sendable {
    let provider: any Provider
    let groupID: String
    /// The cut-over's members as recorded when it began.
    let members: [String]
    let baseline: CutoverBaseline
    /// The key of the forward snapshot-queue: the snapshot a resend sends.
    let snapshotKey: String

    init(provider: any Provider, record: CutoverRecord) {
        self.provider = provider
        groupID = record.group
        members = record.members
        baseline = record.baseline
        snapshotKey = record.key(CutoverMachine.Move(.snapshotQueue))
    }

    /// For prepare-target, which runs before any cut-over: the live group's target.
    init(provider: any Provider, preparing group: CutoverGroup) {
        self.provider = provider
        groupID = group.id
        members = group.instances
        baseline = CutoverBaseline(members: [:], prefixes: Dictionary(uniqueKeysWithValues: group.blocks.map { ($0, group.target) }),
                                   target: group.target)
        snapshotKey = ""
    }

    enum Outcome: Sendable {
        case done(StepDetail?)
        case failed(CutoverMachine.Failure, ProviderError.Code?)
        /// Another reconciler holds a newer lease: stop touching this group.
        case fencedOut(String)
    }

    func run(_ move: CutoverMachine.Move, context: MutationContext, snapshots: [QueueSnapshot]?,
             resendMaxAge: Duration) async -> Outcome {
        do {
            return .done(try await perform(move, context: context, snapshots: snapshots, resendMaxAge: resendMaxAge))
        } catch let error as ProviderError {
            if error.code == .staleFencingToken { return .fencedOut(error.message) }
            return .failed(error.isRetryable ? .retryable(error.description) : .terminal(error.description), error.code)
        } catch let failure as VerificationMismatch {
            return .failed(.mismatch(failure.message), nil)
        } catch let failure as IncompleteResend {
            return .failed(.terminal(failure.message), nil)
        } catch {
            return .failed(.retryable("\(error)"), nil)
        }
    }

    struct VerificationMismatch: Error { var message: String }
    struct IncompleteResend: Error { var message: String }

    private func perform(_ move: CutoverMachine.Move, context: MutationContext, snapshots: [QueueSnapshot]?,
                         resendMaxAge: Duration) async throws -> StepDetail? {
        switch move.step {
        case .prepareTarget:
            try await provider.prepareTarget(forwardChange, context: context)
            return nil
        case .freeze:
            try await provider.freeze(members, context: context)
            return nil
        case .snapshotQueue:
            let taken = try await provider.snapshotQueue(members, context: context)
            let total = taken.reduce(0) { $0 + $1.messageCount }
            return StepDetail(message: "\(total) queued messages", snapshots: taken)
        case .switchPath:
            try await provider.switchPath(forwardChange, context: context)
            return nil
        case .rollbackPath:
            try await provider.rollbackPath(backwardChange, context: context)
            return nil
        case .verifyIPs:
            return try await verifyIPs()
        case .verifyBuild:
            return try await verifyBuild()
        case .resendQueue:
            let results = try await provider.resend(members, snapshotKey: snapshotKey, maxAge: resendMaxAge, context: context)
            try checkCoverage(results, snapshots: snapshots)
            let resent = results.reduce(0) { $0 + $1.resent }, expired = results.reduce(0) { $0 + $1.expired }
            return StepDetail(message: "\(resent) resent, \(expired) expired", resends: results)
        case .unfreeze:
            try await refuseUndeclaredIPs(rollback: move.rollback)
            try await provider.unfreeze(members, context: context)
            return nil
        }
    }

    var forwardChange: PathChange {
        PathChange(group: groupID,
                   instances: Dictionary(uniqueKeysWithValues: members.map { ($0, baseline.target) }),
                   prefixes: Dictionary(uniqueKeysWithValues: baseline.blocks.map { ($0, baseline.target) }))
    }

    var backwardChange: PathChange {
        PathChange(group: groupID,
                   instances: Dictionary(uniqueKeysWithValues: members.map { ($0, baseline.members[$0]?.path ?? baseline.sourcePath) }),
                   prefixes: baseline.prefixes)
    }

    private func expectedIPs(_ name: String) -> [IPAddress] { baseline.members[name]?.expectedIPs ?? [] }

    private static func list(_ ips: [IPAddress]) -> String { ips.map(\.description).joined(separator: ", ") }

    /// Every prefix of the cut-over is advertised from the target and from nowhere else (or,
    /// on the way back, from where it was advertised before the cut-over).
    private func routeProblems(rollback: Bool = false) async throws -> [String] {
        let observed = try await provider.observePrefixes(baseline.blocks)
        var problems: [String] = []
        for block in baseline.blocks {
            let expected = rollback ? baseline.prefixes[block] ?? baseline.sourcePath : baseline.target
            let places = observed[block]?.advertisedFrom ?? []
            if places != [expected] {
                let from = places.isEmpty ? "nowhere" : places.map(\.description).sorted().joined(separator: " and ")
                problems.append("prefix \(block) is advertised from \(from), not only from \(expected)")
            }
        }
        return problems
    }

    private func verifyIPs() async throws -> StepDetail? {
        let observed = try await provider.observeInstances(members, step: .verifyIPs)
        var problems: [String] = []
        for name in members {
            guard let state = observed[name] else {
                problems.append("\(name) is no longer known to the provider")
                continue
            }
            if state.path != baseline.target {
                problems.append("\(name) sends from \(state.path), not \(baseline.target)")
            }
            let actual = Array(Set(state.sendingIPs)).sorted()
            if actual != expectedIPs(name) {
                problems.append("\(name) sends from \(Self.list(actual)) instead of \(Self.list(expectedIPs(name)))")
            }
        }
        problems += try await routeProblems()
        guard problems.isEmpty else { throw VerificationMismatch(message: problems.joined(separator: "; ")) }
        return StepDetail(message: "sending IPs unchanged; every prefix advertised from \(baseline.target) alone")
    }

    /// The build is unchanged; and, as the last look before the resend (the point of no
    /// return), the sending IPs and the routes are still as verified.
    private func verifyBuild() async throws -> StepDetail? {
        let observed = try await provider.observeInstances(members, step: .verifyBuild)
        var problems: [String] = []
        for name in members {
            let expected = baseline.members[name]?.build ?? ""
            guard let state = observed[name] else {
                problems.append("\(name) is no longer known to the provider")
                continue
            }
            if state.build != expected { problems.append("\(name) runs build '\(state.build)' instead of '\(expected)'") }
            let actual = Array(Set(state.sendingIPs)).sorted()
            if actual != expectedIPs(name) {
                problems.append("\(name) now sends from \(Self.list(actual)) instead of \(Self.list(expectedIPs(name)))")
            }
        }
        problems += try await routeProblems()
        guard problems.isEmpty else { throw VerificationMismatch(message: problems.joined(separator: "; ")) }
        return StepDetail(message: "build unchanged")
    }

    /// An instance is never let send from IPs other than its declared ones, nor from a path
    /// its prefixes are not advertised from: unfreezing waits for a human when either changed
    /// after the verification.
    private func refuseUndeclaredIPs(rollback: Bool) async throws {
        let observed = try await provider.observeInstances(members, step: nil)
        var problems: [String] = []
        for name in members {
            guard let state = observed[name] else { continue }
            let actual = Array(Set(state.sendingIPs)).sorted()
            if actual != expectedIPs(name) {
                problems.append("\(name) would send from \(Self.list(actual))")
            }
        }
        problems += try await routeProblems(rollback: rollback)
        guard problems.isEmpty else {
            throw IncompleteResend(message: "not unfreezing: the sending IPs or routes changed since verification: " + problems.joined(separator: "; "))
        }
    }

    /// Every message of the snapshot was either resent or reported expired.
    private func checkCoverage(_ results: [ResendResult], snapshots: [QueueSnapshot]?) throws {
        guard let snapshots else { return }
        var problems: [String] = []
        for snapshot in snapshots {
            let result = results.first { $0.instance == snapshot.instance }
            let handled = (result?.resent ?? 0) + (result?.expired ?? 0)
            if handled != snapshot.messageCount || (result != nil && result!.digest != snapshot.digest) {
                problems.append("\(snapshot.instance): \(handled) of \(snapshot.messageCount) queued messages accounted for")
            }
        }
        guard problems.isEmpty else { throw IncompleteResend(message: "resend incomplete: " + problems.joined(separator: "; ")) }
    }
}
