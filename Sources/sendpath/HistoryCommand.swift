import ArgumentParser
import Foundation
import SendpathCore

/// `sendpath history`: the most recent runs, newest first.
struct HistoryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "history",
        abstract: "List recent runs: when, host and user, manifest digest and Git commit, outcome, groups touched."
    )

    enum Format: String, ExpressibleByArgument, CaseIterable { case text, json }

    @Option(help: ArgumentHelp("The state store: sqlite:PATH or postgres://USER@HOST:PORT/DB.", valueName: "url"))
    var state: String = "sqlite:.sendpath/state.db"

    @Option(help: ArgumentHelp("How many runs, newest first (1 to 10000).", valueName: "n"))
    var limit: Int = 20

    @Option(help: "text or json.")
    var output: Format = .text

    func validate() throws {
        try FlagValues.integer(limit, flag: "--limit", in: 1...10_000)
    }

    /// The JSON: `runs`, newest first.
    struct Report: Encodable {
        var runs: [RunRecord]
    }

    func run() async throws {
        var runtime = try RuntimeOptions.parse([])
        runtime.state = state
        try runtime.validate()
        try await withCommandErrors {
            let logger = runtime.logger("sendpath.history")
            let limit = self.limit
            let runs = try await runtime.withStore(logger: logger, create: false) { store in
                try await store.recentRuns(limit: limit)
            }
            switch output {
            case .json: StandardStreams.out(try ReportPrinter.json(Report(runs: runs)))
            case .text: StandardStreams.out(Self.text(runs))
            }
        }
    }

    static func text(_ runs: [RunRecord]) -> String {
        guard !runs.isEmpty else { return "No runs recorded.\n" }
        var out = ""
        for run in runs {
            let outcome = run.outcome?.rawValue ?? (run.finishedAt == nil ? "running" : "-")
            let who = [run.revision?.user, run.holder.host].compactMap { $0 }.joined(separator: "@")
            out += "\(run.startedAt)  \(outcome)  \(Escaped.line(run.command))  by \(Escaped.line(who))\n"
            if let revision = run.revision {
                out += "  manifests \(revision.manifestDigest)"
                if let commit = revision.gitCommit { out += ", commit \(commit)\(revision.gitDirty == true ? " (dirty: uncommitted changes)" : "")" }
                out += "\n"
            }
            if let groups = run.groups, !groups.isEmpty {
                out += "  groups (\(groups.count)): \(groups.joined(separator: ", "))\n"
            }
            if !run.summary.isEmpty {
                out += "  summary: " + run.summary.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ") + "\n"
            }
        }
        return out
    }
}
