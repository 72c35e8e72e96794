@testable import SendpathCore
import Testing

/// Work spread over the cores comes back exactly as one thread would have made it.
@Suite struct OrderedChunksTests {
    @Test(arguments: [0, 1, 2, 63, 64, 65, 1000, 10_007])
    func mapAndFlatMapKeepTheOrderOfOneThread(count: Int) {
        #expect(OrderedChunks.map(count: count, minimumPerChunk: 1) { $0 * 3 } == (0..<count).map { $0 * 3 })
        let sizes: @Sendable (Int) -> Int = { $0 % 4 }
        #expect(OrderedChunks.flatMap(count: count, minimumPerChunk: 1) { index in Array(repeating: "\(index)", count: sizes(index)) }
                == (0..<count).flatMap { index in Array(repeating: "\(index)", count: sizes(index)) })
    }

    @Test(arguments: [0, 1, 2, 3, 64, 10_007])
    func rangesCoverEveryIndexOnceInOrder(count: Int) {
        let ranges = OrderedChunks.ranges(count: count, minimumPerChunk: 1) { $0 }
        #expect(ranges.flatMap { Array($0) } == Array(0..<count))
        // One range per chunk: on a machine with two cores or more, 10,007 items make four.
        #expect(ranges.count == OrderedChunks.chunkCount(count: count, minimumPerChunk: 1))
    }

    @Test(arguments: [0, 1, 17, 5000])
    func concatenatedLaysOutEveryIndexInItsPlace(count: Int) {
        let made: [String] = OrderedChunks.concatenated(count: count, minimumPerChunk: 1, size: { $0 % 3 }) { (index: Int, rows: UnsafeMutableBufferPointer<String>) in
            for offset in rows.indices { (rows.baseAddress! + offset).initialize(to: "\(index).\(offset)") }
        }
        #expect(made == (0..<count).flatMap { index in (0..<(index % 3)).map { "\(index).\($0)" } })
    }

    @Test func strictlyAscendingMeansSortedWithoutRepeats() {
        #expect([String]().isStrictlyAscending && ["a"].isStrictlyAscending && ["a", "b", "c"].isStrictlyAscending)
        #expect(!["a", "a"].isStrictlyAscending && !["b", "a"].isStrictlyAscending && !["a", "c", "b"].isStrictlyAscending)
    }
}
