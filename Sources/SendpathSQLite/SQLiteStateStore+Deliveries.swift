public import SendpathCore
import GRDB

/// Notices delivered to tenants, one JSON row each; the first of a (wave, notice, tenant, channel) stands.
extension SQLiteStateStore {
    public func recordDelivery(_ delivery: NoticeDelivery) async throws {
        let action = "record the delivery of wave \(delivery.wave)'s notice to tenant \(delivery.tenant)"
        let record = try encoding(action) { try StateCoding.json(delivery, column: "record") }
        try await write(action) { db in
            try db.execute(
                sql: """
                    INSERT INTO notice_delivery (wave, notice_key, tenant, channel, record) VALUES (?, ?, ?, ?, ?)
                    ON CONFLICT (wave, notice_key, tenant, channel) DO NOTHING
                    """,
                arguments: [delivery.wave, delivery.noticeKey, delivery.tenant, delivery.channel.rawValue, record])
        }
    }

    public func deliveries(wave: String) async throws -> [NoticeDelivery] {
        try await read("read the deliveries of wave \(wave)") { db in
            try Row.fetchAll(db, sql: "SELECT record FROM notice_delivery WHERE wave = ? ORDER BY seq", arguments: [wave]).map { row in
                try StateCoding.json(NoticeDelivery.self, row, "record")
            }
        }
    }
}
