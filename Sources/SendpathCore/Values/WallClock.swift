import Synchronization

/// The wall clock, injected: windows, notices and journal times are wall-clock instants.
/// The core never reads the system clock itself.
public protocol WallClock: Sendable {
    func now() -> Timestamp
    /// Waits `duration` (a manual clock advances instead).
    func sleep(for duration: Duration) async throws
}

/// A clock that moves only when told to, for deterministic tests. `sleep` advances it.
public final class ManualClock: WallClock {
    private let current: Mutex<Timestamp>

    public init(_ start: Timestamp) {
        current = Mutex(start)
    }

    public func now() -> Timestamp { current.withLock { $0 } }

    public func advance(by duration: Duration) {
        current.withLock { $0 = $0 + duration }
    }

    public func set(_ instant: Timestamp) {
        current.withLock { $0 = instant }
    }

    public func sleep(for duration: Duration) async throws {
        try Task.checkCancellation()
        advance(by: duration)
        await Task.yield()
    }
}
