import Foundation
import Testing
@testable import SendpathCore
@testable import SendpathYAML

/// One fixture per rule id, with the line and column the diagnostic must point at.
@Suite("Every rule id")
struct RuleCoverageTests {
    struct Case: CustomStringConvertible, Sendable {
        var rule: DiagnosticRule
        var documents: [String]
        var line: Int
        var column: Int
        var message: String
        var description: String { rule.rawValue }
    }

    static let base = [FixtureFleet.prefix, FixtureFleet.wave]
    // In fleet.yaml, documents are joined with "\n---\n": the prefix is lines 1-7, the wave
    // lines 9-18, and a third document starts at line 20.

    static let cases: [Case] = [
        Case(rule: .unknownField, documents: base + [FixtureFleet.instance("a").replacingOccurrences(of: "tenant: acme", with: "tenant: acme\n  tennant: x")],
             line: 26, column: 3, message: "unknown field 'tennant' in Instance spec"),
        Case(rule: .duplicateKey, documents: base + [FixtureFleet.instance("a").replacingOccurrences(of: "tenant: acme", with: "tenant: acme\n  tenant: beta")],
             line: 26, column: 3, message: "duplicate key 'tenant' in Instance spec"),
        Case(rule: .wrongType, documents: base + [FixtureFleet.instance("a").replacingOccurrences(of: "tenant: acme", with: "tenant: [acme]")],
             line: 25, column: 11, message: "'tenant' in Instance spec must be a string, found a list"),
        Case(rule: .missingField, documents: base + [FixtureFleet.instance("a").replacingOccurrences(of: "  tenant: acme\n", with: "")],
             line: 25, column: 3, message: "missing required field 'tenant' in Instance spec"),
        Case(rule: .badEnum, documents: base + [FixtureFleet.instance("a").replacingOccurrences(of: "managed-services", with: "managed")],
             line: 27, column: 12, message: "'hosting' in Instance spec must be one of"),
        Case(rule: .badAPIVersion, documents: base + [FixtureFleet.instance("a").replacingOccurrences(of: "sendpath/v1", with: "sendpath/v2")],
             line: 20, column: 13, message: "apiVersion must be 'sendpath/v1', found 'sendpath/v2'"),
        Case(rule: .badName, documents: base + [FixtureFleet.instance("Acme.Prod")],
             line: 23, column: 9, message: "'name' must be a DNS label"),
        Case(rule: .badIP, documents: base + [FixtureFleet.instance("a", ip: "198.51.100.300")],
             line: 30, column: 16, message: "'198.51.100.300' is not an IPv4 or IPv6 address"),
        Case(rule: .badCIDR, documents: [FixtureFleet.prefix.replacingOccurrences(of: "198.51.100.0/24", with: "198.51.100.7/24")],
             line: 6, column: 9, message: "'198.51.100.7/24' has host bits set"),
        Case(rule: .badTime, documents: [FixtureFleet.wave.replacingOccurrences(of: "2024-01-16T20:00:00Z", with: "2024-01-16 20:00")],
             line: 7, column: 12, message: "'start' in Wave window is not an RFC 3339 time with an offset"),
        Case(rule: .badDuration, documents: ["apiVersion: sendpath/v1\nkind: Policy\nmetadata: {name: default}\nspec:\n  bakeTime: 7 days"],
             line: 5, column: 13, message: "'bakeTime' in Policy spec is not a duration: '7 days'"),
        Case(rule: .badValue, documents: [FixtureFleet.wave.replacingOccurrences(of: "  notice:", with: "  maxParallel: 0\n  notice:")],
             line: 9, column: 16, message: "'maxParallel' in Wave spec must be at least 1, found 0"),
        Case(rule: .valueOutOfRange, documents: [FixtureFleet.wave.replacingOccurrences(of: "2024-01-17T00:00:00Z", with: "2300-01-17T00:00:00Z")],
             line: 8, column: 10, message: "'end' in Wave window is out of range: '2300-01-17T00:00:00Z'"),
        Case(rule: .emptyList, documents: base + [FixtureFleet.instance("a").replacingOccurrences(of: "[198.51.100.10]", with: "[]")],
             line: 30, column: 15, message: "'sendingIPs' in Instance spec must not be empty"),
        Case(rule: .mergeKey, documents: ["apiVersion: sendpath/v1\nkind: Policy\nmetadata: {name: default}\nspec:\n  <<: {bakeTime: 1d}"],
             line: 5, column: 3, message: "merge keys (<<) are not supported in Policy spec"),
        Case(rule: .unsupportedTag, documents: ["apiVersion: sendpath/v1\nkind: Policy\nmetadata: {name: default}\nspec:\n  bakeTime: !!int 7"],
             line: 5, column: 13, message: "tag 'tag:yaml.org,2002:int' does not fit 'bakeTime'"),
        Case(rule: .unknownAlias, documents: ["apiVersion: sendpath/v1\nkind: Policy\nmetadata: {name: *nope}\nspec: {}"],
             line: 3, column: 18, message: "alias '*nope' refers to no anchor"),
        Case(rule: .yamlSyntax, documents: ["apiVersion: sendpath/v1\nkind: [Policy\n"],
             line: 4, column: 1, message: "did not find expected ',' or ']'"),
        Case(rule: .duplicateName, documents: base + [FixtureFleet.instance("a"), FixtureFleet.instance("a", ip: "198.51.100.11")],
             line: 37, column: 9, message: "Instance 'a' is declared twice"),
        Case(rule: .danglingReference, documents: base + [FixtureFleet.instance("a", wave: "w2")],
             line: 32, column: 9, message: "instance 'a' is in wave 'w2', which is not a declared Wave"),
        Case(rule: .afterCycle, documents: base + [
            FixtureFleet.wave.replacingOccurrences(of: "name: w1", with: "name: w2").replacingOccurrences(of: "  notice:", with: "  after: [w3]\n  notice:"),
            FixtureFleet.wave.replacingOccurrences(of: "name: w1", with: "name: w3").replacingOccurrences(of: "  notice:", with: "  after: [w2]\n  notice:"),
        ], line: 40, column: 11, message: "waves wait for each other: w2 -> w3 -> w2"),
        Case(rule: .duplicateIP, documents: base + [FixtureFleet.instance("a"), FixtureFleet.instance("b", ip: "198.51.100.010".replacingOccurrences(of: "010", with: "10"))],
             line: 44, column: 16, message: "IP 198.51.100.10 is declared on both 'a' and 'b'"),
        Case(rule: .ipOutsidePrefix, documents: base + [FixtureFleet.instance("a", ip: "203.0.113.5")],
             line: 30, column: 16, message: "IP 203.0.113.5 of instance 'a' is in no declared AddressPrefix"),
        Case(rule: .prefixSize, documents: [FixtureFleet.prefix.replacingOccurrences(of: "198.51.100.0/24", with: "198.51.100.128/25")],
             line: 6, column: 9, message: "prefix 'pfx-a' (198.51.100.128/25) is smaller than a BYOIP prefix may be"),
        Case(rule: .prefixOverlap, documents: base + [FixtureFleet.prefix.replacingOccurrences(of: "pfx-a", with: "pfx-b").replacingOccurrences(of: "198.51.100.0/24", with: "198.51.0.0/16")],
             line: 6, column: 9, message: "overlaps"),
        Case(rule: .prefixSplit, documents: base + [
            FixtureFleet.wave.replacingOccurrences(of: "name: w1", with: "name: w2"),
            FixtureFleet.instance("a"), FixtureFleet.instance("b", ip: "198.51.100.11", wave: "w2"),
        ], line: 57, column: 9, message: "instance 'b' is in wave 'w2' but shares prefix 'pfx-a' with 'a' in wave 'w1'"),
        Case(rule: .prefixTargetMismatch, documents: base + [FixtureFleet.instance("a", location: "us-east-1")],
             line: 31, column: 16, message: "its prefix 'pfx-a' is provisioned in eu-west-1"),
        Case(rule: .windowOrder, documents: [FixtureFleet.wave.replacingOccurrences(of: "2024-01-17T00:00:00Z", with: "2024-01-16T19:00:00Z")],
             line: 7, column: 5, message: "window of wave 'w1' ends"),
        Case(rule: .onPremiseTarget, documents: base + [FixtureFleet.instance("a").replacingOccurrences(of: "managed-services", with: "on-premise")],
             line: 31, column: 16, message: "instance 'a' is on-premise and cannot be targeted at aws"),
        Case(rule: .multiplePolicies, documents: ["apiVersion: sendpath/v1\nkind: Policy\nmetadata: {name: one}\nspec: {}",
                                                  "apiVersion: sendpath/v1\nkind: Policy\nmetadata: {name: two}\nspec: {}"],
             line: 8, column: 18, message: "more than one Policy"),
        Case(rule: .unusedPrefix, documents: base,
             line: 6, column: 9, message: "prefix 'pfx-a' (198.51.100.0/24) holds no instance's sending IP"),
        Case(rule: .nonPublicAddress, documents: base,
             line: 6, column: 9, message: "prefix 'pfx-a' (198.51.100.0/24) is in 198.51.100.0/24, documentation, TEST-NET-2 (RFC 5737): not publicly routable"),
        Case(rule: .tenantsSharePrefix, documents: base + [FixtureFleet.instance("a"),
                                                          FixtureFleet.instance("b", ip: "198.51.100.11").replacingOccurrences(of: "tenant: acme", with: "tenant: beta")],
             line: 44, column: 16, message: "instance 'b' of tenant 'beta' sends from prefix 'pfx-a' (198.51.100.0/24), as does 'a' of tenant 'acme'"),
        Case(rule: .controlCharacter, documents: base + [FixtureFleet.instance("a").replacingOccurrences(of: "\"7.3.5 build 9368\"", with: "\"7.3\\0.5\"")],
             line: 29, column: 10, message: "'build' in Instance spec holds a control character: '7.3\\u{0}.5'"),
        Case(rule: .noInstances, documents: base,
             line: 1, column: 1, message: "the manifests declare no instance"),
        Case(rule: .badEmail, documents: [FixtureFleet.tenant("acme", contacts: "[ops@example.com, \"Ops <ops@example.com>\"]")],
             line: 6, column: 31, message: "'Ops <ops@example.com>' is not an email address"),
        Case(rule: .badTimeZone, documents: [FixtureFleet.tenant("acme", extra: "\n  timeZone: Europe/Pariss")],
             line: 7, column: 13, message: "'timeZone' in Tenant spec is not a time zone of the IANA database: 'Europe/Pariss'"),
        Case(rule: .badURL, documents: [FixtureFleet.tenant("acme", extra: "\n  webhook: http://hooks.example.com/sendpath")],
             line: 7, column: 12, message: "'webhook' in Tenant spec must be an https URL"),
        Case(rule: .unusedTenant, documents: base + [FixtureFleet.instance("a"), FixtureFleet.tenant("acme"), FixtureFleet.tenant("acmee")],
             line: 44, column: 9, message: "Tenant 'acmee' is named by no instance's spec.tenant"),
    ]

