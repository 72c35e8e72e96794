import Foundation
import SendpathTestSupport
import Logging
import SendpathCore
import SendpathPostgres
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The PostgreSQL server the tests use: `SENDPATH_TEST_POSTGRES_URL` when set (the Makefile starts
/// one cluster for the whole run), otherwise a throwaway cluster started once per test process
/// with `scripts/postgres-test-cluster.sh` and stopped when the process exits.
///
/// Every store gets a schema of its own (`?schema=t_<random>`), so tests run in parallel on one
/// server without seeing each other's rows or migrations.
enum TestPostgres {
    /// The shared server, started on first use (once).
    static let shared = SharedServer()

    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("scripts/postgres-test-cluster.sh").path

    /// A URL for a fresh, empty schema on the test server.
    static func freshURL(extra: String = "") async throws -> String {
        let base = try await shared.url()
        let schema = "t_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(20)
        return base + (base.contains("?") ? "&" : "?") + "schema=\(schema)&connect_timeout=5" + extra
    }

    /// A configuration for a fresh schema (no password anywhere: the test cluster trusts loopback).
    /// Leases follow the database's clock, as in production, unless `leaseClock` says `.caller`
    /// (tests that drive leases with synthetic instants).
    static func freshConfiguration(extra: String = "", leaseClock: PostgresConfiguration.LeaseClock = .database) async throws
        -> PostgresConfiguration {
        var configuration = try PostgresConfiguration(url: try await freshURL(extra: extra), environment: ["HOME": "/nonexistent"])
        configuration.leaseClock = leaseClock
        return configuration
    }

    /// Runs SQL with psql in the schema of `configuration`, one `-c` per command, in one session;
    /// returns what it printed (unaligned, tuples only). Fails when psql does.
    @discardableResult
    static func psql(_ configuration: PostgresConfiguration, _ commands: [String]) async throws -> String {
        let (arguments, environment) = psqlCommand(configuration, commands, stopOnError: true)
        return try await offThePool {
            let result = try ChildProcess.run(arguments, environment: environment)
            guard result.status == 0 else {
                throw TestClusterError("psql failed (\(result.status)): " + result.stderr)
            }
            return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }

    /// A psql session running `commands` in the background (say, holding a lock while it sleeps);
    /// end it with ``cancel(marker:_:)`` on its sleep, then ``finish(_:)``.
    static func startPsql(_ configuration: PostgresConfiguration, _ commands: [String]) throws -> BackgroundPsql {
        let (arguments, environment) = psqlCommand(configuration, commands, stopOnError: false)
        return BackgroundPsql(process: try ChildProcess.start(arguments, environment: environment))
    }

    /// Waits for a background psql session to exit; returns what it printed.
    static func finish(_ session: BackgroundPsql) async throws -> String {
        try await offThePool {
            let result = session.process.wait()
            return result.stdout + result.stderr
        }
    }

    /// Polls (every 20 ms, up to 60 s) until `query`, run by psql, prints `t`.
    static func waitUntil(_ configuration: PostgresConfiguration, _ what: String, _ query: String) async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            if try await psql(configuration, [query]) == "t" { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TestClusterError("timed out after 60 s waiting until \(what)")
    }

    /// The backend pid of the session whose current query carries `marker`, as SQL.
    static func pidOf(marker: String) -> String {
        "(SELECT pid FROM pg_stat_activity WHERE query LIKE '%\(marker)%' AND pid <> pg_backend_pid() "
            + "AND query NOT LIKE '%pg_stat_activity%' LIMIT 1)"
    }

    private static func psqlCommand(_ configuration: PostgresConfiguration, _ commands: [String],
                                    stopOnError: Bool) -> (arguments: [String], environment: [String: String]) {
        let url = "postgresql://\(configuration.user)@\(configuration.host):\(configuration.port)/\(configuration.database)"
        var environment = ["PGCONNECT_TIMEOUT": "10"]
        if let schema = configuration.schema { environment["PGOPTIONS"] = "-c search_path=\(schema)" }
        return (["psql", url, "-X", "-tAq", "-v", "ON_ERROR_STOP=\(stopOnError ? 1 : 0)"] + commands.flatMap { ["-c", $0] }, environment)
    }

    /// Starts a cluster of its own in a new temporary folder; returns its URL and the folder
    /// (which holds its TLS certificate, `server.crt`). The script runs off the cooperative pool.
    static func startCluster() async throws -> (url: String, folder: String) {
        try await offThePool {
            let folder = try makeClusterFolder()
            let url = try runScript("start", folder)
            startedClusters.withLock { $0.append(folder) }
            // Stopped when the test process exits, whichever way the tests went.
            if !atExitRegistered.exchange(true, ordering: .relaxed) {
                atexit { TestPostgres.stopStartedClusters() }
            }
            return (url, folder)
        }
    }

    /// Stops a cluster started by ``startCluster()`` now.
    static func stopCluster(folder: String) async throws {
        try await offThePool {
            _ = try runScript("stop", folder)
            startedClusters.withLock { $0.removeAll { $0 == folder } }
            try? FileManager.default.removeItem(atPath: folder)
        }
    }

    /// Waits (up to 60 s) until a session whose query carries `marker` is inside `pg_sleep`:
    /// whatever that session's statements did before the sleep has then happened.
    static func waitUntilSleeping(marker: String, url: String) async throws {
        let query = "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep' AND query LIKE '%\(marker)%'"
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            let sleeping = try await offThePool {
                try ChildProcess.run(["psql", url, "-tAq", "-c", query]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            }
            if let count = Int(sleeping), count > 0 { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw TestClusterError("no session marked '\(marker)' reached pg_sleep within 60 s")
    }

    /// Runs blocking work (a child process) on a dispatch queue, not on a Swift concurrency thread.
    static func offThePool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(with: Result { try work() }) }
        }
    }

    static let startedClusters = Mutex<[String]>([])
    static let atExitRegistered = Atomic<Bool>(false)

    static func stopStartedClusters() {
        for folder in startedClusters.withLock({ $0 }) {
            _ = try? runScript("stop", folder)
            try? FileManager.default.removeItem(atPath: folder)
        }
    }

    private static func makeClusterFolder() throws -> String {
        var template = Array((NSTemporaryDirectory() + "/sendpath-pg-XXXXXX").utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw TestClusterError("cannot create a temporary folder for the test cluster")
        }
        return String(cString: made)
    }

    @discardableResult
    private static func runScript(_ command: String, _ folder: String) throws -> String {
        // The script's watcher stops the cluster should this process die without running atexit.
        let result = try ChildProcess.run(["/bin/bash", script, command, folder],
                                          environment: ["POSTGRES_TEST_CLUSTER_OWNER": String(getpid())])
        guard result.status == 0 else {
            throw TestClusterError("\(script) \(command) \(folder) failed (\(result.status)): " + result.stderr)
        }
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// A loopback port nothing listens on (bound, then released).
    static func unusedPort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestClusterError("socket() failed") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard bound else { throw TestClusterError("bind() failed") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

/// The server all tests share: `SENDPATH_TEST_POSTGRES_URL`, or a cluster started once.
actor SharedServer {
    private var starting: Task<String, any Error>?

    func url() async throws -> String {
        if let url = ProcessInfo.processInfo.environment["SENDPATH_TEST_POSTGRES_URL"], !url.isEmpty { return url }
        if starting == nil { starting = Task { try await TestPostgres.startCluster().url } }
        return try await starting!.value
    }
}

/// A psql session running in the background.
struct BackgroundPsql: Sendable {
    let process: ChildProcess
}

/// Why the test server is not there.
struct TestClusterError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Runs the pools of the stores it makes until the enclosing ``withStores(_:)`` ends.
final class StoreRunner: Sendable {
    private let stream: AsyncStream<PostgresStateStore>
    private let continuation: AsyncStream<PostgresStateStore>.Continuation

    init() {
        (stream, continuation) = AsyncStream.makeStream(of: PostgresStateStore.self)
    }

    /// A store on `configuration` (a fresh schema, leases on `leaseClock`, by default), its pool running.
    func store(_ configuration: PostgresConfiguration? = nil, leaseClock: PostgresConfiguration.LeaseClock = .database) async throws
        -> PostgresStateStore {
        let configuration = if let configuration { configuration } else { try await TestPostgres.freshConfiguration(leaseClock: leaseClock) }
        let store = try PostgresStateStore(configuration: configuration, logger: .quiet)
        continuation.yield(store)
        return store
    }

    func runPools() async {
        await withDiscardingTaskGroup { group in
            for await store in stream {
                group.addTask { try? await store.run() }
            }
        }
    }

    func finish() { continuation.finish() }

    /// Calls `body` with a runner; every store it made is shut down when `body` ends.
    static func withStores<T: Sendable>(_ body: (StoreRunner) async throws -> T) async throws -> T {
        let runner = StoreRunner()
        return try await withThrowingTaskGroup(of: Void.self, returning: T.self) { group in
            group.addTask { await runner.runPools() }
            defer {
                runner.finish()
                group.cancelAll()
            }
            return try await body(runner)
        }
    }
}

extension Logger {
    static let quiet = Logger(label: "sendpath.tests.postgres", factory: { _ in SwiftLogNoOpLogHandler() })
}
