import ArgumentParser
import Foundation
import Logging
import SendpathController
import SendpathHTTP
import SendpathPostgres
import SendpathCore
import SendpathPostfixBGP
import SendpathSimulator
import SendpathSQLite
import SendpathYAML

/// Options shared by the commands that talk to the state store and the provider.
struct RuntimeOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The state store: sqlite:PATH or postgres://USER@HOST:PORT/DB (password from PGPASSWORD).", valueName: "url"))
    var state: String = RuntimeOptions.defaultState

    @Option(help: ArgumentHelp("The provider: sim:PATH[?latency=50ms&faults=FILE], http(s)://HOST[:PORT] (token from SENDPATH_PROVIDER_TOKEN) or postfix-bgp:CONFIG.", valueName: "url"))
    var provider: String = RuntimeOptions.defaultProvider

    @Option(name: .customLong("instance"), help: ArgumentHelp("Act only on this instance's cut-over group (repeatable).", valueName: "name"))
    var instances: [String] = []

    @Option(name: .customLong("wave"), help: ArgumentHelp("Act only on this wave (repeatable).", valueName: "name"))
    var waves: [String] = []

    @Flag(help: "Print each step as it starts and ends, even when the output is not a terminal; log at info level.")
    var verbose = false

    @Option(help: ArgumentHelp("Log level: trace, debug, info, notice, warning, error, critical.", valueName: "level"))
    var logLevel: String?

    @Option(help: ArgumentHelp("Log format on stderr: human, or json (one object per line, for log shippers).", valueName: "format"))
    var logFormat: String = "human"

    @Option(help: ArgumentHelp("How long a lease lasts without renewal (renewed every third of it).", valueName: "duration"))
    var leaseTTL: String = "30s"

    func validate() throws {
        if case .postgres(let url) = try StateLocation(state) {
            do {
                _ = try PostgresConfiguration(url: url)
            } catch {
                throw ValidationError("--state: \(error)")
            }
        }
        _ = try FlagValues.duration(leaseTTL, flag: "--lease-ttl", in: FlagValues.leaseTTL, example: "30s")
        _ = try ProviderLocation(provider)
        if let logLevel, Logger.Level(rawValue: logLevel) == nil { throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical") }
        guard LogSetup.Format(rawValue: logFormat) != nil else { throw ValidationError("--log-format must be human or json") }
    }

    /// The command's logger. One-shot commands log warnings and worse unless asked
    /// (`--verbose`, `--log-level`); a long-running service passes `.info`, so that what it
    /// does shows in its logs by default.
    func logger(_ label: String, defaultLevel: Logger.Level = .warning) -> Logger {
        LogSetup.bootstrap(LogSetup.Format(rawValue: logFormat) ?? .human)
        var logger = Logger(label: label)
        logger.logLevel = logLevel.flatMap(Logger.Level.init(rawValue:)) ?? (verbose ? min(.info, defaultLevel) : defaultLevel)
        return logger
    }

    /// ``scope(in:)``; a name that matches nothing is a usage error (exit 64) which, with a
    /// `json` context, is also printed as a ``StoppedReport`` with outcome `usage`.
    func scope(in fleet: Fleet, json: StoppedReport.Context?) throws -> Set<String>? {
        do {
            return try scope(in: fleet)
        } catch let error as ValidationError {
            StoppedReport.print(.usage, json, error: error.message)
            throw error
        }
    }

    /// The groups selected by `--instance` and `--wave` (all when neither is given).
    func scope(in fleet: Fleet) throws -> Set<String>? {
        if instances.isEmpty && waves.isEmpty { return nil }
        var selected = Set(fleet.groups.map(\.id))
        if !instances.isEmpty {
            var byInstance = Set<String>()
            for name in instances {
                guard let group = fleet.group(of: name) else {
                    throw ValidationError("no instance named '\(Escaped.value(name))' in the manifests")
                }
                byInstance.insert(group.id)
            }
            selected.formIntersection(byInstance)
        }
        if !waves.isEmpty {
            for name in waves where fleet.wave(named: name) == nil {
                throw ValidationError("no wave named '\(Escaped.value(name))' in the manifests")
            }
            selected.formIntersection(fleet.groups.filter { waves.contains($0.wave) }.map(\.id))
        }
        return selected
    }

    var leaseDuration: Duration { ManifestDuration.parse(leaseTTL) ?? .seconds(30) }

    static let defaultState = "sqlite:.sendpath/state.db"
    static let defaultProvider = "sim:.sendpath/fleet.db"

    /// Runs `body` with the state store open; a PostgreSQL pool runs only for its duration.
    ///
    /// With `create: false` (a dry run, `status`: commands that only read) an SQLite file is
    /// never created, nor its folders: a path given with `--state` must exist; at the default
    /// path, a missing file means nothing was journalled yet, and an empty journal is used in
    /// memory.
    func withStore<T: Sendable>(logger: Logger, create: Bool = true,
                                _ body: @Sendable (any StateStore) async throws -> T) async throws -> T {
        switch try StateLocation(state) {
        case .sqlite(let path):
            if !create && state == Self.defaultState && !FileManager.default.fileExists(atPath: path) {
                return try await body(InMemoryStateStore())
            }
            return try await body(try SQLiteStateStore(path: path, logger: logger, create: create))
        case .postgres(let url):
            return try await PostgresStateStore.withStore(try PostgresConfiguration(url: url), logger: logger) { store in
                try await body(store)
            }
        }
    }

    /// Opens the provider; a simulator is seeded with the fleet's unknown instances first.
    /// The caller must `close()` it on every path (the HTTP client holds connections).
    ///
    /// With `create: false`, a `sim:` file named with `--provider` must exist (the default
    /// simulator is the stand-in fleet, seeded from the manifests as for an apply).
    func openProvider(fleet: Fleet, clock: any WallClock, logger: Logger, create: Bool = true) async throws -> OpenedProvider {
        let location = try ProviderLocation(provider)
        if !create, provider == Self.defaultProvider, case .simulator(let path, _, _) = location,
           !FileManager.default.fileExists(atPath: path) {
            // No simulated fleet yet: a command that only reads plans against a throwaway one,
            // seeded from the manifests as an apply would seed it, and creates nothing here.
            return try await location.openThrowaway(fleet: fleet, clock: clock, logger: logger)
        }
        return try await location.open(fleet: fleet, clock: clock, logger: logger, create: create)
    }
}

