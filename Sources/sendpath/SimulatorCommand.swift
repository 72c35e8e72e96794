import ArgumentParser
import SendpathController
import SendpathCore
import SendpathSimulator
import SendpathYAML
import SendpathHTTP
import Foundation

/// `sendpath simulator`: the fleet simulator on its own.
struct SimulatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulator",
        abstract: "The fleet simulator: seed it, check its invariants, serve it over the provider API.",
        subcommands: [Seed.self, Check.self, Serve.self]
    )

    struct Seed: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add the manifests' unknown instances and prefixes to a simulated fleet.")

        @Option(help: ArgumentHelp("The simulator's fleet file.", valueName: "path"))
        var fleet: String = ".sendpath/fleet.db"

        @OptionGroup var manifests: ManifestOptions

        func run() async throws {
            let loaded = try manifests.loadFleet()
            try await withCommandErrors {
                var logger = Logger(label: "sendpath.simulator")
                logger.logLevel = .warning
                let simulator = try FleetSimulator(path: fleet, clock: SystemClock(), logger: logger)
                let added = try await simulator.seed(from: loaded)
                StandardStreams.out("seeded \(counted(added, "instance")) into \(fleet)\n")
            }
        }
    }

    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Serve the simulator over the provider HTTP API (docs/provider-api.yaml).",
            discussion: "Clients must present the bearer token from SENDPATH_PROVIDER_TOKEN. Binds to 127.0.0.1 unless told otherwise; prints the address it listens on."
        )

        @Option(help: ArgumentHelp("The simulator's fleet file.", valueName: "path"))
        var fleet: String = ".sendpath/fleet.db"

        @Option(help: ArgumentHelp("Seed the fleet from these manifests first.", valueName: "path"))
        var seed: String?

        @Option(help: ArgumentHelp("Time every provider operation takes.", valueName: "duration"))
        var latency: String = "0s"

        @Option(help: ArgumentHelp("A YAML list of faults to inject.", valueName: "file"))
        var faults: String?

        @Option(help: ArgumentHelp("Where to listen (HOST:PORT; port 0 picks a free one).", valueName: "address"))
        var listen: String = "127.0.0.1:8480"

        @Option(help: ArgumentHelp("Log format on stderr: human or json.", valueName: "format"))
        var logFormat: String = "human"

        func validate() throws {
            _ = try ListenAddress(listen)
            _ = try FlagValues.duration(latency, flag: "--latency", in: FlagValues.latency, example: "50ms")
            guard LogSetup.Format(rawValue: logFormat) != nil else { throw ValidationError("--log-format must be human or json") }
        }

        func run() async throws {
            let served = try ServedProvider(listen: listen, logFormat: logFormat, label: "sendpath.simulator")
            let manifests = try seed.map { path in
                var options = try ManifestOptions.parse([path])
                options.paths = [path]
                return try options.loadFleet()
            }
            try await withCommandErrors {
                let logger = served.logger
                let rules = try faults.map { try FleetSimulator.loadFaults(path: $0) } ?? []
                let simulator = try FleetSimulator(path: fleet, clock: SystemClock(), latency: ManifestDuration.parse(latency)!,
                                                   faults: rules, logger: logger)
                if let manifests { _ = try await simulator.seed(from: manifests) }
                try await served.serve(simulator, as: "the fleet simulator")
            }
        }
    }

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the invariant report; exit 0 only if every invariant held.",
            discussion: "Every invariant is read from the evidence in the fleet file (the delivery log, the advertisement history, the freeze and move log): no message lost, duplicated or stranded in a snapshot; no prefix advertised from two places or from nowhere; no mail sent without a route, from undeclared IPs, while frozen or while its prefix was changing place; no instance moved while sending or left sending without a route; nothing frozen; no violation recorded. The last line names each broken invariant by its JSON key."
        )

        enum Format: String, ExpressibleByArgument, CaseIterable { case text, json }

        @Option(help: ArgumentHelp("The simulator's fleet file.", valueName: "path"))
        var fleet: String = ".sendpath/fleet.db"

        @Option(help: "text or json.")
        var output: Format = .text

        func run() async throws {
            try await withCommandErrors {
                var logger = Logger(label: "sendpath.simulator")
                logger.logLevel = .warning
                // A check reads: a missing fleet file is an error, never a new empty fleet.
                let simulator = try FleetSimulator(path: fleet, clock: SystemClock(), logger: logger, create: false)
                let report = try await simulator.check()
                switch output {
                case .json: StandardStreams.out(try ReportPrinter.json(report))
                case .text: StandardStreams.out(Self.text(report))
                }
                if !report.ok { throw ExitCode(1) }
            }
        }

        static func text(_ report: InvariantReport) -> String {
            let m = report.messages
            var out = "Messages: \(m.enqueued) enqueued, \(m.delivered) delivered, \(m.expired) expired, \(m.queued) queued (\(m.held) held), \(m.inSnapshot) in snapshots; \(m.duplicated) duplicated, \(m.lost) lost, \(m.stranded) stranded\n"
            out += "Prefixes advertised from two places: \(report.doubleAdvertisements); from nowhere for a while: \(report.advertisementGaps)\n"
            let paths = report.sendsByPath.sorted { $0.key < $1.key }.map { "\($0.value) from \($0.key)" }
            out += "Sends: \(paths.isEmpty ? "none" : paths.joined(separator: ", ")); without a route: \(report.sendsWithoutRoute), from undeclared IPs: \(report.sendsFromUndeclaredIPs), while frozen: \(report.sendsWhileFrozen), while a path was changing: \(report.sendsDuringPathChange)\n"
            out += "Moves while sending: \(report.movesWhileSending); sending without a route now: \(report.unroutedInstances.isEmpty ? "none" : report.unroutedInstances.joined(separator: ", "))\n"
            out += "Frozen now: \(report.frozen.isEmpty ? "none" : report.frozen.joined(separator: ", "))\n"
            if report.pendingEffects > 0 { out += "Late effects not landed yet: \(report.pendingEffects)\n" }
            out += "Mutating operations: \(report.mutatingOperations) (stale fencing tokens refused: \(report.refusedStaleTokens))\n"
            for violation in report.violations {
                out += "Violation: \(violation.kind) on \(violation.instance): \(violation.detail)\n"
            }
            out += report.ok ? "All invariants held.\n" : "INVARIANTS BROKEN: \(report.broken.joined(separator: ", ")).\n"
            return out
        }
    }
}

import Logging
