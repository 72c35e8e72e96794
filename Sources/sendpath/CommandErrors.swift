import Foundation
import ArgumentParser
import SendpathCore
import SendpathPostfixBGP
import SendpathYAML

/// A command that promised one JSON object (`--output json`) and stops before it has a
/// report prints this instead: the contract's keys (no instances), the outcome, and why.
struct StoppedReport: Encodable {
    /// What the command was asked to do, for the report.
    struct Context: Sendable {
        var dryRun: Bool
        var at: Timestamp
    }

    var outcome: Outcome
    var dryRun: Bool
    var at: Timestamp
    var summary: [String: Int] = [:]
    var instances: [String] = []
    var error: String
    var diagnostics: [Diagnostic]?

    static func print(_ outcome: Outcome, _ context: Context?, error: String, diagnostics: [Diagnostic]? = nil) {
        guard let context else { return }
        let report = StoppedReport(outcome: outcome, dryRun: context.dryRun, at: context.at, error: error, diagnostics: diagnostics)
        if let text = try? ReportPrinter.json(report) { StandardStreams.out(text) }
    }
}

/// What a command that promised JSON prints for a bad command line it found late (a
/// `--wave` naming nothing): the `usage` outcome and why.
struct UsageReport: Encodable {
    var outcome = Outcome.usage
    var error: String
}

/// Maps failures to the contract's exit codes with one clear line on stderr:
/// locked 75, invalid manifests 65, runtime failures 1. Usage errors (64) and explicit
/// exit codes pass through. With a `json` context, a ``StoppedReport`` also goes to stdout.
func withCommandErrors(json: StoppedReport.Context? = nil, _ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let exit as ExitCode {
        throw exit
    } catch let usage as ValidationError {
        throw usage
    } catch let configuration as PostfixBGPConfigurationError {
        printDiagnostics(configuration.diagnostics)
        let message = "the postfix-bgp provider configuration is invalid (\(counted(configuration.diagnostics.count, "error"))); nothing was changed"
        StderrLine.write("sendpath: error: \(message)", level: .error, message: message, fields: ["outcome": "invalid"])
        StoppedReport.print(.invalid, json, error: message, diagnostics: configuration.diagnostics)
        throw ExitCode(Outcome.invalid.exitCode)
    } catch let stale as StalePlanError {
        let message = Escaped.line(stale.description)
        StderrLine.write("sendpath: stale plan: \(message)", level: .error, message: message, fields: ["outcome": "stale-plan"])
        StoppedReport.print(.stalePlan, json, error: message)
        throw ExitCode(Outcome.stalePlan.exitCode)
    } catch StateStoreError.locked(let holder, let scope, let expiresAt) {
        let message = Escaped.line("another reconciler holds the \(scope) lease: \(holder), until \(expiresAt); try again when it has finished")
        StderrLine.write("sendpath: locked: \(message)", level: .error, message: message, fields: ["outcome": "locked"])
        StoppedReport.print(.locked, json, error: message)
        throw ExitCode(Outcome.locked.exitCode)
    } catch {
        // Provider and store messages may carry anything: one escaped line, never raw controls.
        let message = Escaped.line("\(error)")
        StderrLine.write("sendpath: error: \(message)", level: .error, message: message, fields: ["outcome": "error"])
        StoppedReport.print(.error, json, error: message)
        throw ExitCode(Outcome.error.exitCode)
    }
}

extension ManifestOptions {
    /// Loads and validates; prints the diagnostics and exits 65 when invalid (with a `json`
    /// context, a ``StoppedReport`` with the diagnostics goes to stdout too).
    func loadFleet(json: StoppedReport.Context? = nil) throws -> Fleet {
        try loadFleetAndFiles(json: json).fleet
    }

    /// ``loadFleet(json:)``, with the files read (for their digest).
    func loadFleetAndFiles(json: StoppedReport.Context? = nil) throws -> (fleet: Fleet, files: [String]) {
        let result = load()
        printDiagnostics(result.diagnostics)
        guard let fleet = result.fleet else {
            let errors = result.diagnostics.filter { $0.severity == .error }.count
            printInvalid(errors: errors)
            StoppedReport.print(.invalid, json, error: "the manifests are invalid (\(counted(errors, "error"))); nothing was changed",
                                diagnostics: result.diagnostics)
            throw ExitCode(Outcome.invalid.exitCode)
        }
        return (fleet, result.files)
    }

    /// The digest of the manifest files read: each file's path and bytes (FNV-1a 64). A file
    /// that cannot be read again gives a digest no plan matches.
    static func digest(files: [String]) -> String {
        var hasher = FNV1a()
        for file in files {
            hasher.combine(file.utf8)
            hasher.combine(CollectionOfOne(0))
            hasher.combine(FileManager.default.contents(atPath: file) ?? Data("unreadable".utf8))
            hasher.combine(CollectionOfOne(0))
        }
        return hasher.digest
    }
}