    /// Rules with more than one way to fire, each at its own place.
    static let moreCases: [Case] = [
        Case(rule: .prefixSize, documents: [FixtureFleet.prefix.replacingOccurrences(of: "198.51.100.0/24", with: "0.0.0.0/0")],
             line: 6, column: 9, message: "prefix 'pfx-a' (0.0.0.0/0) is larger than a BYOIP prefix can be: IPv4 prefixes run from /8 to /24"),
        Case(rule: .prefixSize, documents: [FixtureFleet.prefix.replacingOccurrences(of: "198.51.100.0/24", with: "\"::/0\"")],
             line: 6, column: 9, message: "prefix 'pfx-a' (::/0) is larger than a BYOIP prefix can be: IPv6 prefixes run from /12 to /48"),
        Case(rule: .controlCharacter, documents: base + [FixtureFleet.instance("a").replacingOccurrences(of: "  name: a", with: "  name: a\n  labels: {team: \"x\\e[31my\"}")],
             line: 24, column: 18, message: "'labels.team' holds a control character: 'x\\u{1B}[31my'"),
        Case(rule: .valueOutOfRange, documents: [FixtureFleet.wave.replacingOccurrences(of: "2023-12-01T09:00:00Z", with: "1600-01-01T00:00:00Z")],
             line: 10, column: 13, message: "'sentAt' in Wave notice is out of range"),
        Case(rule: .valueOutOfRange, documents: ["apiVersion: sendpath/v1\nkind: Policy\nmetadata: {name: default}\nspec:\n  rollbackReserve: 999999d"],
             line: 5, column: 20, message: "'rollbackReserve' in Policy spec is out of range: '999999d' is longer than 3650d"),
        Case(rule: .valueOutOfRange, documents: ["apiVersion: sendpath/v1\nkind: Policy\nmetadata: {name: default}\nspec:\n  bakeTime: 99999999999d"],
             line: 5, column: 13, message: "'bakeTime' in Policy spec is out of range: '99999999999d' is longer than 3650d"),
        Case(rule: .valueOutOfRange, documents: [FixtureFleet.wave.replacingOccurrences(of: "  notice:", with: "  maxParallel: 1e23\n  notice:")],
             line: 9, column: 16, message: "'maxParallel' in Wave spec is out of range: it must be an integer from 1 to 10000, found '1e23'"),
        Case(rule: .valueOutOfRange, documents: [FixtureFleet.wave.replacingOccurrences(of: "  notice:", with: "  maxParallel: 99999999999999999999999\n  notice:")],
             line: 9, column: 16, message: "is out of range"),
        Case(rule: .valueOutOfRange, documents: [FixtureFleet.wave.replacingOccurrences(of: "  notice:", with: "  maxParallel: 10001\n  notice:")],
             line: 9, column: 16, message: "found 10001"),
        Case(rule: .danglingReference, documents: [FixtureFleet.prefix, FixtureFleet.wave.replacingOccurrences(of: "  notice:", with: "  after: [nope]\n  notice:")],
             line: 17, column: 11, message: "wave 'w1' comes after 'nope', which is not a declared Wave"),
        Case(rule: .badURL, documents: [FixtureFleet.tenant("acme", extra: "\n  webhook: https://user:secret@hooks.example.com/")],
             line: 7, column: 12, message: "'webhook' in Tenant spec holds a user name or password"),
        Case(rule: .controlCharacter, documents: [FixtureFleet.tenant("acme", contacts: "[\"ops@example.com\\r\\nBcc: x@evil.example\"]")],
             line: 6, column: 14, message: "an address in 'contacts' holds a control character"),
        Case(rule: .valueOutOfRange, documents: [FixtureFleet.tenant("acme", contacts: "[" + (1...51).map { "c\($0)@example.com" }.joined(separator: ", ") + "]")],
             line: 6, column: 855, message: "'contacts' in Tenant spec lists 51 addresses; at most 50 are allowed"),
        Case(rule: .duplicateName, documents: [FixtureFleet.tenant("acme"), FixtureFleet.tenant("acme")],
             line: 11, column: 9, message: "Tenant 'acme' is declared twice"),
        // IPs are compared canonically: these two are the same address.
        Case(rule: .duplicateIP, documents: [FixtureFleet.prefix.replacingOccurrences(of: "198.51.100.0/24", with: "2001:db8::/48"), FixtureFleet.wave,
                                             FixtureFleet.instance("a", ip: "2001:db8::10"), FixtureFleet.instance("b", ip: "2001:0db8:0:0:0:0:0:10")],
             line: 44, column: 16, message: "IP 2001:db8::10 is declared on both 'a' and 'b'"),
    ]

