/// A journal entry with its place in the store's append order.
public struct SequencedEntry: Sendable, Hashable {
    /// Grows with each append (the store's row id); not every number is used.
    public var sequence: Int64
    public var entry: JournalEntry

    public init(sequence: Int64, entry: JournalEntry) {
        self.sequence = sequence
        self.entry = entry
    }
}

/// A cut-over as recorded (start, and finish once it ended), without its entries, with its place
/// in the order cut-overs were begun.
public struct SequencedCutover: Sendable, Hashable {
    public var sequence: Int64
    /// `entries` is empty: they come with ``JournalCursorReading/journalEntries(after:including:limit:)``.
    public var record: CutoverRecord

    public init(sequence: Int64, record: CutoverRecord) {
        self.sequence = sequence
        self.record = record
    }
}

/// Reads the journal from a cursor, a page at a time: what a long-running controller reads
/// between passes instead of the whole journal (``JournalFollower`` in SendpathController).
///
/// Sequences are the stores' row ids. On a store with concurrent writers (PostgreSQL) an entry
/// can commit after one with a higher sequence was read: readers ask again for the numbers they
/// skipped (`including`) for a while.
public protocol JournalCursorReading: Sendable {
    /// Entries with a sequence above `sequence`, and those numbered in `including`, in sequence
    /// order, at most `limit` (those of `including` come on top of the limit).
    func journalEntries(after sequence: Int64, including: [Int64], limit: Int) async throws -> [SequencedEntry]

    /// Cut-overs begun after `sequence`, and those named in `including`, in sequence order, at
    /// most `limit` (those of `including` on top), without their entries.
    func cutoverHeaders(after sequence: Int64, including: [String], limit: Int) async throws -> [SequencedCutover]
}
