import SendpathCore
import SendpathTestSupport
import Testing

@Suite("In-memory state store")
struct InMemoryStateStoreTests {
    @Test func honoursTheStateStoreContract() async throws {
        try await StateStoreContract { InMemoryStateStore() }.runAll()
    }

    @Test func aFollowerReadsOnlyWhatIsNew() async throws {
        let store = InMemoryStateStore()
        try await JournalFollowerContract { store }.runAll()
    }
}
