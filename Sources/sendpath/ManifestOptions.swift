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

/// Prints diagnostics as `file:line:column: severity: [rule] message (hint)` lines on stderr.
func printDiagnostics(_ diagnostics: [Diagnostic]) {
    guard !diagnostics.isEmpty else { return }
    StandardStreams.err(diagnostics.map { $0.description + "\n" }.joined())
}
