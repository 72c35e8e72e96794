public import SendpathCore
import Foundation
import GRDB

/// Operators' controls: suspend, resume, approve, one JSON row each, in recording order.
extension SQLiteStateStore {
    public func recordControl(_ control: ControlRecord) async throws {
        let record = try encoding("record a \(control.kind.rawValue)") { try StateCoding.json(control, column: "record") }
        try await write("record a \(control.kind.rawValue)") { db in
            try db.execute(sql: "INSERT INTO control (record) VALUES (?)", arguments: [record])
        }
    }

    public func controls() async throws -> [ControlRecord] {
        try await read("read controls") { db in
            try Row.fetchAll(db, sql: "SELECT record FROM control ORDER BY seq").map { row in
                try StateCoding.json(ControlRecord.self, row, "record")
            }
        }
    }
}
