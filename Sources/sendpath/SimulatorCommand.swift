import ArgumentParser
import SendpathController
import SendpathCore
import SendpathSimulator
import SendpathYAML

/// `sendpath simulator`: the fleet simulator on its own.
struct SimulatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulator",
        abstract: "The fleet simulator: seed it, check its invariants, serve it over the provider API.",
        subcommands: [Seed.self, Check.self]
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

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the invariant report; exit 0 only if every invariant held.",
            discussion: "Invariants: no message lost, duplicated or stranded in a snapshot, no prefix advertised from two places, nothing frozen, no violation recorded (sending during a switch, from undeclared IPs, or without a route)."
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
                let simulator = try FleetSimulator(path: fleet, clock: SystemClock(), logger: logger)
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
            var out = "Messages: \(m.enqueued) enqueued, \(m.delivered) delivered, \(m.expired) expired, \(m.queued) queued, \(m.inSnapshot) in snapshots; \(m.duplicated) duplicated, \(m.lost) lost, \(m.stranded) stranded\n"
            out += "Prefixes advertised from two places: \(report.doubleAdvertisements)\n"
            out += "Frozen now: \(report.frozen.isEmpty ? "none" : report.frozen.joined(separator: ", "))\n"
            out += "Mutating operations: \(report.mutatingOperations) (stale fencing tokens refused: \(report.refusedStaleTokens))\n"
            for violation in report.violations {
                out += "Violation: \(violation.kind) on \(violation.instance): \(violation.detail)\n"
            }
            out += report.ok ? "All invariants held.\n" : "INVARIANTS BROKEN.\n"
            return out
        }
    }
}

import Logging
