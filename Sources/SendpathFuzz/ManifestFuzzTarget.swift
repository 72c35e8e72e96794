import Foundation
import SendpathCore
import SendpathYAML

/// What one fuzz input must never do: trap, hang (libFuzzer's `-timeout`), or produce a
/// diagnostic that is more than one line, holds a raw control character, or cannot be put in
/// JSON and SARIF. Returns the broken promise, `nil` when all held.
enum ManifestFuzzCheck {
    static let loader = ManifestLoader()

    static func check(_ bytes: [UInt8]) -> String? {
        let result = loader.load(bytes: bytes, file: "fuzz.yaml")
        for diagnostic in result.diagnostics {
            let line = diagnostic.description
            if line.unicodeScalars.contains(where: { $0.properties.generalCategory == .control || $0 == "\u{2028}" || $0 == "\u{2029}" }) {
                return "a diagnostic holds a raw control character or line break: \(line.debugDescription)"
            }
        }
        if (try? JSONEncoder().encode(result.diagnostics)) == nil { return "the diagnostics cannot be encoded as JSON" }
        let sarif = SARIFReport.make(result.diagnostics, toolVersion: "fuzz", baseDirectory: "/").serialized(pretty: false)
        if sarif.isEmpty { return "the SARIF report is empty" }
        if result.fleet != nil && result.diagnostics.contains(where: { $0.severity == .error }) {
            return "a fleet was validated despite an error"
        }
        return nil
    }
}

#if SENDPATH_FUZZ
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<CInt>,
                         _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

/// libFuzzer's driver, under the entry point SwiftPM gives an executable target (`make fuzz`
/// builds this target with `-sanitize=fuzzer -parse-as-library -D SENDPATH_FUZZ`).
@_cdecl("SendpathFuzz_main")
public func sendpathFuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var count = argc
    var arguments = argv
    return LLVMFuzzerRunDriver(&count, &arguments) { data, size in
        let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
        if let broken = ManifestFuzzCheck.check(bytes) { fatalError(broken) }
        return 0
    }
}
#else
/// Without libFuzzer: replays the files named (a corpus, or a crash libFuzzer saved) through
/// the same check, and exits 1 naming each that breaks a promise.
@main
struct ManifestFuzzReplay {
    static func main() {
        var failed = false
        for path in CommandLine.arguments.dropFirst() {
            guard let data = FileManager.default.contents(atPath: path) else {
                print("\(path): cannot read")
                failed = true
                continue
            }
            if let broken = ManifestFuzzCheck.check(Array(data)) {
                print("\(path): \(broken)")
                failed = true
            }
        }
        if CommandLine.arguments.count < 2 { print("usage: sendpath-fuzz FILE... (make fuzz runs libFuzzer)") }
        exit(failed ? 1 : 0)
    }
}
#endif
