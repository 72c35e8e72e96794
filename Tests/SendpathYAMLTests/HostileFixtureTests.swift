import Foundation
import Testing
@testable import SendpathCore
@testable import SendpathYAML

/// Every hostile fixture in `Tests/Fixtures/hostile` gives exactly the diagnostics in its
/// `.expected` file (see the folder's README for what each once did).
@Suite("Hostile fixtures")
struct HostileFixtureTests {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/hostile").path

    static let names: [String] = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [])
        .filter { $0.hasSuffix(".yaml") }.sorted()

    @Test func thereAreFixtures() {
        #expect(Self.names.count >= 12)
    }

    @Test(arguments: names)
    func fixtureGivesItsExpectedDiagnostics(name: String) throws {
        let expectedPath = Self.folder + "/" + name.dropLast(".yaml".count) + ".expected"
        let expected = try String(contentsOfFile: expectedPath, encoding: .utf8).split(separator: "\n").map(String.init)
        let result = ManifestLoader().load(paths: [Self.folder + "/" + name])
        let lines = result.diagnostics.map { $0.description.replacingOccurrences(of: Self.folder + "/", with: "") }
        #expect(lines == expected)
        // One diagnostic, one line: no control character reaches the output.
        #expect(lines.allSatisfy { !Escaped.containsControl($0) })
    }
}
