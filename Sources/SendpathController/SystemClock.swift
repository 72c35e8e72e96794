public import SendpathCore
import Foundation

/// The system's wall clock.
public struct SystemClock: WallClock {
    public init() {}

    public func now() -> Timestamp {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Timestamp(nanosecondsSinceEpoch: Int64(spec.tv_sec) * 1_000_000_000 + Int64(spec.tv_nsec))
    }

    public func sleep(for duration: Duration) async throws {
        try await Task.sleep(for: duration)
    }
}

/// The wall clock shifted so that it read `start` when created (`reconcile --at`): time
/// still passes, so journal durations and retries stay real.
public struct OffsetClock: WallClock {
    private let base: any WallClock
    private let offset: Duration

    public init(startingAt start: Timestamp, base: any WallClock = SystemClock()) {
        self.base = base
        self.offset = start - base.now()
    }

    public func now() -> Timestamp { base.now() + offset }

    public func sleep(for duration: Duration) async throws {
        try await base.sleep(for: duration)
    }
}
