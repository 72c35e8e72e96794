import Logging
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
        #expect(try await reconciler.claimSlot(wave, for: "g3", like: keeper) == nil)
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
        #expect(try await theirs.claimSlot(wave, for: "pfx-b", like: theirKeeper) == nil)
        await slot.release()
        #expect(try await theirs.claimSlot(wave, for: "pfx-b", like: theirKeeper) != nil)
    }

    @Test func aSlotLeftByADeadProcessOnThisHostIsBroken() async throws {
        let fixture = try await EngineFixture(sharesWork: true)
        defer { fixture.remove() }
        let wave = try #require(fixture.fleet.wave(named: "w1"))  // maxParallel 1
        // A reconciler on this host died holding the only slot.
        let dead = LeaseHolder(id: "test-host/99/x/pfx-a", host: "test-host", pid: 99, command: "sendpath reconcile")
        _ = try await fixture.store.acquireLease(scope: "wave:w1#0", holder: dead, ttl: .seconds(3600), now: fixture.clock.now())
        let keeper = LeaseKeeper(store: fixture.store, holder: LeaseHolder(id: "test-host/7/y", host: "test-host", pid: 7, command: "test"),
                                 ttl: .seconds(30), clock: fixture.clock, isAlive: { $0.pid != 99 }, logger: Logger(label: "test"))
        let slot = try #require(try await keeper.claimAny(of: ["wave:\(wave.name)#0"], for: "pfx-b"))
        #expect(await fixture.store.currentLease(scope: "wave:w1#0")?.holder == slot.holder)
        // A live holder elsewhere is left alone.
        let other = LeaseKeeper(store: fixture.store, holder: LeaseHolder(id: "other-host/5/z", host: "other-host", pid: 5, command: "test"),
                                ttl: .seconds(30), clock: fixture.clock, isAlive: { _ in false }, logger: Logger(label: "test"))
        #expect(try await other.claimAny(of: ["wave:w1#0"], for: "pfx-c") == nil)
    }
}
