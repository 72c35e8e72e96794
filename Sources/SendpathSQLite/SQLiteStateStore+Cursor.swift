public import SendpathCore
import GRDB

/// The journal from a cursor, a page at a time (``JournalCursorReading``): entries by their row
/// id, cut-overs by their rowid (the order they were begun).
extension SQLiteStateStore: JournalCursorReading {
    public func journalEntries(after sequence: Int64, including: [Int64], limit: Int) async throws -> [SequencedEntry] {
        try await read("read the journal after \(sequence)") { db in
            var rows = try Row.fetchAll(
                db.cachedStatement(sql: "SELECT * FROM journal WHERE id > ? ORDER BY id LIMIT ?"), arguments: [sequence, max(1, limit)])
            if !including.isEmpty {
                let marks = Array(repeating: "?", count: including.count).joined(separator: ", ")
                rows += try Row.fetchAll(db, sql: "SELECT * FROM journal WHERE id IN (\(marks)) AND id <= ?",
                                         arguments: StatementArguments(including + [sequence]))
            }
            return try rows.map { SequencedEntry(sequence: try $0.decode(Int64.self, forColumn: "id"), entry: try JournalEntry(row: $0)) }
                .sorted { $0.sequence < $1.sequence }
        }
    }

    public func cutoverHeaders(after sequence: Int64, including: [String], limit: Int) async throws -> [SequencedCutover] {
        try await read("read cut-overs after \(sequence)") { db in
            var rows = try Row.fetchAll(
                db.cachedStatement(sql: "SELECT rowid AS seq, * FROM cutover WHERE rowid > ? ORDER BY rowid LIMIT ?"),
                arguments: [sequence, max(1, limit)])
            if !including.isEmpty {
                let marks = Array(repeating: "?", count: including.count).joined(separator: ", ")
                rows += try Row.fetchAll(db, sql: "SELECT rowid AS seq, * FROM cutover WHERE id IN (\(marks)) AND rowid <= ?",
                                         arguments: StatementArguments(including) + [sequence])
            }
            return try rows.map { SequencedCutover(sequence: try $0.decode(Int64.self, forColumn: "seq"), record: try CutoverRecord(row: $0)) }
                .sorted { $0.sequence < $1.sequence }
        }
    }
}