/// Where the state store is.
enum StateLocation: Equatable {
    case sqlite(path: String)
    case postgres(url: String)

    init(_ text: String) throws {
        if text.hasPrefix("sqlite:") {
            let path = String(text.dropFirst("sqlite:".count))
            guard !path.isEmpty else { throw ValidationError("--state sqlite: needs a path, like sqlite:.sendpath/state.db") }
            self = .sqlite(path: path)
        } else if text.hasPrefix("postgres://") || text.hasPrefix("postgresql://") {
            self = .postgres(url: text)
        } else {
            throw ValidationError("--state must be sqlite:PATH or postgres://USER@HOST:PORT/DB")
        }
    }
}

/// Where the provider is.
enum ProviderLocation: Equatable {
    case simulator(path: String, latency: Duration, faults: String?)
    case http(url: String)
    case postfixBGP(configuration: String)

    init(_ text: String) throws {
        if text.hasPrefix("sim:") {
            let rest = String(text.dropFirst("sim:".count))
            let parts = rest.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
            let path = String(parts[0])
            guard !path.isEmpty else { throw ValidationError("--provider sim: needs a path, like sim:.sendpath/fleet.db") }
            var latency = Duration.zero
            var faults: String?
            if parts.count == 2 {
                for pair in parts[1].split(separator: "&") {
                    let kv = pair.split(separator: "=", maxSplits: 1)
                    guard kv.count == 2 else { throw ValidationError("--provider: '\(Escaped.value(pair))' is not key=value") }
                    switch kv[0] {
                    case "latency":
                        latency = try FlagValues.duration(String(kv[1]), flag: "--provider latency", in: FlagValues.latency, example: "50ms")
                    case "faults":
                        faults = String(kv[1])
                    default:
                        throw ValidationError("--provider: unknown simulator option '\(Escaped.value(kv[0]))' (latency, faults)")
                    }
                }
            }
            self = .simulator(path: path, latency: latency, faults: faults)
        } else if text.hasPrefix("http://") || text.hasPrefix("https://") {
            self = .http(url: text)
        } else if text.hasPrefix("postfix-bgp:") {
            let path = String(text.dropFirst("postfix-bgp:".count))
            guard !path.isEmpty else { throw ValidationError("--provider postfix-bgp: needs the path of its configuration, like postfix-bgp:/etc/sendpath/provider.yaml") }
            self = .postfixBGP(configuration: path)
        } else {
            throw ValidationError("--provider must be sim:PATH, http(s)://HOST[:PORT] or postfix-bgp:CONFIG")
        }
    }

    var isSimulator: Bool {
        if case .simulator = self { return true }
        return false
    }

