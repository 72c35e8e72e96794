public import SendpathCore
import PostgresNIO

/// Operators' controls: suspend, resume, approve, one JSON row each, in recording order.
extension PostgresStateStore {
    public func recordControl(_ control: ControlRecord) async throws {
        let action = "record a \(control.kind.rawValue)"
        let record = try decoding(action) { try PostgresRowReader.json(control, column: "record") }
        try await access(action, write: true) { connection in
            try await connection.query("INSERT INTO control (record) VALUES (\(record))", logger: self.logger).collect()
        }
    }

    public func controls() async throws -> [ControlRecord] {
        let rows = try await access("read controls", write: false) { connection in
            try await connection.query("SELECT record FROM control ORDER BY seq", logger: self.logger).collect()
        }
        return try decoding("read controls") {
            try rows.map { try PostgresRowReader($0).json(ControlRecord.self, "record") }
        }
    }
}
