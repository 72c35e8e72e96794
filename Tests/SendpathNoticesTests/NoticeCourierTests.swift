import Foundation
import Testing
@testable import SendpathCore
@testable import SendpathNotices

/// The courier against the in-memory store and recording transports: one notice per tenant,
/// nothing sent twice, a superseding notice when the window changes.
@Suite("Notice courier")
struct NoticeCourierTests {
    static let from = EmailAddress("notices@sendpath.example")!
    static let t0 = Timestamp(rfc3339: "2024-01-10T09:00:00Z")!

    @Test func everyTenantGetsOneNoticeAndARerunSendsNothing() async throws {
        let fleet = try NoticeFixture.fleet()
        let store = InMemoryStateStore()
        let email = RecordingTransport(.email), webhook = RecordingTransport(.webhook)
        let courier = NoticeCourier(fleet: fleet, store: store, transports: [email, webhook], from: Self.from)
        let wave = try #require(fleet.wave(named: "wave-a"))
        let plan = try await courier.plan(wave: wave)
        #expect(plan.isComplete)
        #expect(plan.notices.map(\.tenant.name) == ["acme", "beta"])
        #expect(plan.notices.map(\.members) == [["acme-prod1"], ["beta-prod1"]])
        // acme has no webhook: email only.
        #expect(plan.notices.map(\.pending) == [[.email], [.email, .webhook]])
        let (outcomes, announced) = try await courier.deliver(plan, wave: wave, expectedDuration: .seconds(1800), now: { Self.t0 })
        #expect(outcomes.map(\.state) == [.delivered, .delivered, .delivered])
        #expect(announced == Self.t0)
        let sent = await email.sent
        #expect(sent.map(\.tenant) == ["acme", "beta"])
        #expect(sent[0].message.to.map(\.value) == ["ops@acme.example", "oncall@acme.example"])
        #expect(await webhook.sent.map(\.tenant) == ["beta"])

        let again = try await courier.plan(wave: wave)
        #expect(again.pendingCount == 0)
        let (repeats, stillAnnounced) = try await courier.deliver(again, wave: wave, expectedDuration: .seconds(1800), now: { Self.t0 + .seconds(60) })
        #expect(repeats.map(\.state) == [.alreadyDelivered, .alreadyDelivered, .alreadyDelivered])
        #expect(stillAnnounced == Self.t0, "the notice counts from its first delivery")
        #expect(await email.sent.count == 2)
        #expect(plan.notices.map(\.messageID) == again.notices.map(\.messageID), "stable per (wave, notice, tenant)")
    }

    @Test func aTenantWithoutATenantDocumentStopsEverything() async throws {
        let fleet = try NoticeFixture.fleet(tenants: """
            ---
            apiVersion: sendpath/v1
            kind: Tenant
            metadata: {name: acme}
            spec: {contacts: [ops@acme.example]}

            """)
        let courier = NoticeCourier(fleet: fleet, store: InMemoryStateStore(), transports: [RecordingTransport(.email)], from: Self.from)
        let plan = try await courier.plan(wave: try #require(fleet.wave(named: "wave-a")))
        #expect(!plan.isComplete)
        #expect(plan.tenantsWithoutContacts == ["beta"])
    }

    @Test func webhookOnlyNeedsAWebhookForEveryTenant() async throws {
        let fleet = try NoticeFixture.fleet()
        let courier = NoticeCourier(fleet: fleet, store: InMemoryStateStore(), transports: [RecordingTransport(.webhook)], from: Self.from)
        let plan = try await courier.plan(wave: try #require(fleet.wave(named: "wave-a")))
        #expect(plan.tenantsWithoutWebhook == ["acme"])
    }

    @Test func aFailedTenantIsRetriedAloneAndTheNoticeCountsFromTheLastDelivery() async throws {
        let fleet = try NoticeFixture.fleet()
        let store = InMemoryStateStore()
        let email = RecordingTransport(.email, failing: ["beta"])
        let courier = NoticeCourier(fleet: fleet, store: store, transports: [email], from: Self.from)
        let wave = try #require(fleet.wave(named: "wave-a"))
        let (first, announced) = try await courier.deliver(try await courier.plan(wave: wave), wave: wave,
                                                           expectedDuration: .seconds(600), now: { Self.t0 })
        #expect(first.map(\.state) == [.delivered, .failed])
        #expect(announced == nil, "not every tenant was told")
        await email.setFailing([])
        let later = Self.t0 + .seconds(3600)
        let retry = try await courier.plan(wave: wave)
        #expect(retry.notices.map(\.pending) == [[], [.email]])
        let (second, announcedLater) = try await courier.deliver(retry, wave: wave, expectedDuration: .seconds(600), now: { later })
        #expect(second.map(\.state) == [.alreadyDelivered, .delivered])
        #expect(announcedLater == later)
        #expect(await email.sent.map(\.tenant) == ["acme", "beta"])
    }

    @Test func aChangedWindowSendsASupersedingNoticeThatNamesTheOldOne() async throws {
        let store = InMemoryStateStore()
        let email = RecordingTransport(.email)
        let before = try NoticeFixture.fleet()
        let first = NoticeCourier(fleet: before, store: store, transports: [email], from: Self.from)
        let oldWave = try #require(before.wave(named: "wave-a"))
        let oldPlan = try await first.plan(wave: oldWave)
        _ = try await first.deliver(oldPlan, wave: oldWave, expectedDuration: .seconds(600), now: { Self.t0 })
        let members = ["acme-prod1", "beta-prod1"]
        await store.recordNotice(NoticeRecord(wave: "wave-a", sentAt: Self.t0, window: oldWave.window, members: members,
                                                  expectedDuration: .seconds(600), source: .recorded, recordedAt: Self.t0))

        let after = try NoticeFixture.fleet(window: ("2024-03-09T20:00:00Z", "2024-03-10T04:00:00Z"))
        let second = NoticeCourier(fleet: after, store: store, transports: [email], from: Self.from)
        let newWave = try #require(after.wave(named: "wave-a"))
        let plan = try await second.plan(wave: newWave)
        #expect(plan.noticeKey != oldPlan.noticeKey)
        #expect(plan.notices.map(\.supersedes) == oldPlan.notices.map { Optional($0.messageID) })
        let (outcomes, announced) = try await second.deliver(plan, wave: newWave, expectedDuration: .seconds(600),
                                                             now: { Self.t0 + .seconds(86_400) })
        #expect(outcomes.map(\.state) == [.delivered, .delivered])
        #expect(announced == Self.t0 + .seconds(86_400), "the superseding notice restarts the lead time")
        let last = try #require(await email.sent.last?.message)
        #expect(last.subject.hasPrefix("Updated: "))
        #expect(last.rfc5322(newline: "\r\n").contains("\r\nSupersedes: \(oldPlan.notices[1].messageID)\r\n"))
    }
}
