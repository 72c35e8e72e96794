import SendpathCore

/// Runs one move of a cut-over against the provider and judges its result.
struct StepExecutor: Sendable {
    let provider: any Provider
    let fleet: Fleet
    let group: CutoverGroup
    /// The cut-over's members as recorded when it began (the manifest may have changed since).
    let members: [String]
    let baseline: CutoverBaseline
    let cutoverID: String

    /// The key of a move: every attempt of it repeats the same key.
    static func key(cutover: String, _ move: CutoverMachine.Move) -> String {
        move.rollback ? "\(cutover)/rollback/\(move.step.rawValue)" : "\(cutover)/\(move.step.rawValue)"
    }

    /// The snapshot a resend sends: the one the forward snapshot-queue took.
    var snapshotKey: String { Self.key(cutover: cutoverID, CutoverMachine.Move(.snapshotQueue)) }

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
            try await refuseUndeclaredIPs()
            try await provider.unfreeze(members, context: context)
            return nil
        }
    }

    var forwardChange: PathChange {
        PathChange(group: group.id,
                   instances: Dictionary(uniqueKeysWithValues: members.map { ($0, group.target) }),
                   prefixes: Dictionary(uniqueKeysWithValues: group.blocks.map { ($0, group.target) }))
    }

    var backwardChange: PathChange {
        PathChange(group: group.id,
                   instances: Dictionary(uniqueKeysWithValues: members.map { ($0, baseline.members[$0]?.path ?? sourcePath) }),
                   prefixes: baseline.prefixes)
    }

    /// Where the group sent from before the cut-over (for a member missing from the baseline).
    private var sourcePath: SendingPath {
        baseline.members.values.first?.path ?? baseline.prefixes.values.first ?? group.target
    }

    private func verifyIPs() async throws -> StepDetail? {
        let observed = try await provider.observeInstances(members, step: .verifyIPs)
        var problems: [String] = []
        for name in members {
            guard let state = observed[name] else {
                problems.append("\(name) is no longer known to the provider")
                continue
            }
            if state.path != group.target {
                problems.append("\(name) sends from \(state.path), not \(group.target)")
            }
            let declared = fleet.instance(named: name)?.declaredIPs ?? []
            let actual = Array(Set(state.sendingIPs)).sorted()
            if actual != declared {
                problems.append("\(name) sends from \(actual.map(\.description).joined(separator: ", ")) instead of \(declared.map(\.description).joined(separator: ", "))")
            }
        }
        guard problems.isEmpty else { throw VerificationMismatch(message: problems.joined(separator: "; ")) }
        return StepDetail(message: "sending IPs unchanged")
    }

    /// The build is unchanged; and, as the last look before the resend (the point of no
    /// return), the sending IPs are still the declared ones.
    private func verifyBuild() async throws -> StepDetail? {
        let observed = try await provider.observeInstances(members, step: .verifyBuild)
        var problems: [String] = []
        for name in members {
            let expected = baseline.members[name]?.build ?? fleet.instance(named: name)?.build ?? ""
            guard let state = observed[name] else {
                problems.append("\(name) is no longer known to the provider")
                continue
            }
            if state.build != expected { problems.append("\(name) runs build '\(state.build)' instead of '\(expected)'") }
            let declared = fleet.instance(named: name)?.declaredIPs ?? []
            let actual = Array(Set(state.sendingIPs)).sorted()
            if actual != declared {
                problems.append("\(name) now sends from \(actual.map(\.description).joined(separator: ", ")) instead of \(declared.map(\.description).joined(separator: ", "))")
            }
        }
        guard problems.isEmpty else { throw VerificationMismatch(message: problems.joined(separator: "; ")) }
        return StepDetail(message: "build unchanged")
    }

    /// An instance is never let send from IPs other than its declared ones: unfreezing waits
    /// for a human when they changed after the verification.
    private func refuseUndeclaredIPs() async throws {
        let observed = try await provider.observeInstances(members, step: nil)
        var problems: [String] = []
        for name in members {
            guard let state = observed[name], let instance = fleet.instance(named: name) else { continue }
            let actual = Array(Set(state.sendingIPs)).sorted()
            if actual != instance.declaredIPs {
                problems.append("\(name) would send from \(actual.map(\.description).joined(separator: ", "))")
            }
        }
        guard problems.isEmpty else {
            throw IncompleteResend(message: "not unfreezing: the sending IPs changed since verification: " + problems.joined(separator: "; "))
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
