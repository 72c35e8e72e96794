import Foundation
import SendpathTestSupport
import Logging
import SendpathCore
import SendpathPostgres
import Testing

@Suite("PostgreSQL configuration and failures")
struct PostgresConfigurationTests {
    static let secret = "hunter2-Sup3r-s3cret"

    @Test func parsesTheStateURL() throws {
        let configuration = try PostgresConfiguration(
            url: "postgresql://sendpath@db.example.com:6543/state?sslmode=verify-full&connect_timeout=3&schema=sp&pool_max=4",
            environment: [:])
        #expect(configuration.user == "sendpath")
        #expect(configuration.host == "db.example.com")
        #expect(configuration.port == 6543)
        #expect(configuration.database == "state")
        #expect(configuration.sslMode == .verifyFull)
        #expect(configuration.connectTimeout == .seconds(3))
        #expect(configuration.schema == "sp")
        #expect(configuration.maximumConnections == 4)
        #expect(configuration.passwordSource == .none)
        #expect(configuration.description == "postgres://sendpath@db.example.com:6543/state?sslmode=verify-full&schema=sp")

        let defaults = try PostgresConfiguration(url: "postgres://[::1]/", environment: ["USER": "ops"])
        #expect(defaults.user == "ops")
        #expect(defaults.host == "::1")
        #expect(defaults.endpoint == "[::1]:5432")
        #expect(defaults.database == "ops")
        #expect(defaults.sslMode == .prefer)
        #expect(defaults.connectTimeout == .seconds(10))
    }

    @Test(arguments: [
        ("sqlite:state.db", PostgresConfigurationError.Code.invalidURL),
        ("postgres://", .invalidURL),
        ("postgres://u@h/db/extra", .invalidURL),
        ("postgres://u@h/db?sslmode=allow", .unsupportedParameter),
        ("postgres://u@h/db?connect_timeout=0", .unsupportedParameter),
        ("postgres://u@h/db?schema=Robert%27);DROP", .unsupportedParameter),
        ("postgres://u@h/db?sslrootcert=/x.pem", .unsupportedParameter),
        ("postgres://u@h/db?application=x", .unsupportedParameter),
    ])
    func refusesBadURLs(url: String, code: PostgresConfigurationError.Code) {
        #expect(throws: PostgresConfigurationError.self) { try PostgresConfiguration(url: url, environment: [:]) }
        do {
            _ = try PostgresConfiguration(url: url, environment: [:])
        } catch let error as PostgresConfigurationError {
            #expect(error.code == code)
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test(arguments: [
        "postgres://sendpath:\(secret)@db:5432/state",
        "postgresql://sendpath:\(secret)@db/state?sslmode=require",
        "postgres://sendpath:\(secret)@@db/state",
        "postgres://:\(secret)@db/state",
        "postgres://sendpath@db/state?password=\(secret)",
        "postgres://sendpath:\(secret)@db:notaport/state",
    ])
    func aPasswordInTheURLIsRefusedAndNeverRepeated(url: String) {
        do {
            _ = try PostgresConfiguration(url: url, environment: [:])
            Issue.record("accepted a URL with a password")
        } catch let error as PostgresConfigurationError {
            #expect(error.code == .passwordInURL)
            #expect(error.message.contains("PGPASSWORD"))
            #expect(!"\(error)".contains(Self.secret))
            #expect(!String(reflecting: error).contains(Self.secret))
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func thePasswordComesFromTheEnvironmentAndNeverShows() throws {
        let configuration = try PostgresConfiguration(url: "postgres://sendpath@db/state", environment: ["PGPASSWORD": Self.secret])
        #expect(configuration.passwordSource == .environment)
        var dumped = ""
        dump(configuration, to: &dumped)
        for text in ["\(configuration)", String(reflecting: configuration), dumped, "\([configuration])"] {
            #expect(!text.contains(Self.secret), "\(text)")
        }
    }

    @Test func thePasswordFileIsReadLikeLibpq() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sendpath-pgpass-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let file = folder + "/pgpass"
        try """
            # comment
            other:5432:state:sendpath:wrong-host
            db:5433:state:sendpath:wrong-port
            db:*:state:sendpath:\(Self.secret)\\:with\\\\escapes
            *:*:*:*:fallback
            """.write(toFile: file, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: file)
        let configuration = try PostgresConfiguration(url: "postgres://sendpath@db/state", environment: ["PGPASSFILE": file])
        #expect(configuration.passwordSource == .passwordFile(path: file))
        #expect(!String(reflecting: configuration).contains(Self.secret))
        // PGPASSWORD wins over the file.
        #expect(try PostgresConfiguration(url: "postgres://sendpath@db/state", environment: ["PGPASSFILE": file, "PGPASSWORD": "x"])
            .passwordSource == .environment)
        // ~/.pgpass when PGPASSFILE is not set.
        try FileManager.default.copyItem(atPath: file, toPath: folder + "/.pgpass")
        #expect(try PostgresConfiguration(url: "postgres://sendpath@db/state", environment: ["HOME": folder])
            .passwordSource == .passwordFile(path: folder + "/.pgpass"))
        // A file others may read is ignored, with a warning.
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: file)
        let open = try PostgresConfiguration(url: "postgres://sendpath@db/state", environment: ["PGPASSFILE": file])
        #expect(open.passwordSource == .none)
        #expect(open.warnings.count == 1)
    }

