import Testing
@testable import SendpathController
import SendpathCore

/// Each wave's `maxParallel` is shared between reconcilers through slot leases; the groups of
/// one reconciler must each hold a slot of their own.
@Suite("Wave slots across reconcilers")
struct WaveSlotTests {
    @Test func eachGroupOfOneReconcilerHoldsADistinctSlot() async throws {
        let fixture = try await EngineFixture(sharesWork: true)
        defer { fixture.remove() }
        let reconciler = fixture.reconciler()
        let keeper = try #require(reconciler.lease)
        let wave = try #require(fixture.fleet.wave(named: "w2"))  // maxParallel 2
        let first = try #require(await reconciler.claimSlot(wave, for: "g1", like: keeper))
        let second = try #require(await reconciler.claimSlot(wave, for: "g2", like: keeper))
        let (firstScope, secondScope) = (await first.scope, await second.scope)
        #expect(firstScope != secondScope)
        // Both slots are taken, by this reconciler: a third group waits.
        #expect(await reconciler.claimSlot(wave, for: "g3", like: keeper) == nil)
        // One group ends and lets its slot go; the other still holds its own.
        await first.release()
        let third = try #require(await reconciler.claimSlot(wave, for: "g3", like: keeper))
        #expect(await third.scope == firstScope)
        try await second.renew()
        let secondHolder = await second.holder
        #expect(await fixture.store.currentLease(scope: secondScope)?.holder == secondHolder)
    }

    @Test func anotherReconcilerFindsTheSlotsTaken() async throws {
        let fixture = try await EngineFixture(sharesWork: true)
        defer { fixture.remove() }
        let wave = try #require(fixture.fleet.wave(named: "w1"))  // maxParallel 1
        let mine = fixture.reconciler()
        let theirs = fixture.reconciler(holder: LeaseHolder(id: "other", host: "other-host", pid: 2, command: "test"))
        let (myKeeper, theirKeeper) = (try #require(mine.lease), try #require(theirs.lease))
        let slot = try #require(await mine.claimSlot(wave, for: "pfx-a", like: myKeeper))
        #expect(await theirs.claimSlot(wave, for: "pfx-b", like: theirKeeper) == nil)
        await slot.release()
        #expect(await theirs.claimSlot(wave, for: "pfx-b", like: theirKeeper) != nil)
    }
}
