import Foundation
import Testing
@testable import SendpathCore
@testable import SendpathYAML

/// Inputs meant to crash or exhaust a YAML reader: each must end in a clear diagnostic.
@Suite("Hostile input")
struct HostileInputTests {
    @Test func billionLaughsHitsTheAliasBudget() {
        var text = "apiVersion: sendpath/v1\nkind: Policy\nmetadata:\n  name: lol\n  labels:\n    a0: &a0 lol\n"
        for level in 1...9 {
            let refs = Array(repeating: "*a\(level - 1)", count: 10).joined(separator: ", ")
            text += "    a\(level): &a\(level) [\(refs)]\n"
        }
        text += "spec: {bakeTime: *a9}\n"
        let diagnostics = FixtureFleet.decode(text).diagnostics
        #expect(diagnostics.map(\.rule) == [.aliasBudget])
        // At the alias whose expansion ran out of the budget: the third `*a4` of `a5`'s list.
        #expect(diagnostics.first.map { [$0.location.line, $0.location.column] } == [11, 29], "\(diagnostics)")
    }

    @Test func deepNestingIsRefusedWithoutRecursion() {
        let depth = 100_000
        let text = "apiVersion: sendpath/v1\nkind: Policy\nmetadata: {name: deep}\nspec: " + String(repeating: "[", count: depth) + String(repeating: "]", count: depth) + "\n"
        let diagnostics = FixtureFleet.decode(text).diagnostics
        #expect(diagnostics.map(\.rule) == [.nestingTooDeep])
        // At the first bracket past the limit.
        #expect(diagnostics.first.map { [$0.location.line, $0.location.column] } == [4, 7 + YAMLLimits().maxDepth - 1], "\(diagnostics)")
    }

    @Test func deepBlockNestingToo() {
        var text = "apiVersion: sendpath/v1\nkind: Policy\nmetadata: {name: deep}\nspec:\n"
        for level in 0..<200 { text += String(repeating: " ", count: level + 1) + "k\(level):\n" }
        let diagnostics = FixtureFleet.decode(text).diagnostics
        #expect(diagnostics.map(\.rule) == [.nestingTooDeep])
    }

    @Test func invalidUTF8IsASyntaxError() {
        var bytes = Array("apiVersion: sendpath/v1\nkind: Policy\nmetadata: {name: bad}\nspec: {bakeTime: \"".utf8)
        bytes += [0xC3, 0x28]
        bytes += Array("\"}\n".utf8)
        let decoder = ManifestFileDecoder(file: "bad.yaml", bytes: bytes, limits: YAMLLimits())
        decoder.decode()
        #expect(decoder.diagnostics.map(\.rule) == [.yamlSyntax])
        #expect(decoder.diagnostics.first?.message.contains("UTF-8") == true)
        // Where libyaml rejects the sequence: at 0x28, which cannot continue the 0xC3 before it.
        #expect(decoder.diagnostics.first.map { [$0.location.line, $0.location.column] } == [4, 20], "\(decoder.diagnostics)")
    }

    @Test func nulByteIsASyntaxError() {
        var bytes = Array("apiVersion: sendpath/v1\nkind: Pol".utf8)
        bytes.append(0)
        bytes += Array("icy\n".utf8)
        let decoder = ManifestFileDecoder(file: "nul.yaml", bytes: bytes, limits: YAMLLimits())
        decoder.decode()
        #expect(decoder.diagnostics.map(\.rule) == [.yamlSyntax])
        #expect(decoder.diagnostics.first.map { [$0.location.line, $0.location.column] } == [2, 10], "\(decoder.diagnostics)")
    }

    @Test(arguments: [
        "\u{7F}ELF\u{02}\u{01}\u{01}",
        "{{{ not: yaml ]]]",
        "<html><body>not a manifest</body></html>",
        "key: value: another",
        "just a sentence of prose.",
    ])
    func textThatIsNotAManifestGetsADiagnostic(text: String) {
        let diagnostics = FixtureFleet.decode(text).diagnostics
        #expect(!diagnostics.isEmpty)
        #expect(diagnostics.allSatisfy { [.yamlSyntax, .wrongType].contains($0.rule) })
    }

    @Test func fiftyMegabyteFileIsRefusedUnread() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sendpath-big-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = folder + "/huge.yaml"
        #expect(FileManager.default.createFile(atPath: path, contents: nil))
        let handle = try #require(FileHandle(forWritingAtPath: path))
        try handle.truncate(atOffset: 50 << 20)
        try handle.close()
        let result = ManifestLoader().load(paths: [folder])
        #expect(result.diagnostics.map(\.rule) == [.fileTooLarge])
        #expect(result.diagnostics.first?.message.contains("50.0 MiB") == true)
        #expect(result.diagnostics.first.map { [$0.location.line, $0.location.column] } == [1, 1])
        #expect(result.diagnostics.first?.location.file.hasSuffix("/huge.yaml") == true)
        #expect(result.fleet == nil)
    }

    @Test func missingPathsAndEmptyFoldersAreReported() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sendpath-empty-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder + "/sub", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try "not a manifest".write(toFile: folder + "/notes.txt", atomically: true, encoding: .utf8)
        let result = ManifestLoader().load(paths: [folder, folder + "/nope"])
        #expect(result.diagnostics.map(\.rule).sorted { $0.rawValue < $1.rawValue } == [.noManifests, .pathNotFound])
        #expect(result.diagnostics.allSatisfy { $0.location.line == 1 && $0.location.column == 1 })
        #expect(Set(result.diagnostics.map(\.location.file)) == [folder, folder + "/nope"])
    }

    @Test func danglingLinkIsUnreadable() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sendpath-link-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try FileManager.default.createSymbolicLink(atPath: folder + "/gone.yaml", withDestinationPath: folder + "/missing-target")
        let result = ManifestLoader().load(paths: [folder])
        #expect(result.diagnostics.map(\.rule) == [.fileUnreadable])
        #expect(result.diagnostics.first.map { "\($0.location.file):\($0.location.line):\($0.location.column)" } == folder + "/gone.yaml:1:1")
    }
}
