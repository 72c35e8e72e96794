/// What `notify` with a delivery option has to send for a wave: one notice per tenant of the
/// wave, by each channel asked for, minus what the store says was delivered already.
///
/// Pure: built from the fleet, the deliveries and the notice in force. A notice is identified by
/// its wave, window and members (``NoticeDelivery/key(wave:window:members:)``): when the window or
/// the members change, every tenant gets a new, superseding notice, which names the one it replaces.
public struct NoticeDeliveryPlan: Sendable, Hashable {
    /// One tenant's notice and what is still to be sent of it.
    public struct TenantNotice: Sendable, Hashable {
        public var tenant: Tenant
        /// Its instances in the wave, sorted.
        public var members: [String]
        /// `<wave.key.tenant@domain>`: stable per (wave, notice, tenant), so a re-send is recognisable.
        public var messageID: String
        /// The Message-ID of the tenant's notice this one replaces, when one was delivered.
        public var supersedes: String?
        /// Channels not yet delivered.
        public var pending: [NoticeDelivery.Channel]
    }

    public var wave: String
    public var window: Window
    public var members: [String]
    public var noticeKey: String
    /// Tenants of the wave's instances that have no Tenant document (nothing is sent then).
    public var tenantsWithoutContacts: [String]
    /// Tenants without a `webhook`, when only `--webhook` was asked for (nothing is sent then).
    public var tenantsWithoutWebhook: [String]
    /// Every tenant of the wave, in name order, with what remains to send (possibly nothing).
    public var notices: [TenantNotice]

    /// Whether everything may be sent: every tenant can be reached by what was asked for.
    public var isComplete: Bool { tenantsWithoutContacts.isEmpty && tenantsWithoutWebhook.isEmpty }
    public var pendingCount: Int { notices.reduce(0) { $0 + $1.pending.count } }

    public static func make(fleet: Fleet, wave: Wave, channels: Set<NoticeDelivery.Channel>, deliveries: [NoticeDelivery],
                            previous: NoticeRecord?, messageDomain: String) -> NoticeDeliveryPlan {
        var byTenant: [String: [String]] = [:]
        for instance in fleet.instances where instance.wave.value == wave.name {
            byTenant[instance.tenant, default: []].append(instance.name)
        }
        let members = byTenant.values.flatMap { $0 }.sorted()
        let key = NoticeDelivery.key(wave: wave.name, window: wave.window, members: members)
        let previousKey = previous.map { NoticeDelivery.key(wave: wave.name, window: $0.window, members: $0.members) }
        var missing: [String] = [], noWebhook: [String] = []
        var notices: [TenantNotice] = []
        let webhookOnly = channels == [.webhook]
        for name in byTenant.keys.sorted() {
            guard let tenant = fleet.tenant(named: name) else {
                missing.append(name)
                continue
            }
            if webhookOnly && tenant.webhook == nil { noWebhook.append(name) }
            let delivered = Set(deliveries.filter { $0.noticeKey == key && $0.tenant == name }.map(\.channel))
            var pending = NoticeDelivery.Channel.allCases.filter { channels.contains($0) && !delivered.contains($0) }
            if tenant.webhook == nil { pending.removeAll { $0 == .webhook } }
            let replaced: String? = if let previousKey, previousKey != key,
                deliveries.contains(where: { $0.noticeKey == previousKey && $0.tenant == name }) {
                messageID(wave: wave.name, key: previousKey, tenant: name, domain: messageDomain)
            } else { nil }
            notices.append(TenantNotice(tenant: tenant, members: byTenant[name]!.sorted(),
                                        messageID: messageID(wave: wave.name, key: key, tenant: name, domain: messageDomain),
                                        supersedes: replaced, pending: pending))
        }
        return NoticeDeliveryPlan(wave: wave.name, window: wave.window, members: members, noticeKey: key,
                                  tenantsWithoutContacts: missing, tenantsWithoutWebhook: noWebhook, notices: notices)
    }

    /// When the wave's notice counts as given: the latest first delivery, over every tenant, of
    /// this notice (by any channel). `nil` while some tenant has none: the lead time runs from
    /// the moment the last tenant was told.
    public func announcedAt(_ deliveries: [NoticeDelivery]) -> Timestamp? {
        var latest: Timestamp?
        for notice in notices {
            let times = deliveries.filter { $0.noticeKey == noticeKey && $0.tenant == notice.tenant.name }.map(\.deliveredAt)
            guard let first = times.min() else { return nil }
            latest = max(latest ?? first, first)
        }
        return latest
    }

    public static func messageID(wave: String, key: String, tenant: String, domain: String) -> String {
        "<\(wave).\(key).\(tenant)@\(domain)>"
    }
}
