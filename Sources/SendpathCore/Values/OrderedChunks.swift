import Dispatch
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Pure work over many items spread over the machine's cores in contiguous chunks, with the
/// results put back in the items' order: what one thread would give, sooner. The work must not
/// share mutable state; below `minimumPerChunk` items per chunk it runs on the calling thread.
///
/// This is computation, not I/O: planning 1,000 groups or laying out 100,000 report rows.
public enum OrderedChunks {
    /// `transform` applied to every index of `0..<count`, concatenated in index order.
    public static func flatMap<Element: Sendable>(count: Int, minimumPerChunk: Int = 64,
                                                  _ transform: @Sendable (Int) -> [Element]) -> [Element] {
        let parts = ranges(count: count, minimumPerChunk: minimumPerChunk) { $0.flatMap(transform) }
        guard parts.count > 1 else { return parts[0] }
        var all: [Element] = []
        all.reserveCapacity(count)
        for part in parts { all += part }
        return all
    }

    /// `body` applied to contiguous ranges that cover `0..<count`, one per chunk, the results in
    /// range order (one range, on the calling thread, below `minimumPerChunk` items per chunk).
    public static func ranges<Result: Sendable>(count: Int, minimumPerChunk: Int = 64,
                                                _ body: @Sendable (Range<Int>) -> Result) -> [Result] {
        let chunks = chunkCount(count: count, minimumPerChunk: minimumPerChunk)
        guard chunks > 1 else { return [body(0..<count)] }
        let results = Slots<Result>(count: chunks)
        DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
            results.store(body(bounds(chunk, of: chunks, count: count)), at: chunk)
        }
        return results.take()
    }

    /// The elements that `fill` lays out for every index of `0..<count`, in index order, each
    /// index's `size(index)` elements written straight into their place in the result (no
    /// array per index to copy from). `fill` must initialize every element of the buffer it is given.
    public static func concatenated<Element>(count: Int, minimumPerChunk: Int = 64, size: (Int) -> Int,
                                             fill: @Sendable (Int, UnsafeMutableBufferPointer<Element>) -> Void) -> [Element] {
        var offsets = [0]
        offsets.reserveCapacity(count + 1)
        for index in 0..<count { offsets.append(offsets[index] + size(index)) }
        let total = offsets[count]
        let chunks = chunkCount(count: count, minimumPerChunk: minimumPerChunk)
        return [Element](unsafeUninitializedCapacity: total) { buffer, initialized in
            let base = UncheckedPointer(address: buffer.baseAddress)
            DispatchQueue.concurrentPerform(iterations: chunks) { [offsets] chunk in
                for index in bounds(chunk, of: chunks, count: count) {
                    let start = base.address.map { $0 + offsets[index] }
                    fill(index, UnsafeMutableBufferPointer(start: start, count: offsets[index + 1] - offsets[index]))
                }
            }
            initialized = total
        }
    }

    /// A result buffer's address, handed to the chunks: each writes only its own elements.
    private struct UncheckedPointer<Element>: @unchecked Sendable {
        var address: UnsafeMutablePointer<Element>?
    }

    /// `transform` applied to every index of `0..<count`, in index order.
    public static func map<Element: Sendable>(count: Int, minimumPerChunk: Int = 64,
                                              _ transform: @Sendable (Int) -> Element) -> [Element] {
        flatMap(count: count, minimumPerChunk: minimumPerChunk) { [transform($0)] }
    }

    /// Chunks for the active cores (two per core, to even out uneven items), at least
    /// `minimumPerChunk` items each.
    static func chunkCount(count: Int, minimumPerChunk: Int) -> Int {
        let cores = Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        guard cores > 1 else { return 1 }
        return max(1, min(cores * 2, count / max(1, minimumPerChunk)))
    }

    static func bounds(_ chunk: Int, of chunks: Int, count: Int) -> Range<Int> {
        (chunk * count / chunks)..<((chunk + 1) * count / chunks)
    }

    /// One slot per chunk, filled from the worker threads under a pthread mutex (which
    /// ThreadSanitizer understands, for `make check`).
    final class Slots<Value: Sendable>: @unchecked Sendable {
        private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        private var slots: [Value?]

        init(count: Int) {
            slots = Array(repeating: nil, count: count)
            pthread_mutex_init(mutex, nil)
        }

        deinit {
            pthread_mutex_destroy(mutex)
            mutex.deallocate()
        }

        func store(_ value: Value, at index: Int) {
            pthread_mutex_lock(mutex)
            slots[index] = value
            pthread_mutex_unlock(mutex)
        }

        func take() -> [Value] {
            pthread_mutex_lock(mutex)
            defer { pthread_mutex_unlock(mutex) }
            return slots.map { $0! }
        }
    }
}

extension Array where Element: Comparable {
    /// Each element less than the next: sorted and without repeats. A linear look, to skip
    /// sorting (or deduplicating) what usually comes in order already, like a fleet's names.
    public var isStrictlyAscending: Bool {
        indices.dropFirst().allSatisfy { self[$0 - 1] < self[$0] }
    }
}
