import GRDB
public import SendpathCore

extension FleetSimulator {
    /// The highest fencing token of any accepted call: the largest token remembered for an
    /// instance or a prefix.
    public func highestFencingToken() async throws(ProviderError) -> FencingToken {
        do {
            try await clock.sleep(for: latency)
        } catch {
            throw ProviderError(.transient, "the call was cancelled before it reached the fleet simulator")
        }
        do {
            return try await pool.read { db in
                let highest = try Int64.fetchOne(db, sql: """
                    SELECT max(token) FROM (SELECT max(fencingToken) AS token FROM instance
                                            UNION ALL SELECT max(fencingToken) FROM prefix)
                    """)
                return FencingToken(highest ?? 0)
            }
        } catch {
            throw Self.storeError(error)
        }
    }
}
