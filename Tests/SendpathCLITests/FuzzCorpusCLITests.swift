import Foundation
import Testing

/// The fuzz target's promises hold for every seed and every input a fuzzing run found: replayed
/// by `sendpath-fuzz` built without libFuzzer (`make fuzz` runs the real fuzzer).
@Suite("Fuzz corpus and regressions")
struct FuzzCorpusCLITests {
    static let folders = ["Tests/Fixtures/fuzz-corpus", "Tests/Fixtures/fuzz-regressions", "Tests/Fixtures/hostile"]

    @Test func everySeedAndRegressionReplaysClean() throws {
        let binary = URL(fileURLWithPath: SendpathBinary.path).deletingLastPathComponent().appendingPathComponent("sendpath-fuzz").path
        var files: [String] = []
        for folder in Self.folders {
            let path = SendpathBinary.packageRoot + "/" + folder
            for name in try FileManager.default.contentsOfDirectory(atPath: path).sorted() { files.append(path + "/" + name) }
        }
        #expect(files.count >= 20, "the corpus went missing")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = files
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let printed = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(printed)")
    }

    @Test func aFileThatCannotBeReadFailsTheReplay() throws {
        // The replay cannot pass by reading nothing: an input it cannot read fails it.
        let binary = URL(fileURLWithPath: SendpathBinary.path).deletingLastPathComponent().appendingPathComponent("sendpath-fuzz").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["/nonexistent/fuzz-input"]
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 1)
    }
}