    /// The simulator in a private temporary folder, removed on close.
    func openThrowaway(fleet: Fleet?, clock: any WallClock, logger: Logger) async throws -> OpenedProvider {
        guard case .simulator(_, let latency, let faultsFile) = self else {
            return try await open(fleet: fleet, clock: clock, logger: logger, create: false)
        }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sendpath-fleet-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        do {
            let opened = try await ProviderLocation.simulator(path: folder + "/fleet.db", latency: latency, faults: faultsFile)
                .open(fleet: fleet, clock: clock, logger: logger, create: true)
            return OpenedProvider(provider: opened.provider, close: {
                await opened.close()
                try? FileManager.default.removeItem(atPath: folder)
            })
        } catch {
            try? FileManager.default.removeItem(atPath: folder)
            throw error
        }
    }

    func open(fleet: Fleet?, clock: any WallClock, logger: Logger, create: Bool = true) async throws -> OpenedProvider {
        switch self {
        case .simulator(let path, let latency, let faultsFile):
            let faults = try faultsFile.map { try FleetSimulator.loadFaults(path: $0) } ?? []
            var simulator = try FleetSimulator(path: path, clock: clock, latency: latency, faults: faults, logger: logger, create: create)
            // One read tells whether the file holds the whole fleet (the usual case: every run seeds).
            if let fleet, try await !simulator.knowsAll(of: fleet) {
                if !create {
                    // A command that only reads, with manifests that name instances the fleet does
                    // not hold yet: plan on a private copy seeded as an apply would seed the file.
                    simulator = try FleetSimulator(path: path, clock: clock, latency: latency, faults: faults, logger: logger,
                                                   create: false, privateCopy: true)
                }
                _ = try await simulator.seedUnknown(from: fleet)
            }
            return OpenedProvider(provider: simulator, close: {})
        case .http(let url):
            let token = ProcessInfo.processInfo.environment["SENDPATH_PROVIDER_TOKEN"] ?? ""
            guard !token.isEmpty else {
                throw CommandFailure("the http provider needs its bearer token in SENDPATH_PROVIDER_TOKEN (it is never taken from the command line)")
            }
            let client: HTTPProvider
            do {
                client = try HTTPProvider(baseURL: url, token: token, logger: logger)
            } catch {
                throw CommandFailure("\(error)")
            }
            return OpenedProvider(provider: client, close: { try? await client.shutdown() })
        case .postfixBGP(let path):
            return OpenedProvider(provider: try PostfixBGPProvider.open(path: path, logger: logger), close: {})
        }
    }
}

/// A provider and how to let it go.
struct OpenedProvider: Sendable {
    let provider: any Provider
    let close: @Sendable () async -> Void

    /// Runs `body` with the provider, closing it afterwards whatever happens.
    func use<T: Sendable>(_ body: (any Provider) async throws -> T) async throws -> T {
        do {
            let result = try await body(provider)
            await close()
            return result
        } catch {
            await close()
            throw error
        }
    }
}

/// A runtime failure with a message for the operator (exit 1).
struct CommandFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// This process, as lease holder.
enum ThisProcess {
    static func holder(command: String) -> LeaseHolder {
        // The id names the process, so journal entries say who wrote them, and the PID namespace
        // and boot it runs in, so that a pid is only ever looked up where it means that process.
        LeaseHolder(id: "\(ProcessInfo.processInfo.hostName)/\(ProcessInfo.processInfo.processIdentifier)/\(UUID().uuidString.prefix(8).lowercased())/\(pidSpace)",
                    host: ProcessInfo.processInfo.hostName,
                    pid: ProcessInfo.processInfo.processIdentifier, command: command)
    }

    /// This process's PID namespace and boot, as `ns<inode>-<boot id prefix>`: two pods with host
    /// networking share a host name, and their pids collide; their PID namespaces differ.
    static let pidSpace: String = {
        let namespace = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/pid"))
            .map { $0.filter(\.isNumber) } ?? "unknown"
        let boot = (try? String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8))
            .map { String($0.prefix(8)) } ?? "unknown"
        return "ns\(namespace)-\(boot)"
    }()

    /// Whether a holder's process still runs. Only a holder of this host, PID namespace and boot
    /// can be looked up by pid; any other is taken to be alive (its lease then runs out on time):
    /// a live holder is never taken for dead.
    @Sendable static func isAlive(_ holder: LeaseHolder) -> Bool {
        guard holder.host == ProcessInfo.processInfo.hostName, holder.id.hasSuffix("/" + pidSpace),
              !pidSpace.contains("unknown") else { return true }
        return kill(holder.pid, 0) == 0 || errno == EPERM
    }
}
