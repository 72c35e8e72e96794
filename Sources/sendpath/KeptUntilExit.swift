import Synchronization

/// What a one-shot command loaded, kept until the process exits.
///
/// A 100k-instance fleet is some 600,000 allocations: freeing them one by one as `run()`
/// returns costs about 30 ms of a 0.6 s `validate`, just before the process exits and gives
/// all of its memory back at once. Only for values a command has finished with.
enum KeptUntilExit {
    private static let values = Mutex<[any Sendable]>([])

    static func keep(_ value: some Sendable) {
        values.withLock { $0.append(value) }
    }
}
