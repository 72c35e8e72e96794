public import SendpathCore

extension Reconciler {
    /// The schedule page's content for `report` (this reconciler's plan or status), with the
    /// notices and cut-overs the store holds: the notice times and the bakes come from them.
    public func schedule(for report: ReconcileReport, title: String) async throws -> Schedule {
        async let notices = store.notices()
        async let cutovers = journalNow()
        return Schedule(title: title, report: report, fleet: fleet, notices: try await notices, cutovers: try await cutovers)
    }
}
