@testable import SendpathCore
import Testing

/// The pure parts of ``SARIFReport``: URIs against `%SRCROOT%`, percent-encoding and
/// fingerprints that ignore line numbers.
@Suite("SARIF report: URIs and fingerprints")
struct SARIFReportTests {
    static let base = ["repo", "work"]

    @Test(arguments: [
        ("manifests/a.yaml", "manifests/a.yaml", true),
        ("./manifests/./a.yaml", "manifests/a.yaml", true),
        ("manifests/../manifests/a.yaml", "manifests/a.yaml", true),
        ("/repo/work/a.yaml", "a.yaml", true),
        ("../other/a.yaml", "file:///repo/other/a.yaml", false),
        ("/etc/sendpath/a b.yaml", "file:///etc/sendpath/a%20b.yaml", false),
        ("../../../../a.yaml", "file:///a.yaml", false),
        ("manifests/café #1%.yaml", "manifests/caf%C3%A9%20%231%25.yaml", true),
        ("", "./", true),
    ])
    func uris(path: String, uri: String, relative: Bool) {
        let location = SARIFReport.artifactLocation(path, base: Self.base)
        #expect(location.uri == uri)
        #expect(location.relative == relative)
    }

    @Test func theBaseIsAFileURIEndingInASlash() {
        #expect(SARIFReport.fileURI(["repo", "my work"], directory: true) == "file:///repo/my%20work/")
        #expect(SARIFReport.fileURI([], directory: true) == "file:///")
    }

    @Test func fingerprintsIgnoreLineAndColumnReferences() {
        let first = SARIFReport.fingerprint(rule: .duplicateName, uri: "m/a.yaml", message: "Instance 'x' is declared twice (the first is at m/b.yaml:12:3)")
        let moved = SARIFReport.fingerprint(rule: .duplicateName, uri: "m/a.yaml", message: "Instance 'x' is declared twice (the first is at m/b.yaml:40:3)")
        let other = SARIFReport.fingerprint(rule: .duplicateName, uri: "m/a.yaml", message: "Instance 'y' is declared twice (the first is at m/b.yaml:12:3)")
        #expect(first == moved)
        #expect(first != other)
        #expect(first.count == 16)
        #expect(SARIFReport.withoutPositions("at a.yaml:12:3, and 10:30 local, ratio 1:2") == "at a.yaml, and 10:30 local, ratio 1:2")
    }

    @Test func identicalProblemsInOneFileAreNumbered() {
        let location = SourceLocation(file: "a.yaml", line: 3, column: 1)
        let twice = [Diagnostic(.badIP, at: location, "bad IP 'x'"), Diagnostic(.badIP, at: SourceLocation(file: "a.yaml", line: 9, column: 1), "bad IP 'x'")]
        let log = SARIFReport.make(twice, toolVersion: "0", baseDirectory: "/repo")
        let text = log.serialized()
        #expect(text.contains(":1\"") && text.contains(":2\""), "\(text)")
    }
}
