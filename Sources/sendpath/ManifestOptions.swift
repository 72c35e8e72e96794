import ArgumentParser
import SendpathCore
import SendpathYAML

/// The manifest paths every command takes: files, or folders read recursively.
struct ManifestOptions: ParsableArguments {
    @Argument(help: "Manifest files or folders (read recursively, sorted; .yaml and .yml).")
    var paths: [String] = ["manifests"]

    @Option(help: ArgumentHelp("Largest manifest file read, in MiB (1 to 1024).", valueName: "MiB"))
    var maxFileSize: Int = ManifestLoader.defaultMaxFileSize >> 20

    func validate() throws {
        try FlagValues.integer(maxFileSize, flag: "--max-file-size", in: 1...(ManifestLoader.largestMaxFileSize >> 20))
    }

    func load() -> ManifestLoadResult {
        ManifestLoader(maxFileSize: maxFileSize << 20).load(paths: paths)
    }
}

/// Prints diagnostics as `file:line:column: severity: [rule] message (hint)` lines on stderr,
/// or with `--log-format json` as one JSON object each: `level` (the severity), `message`,
/// `file`, `line`, `column`, `rule` and `hint` when there is one.
func printDiagnostics(_ diagnostics: [Diagnostic]) {
    guard !diagnostics.isEmpty else { return }
    guard LogSetup.format == .json else {
        StandardStreams.err(diagnostics.map { $0.description + "\n" }.joined())
        return
    }
    for diagnostic in diagnostics {
        var fields: [String: Any] = ["file": diagnostic.location.file, "line": diagnostic.location.line,
                                     "column": diagnostic.location.column, "rule": diagnostic.rule.rawValue]
        if let hint = diagnostic.hint { fields["hint"] = hint }
        StderrLine.writeJSON(level: diagnostic.severity.rawValue, label: "sendpath.validate", message: diagnostic.message, fields: fields)
    }
}

/// The `invalid: N errors; nothing was changed` line that ends a rejected manifest set.
func printInvalid(errors: Int) {
    StderrLine.write("invalid: \(counted(errors, "error")); nothing was changed", level: .error, label: "sendpath.validate",
                     message: "invalid: \(counted(errors, "error")); nothing was changed", fields: ["errors": errors])
}