    @Test func aServerThatIsDownIsUnavailablePromptly() async throws {
        let port = try TestPostgres.unusedPort()
        let configuration = try PostgresConfiguration(url: "postgres://sendpath@127.0.0.1:\(port)/state_db?connect_timeout=3",
                                                      environment: ["PGPASSWORD": Self.secret])
        let started = ContinuousClock.now
        do {
            try await PostgresStateStore.withStore(configuration, logger: .quiet) { store in
                _ = try await store.currentLease(scope: "reconciler")
            }
            Issue.record("reached a server that is down")
        } catch StateStoreError.unavailable(let message) {
            #expect(message.contains("127.0.0.1:\(port)"))
            #expect(message.contains("state_db"))
            #expect(message.lowercased().contains("refused"), "\(message)")
            #expect(!message.contains(Self.secret))
        }
        // A refused connection is not retried until some long default: well under the 60 s a
        // stuck connect would take (generous, so a loaded machine does not fail it).
        #expect(ContinuousClock.now - started < .seconds(30))
    }

    @Test func aServerThatGoesAwayIsUnavailablePromptly() async throws {
        // A cluster of its own: stopping the shared one would break the other tests.
        let (url, folder) = try await TestPostgres.startCluster()
        let configuration = try PostgresConfiguration(url: url + "?connect_timeout=2&operation_timeout=5", environment: ["PGPASSWORD": Self.secret])
        try await StoreRunner.withStores { runner in
            // The schema first, with the default timeouts: on a loaded machine a migration of a
            // new cluster can take longer than the 5 s under test.
            try await runner.store(try PostgresConfiguration(url: url, environment: ["PGPASSWORD": Self.secret])).migrate()
            let store = try await runner.store(configuration)
            _ = try await store.acquireLease(scope: "reconciler", holder: PostgresStateStoreTests.alice, ttl: .seconds(30),
                                             now: PostgresStateStoreTests.t0)
            try await TestPostgres.stopCluster(folder: folder)
            let started = ContinuousClock.now
            do {
                _ = try await store.currentLease(scope: "reconciler")
                Issue.record("read from a server that was stopped")
            } catch StateStoreError.unavailable(let message) {
                #expect(message.contains(configuration.endpoint))
                #expect(message.contains("postgres"))
                #expect(!message.contains(Self.secret))
            }
            #expect(ContinuousClock.now - started < .seconds(30))
        }
    }