    @Test(arguments: moreCases)
    func ruleFiresAtItsOtherLocations(_ testCase: Case) throws {
        try ruleFiresAtItsLocation(testCase)
    }

    @Test(arguments: cases)
    func ruleFiresAtItsLocation(_ testCase: Case) throws {
        let diagnostics = try FixtureFleet.validate(testCase.documents)
        let matching = diagnostics.filter { $0.rule == testCase.rule }
        #expect(matching.count == 1, "\(diagnostics.map(\.description))")
        let diagnostic = try #require(matching.first)
        #expect(diagnostic.location.file == "fleet.yaml")
        #expect(diagnostic.location.line == testCase.line, "\(diagnostic)")
        #expect(diagnostic.location.column == testCase.column, "\(diagnostic)")
        #expect(diagnostic.message.contains(testCase.message), "\(diagnostic)")
    }

    @Test func everyRuleHasACaseOrAFileLevelTest() {
        // Path rules are covered by PathConfinementTests.
        let fileLevel: Set<DiagnosticRule> = [.pathNotFound, .noManifests, .fileUnreadable, .fileTooLarge, .nestingTooDeep, .aliasBudget,
                                              .pathOutsideRoot, .symlinkLoop, .walkLimit, .emptyFile]
        let covered = Set(Self.cases.map(\.rule)).union(fileLevel)
        #expect(covered == Set(DiagnosticRule.allCases))
    }

