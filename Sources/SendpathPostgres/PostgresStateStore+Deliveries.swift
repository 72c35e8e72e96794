public import SendpathCore
import PostgresNIO

/// Notices delivered to tenants, one JSON row each; the first of a (wave, notice, tenant, channel) stands.
extension PostgresStateStore {
    public func recordDelivery(_ delivery: NoticeDelivery) async throws {
        let action = "record the delivery of wave \(delivery.wave)'s notice to tenant \(delivery.tenant)"
        let record = try decoding(action) { try PostgresRowReader.json(delivery, column: "record") }
        try await access(action, write: true) { connection in
            try await connection.query(
                """
                INSERT INTO notice_delivery (wave, notice_key, tenant, channel, record)
                VALUES (\(delivery.wave), \(delivery.noticeKey), \(delivery.tenant), \(delivery.channel.rawValue), \(record))
                ON CONFLICT (wave, notice_key, tenant, channel) DO NOTHING
                """,
                logger: self.logger
            ).collect()
        }
    }

    public func deliveries(wave: String) async throws -> [NoticeDelivery] {
        let rows = try await access("read the deliveries of wave \(wave)", write: false) { connection in
            try await connection.query("SELECT record FROM notice_delivery WHERE wave = \(wave) ORDER BY seq", logger: self.logger).collect()
        }
        return try decoding("read the deliveries of wave \(wave)") {
            try rows.map { try PostgresRowReader($0).json(NoticeDelivery.self, "record") }
        }
    }
}
