import Foundation
import PostgresNIO
import SendpathCore

/// Reads a state row's columns the way they were written: instants and durations from BIGINT
/// nanoseconds, enums from their raw TEXT, Codable values from JSON TEXT. A missing column, a
/// NULL where a value is required, or a value this version cannot read is a
/// ``PostgresColumnError`` (reported as `.corrupt`), never a crash.
///
/// A row is either one the server sent as such, or one object of a JSON array that a query
/// aggregated its rows into (see ``PostgresStateStore/aggregatedRows(_:)``).
struct PostgresRowReader {
    private enum Source {
        case row(PostgresRandomAccessRow)
        case json([String: Any])
    }

    private let source: Source

    init(_ row: PostgresRow) {
        source = .row(row.makeRandomAccess())
    }

    init(json object: [String: Any]) {
        source = .json(object)
    }

    func callAsFunction<Value: PostgresDecodable & JSONColumnValue>(_ column: String, as type: Value.Type = Value.self) throws -> Value {
        switch source {
        case .row(let row):
            guard row.contains(column) else { throw Self.missing(column) }
            do {
                return try row[column].decode(Value.self)
            } catch {
                throw PostgresColumnError("cannot read column \(column) as \(Value.self)")
            }
        case .json(let object):
            guard let raw = object[column] else { throw Self.missing(column) }
            guard let value = Value(jsonColumn: raw) else {
                throw PostgresColumnError("cannot read column \(column) as \(Value.self)")
            }
            return value
        }
    }

    func isNull(_ column: String) throws -> Bool {
        switch source {
        case .row(let row):
            guard row.contains(column) else { throw Self.missing(column) }
            return row[column].bytes == nil
        case .json(let object):
            guard let raw = object[column] else { throw Self.missing(column) }
            return raw is NSNull
        }
    }

    private static func missing(_ column: String) -> PostgresColumnError {
        PostgresColumnError("a row has no column \(column): the schema is not the one this version expects")
    }

    func timestamp(_ column: String) throws -> Timestamp {
        let nanoseconds = try self(column, as: Int64.self)
        return try checked { () throws(StoredValue.OutOfRange) in try StoredValue.timestamp(nanoseconds: nanoseconds, column: column) }
    }

    func timestampIfPresent(_ column: String) throws -> Timestamp? {
        guard let nanoseconds = try self(column, as: Int64?.self) else { return nil }
        return try checked { () throws(StoredValue.OutOfRange) in try StoredValue.timestamp(nanoseconds: nanoseconds, column: column) }
    }

    func duration(_ column: String) throws -> Duration {
        let nanoseconds = try self(column, as: Int64.self)
        return try checked { () throws(StoredValue.OutOfRange) in try StoredValue.duration(nanoseconds: nanoseconds, column: column) }
    }

    func durationIfPresent(_ column: String) throws -> Duration? {
        guard let nanoseconds = try self(column, as: Int64?.self) else { return nil }
        return try checked { () throws(StoredValue.OutOfRange) in try StoredValue.duration(nanoseconds: nanoseconds, column: column) }
    }

    /// A stored value out of range, as a ``PostgresColumnError`` (reported as a corrupt store).
    private func checked<T>(_ read: () throws(StoredValue.OutOfRange) -> T) throws -> T {
        do {
            return try read()
        } catch {
            throw PostgresColumnError(error.description)
        }
    }

    func json<Value: Decodable>(_ type: Value.Type, _ column: String) throws -> Value {
        let text = try self(column, as: String.self)
        do {
            return try JSONDecoder().decode(Value.self, from: Data(text.utf8))
        } catch {
            throw PostgresColumnError("cannot read \(column): \(error)")
        }
    }

    func jsonIfPresent<Value: Decodable>(_ type: Value.Type, _ column: String) throws -> Value? {
        try isNull(column) ? nil : json(type, column)
    }

    func value<Value: RawRepresentable>(_ type: Value.Type, _ column: String) throws -> Value where Value.RawValue == String {
        let raw = try self(column, as: String.self)
        guard let value = Value(rawValue: raw) else {
            throw PostgresColumnError("unknown \(column) '\(raw)' (written by a newer Sendpath?)")
        }
        return value
    }

    func valueIfPresent<Value: RawRepresentable>(_ type: Value.Type, _ column: String) throws -> Value?
    where Value.RawValue == String {
        try isNull(column) ? nil : value(type, column)
    }

    /// Encodes a Codable value for a JSON TEXT column: keys sorted, so equal values are equal text.
    static func json(_ value: some Encodable, column: String) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        do {
            return String(decoding: try encoder.encode(value), as: UTF8.self)
        } catch {
            throw PostgresColumnError("cannot encode \(column): \(error)")
        }
    }
}

