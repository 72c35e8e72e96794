import SendpathCore

/// How often and how patiently a failing step is tried again with the same idempotency key.
public struct RetryPolicy: Sendable, Hashable {
    /// Attempts per step, the first included.
    public var maxAttempts: Int
    /// The wait before the second attempt; it doubles each time, up to `maxDelay`, with jitter.
    public var baseDelay: Duration
    public var maxDelay: Duration

    public init(maxAttempts: Int = 4, baseDelay: Duration = .seconds(1), maxDelay: Duration = .seconds(30)) {
        self.maxAttempts = max(1, maxAttempts)
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
    }

    /// The wait after `attempt` failed: base × 2^(attempt-1), capped, then between 50% and 100% of that.
    public func delay(afterAttempt attempt: Int) -> Duration {
        var delay = baseDelay
        for _ in 1..<max(1, attempt) where delay < maxDelay { delay *= 2 }
        delay = min(delay, maxDelay)
        let jitter = Double.random(in: 0.5...1.0)
        return .nanoseconds(Int64(Double(delay.nanoseconds) * jitter))
    }
}
