/// The latest instant (on the monotonic clock) by which a provider call must have returned,
/// set by the engine around each move before the point of no return: the time left before the
/// cut-over must turn back. A provider that retries inside one call (the HTTP client) stops
/// retrying, and shortens its last wait for an answer, so that the engine's turn-back decision
/// is never overrun by a call's own retries.
public enum ProviderCallDeadline {
    @TaskLocal public static var current: ContinuousClock.Instant?

    /// The time left before the deadline (`nil` when there is none; never below zero).
    public static var remaining: Duration? {
        current.map { max(.zero, $0 - ContinuousClock.now) }
    }
}
