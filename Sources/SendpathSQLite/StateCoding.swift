import Foundation
import GRDB
import SendpathCore

/// How values become columns and back: instants and durations as INTEGER nanoseconds,
/// enums as their raw TEXT, Codable values as JSON TEXT (keys sorted, so equal values are
/// equal text).
enum StateCoding {
    static func json(_ value: some Encodable, column: String) throws(StateCodingError) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        do {
            return String(decoding: try encoder.encode(value), as: UTF8.self)
        } catch {
            throw StateCodingError("cannot encode \(column): \(error)")
        }
    }

    static func json<Value: Decodable>(_ type: Value.Type, _ row: Row, _ column: String) throws -> Value {
        let text = try row.decode(String.self, forColumn: column)
        do {
            return try JSONDecoder().decode(Value.self, from: Data(text.utf8))
        } catch {
            throw StateCodingError("cannot read \(column): \(error)")
        }
    }

    static func jsonIfPresent<Value: Decodable>(_ type: Value.Type, _ row: Row, _ column: String) throws -> Value? {
        guard try row.decode(String?.self, forColumn: column) != nil else { return nil }
        return try json(type, row, column)
    }

    static func timestamp(_ row: Row, _ column: String) throws -> Timestamp {
        let nanoseconds = try row.decode(Int64.self, forColumn: column)
        return try checked { () throws(StoredValue.OutOfRange) in try StoredValue.timestamp(nanoseconds: nanoseconds, column: column) }
    }

    static func timestampIfPresent(_ row: Row, _ column: String) throws -> Timestamp? {
        guard let nanoseconds = try row.decode(Int64?.self, forColumn: column) else { return nil }
        return try checked { () throws(StoredValue.OutOfRange) in try StoredValue.timestamp(nanoseconds: nanoseconds, column: column) }
    }

    static func duration(_ row: Row, _ column: String) throws -> Duration {
        let nanoseconds = try row.decode(Int64.self, forColumn: column)
        return try checked { () throws(StoredValue.OutOfRange) in try StoredValue.duration(nanoseconds: nanoseconds, column: column) }
    }

    static func durationIfPresent(_ row: Row, _ column: String) throws -> Duration? {
        guard let nanoseconds = try row.decode(Int64?.self, forColumn: column) else { return nil }
        return try checked { () throws(StoredValue.OutOfRange) in try StoredValue.duration(nanoseconds: nanoseconds, column: column) }
    }

    /// A stored value out of range, as a ``StateCodingError`` (reported as a corrupt store).
    private static func checked<T>(_ read: () throws(StoredValue.OutOfRange) -> T) throws -> T {
        do {
            return try read()
        } catch {
            throw StateCodingError(error.description)
        }
    }

    static func value<Value: RawRepresentable>(_ type: Value.Type, _ row: Row, _ column: String) throws -> Value
    where Value.RawValue == String {
        let raw = try row.decode(String.self, forColumn: column)
        guard let value = Value(rawValue: raw) else {
            throw StateCodingError("unknown \(column) '\(raw)' (written by a newer Sendpath?)")
        }
        return value
    }

    static func valueIfPresent<Value: RawRepresentable>(_ type: Value.Type, _ row: Row, _ column: String) throws -> Value?
    where Value.RawValue == String {
        guard try row.decode(String?.self, forColumn: column) != nil else { return nil }
        return try value(type, row, column)
    }
}

/// A column that holds something this version cannot write or read.
struct StateCodingError: Error {
    var reason: String

    init(_ reason: String) {
        self.reason = reason
    }
}
