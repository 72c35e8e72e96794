/// Follows a store's journal from a cursor, so that a long-running controller reads between
/// passes only what it has not seen: the cut-overs begun since, the entries appended since, a
/// page at a time, and again the cut-overs still open or held (their finish is an update).
///
/// What it returns is what ``StateStore/cutovers(groups:)`` returns for all groups, in the same
/// order (by start, then as begun). A store that cannot read from a cursor is read whole.
///
/// Several writers (PostgreSQL replicas) can commit an entry after one with a higher sequence was
/// read: a sequence the follower skipped is asked for again on the next `gapPasses` passes, then
/// given up (a failed insert also uses a number up).
///
/// With `compactingFinished`, a cut-over that ended (completed or rolled back; not held) keeps
/// only the entries a plan reads of it (``compacted(_:)``), so that memory grows with the
/// number of cut-overs, not with their retries and intents.
public actor JournalFollower {
    public nonisolated let store: any StateStore
    let pageSize: Int
    let gapPasses: Int
    let compactingFinished: Bool
    /// Cut-overs changed in this pass (to compact once they have ended).
    private var touched = Set<String>()
    private var records: [String: CutoverRecord] = [:]
    private var cutoverSequence: [String: Int64] = [:]
    /// Per cut-over, its entries' sequences (the entries' order).
    private var entrySequences: [String: [Int64]] = [:]
    private var entryCursor: Int64 = 0
    private var cutoverCursor: Int64 = 0
    /// Skipped sequences, with the passes left to ask for them.
    private var gaps: [Int64: Int] = [:]
    /// Entries read from the store since this follower started (for tests and logs).
    public private(set) var entriesRead = 0

    public init(store: any StateStore, pageSize: Int = 5000, gapPasses: Int = 30, compactingFinished: Bool = false) {
        self.store = store
        self.pageSize = max(1, pageSize)
        self.gapPasses = gapPasses
        self.compactingFinished = compactingFinished
    }

    /// What a plan reads of a cut-over that ended: its forward steps done (the duration
    /// estimator's samples, the snapshot's message count) and its last entry that is not a
    /// resume or an abort (the status's last step), each without the queued messages and the
    /// resends of its detail (``slimmed(_:)``). A held or open one is kept whole (it is replayed).
    public static func compacted(_ record: CutoverRecord) -> CutoverRecord {
        guard let kept = keptIndices(record) else { return record }
        var compact = record
        compact.entries = kept.map { slimmed(record.entries[$0]) }
        return compact
    }

    /// An entry of an ended cut-over without what no plan reads of it: the messages of its queue
    /// snapshots (their counts stay) and the per-instance resends. Those are most of a journal's
    /// bytes (a snapshot of 100 instances is about 130 KB).
    public static func slimmed(_ entry: JournalEntry) -> JournalEntry {
        guard let detail = entry.detail, detail.resends != nil || detail.snapshots?.contains(where: { $0.messages != nil }) == true
        else { return entry }
        var slim = entry
        slim.detail?.resends = nil
        slim.detail?.snapshots = detail.snapshots?.map { snapshot in
            var counted = snapshot
            counted.messages = nil
            return counted
        }
        return slim
    }

    static func keptIndices(_ record: CutoverRecord) -> [Int]? {
        guard record.outcome == .completed || record.outcome == .rolledBack else { return nil }
        let last = record.entries.lastIndex { $0.phase != .resumed && $0.phase != .aborted }
        return record.entries.indices.filter { ($0 == last) || (record.entries[$0].phase == .done && !record.entries[$0].rollback) }
    }

    /// The journal as it stands now.
    public func cutovers() async throws -> [CutoverRecord] {
        guard let reader = store as? any JournalCursorReading else { return try await store.cutovers(groups: nil) }
        // Cut-overs begun since, and again those that can still change.
        try await readHeaders(reader, including: records.values.filter { $0.outcome == nil || $0.outcome == .held }.map(\.id))
        try await readEntries(reader)
        for (sequence, left) in gaps { gaps[sequence] = left > 1 ? left - 1 : nil }
        compactTouched()
        return records.values.sorted {
            ($0.startedAt, cutoverSequence[$0.id] ?? 0) < ($1.startedAt, cutoverSequence[$1.id] ?? 0)
        }
    }

    /// Compacts the ended cut-overs changed since the last call (after each page, so that a first
    /// read of a long journal never holds all of it).
    private func compactTouched() {
        defer { touched = [] }
        guard compactingFinished else { return }
        for id in touched {
            guard let record = records[id], let kept = Self.keptIndices(record), let sequences = entrySequences[id] else { continue }
            records[id]?.entries = kept.map { Self.slimmed(record.entries[$0]) }
            entrySequences[id] = kept.map { sequences[$0] }
        }
    }

    private func readHeaders(_ reader: any JournalCursorReading, including: [String]) async throws {
        var again = including
        while true {
            let page = try await reader.cutoverHeaders(after: cutoverCursor, including: again, limit: pageSize)
            again = []
            var fresh = 0
            for header in page {
                if header.sequence > cutoverCursor { fresh += 1 }
                var record = header.record
                record.entries = records[record.id]?.entries ?? []
                records[record.id] = record
                cutoverSequence[record.id] = header.sequence
                touched.insert(record.id)
            }
            cutoverCursor = max(cutoverCursor, page.map(\.sequence).max() ?? cutoverCursor)
            if fresh < pageSize { return }
        }
    }

    private func readEntries(_ reader: any JournalCursorReading) async throws {
        var again = gaps.keys.sorted()
        while true {
            let page = try await reader.journalEntries(after: entryCursor, including: again, limit: pageSize)
            again = []
            entriesRead += page.count
            // An entry of a cut-over begun after the headers were read: read its header first.
            let unknown = Set(page.compactMap(\.entry.cutoverID).filter { records[$0] == nil })
            if !unknown.isEmpty {
                try await readHeaders(reader, including: Array(unknown))
                if let missing = unknown.first(where: { records[$0] == nil }) {
                    throw StateStoreError.corrupt("a journal entry names cut-over \(missing), which is not recorded")
                }
            }
            var fresh = 0
            for item in page {
                if item.sequence > entryCursor {
                    fresh += 1
                    // Numbers skipped (at most a page of them) may still commit.
                    let skipped = (entryCursor + 1)..<min(item.sequence, entryCursor + 1 + Int64(pageSize))
                    for sequence in skipped { gaps[sequence] = gapPasses }
                    entryCursor = item.sequence
                } else {
                    gaps[item.sequence] = nil
                }
                guard let id = item.entry.cutoverID else { continue }  // prepare-target: not planned from
                touched.insert(id)
                if let last = entrySequences[id]?.last, item.sequence <= last {
                    // One that was skipped: in its place, once.
                    let sequences = entrySequences[id]!
                    guard !sequences.contains(item.sequence), let position = sequences.firstIndex(where: { $0 > item.sequence }) else { continue }
                    entrySequences[id]!.insert(item.sequence, at: position)
                    records[id]?.entries.insert(item.entry, at: position)
                } else {
                    entrySequences[id, default: []].append(item.sequence)
                    records[id]?.entries.append(item.entry)
                }
            }
            compactTouched()
            if fresh < pageSize { return }
        }
    }
}