/// A column value as it comes in a row aggregated to JSON (`json_agg`): BIGINT as a JSON
/// number (exact: Foundation reads integers as 64-bit), TEXT as a string, BOOLEAN as a
/// boolean, NULL as null.
protocol JSONColumnValue {
    init?(jsonColumn value: Any)
}

extension String: JSONColumnValue {
    init?(jsonColumn value: Any) {
        guard let text = value as? String else { return nil }
        self = text
    }
}

extension Int64: JSONColumnValue {
    init?(jsonColumn value: Any) {
        guard let number = value as? NSNumber else { return nil }
        self = number.int64Value
    }
}

extension Int32: JSONColumnValue {
    init?(jsonColumn value: Any) {
        guard let wide = Int64(jsonColumn: value), let narrow = Int32(exactly: wide) else { return nil }
        self = narrow
    }
}

extension Bool: JSONColumnValue {
    init?(jsonColumn value: Any) {
        guard let flag = value as? Bool else { return nil }
        self = flag
    }
}

extension Optional: JSONColumnValue where Wrapped: JSONColumnValue {
    init?(jsonColumn value: Any) {
        if value is NSNull {
            self = .none
        } else if let wrapped = Wrapped(jsonColumn: value) {
            self = .some(wrapped)
        } else {
            return nil
        }
    }
}

/// A column that holds something this version cannot write or read (reported as `.corrupt`).
struct PostgresColumnError: Error, Sendable {
    var reason: String

    init(_ reason: String) {
        self.reason = reason
    }
}

// MARK: - Rows to values

extension Lease {
    /// A lease row (`scope`, `holder_*`, `token`, `acquired_at`, `expires_at`).
    init(reading row: PostgresRowReader) throws {
        self.init(
            scope: try row("scope"),
            holder: LeaseHolder(id: try row("holder_id"), host: try row("holder_host"), pid: try row("holder_pid"),
                                command: try row("holder_command")),
            token: FencingToken(try row("token")),
            acquiredAt: try row.timestamp("acquired_at"),
            expiresAt: try row.timestamp("expires_at"))
    }
}

extension CutoverRecord {
    /// A cut-over row, without its entries.
    init(reading row: PostgresRowReader) throws {
        self.init(
            id: try row("id"),
            group: try row("group_id"),
            wave: try row("wave"),
            members: try row.json([String].self, "members"),
            window: Window(start: try row.timestamp("window_start"), end: try row.timestamp("window_end")),
            startedAt: try row.timestamp("started_at"),
            finishedAt: try row.timestampIfPresent("finished_at"),
            outcome: try row.valueIfPresent(CutoverOutcome.self, "outcome"),
            reason: try row("reason", as: String?.self),
            baseline: try row.json(CutoverBaseline.self, "baseline"))
    }
}

extension JournalEntry {
    /// A journal row; `prefix` names its columns when joined to a cut-over (`j_group_id`, …).
    init(reading row: PostgresRowReader, prefix: String = "") throws {
        self.init(
            cutoverID: try row(prefix + "cutover_id", as: String?.self),
            group: try row(prefix + "group_id"),
            step: try row.value(StepName.self, prefix + "step"),
            rollback: try row(prefix + "is_rollback"),
            phase: try row.value(JournalEntry.Phase.self, prefix + "phase"),
            attempt: Int(try row(prefix + "attempt", as: Int64.self)),
            idempotencyKey: try row(prefix + "idempotency_key"),
            fencingToken: FencingToken(try row(prefix + "fencing_token")),
            at: try row.timestamp(prefix + "at"),
            duration: try row.durationIfPresent(prefix + "duration_ns"),
            detail: try row.jsonIfPresent(StepDetail.self, prefix + "detail"),
            holder: try row(prefix + "holder"))
    }
}

extension NoticeRecord {
    init(reading row: PostgresRowReader) throws {
        self.init(
            wave: try row("wave"),
            sentAt: try row.timestamp("sent_at"),
            window: Window(start: try row.timestamp("window_start"), end: try row.timestamp("window_end")),
            members: try row.json([String].self, "members"),
            expectedDuration: try row.duration("expected_duration_ns"),
            source: try row.value(NoticeRecord.Source.self, "source"),
            recordedAt: try row.timestamp("recorded_at"))
    }
}

extension RunRecord {
    init(reading row: PostgresRowReader) throws {
        self.init(
            id: try row("id"),
            command: try row("command"),
            holder: try row.json(LeaseHolder.self, "holder"),
            dryRun: try row("dry_run"),
            startedAt: try row.timestamp("started_at"),
            finishedAt: try row.timestampIfPresent("finished_at"),
            outcome: try row.valueIfPresent(Outcome.self, "outcome"),
            summary: try row.json([String: Int].self, "summary"))
        if let details = try row.jsonIfPresent(RunDetails.self, "details") {
            revision = details.revision
            groups = details.groups
        }
    }
}
