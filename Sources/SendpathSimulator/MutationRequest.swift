import Foundation
import SendpathCore

/// A mutating provider request as data: what the call asks, without its context. Stored
/// with its context when a `late` fault holds the effect back, so that a later call can land it.
enum MutationRequest: Codable, Sendable {
    case prepareTarget(PathChange)
    case freeze([String])
    case snapshotQueue([String])
    case switchPath(PathChange)
    case resend([String], snapshotKey: String, maxAgeNanoseconds: Int64)
    case unfreeze([String])
    case rollbackPath(PathChange)

    /// The group a path change names.
    var group: String? {
        switch self {
        case .prepareTarget(let change), .switchPath(let change), .rollbackPath(let change): change.group
        default: nil
        }
    }

    /// The normalised call (instances, prefixes, request fingerprint) for this context.
    func call(_ context: MutationContext) -> MutationCall {
        switch self {
        case .prepareTarget(let change): Self.pathCall(.prepareTarget, change, context)
        case .switchPath(let change): Self.pathCall(.switchPath, change, context)
        case .rollbackPath(let change): Self.pathCall(.rollbackPath, change, context)
        case .freeze(let instances): MutationCall(.freeze, instances: instances, context: context)
        case .snapshotQueue(let instances): MutationCall(.snapshotQueue, instances: instances, context: context)
        case .unfreeze(let instances): MutationCall(.unfreeze, instances: instances, context: context)
        case .resend(let instances, let snapshotKey, let maxAge):
            MutationCall(.resendQueue, instances: instances, context: context, snapshotKey: snapshotKey, maxAge: .nanoseconds(maxAge))
        }
    }

    private static func pathCall(_ operation: StepName, _ change: PathChange, _ context: MutationContext) -> MutationCall {
        MutationCall(operation, instances: Array(change.instances.keys), prefixes: Array(change.prefixes.keys),
                     context: context, group: change.group, paths: change.instances, prefixPaths: change.prefixes)
    }
}

/// A call whose effect a `late` fault held back: it lands at the start of a later call.
struct PendingEffect: Codable, Sendable {
    var request: MutationRequest
    var context: MutationContext
}

extension FleetSimulator {
    /// The operation's body for this request. `partial` (switch and rollback only) moves
    /// part of the change: see ``move(_:call:requirePrepared:partial:in:)``.
    func body(for request: MutationRequest, _ call: MutationCall, partial: Bool = false) -> (FleetTransaction) throws -> OperationOutcome {
        switch request {
        case .prepareTarget(let change):
            return { tx in try self.prepare(change, in: tx) }
        case .freeze:
            return { tx in
                try tx.setFrozen(call.instances, true)
                return .empty
            }
        case .snapshotQueue:
            return { tx in try self.snapshot(call, in: tx) }
        case .switchPath(let change):
            return { tx in try self.move(change, call: call, requirePrepared: true, partial: partial, in: tx) }
        case .rollbackPath(let change):
            return { tx in try self.move(change, call: call, requirePrepared: false, partial: partial, in: tx) }
        case .resend(_, let snapshotKey, let maxAge):
            return { tx in try self.resend(call, snapshotKey: snapshotKey, maxAge: .nanoseconds(maxAge), in: tx) }
        case .unfreeze:
            return { tx in try self.unfreeze(call, in: tx) }
        }
    }
}
