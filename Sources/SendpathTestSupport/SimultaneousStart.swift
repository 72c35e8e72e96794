import Foundation
import Synchronization

/// Runs one piece of work on several threads released at one moment, for tests of what
/// racing openers do to a shared file. Real threads, not tasks: the cooperative pool has as
/// many threads as cores, too few to race on a 2-core machine.
public enum SimultaneousStart {
    /// Runs `work` on `count` threads at once and returns their results (in finishing order),
    /// or throws the first error any of them threw.
    public static func run<Value: Sendable>(count: Int, _ work: @escaping @Sendable () throws -> Value) throws -> [Value] {
        let results = Mutex<[Result<Value, any Error>]>([])
        let start = DispatchSemaphore(value: 0)
        let done = DispatchGroup()
        for _ in 0..<count {
            done.enter()
            Thread.detachNewThread {
                start.wait()
                let result = Result { try work() }
                results.withLock { $0.append(result) }
                done.leave()
            }
        }
        for _ in 0..<count { start.signal() }
        done.wait()
        return try results.withLock { $0 }.map { try $0.get() }
    }
}
