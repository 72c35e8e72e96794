import ArgumentParser
import Foundation
import SendpathCore

/// `sendpath validate`: checks manifests and prints every problem at once.
struct ValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check manifests and print every problem, with file, line and column.",
        discussion: "Exits 0 when the manifests are valid (warnings allowed), 65 when any error was found."
    )

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case text, json, sarif
    }

    @OptionGroup var manifests: ManifestOptions

    @Option(help: "text (stderr lines), json (an array on stdout) or sarif (SARIF 2.1.0 on stdout).")
    var output: Format = .text

    func run() throws {
        let result = manifests.load()
        switch output {
        case .text:
            printDiagnostics(result.diagnostics)
            if let fleet = result.fleet {
                let warnings = result.diagnostics.count
                StandardStreams.out("valid: \(fleet.instances.count) instances, \(fleet.prefixes.count) prefixes, \(fleet.waves.count) waves, \(fleet.groups.count) cut-over groups in \(result.files.count) files" + (warnings > 0 ? " (\(warnings) warnings)" : "") + "\n")
            } else {
                let errors = result.diagnostics.filter { $0.severity == .error }.count
                StandardStreams.err("invalid: \(errors) error\(errors == 1 ? "" : "s"); nothing was changed\n")
            }
        case .json:
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            let data = try encoder.encode(result.diagnostics)
            StandardStreams.out(result.diagnostics.isEmpty ? "[]\n" : String(decoding: data, as: UTF8.self) + "\n")
        case .sarif:
            StandardStreams.out(SARIFReport.make(result.diagnostics, toolVersion: SendpathVersion.current).serialized() + "\n")
        }
        if result.fleet == nil { throw ExitCode(Outcome.invalid.exitCode) }
    }
}