    @Test func theBaseFleetIsValid() throws {
        let diagnostics = try FixtureFleet.validate(Self.base + [FixtureFleet.instance("a"), FixtureFleet.instance("b", ip: "198.51.100.11")])
        // Valid: its prefix is documentation space, which is only a warning.
        #expect(diagnostics.map(\.rule) == [.nonPublicAddress], "\(diagnostics)")
    }

    @Test func problemsInManyDocumentsAreAllReported() throws {
        let diagnostics = try FixtureFleet.validate(Self.base + [
            FixtureFleet.instance("a", ip: "203.0.113.5"),
            FixtureFleet.instance("b", wave: "nope"),
            FixtureFleet.instance("c", ip: "198.51.100.11", location: "us-east-1"),
        ])
        #expect(Set(diagnostics.map(\.rule)) == [.ipOutsidePrefix, .danglingReference, .prefixTargetMismatch, .prefixSplit, .nonPublicAddress])
    }

    @Test func problemsOfOneDocumentAndAcrossDocumentsComeInOneRun() throws {
        let diagnostics = try FixtureFleet.validate(Self.base + [
            FixtureFleet.instance("a", environment: "yes"),
            FixtureFleet.instance("b", ip: "198.51.100.11", wave: "w9"),
        ])
        #expect(diagnostics.map(\.rule) == [.nonPublicAddress, .badEnum, .danglingReference], "\(diagnostics.map(\.description))")
    }

