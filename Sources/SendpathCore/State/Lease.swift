/// Who holds a lease: enough for an operator to find the process.
public struct LeaseHolder: Sendable, Hashable, Codable, CustomStringConvertible {
    /// Unique per process run.
    public var id: String
    public var host: String
    public var pid: Int32
    /// The command line, without secrets (for example "sendpath reconcile").
    public var command: String

    public init(id: String, host: String, pid: Int32, command: String) {
        self.id = id
        self.host = host
        self.pid = pid
        self.command = command
    }

    public var description: String { "'\(command)' (pid \(pid) on \(host))" }
}

/// A granted lease: exclusive right to act on `scope` until `expiresAt`, proven to
/// providers by `token`.
public struct Lease: Sendable, Hashable, Codable {
    /// "reconciler" for the whole store, or "group:<id>" for one cut-over group.
    public var scope: String
    public var holder: LeaseHolder
    public var token: FencingToken
    public var acquiredAt: Timestamp
    public var expiresAt: Timestamp

    public init(scope: String, holder: LeaseHolder, token: FencingToken, acquiredAt: Timestamp, expiresAt: Timestamp) {
        self.scope = scope
        self.holder = holder
        self.token = token
        self.acquiredAt = acquiredAt
        self.expiresAt = expiresAt
    }

    public static let reconcilerScope = "reconciler"
    public static func groupScope(_ group: String) -> String { "group:\(group)" }
}

/// Why a state-store call failed.
public enum StateStoreError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Another holder has the lease until `expiresAt`.
    case locked(holder: LeaseHolder, scope: String, expiresAt: Timestamp)
    /// The lease expired and was granted to someone else (or released).
    case leaseLost(scope: String)
    /// The store cannot be reached or used.
    case unavailable(String)
    /// The store holds something this version cannot read.
    case corrupt(String)

    public var description: String {
        switch self {
        case .locked(let holder, let scope, let expiresAt):
            "the \(scope) lease is held by \(holder) until \(expiresAt)"
        case .leaseLost(let scope):
            "the \(scope) lease was lost to another reconciler"
        case .unavailable(let message):
            "state store unavailable: \(message)"
        case .corrupt(let message):
            "state store unreadable: \(message)"
        }
    }
}

/// What stopped a reconciler whose lease had moved on. Each is journalled as a `fenced` entry
/// and counted in `sendpath_fencing_rejections_total{by}`.
public enum Fence: String, Sendable, CaseIterable {
    /// The provider refused a mutating call (its token was older than one it had accepted).
    case provider
    /// The state store refused a journal entry (the group's lease has a newer token).
    case stateStore = "state-store"
    /// The lease could not be renewed (another holder has it): stopped before any further call.
    case lease
}
