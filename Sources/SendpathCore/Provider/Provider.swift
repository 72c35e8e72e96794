/// Observes and changes the real sending infrastructure.
///
/// Every mutating call is idempotent by its ``MutationContext/idempotencyKey`` (a repeat
/// returns the first answer and does nothing more) and is refused when its fencing token is
/// lower than one the provider has seen for the same instances or prefixes. Implementations:
/// the embedded fleet simulator (`sim:`) and the HTTP client (`http(s)://`).
public protocol Provider: Sendable {
    /// The instances' current state; names the provider does not know are absent from the result.
    /// `step` is set when the observation is a verification step.
    func observeInstances(_ names: [String], step: StepName?) async throws(ProviderError) -> [String: ObservedInstance]

    /// Where each prefix is advertised; unknown prefixes are absent.
    func observePrefixes(_ cidrs: [AddressBlock]) async throws(ProviderError) -> [AddressBlock: ObservedPrefix]

    /// The highest fencing token of any call this provider has accepted (0 when none). Before
    /// an apply takes its lease, the state store is raised above it, so that tokens never go
    /// below what the provider has seen: a fresh or another state store is not fenced out.
    func highestFencingToken() async throws(ProviderError) -> FencingToken

    /// Provisions the target path for a group ahead of its window. Changes nothing that sends.
    func prepareTarget(_ change: PathChange, context: MutationContext) async throws(ProviderError)

    /// Stops the instances from sending.
    func freeze(_ instances: [String], context: MutationContext) async throws(ProviderError)

    /// Takes each instance's queue into a snapshot, identified by the call's idempotency key.
    func snapshotQueue(_ instances: [String], context: MutationContext) async throws(ProviderError) -> [QueueSnapshot]

    /// Moves the group's prefixes and instance paths, all at once.
    func switchPath(_ change: PathChange, context: MutationContext) async throws(ProviderError)

    /// Sends the messages of the snapshot taken with `snapshotKey` from each instance's current
    /// path; messages older than `maxAge` are reported expired instead. A snapshot that was never
    /// taken sends nothing.
    func resend(_ instances: [String], snapshotKey: String, maxAge: Duration,
                context: MutationContext) async throws(ProviderError) -> [ResendResult]

    /// Lets the instances send again.
    func unfreeze(_ instances: [String], context: MutationContext) async throws(ProviderError)

    /// Moves the group's prefixes and instance paths back to where they were.
    func rollbackPath(_ change: PathChange, context: MutationContext) async throws(ProviderError)
}

/// Why a provider call failed, and whether trying again can help.
public struct ProviderError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Code: String, Sendable, Hashable, Codable {
        /// A failure that may pass (5xx, injected error): retry with backoff.
        case transient
        /// No answer in time; the call may or may not have taken effect: retry with the same key.
        case timeout
        /// The provider cannot be reached at all.
        case unreachable
        /// The fencing token is older than one already seen: another reconciler has taken over.
        case staleFencingToken = "stale-fencing-token"
        /// The idempotency key was used before with a different request.
        case idempotencyConflict = "idempotency-conflict"
        /// Authentication failed (missing or wrong token).
        case unauthorized
        /// The request is wrong for the current state (for example a switch before prepare).
        case rejected
        /// An instance or prefix the provider does not know.
        case notFound = "not-found"
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// Whether a retry with the same idempotency key may succeed.
    public var isRetryable: Bool { code == .transient || code == .timeout || code == .unreachable }

    public var description: String { "provider \(code.rawValue): \(message)" }
}
