import Foundation
import Testing

/// check-jsonschema (PyPI, installed by `make validators`) and `sendpath validate` over a corpus
/// of manifests: Tests/Fixtures/schema-agreement (one rule broken per file, everything else
/// valid), the hostile fixtures and the sample fleet. Every disagreement is listed; the only
/// ones allowed are the rules a JSON Schema cannot express, each named with why below (and in
/// Tests/Fixtures/schema-agreement/README.md).
///
/// Formats are disabled (`--disable-formats '*'`), as a draft 2020-12 validator does by default:
/// the schema must not depend on `format`. check-jsonschema cannot read multi-document YAML, so
/// each document is written to its own file first.
@Suite("check-jsonschema agrees with the validator")
struct ManifestSchemaAgreementCLITests {
    /// Validator rejects, schema accepts: rules no JSON Schema can say.
    static let inexpressible: [String: String] = [
        // The JSON data model has one number: 4.0 is the integer 4, and 0x10 / 0o17 are read as
        // 16 / 15 by a YAML 1.2 reader. Sendpath refuses those spellings (wrong-type).
        "schema-agreement/integer-float": "a float spelling of an integer is the same JSON number",
        "schema-agreement/integer-hex": "YAML reads 0x10 as the number 16",
        "schema-agreement/integer-octal": "YAML reads 0o17 as the number 15",
        // The maximum is on the sum of the units (999999d, or 1000d99999h): arithmetic.
        "schema-agreement/duration-too-large": "a duration's range is on the sum of its units",
        // IPv6 host bits: the address is compressed (::) anywhere, so "zero past the length"
        // is arithmetic on the expanded address. (IPv4 host bits are in the pattern.)
        "schema-agreement/cidr-ipv6-host-bits": "IPv6 host bits need the expanded address",
        // Across documents: an instance's IP inside its prefix, two spellings of one address.
        "schema-agreement/ip-outside-prefix": "cross-document: the IP against the prefixes",
        "schema-agreement/ip-same-address-spelled-twice": "canonical IP comparison",
        "hostile/durations-too-large": "a duration's range is on the sum of its units",
        // Whether a well-formed zone name is in the system's time zone database.
        "schema-agreement/tenant-time-zone-unknown": "membership in the tz database",
    ]

    @Test(.timeLimit(.minutes(3)))
    func everyDisagreementIsAnInexpressibleRule() throws {
        let folder = try TemporaryFolder("schema-agreement")
        defer { folder.remove() }
        let schema = try SendpathBinary.run(["schema"])
        #expect(schema.status == 0)
        try folder.write("schema.json", schema.stdout)

        let fixtures = SendpathBinary.packageRoot + "/Tests/Fixtures"
        var corpus: [(name: String, path: String)] = []
        for set in ["schema-agreement", "hostile"] {
            let names = try FileManager.default.contentsOfDirectory(atPath: fixtures + "/" + set).filter { $0.hasSuffix(".yaml") }.sorted()
            corpus += names.map { (set + "/" + String($0.dropLast(5)), fixtures + "/" + set + "/" + $0) }
        }
        #expect(corpus.count >= 40)

        // What the validator says of each file, and each document in a file of its own.
        var rejectedByValidator: [String: Bool] = [:]
        var documents: [String: [String]] = [:]  // corpus name -> split files
        for (index, item) in corpus.enumerated() {
            let result = try SendpathBinary.run(["validate", item.path], directory: folder.path)
            #expect(result.status == 0 || result.status == 65, "\(item.name): \(result.stderr)")
            rejectedByValidator[item.name] = result.status != 0
            let text = try String(contentsOfFile: item.path, encoding: .utf8)
            documents[item.name] = try Self.split(text).enumerated().map { number, document in
                let file = "split/\(index)-\(number).yaml"
                try folder.write(file, document)
                return folder.path + "/" + file
            }
        }
        // The sample fleet is valid as a whole; each of its documents must pass the schema.
        let sample = try SendpathBinary.run(["validate", SendpathBinary.packageRoot + "/manifests"], directory: folder.path)
        #expect(sample.status == 0, "\(sample.stderr)")
        var sampleFiles: [String] = []
        let sampleRoot = SendpathBinary.packageRoot + "/manifests"
        let enumerator = FileManager.default.enumerator(atPath: sampleRoot)
        while let relative = enumerator?.nextObject() as? String {
            guard relative.hasSuffix(".yaml") else { continue }
            let text = try String(contentsOfFile: sampleRoot + "/" + relative, encoding: .utf8)
            for (number, document) in Self.split(text).enumerated() {
                let file = "split/sample-\(sampleFiles.count)-\(number).yaml"
                try folder.write(file, document)
                sampleFiles.append(folder.path + "/" + file)
            }
        }
        #expect(sampleFiles.count >= 20)

        let allFiles = documents.values.flatMap { $0 } + sampleFiles
        let rejectedBySchema = try Self.checkJSONSchema(schema: folder.path + "/schema.json", files: allFiles, in: folder.path)
        let sampleRejected = sampleFiles.filter { rejectedBySchema.contains($0) }
        #expect(sampleRejected.isEmpty, "sample documents the schema rejects: \(sampleRejected)")

        var disagreements: [String: String] = [:]
        for item in corpus {
            let schemaRejects = (documents[item.name] ?? []).contains { rejectedBySchema.contains($0) }
            let validatorRejects = rejectedByValidator[item.name] ?? false
            if validatorRejects && !schemaRejects { disagreements[item.name] = "validator rejects, schema accepts" }
            if !validatorRejects && schemaRejects { disagreements[item.name] = "schema rejects, validator accepts" }
        }
        let unexpected = disagreements.filter { Self.inexpressible[$0.key] == nil }
        #expect(unexpected.isEmpty, "disagreements: \(unexpected.sorted { $0.key < $1.key })")
        let agreedNow = Set(Self.inexpressible.keys).subtracting(disagreements.keys)
        #expect(agreedNow.isEmpty, "listed as inexpressible but agreeing now (remove them): \(agreedNow.sorted())")
        for (name, kind) in disagreements where Self.inexpressible[name] != nil {
            #expect(kind == "validator rejects, schema accepts", "\(name): \(kind)")
        }
    }

    /// The documents of a YAML stream, split at `---` lines (the corpus has no block scalar
    /// holding one). Empty documents are kept out, as the validator skips them.
    static func split(_ text: String) -> [String] {
        var documents: [String] = [], current: [Substring] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("---") && line.dropFirst(3).allSatisfy({ $0 == " " || $0 == "\t" }) {
                documents.append(current.joined(separator: "\n"))
                current = []
            } else {
                current.append(line)
            }
        }
        documents.append(current.joined(separator: "\n"))
        return documents.filter { document in
            document.split(separator: "\n").contains { line in
                let trimmed = line.trimmingCharacters(in: .whitespaces)
                return !trimmed.isEmpty && !trimmed.hasPrefix("#")
            }
        }.map { $0 + "\n" }
    }

    /// Runs check-jsonschema once over `files`; the files it rejects (errors or YAML it cannot parse).
    static func checkJSONSchema(schema: String, files: [String], in directory: String) throws -> Set<String> {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-m", "check_jsonschema", "--schemafile", schema, "--disable-formats", "*",
                             "--output-format", "json"] + files
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let report = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any],
                                  "check-jsonschema: \(String(decoding: data, as: UTF8.self))")
        var rejected: Set<String> = []
        for key in ["errors", "parse_errors"] {
            for entry in report[key] as? [[String: Any]] ?? [] {
                if let name = entry["filename"] as? String { rejected.insert(name) }
            }
        }
        return rejected
    }
}
