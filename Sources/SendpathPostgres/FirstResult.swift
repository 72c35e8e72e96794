import Synchronization

/// The first of several competing results (an answer, a timeout, a cancellation), handed to
/// one waiter; later ones are dropped.
///
/// The store races its database work against deadlines with this instead of a task group,
/// because a task group waits for every child to finish: postgres-nio 1.33 can leave a request
/// whose connection the server closed unanswered for good, and a waiter must not hang on it.
final class FirstResult<Value: Sendable>: Sendable {
    private enum State {
        case open(CheckedContinuation<Value, any Error>?)
        case settled(Result<Value, any Error>)
        case delivered
    }

    private let state = Mutex<State>(.open(nil))

    init() {}

    /// Offers a result; only the first one offered counts.
    func offer(_ result: Result<Value, any Error>) {
        let waiter: CheckedContinuation<Value, any Error>? = state.withLock { state in
            switch state {
            case .open(let waiter?):
                state = .delivered
                return waiter
            case .open(nil):
                state = .settled(result)
                return nil
            case .settled, .delivered:
                return nil
            }
        }
        waiter?.resume(with: result)
    }

    /// Waits for the first result. Call it once.
    func value() async throws -> Value {
        try await withCheckedThrowingContinuation { continuation in
            let ready: Result<Value, any Error>? = state.withLock { state in
                switch state {
                case .open:
                    state = .open(continuation)
                    return nil
                case .settled(let result):
                    state = .delivered
                    return result
                case .delivered:
                    return .failure(CancellationError())
                }
            }
            if let ready { continuation.resume(with: ready) }
        }
    }
}

/// Runs an operation with a time limit.
enum Deadline {
    /// The operation's result, or `nil` if `duration` passed first (the operation is then
    /// cancelled, and not waited for).
    static func run(within duration: Duration, _ operation: @escaping @Sendable () async throws -> Void) async
        -> Result<Void, any Error>? {
        let first = FirstResult<Result<Void, any Error>?>()
        let work = Task {
            do {
                try await operation()
                first.offer(.success(.success(())))
            } catch {
                first.offer(.success(.failure(error)))
            }
        }
        let timer = Task {
            try await Task.sleep(for: duration)
            first.offer(.success(nil))
        }
        let result = (try? await first.value()) ?? nil
        timer.cancel()
        work.cancel()
        return result
    }
}
