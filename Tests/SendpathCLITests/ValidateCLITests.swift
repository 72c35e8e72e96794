import Foundation
import Testing

@Suite("sendpath validate and schema, end to end")
struct ValidateCLITests {
    static let broken = """
    apiVersion: sendpath/v1
    kind: Instance
    metadata:
      name: acme-mkt-prod9
    spec:
      tenant: acme
      product: campaign-classic-v7
      hosting: managed-services
      environment: production
      build: "7.3.5 build 9368"
      sendingIp: [192.0.2.99]
      sendingPath: {infrastructure: aws, location: eu-west-1}
      wave: prod-2024-01a
    """

    @Test func sampleFleetIsValid() throws {
        let result = try SendpathBinary.run(["validate", "manifests"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.hasPrefix("valid: "))
        // The sample uses five documentation and benchmarking ranges (a warning per range), and
        // two tenants share a prefix on purpose (a warning per instance that joins another's).
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.count == 7 && lines.allSatisfy { $0.contains(": warning: [non-public-address] ") || $0.contains(": warning: [tenants-share-prefix] ") },
                "\(result.stderr)")
    }

    @Test func errorsAreOneLineEachWithFileLineColumnAndExit65() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        try folder.write("prod.yaml", Self.broken)
        let result = try SendpathBinary.run(["validate", "prod.yaml"], directory: folder.path)
        #expect(result.status == 65)
        let lines = result.stderr.split(separator: "\n").map(String.init)
        #expect(lines.contains("prod.yaml:11:3: error: [unknown-field] unknown field 'sendingIp' in Instance spec (did you mean 'sendingIPs'?)"))
        #expect(lines.contains { $0.hasPrefix("prod.yaml:9:16: error: [bad-enum] 'environment' in Instance spec must be one of dev, staging, prod; found 'production'") })
        #expect(lines.contains { $0.hasPrefix("prod.yaml:6:3: error: [missing-field] missing required field 'sendingIPs'") })
        #expect(lines.last == "invalid: 3 errors; nothing was changed")
        #expect(result.stdout.isEmpty)
    }

    @Test func jsonOutputIsAnArrayOfDiagnostics() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        try folder.write("prod.yaml", Self.broken)
        let result = try SendpathBinary.run(["validate", "prod.yaml", "--output", "json"], directory: folder.path)
        #expect(result.status == 65)
        let array = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]])
        #expect(array.count == 3)
        let first = try #require(array.first)
        #expect(Set(first.keys) == ["file", "line", "column", "severity", "rule", "message", "hint"])
        #expect(array.compactMap { $0["rule"] as? String }.sorted() == ["bad-enum", "missing-field", "unknown-field"])
        #expect(first["file"] as? String == "prod.yaml")
    }

    @Test func jsonOutputOfAValidFleetHoldsOnlyWarnings() throws {
        let result = try SendpathBinary.run(["validate", "--output", "json"])
        #expect(result.status == 0)
        // The sample's prefixes are documentation and benchmarking space: one warning per range.
        let array = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]])
        #expect(array.count == 7)
        #expect(array.allSatisfy { $0["severity"] as? String == "warning" })
        #expect(Set(array.compactMap { $0["rule"] as? String }) == ["non-public-address", "tenants-share-prefix"])
    }

    @Test func sarifOutputCarriesRulesAndRegions() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        try folder.write("manifests/prod.yaml", Self.broken)
        let result = try SendpathBinary.run(["validate", "./manifests/", "--output", "sarif"], directory: folder.path)
        #expect(result.status == 65)
        let sarif = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(sarif["version"] as? String == "2.1.0")
        let run = try #require((sarif["runs"] as? [[String: Any]])?.first)
        let driver = try #require((run["tool"] as? [String: Any])?["driver"] as? [String: Any])
        #expect(driver["name"] as? String == "sendpath")
        let ruleIDs = (driver["rules"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
        #expect(ruleIDs.contains("unknown-field"))
        let results = try #require(run["results"] as? [[String: Any]])
        let unknown = try #require(results.first { $0["ruleId"] as? String == "unknown-field" })
        #expect(unknown["level"] as? String == "error")
        let location = try #require((unknown["locations"] as? [[String: Any]])?.first?["physicalLocation"] as? [String: Any])
        #expect((location["artifactLocation"] as? [String: Any])?["uri"] as? String == "manifests/prod.yaml")
        let region = try #require(location["region"] as? [String: Any])
        #expect(region["startLine"] as? Int == 11)
        #expect(region["startColumn"] as? Int == 3)
        let index = try #require(unknown["ruleIndex"] as? Int)
        #expect(ruleIDs[index] == "unknown-field")
    }

    @Test(arguments: [["validate", "--output", "xml"], ["frobnicate"], ["validate", "--max-file-size", "0"], ["reconcile", "--bogus"]])
    func badCommandLinesExit64(arguments: [String]) throws {
        let result = try SendpathBinary.run(arguments)
        #expect(result.status == 64, "\(result.stderr)")
        #expect(!result.stderr.isEmpty)
    }

    @Test func missingPathIsInvalidNotACrash() throws {
        let result = try SendpathBinary.run(["validate", "no/such/folder"])
        #expect(result.status == 65)
        #expect(result.stderr.contains("no/such/folder:1:1: error: [path-not-found]"))
    }

    @Test func schemaAgreesWithTheValidatorOnFixtures() throws {
        let folder = try TemporaryFolder("schema")
        defer { folder.remove() }
        let schema = try SendpathBinary.run(["schema"])
        #expect(schema.status == 0)
        try folder.write("schema.json", schema.stdout)
        // Invalid documents: each must fail both the validator and the schema.
        let invalid = [
            Self.broken,
            Self.broken.replacingOccurrences(of: "sendingIp:", with: "sendingIPs:").replacingOccurrences(of: "production", with: "prod")
                .replacingOccurrences(of: "build: \"7.3.5 build 9368\"", with: "build: [7]"),
            "apiVersion: sendpath/v2\nkind: Policy\nmetadata: {name: p}\nspec: {}\n",
            "apiVersion: sendpath/v1\nkind: Policy\nmetadata: {name: p}\nspec: {bakeTime: 7 days}\n",
            "apiVersion: sendpath/v1\nkind: Wave\nmetadata: {name: Wave_1}\nspec: {window: {start: 2024-01-01T00:00:00Z, end: 2024-01-01T04:00:00Z}}\n",
            "apiVersion: sendpath/v1\nkind: Wave\nmetadata: {name: w}\nspec: {window: {start: 2024-01-01T00:00:00Z, end: 2024-01-01T04:00:00Z}, maxParallel: 0}\n",
            "apiVersion: sendpath/v1\nkind: AddressPrefix\nmetadata: {name: p}\nspec: {cidr: 198.51.100.0/25}\n",
            "apiVersion: sendpath/v1\nkind: AddressPrefix\nmetadata: {name: p}\nspec: {cidr: 198.51.100.0/24, region: eu-west-1}\n",
            "apiVersion: sendpath/v1\nkind: AddressPrefix\nmetadata: {name: p}\nspec: {cidr: 0.0.0.0/0}\n",
            "apiVersion: sendpath/v1\nkind: AddressPrefix\nmetadata: {name: p}\nspec: {cidr: \"::/0\"}\n",
            "apiVersion: sendpath/v1\nkind: Wave\nmetadata: {name: w}\nspec: {window: {start: 2024-01-01T00:00:00Z, end: 2024-01-01T04:00:00Z}, maxParallel: 10001}\n",
            "apiVersion: sendpath/v1\nkind: Wave\nmetadata: {name: w}\nspec: {window: {start: 2024-01-01T00:00:00Z, end: 2300-01-01T04:00:00Z}}\n",
            Self.broken.replacingOccurrences(of: "sendingIp:", with: "sendingIPs:").replacingOccurrences(of: "production", with: "prod")
                .replacingOccurrences(of: "7.3.5 build 9368", with: "7.3.5\\0 build"),
            "apiVersion: sendpath/v1\nkind: Policy\nmetadata: {name: p, labels: {team: \"a\\nb\"}}\nspec: {}\n",
        ]
        for (index, text) in invalid.enumerated() {
            try folder.write("invalid/\(index).yaml", text)
        }
        let checker = SendpathBinary.packageRoot + "/Tests/SendpathCLITests/Support/check_schema.py"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", checker, folder.path + "/schema.json", SendpathBinary.packageRoot + "/manifests", folder.path + "/invalid"]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        let report = try #require(try JSONSerialization.jsonObject(with: output) as? [String: [String: Bool]])
        let sample = try #require(report["valid"])
        #expect(sample.count >= 20)
        #expect(sample.values.allSatisfy { $0 }, "sample documents the schema rejects: \(sample.filter { !$0.value }.keys.sorted())")
        let rejected = try #require(report["invalid"])
        #expect(rejected.count == invalid.count)
        #expect(rejected.values.allSatisfy { !$0 }, "invalid fixtures the schema accepts: \(rejected.filter { $0.value }.keys.sorted())")
        // And the validator rejects each invalid fixture too.
        for index in invalid.indices {
            let result = try SendpathBinary.run(["validate", "invalid/\(index).yaml"], directory: folder.path)
            #expect(result.status == 65, "fixture \(index) passed the validator")
        }
    }
}
