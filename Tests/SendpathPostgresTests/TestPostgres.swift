import Foundation
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
        let process = psqlProcess(configuration, commands, stopOnError: true)
        return try await offThePool {
            let output = Pipe()
            let errors = Pipe()
            process.standardOutput = output
            process.standardError = errors
            try process.run()
            let out = output.fileHandleForReading.readDataToEndOfFile()
            let err = errors.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else {
                throw TestClusterError("psql failed (\(process.terminationStatus)): " + String(decoding: err, as: UTF8.self))
            }
            return String(decoding: out, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }

    /// A psql session running `commands` in the background (say, holding a lock while it sleeps);
    /// end it with ``cancel(marker:_:)`` on its sleep, then ``finish(_:)``.
    static func startPsql(_ configuration: PostgresConfiguration, _ commands: [String]) throws -> BackgroundPsql {
        let process = psqlProcess(configuration, commands, stopOnError: false)
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        return BackgroundPsql(process: process, output: output)
    }

    /// Waits for a background psql session to exit; returns what it printed.
    static func finish(_ session: BackgroundPsql) async throws -> String {
        try await offThePool {
            let out = session.output.fileHandleForReading.readDataToEndOfFile()
            session.process.waitUntilExit()
            return String(decoding: out, as: UTF8.self)
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

    private static func psqlProcess(_ configuration: PostgresConfiguration, _ commands: [String], stopOnError: Bool) -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        let url = "postgresql://\(configuration.user)@\(configuration.host):\(configuration.port)/\(configuration.database)"
        process.arguments = ["psql", url, "-X", "-tAq", "-v", "ON_ERROR_STOP=\(stopOnError ? 1 : 0)"] + commands.flatMap { ["-c", $0] }
        var environment = ProcessInfo.processInfo.environment
        if let schema = configuration.schema { environment["PGOPTIONS"] = "-c search_path=\(schema)" }
        environment["PGCONNECT_TIMEOUT"] = "10"
        process.environment = environment
        return process
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
                let process = Process()
                process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
                process.arguments = ["psql", url, "-tAq", "-c", query]
                let output = Pipe()
                process.standardOutput = output
                try process.run()
                let data = output.fileHandleForReading.readDataToEndOfFile()
                process.waitUntilExit()
                return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
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
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [script, command, folder]
        // The script's watcher stops the cluster should this process die without running atexit.
        var environment = ProcessInfo.processInfo.environment
        environment["POSTGRES_TEST_CLUSTER_OWNER"] = String(getpid())
        process.environment = environment
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let out = output.fileHandleForReading.readDataToEndOfFile()
        let err = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw TestClusterError("\(script) \(command) \(folder) failed (\(process.terminationStatus)): "
                                   + String(decoding: err, as: UTF8.self))
        }
        return String(decoding: out, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
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
struct BackgroundPsql: @unchecked Sendable {
    let process: Process
    let output: Pipe
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
