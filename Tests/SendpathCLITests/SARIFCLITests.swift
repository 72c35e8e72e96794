import Foundation
import Testing

/// `validate --output sarif` against the official OASIS SARIF 2.1.0 schema (a committed copy,
/// Tests/Fixtures/sarif/) and against what GitHub code scanning asks of an uploaded file.
@Suite("SARIF output: OASIS schema and GitHub code scanning")
struct SARIFCLITests {
    /// A work folder with manifests inside it (one with a non-ASCII, spaced name), one file
    /// beside it (reached with `../`) and one inside it given by its absolute path.
    struct Layout {
        let folder: TemporaryFolder
        var work: String { folder.path + "/work" }

        init() throws {
            folder = try TemporaryFolder("sarif")
            try folder.write("work/manifests/prod.yaml", ValidateCLITests.broken)
            try folder.write("work/manifests/ünïcode café#1.yaml", ValidateCLITests.broken)
            try folder.write("work/abs.yaml", ValidateCLITests.broken)
            try folder.write("outside/x.yaml", ValidateCLITests.broken)
        }

        func validate() throws -> (raw: String, log: [String: Any]) {
            let result = try SendpathBinary.run(["validate", "manifests", "../outside/x.yaml", work + "/abs.yaml",
                                                 "--output", "sarif"], directory: work)
            #expect(result.status == 65, "\(result.stderr)")
            let log = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
            return (result.stdout, log)
        }
    }

    static func run(_ log: [String: Any]) throws -> [String: Any] {
        try #require((log["runs"] as? [[String: Any]])?.first)
    }

    static func results(_ log: [String: Any]) throws -> [[String: Any]] {
        try #require(try run(log)["results"] as? [[String: Any]])
    }

    static func artifact(_ result: [String: Any]) -> [String: Any] {
        let physical = (result["locations"] as? [[String: Any]])?.first?["physicalLocation"] as? [String: Any]
        return physical?["artifactLocation"] as? [String: Any] ?? [:]
    }

    @Test func theLogIsValidAgainstTheOfficialSchema() throws {
        let layout = try Layout()
        defer { layout.folder.remove() }
        let (raw, _) = try layout.validate()
        try layout.folder.write("log.sarif", raw)
        let fixtures = SendpathBinary.packageRoot + "/Tests/Fixtures/sarif"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", fixtures + "/check_sarif.py", fixtures + "/sarif-schema-2.1.0.json", layout.folder.path + "/log.sarif"]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        let errors = try #require(try JSONSerialization.jsonObject(with: output) as? [String])
        #expect(errors.isEmpty, "schema violations: \(errors)")
    }

    @Test func rulesCarryEveryDescriptionGitHubShows() throws {
        let layout = try Layout()
        defer { layout.folder.remove() }
        let run = try Self.run(try layout.validate().log)
        let driver = try #require((run["tool"] as? [String: Any])?["driver"] as? [String: Any])
        let rules = try #require(driver["rules"] as? [[String: Any]])
        #expect(rules.count > 30)
        for rule in rules {
            let id = rule["id"] as? String ?? "?"
            for key in ["shortDescription", "fullDescription", "help"] {
                let text = (rule[key] as? [String: Any])?["text"] as? String ?? ""
                #expect(!text.isEmpty, "rule \(id) has no \(key).text")
            }
            #expect(((rule["help"] as? [String: Any])?["markdown"] as? String)?.isEmpty == false, "rule \(id) has no help.markdown")
            #expect((rule["helpUri"] as? String)?.hasPrefix("https://") == true, "rule \(id)")
        }
    }

    @Test func resultsHaveFullRegionsFingerprintsAndAColumnKind() throws {
        let layout = try Layout()
        defer { layout.folder.remove() }
        let log = try layout.validate().log
        let run = try Self.run(log)
        #expect(run["columnKind"] as? String == "unicodeCodePoints")
        let results = try Self.results(log)
        #expect(results.count == 12)
        for result in results {
            let physical = (result["locations"] as? [[String: Any]])?.first?["physicalLocation"] as? [String: Any]
            let region = try #require(physical?["region"] as? [String: Any])
            let start = try #require(region["startLine"] as? Int), startColumn = try #require(region["startColumn"] as? Int)
            let end = try #require(region["endLine"] as? Int), endColumn = try #require(region["endColumn"] as? Int)
            #expect(start >= 1 && startColumn >= 1 && (end, endColumn) > (start, startColumn))
            let fingerprints = try #require(result["partialFingerprints"] as? [String: String])
            #expect(!fingerprints.isEmpty && fingerprints.values.allSatisfy { !$0.isEmpty })
        }
        // One fingerprint per distinct problem.
        let all = results.compactMap { ($0["partialFingerprints"] as? [String: String])?.sorted { $0.key < $1.key }.description }
        #expect(Set(all).count == results.count)
    }

    @Test func urisAreRelativeToSourceRootAndPercentEncoded() throws {
        let layout = try Layout()
        defer { layout.folder.remove() }
        let log = try layout.validate().log
        let run = try Self.run(log)
        let bases = try #require(run["originalUriBaseIds"] as? [String: Any])
        let root = try #require((bases["%SRCROOT%"] as? [String: Any])?["uri"] as? String)
        let cwd = URL(fileURLWithPath: layout.work).resolvingSymlinksInPath().path
        #expect(root == "file://" + cwd + "/", "\(root)")
        let uris = Set(try Self.results(log).map { result -> String in
            let artifact = Self.artifact(result)
            let uri = artifact["uri"] as? String ?? ""
            // RFC 3986: only unreserved characters, '/', and %XX escapes.
            let allowed = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~/%:")
            #expect(uri.unicodeScalars.allSatisfy { allowed.contains($0) }, "\(uri)")
            #expect(!uri.split(separator: "/").contains(".."), "\(uri)")
            if uri.hasPrefix("file:") {
                #expect(artifact["uriBaseId"] == nil, "\(uri)")
            } else {
                #expect(artifact["uriBaseId"] as? String == "%SRCROOT%", "\(uri)")
                #expect(!uri.hasPrefix("/"), "\(uri)")
            }
            return uri
        })
        let outside = URL(fileURLWithPath: layout.folder.path).resolvingSymlinksInPath().path + "/outside/x.yaml"
        #expect(uris == ["manifests/prod.yaml", "manifests/%C3%BCn%C3%AFcode%20caf%C3%A9%231.yaml", "abs.yaml",
                         "file://" + outside], "\(uris.sorted())")
    }

    @Test func fingerprintsSurviveRerunsAndMovedLines() throws {
        let layout = try Layout()
        defer { layout.folder.remove() }
        func fingerprints() throws -> [String: [String]] {
            var byURI: [String: [String]] = [:]
            for result in try Self.results(try layout.validate().log) {
                let uri = Self.artifact(result)["uri"] as? String ?? ""
                let fingerprints = try #require(result["partialFingerprints"] as? [String: String], "no partialFingerprints: \(result)")
                byURI[uri, default: []].append(fingerprints.sorted { $0.key < $1.key }.description)
            }
            return byURI.mapValues { $0.sorted() }
        }
        let first = try fingerprints()
        #expect(try fingerprints() == first)
        // Lines added above the problems move them; the alerts stay the same alerts.
        try layout.folder.write("work/manifests/prod.yaml", "# a comment\n\n# another\n" + ValidateCLITests.broken)
        let moved = try fingerprints()
        #expect(moved == first)
        #expect(moved["manifests/prod.yaml"]?.isEmpty == false)
    }
}
