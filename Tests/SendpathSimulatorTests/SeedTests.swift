import Foundation
import SendpathTestSupport
import Testing
import SendpathCore
import SendpathSimulator

@Suite("Seeding the fleet")
struct SeedTests {
    @Test func seedsEveryInstanceWhereItRunsTodayAndOnlyOnce() async throws {
        let fixture = try SimulatorFixture()
        defer { fixture.remove() }
        let simulator = try fixture.simulator()

        #expect(try await simulator.seed(from: fixture.fleet) == 3)
        #expect(try await simulator.seed(from: fixture.fleet) == 0)

        let observed = try await simulator.observeInstances(["acme-prod1", "beta-dc", "nobody"], step: nil)
        #expect(observed.keys.sorted() == ["acme-prod1", "beta-dc"])
        let acme = try #require(observed["acme-prod1"])
        #expect(acme.path == SimulatorFixture.dc1)
        #expect(acme.sendingIPs == [IPAddress("198.51.100.10")!])
        #expect(acme.build == "7.3.5 build 9368")
        #expect(!acme.frozen)
        #expect((5...24).contains(acme.queueDepth))
        #expect(acme.preparedTarget == nil)
        #expect(observed["beta-dc"]?.path == SimulatorFixture.lon5)

        let prefixes = try await simulator.observePrefixes([SimulatorFixture.prefixA, SimulatorFixture.prefixB])
        #expect(prefixes[SimulatorFixture.prefixA]?.advertisedFrom == [SimulatorFixture.dc1])
        #expect(prefixes[SimulatorFixture.prefixB]?.advertisedFrom == [SimulatorFixture.lon5])

        let report = try await simulator.check()
        #expect(report.ok)
        #expect(report.instances == 3)
        #expect(report.messages.enqueued == report.messages.queued)
        #expect(report.mutatingOperations == 0)
    }

    /// A whole fleet's observation (more names than one query's chunk) reads the table once and
    /// answers exactly the names asked for, however they come; `knowsAll` merges sorted names.
    @Test func aWholeFleetObservationAnswersExactlyTheNamesAskedFor() async throws {
        let fixture = try SimulatorFixture()
        defer { fixture.remove() }
        let simulator = try fixture.simulator()
        #expect(try await !simulator.knowsAll(of: fixture.fleet))
        #expect(try await simulator.seed(from: fixture.fleet) == 3)
        #expect(try await simulator.knowsAll(of: fixture.fleet))

        let unknown = (0..<600).map { "nobody-\($0)" }
        let sorted = (unknown + ["acme-prod1", "beta-dc"]).sorted()
        let observed = try await simulator.observeInstances(sorted, step: nil)
        #expect(observed.keys.sorted() == ["acme-prod1", "beta-dc"])
        let shuffled = try await simulator.observeInstances(["beta-dc"] + unknown + ["acme-prod1", "beta-dc"], step: nil)
        #expect(shuffled.keys.sorted() == ["acme-prod1", "beta-dc"])
        #expect(shuffled["acme-prod1"]?.sendingIPs == [IPAddress("198.51.100.10")!])
        // Every instance the file holds, and only those: nothing filtered away, nothing added.
        let all = fixture.fleet.instances.map(\.name)
        let everything = try await simulator.observeInstances(all + (0..<600).map { "zz-\($0)" }, step: nil)
        #expect(everything.keys.sorted() == all.sorted())
    }

    @Test func theSameFleetGivesTheSameQueueInEveryFile() async throws {
        var answers: [[QueueSnapshot]] = []
        for _ in 0..<2 {
            let fixture = try SimulatorFixture()
            defer { fixture.remove() }
            let simulator = try await fixture.seeded()
            try await simulator.freeze(SimulatorFixture.group, context: SimulatorFixture.context("f", .freeze))
            answers.append(try await simulator.snapshotQueue(SimulatorFixture.group, context: SimulatorFixture.context("s", .snapshotQueue)))
        }
        #expect(answers[0] == answers[1])
        for snapshot in answers[0] {
            #expect((5...24).contains(snapshot.messageCount))
            // The oldest message had waited 120 hours when the queue was taken: older than the 84h limit.
            #expect(snapshot.oldestEnqueuedAt == SimulatorFixture.start - .seconds(120 * 3600))
        }
    }

    @Test func reseedingKeepsWhatTheFleetDidSinceTheFirstSeed() async throws {
        let fixture = try SimulatorFixture()
        defer { fixture.remove() }
        let simulator = try await fixture.seeded()
        try await simulator.freeze(["beta-dc"], context: SimulatorFixture.context("f", .freeze))

        let reopened = try fixture.simulator()
        #expect(try await reopened.seed(from: fixture.fleet) == 0)
        #expect(try await reopened.observeInstances(["beta-dc"], step: nil)["beta-dc"]?.frozen == true)
    }

    @Test func anotherOpenerOfTheFileSeesEveryCommittedCall() async throws {
        let fixture = try SimulatorFixture()
        defer { fixture.remove() }
        let writer = try await fixture.seeded()
        let reader = try fixture.simulator()
        try await writer.freeze(["beta-dc"], context: SimulatorFixture.context("f", .freeze))
        let report = try await reader.check()
        #expect(report.frozen == ["beta-dc"])
        #expect(report.mutatingOperations == 1)
    }

    @Test func simulatorsOpeningANewFileAtOnceAllSucceed() async throws {
        // Two reconcilers started together on a new fleet file: each may lose the race for
        // creating the file, switching it to WAL, or any of the migrations.
        for _ in 0..<20 {
            let fixture = try SimulatorFixture()
            defer { fixture.remove() }
            let simulators = try SimultaneousStart.run(count: 6) { try fixture.simulator() }
            #expect(try await simulators[0].check().mutatingOperations == 0)
            _ = try await simulators[0].seed(from: fixture.fleet)
            try await simulators[1].freeze(["beta-dc"], context: SimulatorFixture.context("f", .freeze))
            #expect(try await simulators[5].check().frozen == ["beta-dc"])
        }
    }

    @Test func theFileIsPrivateToItsOwner() async throws {
        let fixture = try SimulatorFixture()
        defer { fixture.remove() }
        let simulator = try await fixture.seeded()
        // While the file is open, SQLite's WAL companions exist too and get the same mode.
        for file in [fixture.path, fixture.path + "-wal", fixture.path + "-shm"] {
            let attributes = try FileManager.default.attributesOfItem(atPath: file)
            #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600, "\(file)")
        }
        withExtendedLifetime(simulator) {}
    }
}