    @Test func anOperationTheServerNeverAnswersIsUnavailableAfterTheOperationTimeout() async throws {
        // The schema is migrated first with the default timeout: migrations of the tests running
        // beside this one take turns on one advisory lock.
        let url = try await TestPostgres.freshURL()
        let configuration = try PostgresConfiguration(url: url + "&operation_timeout=2", environment: ["HOME": "/nonexistent"])
        let schema = try #require(configuration.schema)
        let base = try await TestPostgres.shared.url()
        try await StoreRunner.withStores { runner in
            try await runner.store(try PostgresConfiguration(url: url, environment: ["HOME": "/nonexistent"])).migrate()
            let store = try await runner.store(configuration)
            let lease = try await store.acquireLease(scope: "reconciler", holder: PostgresStateStoreTests.alice, ttl: .seconds(30),
                                                     now: PostgresStateStoreTests.t0)
            // Another session holds the lease row for 6 seconds: the renewal gets a connection
            // but no answer until then.
            let locker = try ChildProcess.start(["psql", base, "-q", "-c", """
                /* lease-row-locker */ BEGIN; SET search_path TO \(schema); SELECT 1 FROM lease WHERE scope = 'reconciler' FOR UPDATE; \
                SELECT pg_sleep(6); COMMIT;
                """])
            // Wait until the locker holds the row (it is sleeping, so its SELECT ... FOR UPDATE
            // has returned), however slowly psql starts beside the other tests.
            try await TestPostgres.waitUntilSleeping(marker: "lease-row-locker", url: base)
            let started = ContinuousClock.now
            do {
                _ = try await store.renewLease(lease, ttl: .seconds(30), now: PostgresStateStoreTests.t0 + .seconds(1))
                Issue.record("a renewal blocked by another session's lock was answered within two seconds")
            } catch StateStoreError.unavailable(let message) {
                #expect(message.contains("operation_timeout"), "\(message)")
                #expect(message.contains(configuration.endpoint))
            }
            #expect(ContinuousClock.now - started < .seconds(5))
            _ = locker.wait()
            // Once the lock is gone the store answers again.
            let renewed = try await store.renewLease(lease, ttl: .seconds(30), now: PostgresStateStoreTests.t0 + .seconds(5))
            #expect(renewed.token == lease.token)
        }
    }

    @Test func tlsIsUsedAsTheURLAsks() async throws {
        // A cluster of its own, to know where its self-signed certificate is.
        let (url, folder) = try await TestPostgres.startCluster()
        do {
            try await checkTLSModes(url: url, certificate: folder + "/server.crt")
        } catch {
            try await TestPostgres.stopCluster(folder: folder)
            throw error
        }
        try await TestPostgres.stopCluster(folder: folder)
    }

    func checkTLSModes(url: String, certificate: String) async throws {
        try #require(FileManager.default.fileExists(atPath: certificate), "the test cluster has no TLS (is openssl installed?)")
        for mode in ["disable", "prefer", "require", "verify-full&sslrootcert=\(certificate)"] {
            let configuration = try PostgresConfiguration(url: url + "?sslmode=\(mode)&connect_timeout=3", environment: [:])
            let lease = try await PostgresStateStore.withStore(configuration, logger: .quiet) { store in
                try await store.acquireLease(scope: "group:\(mode.prefix(7))", holder: PostgresStateStoreTests.alice,
                                             ttl: .seconds(30), now: PostgresStateStoreTests.t0)
            }
            #expect(lease.holder == PostgresStateStoreTests.alice, "sslmode=\(mode)")
        }
        // verify-full checks the certificate: a self-signed one without its root is refused.
        let strict = try PostgresConfiguration(url: url + "?sslmode=verify-full&connect_timeout=2", environment: [:])
        do {
            try await PostgresStateStore.withStore(strict, logger: .quiet) { _ in }
            Issue.record("verify-full accepted an untrusted certificate")
        } catch StateStoreError.unavailable(let message) {
            #expect(message.contains(strict.endpoint), "\(message)")
        }
    }
}
