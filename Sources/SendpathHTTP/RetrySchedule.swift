/// How often and how long to wait: `attempts` in all, waiting `baseDelay` doubled per attempt
/// (at most `maxDelay`), each wait drawn uniformly from its upper half (jitter).
struct RetrySchedule: Sendable {
    var attempts: Int
    var baseDelay: Duration
    var maxDelay: Duration

    init(attempts: Int, baseDelay: Duration, maxDelay: Duration = .seconds(10)) {
        self.attempts = max(1, attempts)
        self.baseDelay = max(.zero, baseDelay)
        self.maxDelay = maxDelay
    }

    func delay(afterAttempt attempt: Int) -> Duration {
        let full = min(maxDelay, baseDelay * (1 << min(attempt - 1, 20)))
        return full / 2 + full / 2 * Double.random(in: 0...1)
    }
}
