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

    @Option(help: ArgumentHelp("Format of the lines on stderr: human, or json (one object per line, for log shippers).", valueName: "format"))
    var logFormat: String = "human"

    func validate() throws {
        guard let format = LogSetup.Format(rawValue: logFormat) else { throw ValidationError("--log-format must be human or json") }
        LogSetup.select(format)
    }

    func run() throws {
        let result = manifests.load()
        defer { KeptUntilExit.keep(result) }
        switch output {
        case .text:
            printDiagnostics(result.diagnostics)
            if let fleet = result.fleet {
                let warnings = result.diagnostics.count
                let counts = [counted(fleet.instances.count, "instance"), counted(fleet.prefixes.count, "prefix", "prefixes"),
                              counted(fleet.waves.count, "wave"), counted(fleet.groups.count, "cut-over group")]
                StandardStreams.out("valid: \(counts.joined(separator: ", ")) in \(counted(result.files.count, "file"))"
                                    + (warnings > 0 ? " (\(counted(warnings, "warning")))" : "") + "\n")
            } else {
                let errors = result.diagnostics.filter { $0.severity == .error }.count
                printInvalid(errors: errors)
            }
        case .json:
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            let data = try encoder.encode(result.diagnostics)
            StandardStreams.out(result.diagnostics.isEmpty ? "[]\n" : String(decoding: data, as: UTF8.self) + "\n")
        case .sarif:
            StandardStreams.out(SARIFReport.make(result.diagnostics, toolVersion: SendpathVersion.current,
                                                baseDirectory: FileManager.default.currentDirectoryPath).serialized() + "\n")
        }
        if result.fleet == nil { throw ExitCode(Outcome.invalid.exitCode) }
    }
}

/// "1 instance", "2 instances".
func counted(_ count: Int, _ singular: String, _ plural: String? = nil) -> String {
    "\(count) \(count == 1 ? singular : plural ?? singular + "s")"
}