    @Test func documentsWithErrorsAreNotBlamedForWhatTheyMayDeclare() throws {
        // The wave has a bad time, so it is not decoded: 'a' in w1 is no dangling reference, but
        // 'b' in w9 is. The prefix has a bad CIDR: no IP is reported outside every prefix.
        let diagnostics = try FixtureFleet.validate([
            FixtureFleet.prefix.replacingOccurrences(of: "198.51.100.0/24", with: "198.51.100.7/24"),
            FixtureFleet.wave.replacingOccurrences(of: "2024-01-16T20:00:00Z", with: "2024-01-16 20:00"),
            FixtureFleet.instance("a"),
            FixtureFleet.instance("b", ip: "198.51.100.11", wave: "w9"),
        ])
        #expect(diagnostics.map(\.rule) == [.badCIDR, .badTime, .danglingReference], "\(diagnostics.map(\.description))")
        #expect(diagnostics.last?.message.contains("'w9'") == true)
    }

    @Test func aFileThatCannotBeReadToItsEndHidesNothingItMayDeclare() throws {
        let (result, folder) = try FixtureFleet.load([
            "a.yaml": [FixtureFleet.instance("a", wave: "w-elsewhere")].joined(),
            "b.yaml": FixtureFleet.prefix + "\n---\nkind: [Wave\n",
        ])
        defer { try? FileManager.default.removeItem(atPath: folder) }
        #expect(result.diagnostics.map(\.rule) == [.nonPublicAddress, .yamlSyntax], "\(result.diagnostics.map(\.description))")
        #expect(result.fleet == nil)
    }
}
