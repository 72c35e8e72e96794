public import SendpathCore

/// Delivers a wave's notice to every tenant of the wave by the transports given, records each
/// delivery in the store as it happens, and skips what was delivered before.
public struct NoticeCourier: Sendable {
    /// What happened to one tenant's notice on one channel.
    public struct Outcome: Sendable, Codable, Hashable {
        public enum State: String, Sendable, Codable { case delivered, alreadyDelivered = "already-delivered", failed }
        public var tenant: String
        public var channel: NoticeDelivery.Channel
        public var state: State
        public var messageID: String
        public var supersedes: String?
        public var recipients: [String]
        public var error: String?
    }

    public let fleet: Fleet
    public let store: any StateStore
    public let transports: [any NoticeTransport]
    public let from: EmailAddress

    public init(fleet: Fleet, store: any StateStore, transports: [any NoticeTransport], from: EmailAddress) {
        self.fleet = fleet
        self.store = store
        self.transports = transports
        self.from = from
    }

    public var channels: Set<NoticeDelivery.Channel> { Set(transports.map(\.channel)) }

    /// The plan against what the store holds now.
    public func plan(wave: Wave) async throws -> NoticeDeliveryPlan {
        let deliveries = try await store.deliveries(wave: wave.name)
        let previous = try await store.notices()[wave.name]
        return NoticeDeliveryPlan.make(fleet: fleet, wave: wave, channels: channels, deliveries: deliveries,
                                       previous: previous, messageDomain: String(from.domain))
    }

    /// Sends what `plan` has pending; a failure for one tenant does not stop the others.
    /// Returns each (tenant, channel) outcome and, when every tenant has been told, the time
    /// the last of them was (the notice counts from then).
    public func deliver(_ plan: NoticeDeliveryPlan, wave: Wave, expectedDuration: Duration,
                        now: @Sendable () -> Timestamp) async throws -> (outcomes: [Outcome], announcedAt: Timestamp?) {
        var environments: [String: Environment] = [:]
        for instance in fleet.instances where instance.wave.value == wave.name { environments[instance.name] = instance.environment }
        var outcomes: [Outcome] = []
        for notice in plan.notices {
            let message = NoticeMessage(notice: notice, wave: wave, environments: environments,
                                        expectedDuration: expectedDuration, from: from, date: now())
            for transport in transports where transport.channel != .webhook || notice.tenant.webhook != nil {
                var outcome = Outcome(tenant: notice.tenant.name, channel: transport.channel, state: .alreadyDelivered,
                                      messageID: notice.messageID, supersedes: notice.supersedes, recipients: [], error: nil)
                guard notice.pending.contains(transport.channel) else {
                    outcomes.append(outcome)
                    continue
                }
                do {
                    outcome.recipients = try await transport.deliver(message, tenant: notice.tenant)
                    outcome.state = .delivered
                    try await store.recordDelivery(NoticeDelivery(
                        wave: wave.name, noticeKey: plan.noticeKey, tenant: notice.tenant.name, channel: transport.channel,
                        messageID: notice.messageID, recipients: outcome.recipients, members: notice.members, deliveredAt: now()))
                } catch let error as NoticeDeliveryError {
                    outcome.state = .failed
                    outcome.error = error.message
                }
                outcomes.append(outcome)
            }
        }
        let announced = plan.announcedAt(try await store.deliveries(wave: wave.name))
        return (outcomes, announced)
    }
}
